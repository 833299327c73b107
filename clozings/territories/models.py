"""ZIP-code territories, their prices, slots, reservations and waitlists (public schema).

Exclusivity is platform-wide, so all of it lives in the public schema. A ZIP has `slots`
places (1 = exclusive). A place is taken by one Slot row, which belongs either to a
reservation (pending, active, past due or suspended) or to an open waitlist offer; the
unique (territory, number) constraint and the check on the number make two holders of one
place impossible in the database, and services take slots under a row lock on the
territory so the count never passes `slots`.
"""

from __future__ import annotations

from django.db import models
from django.db.models import Q
from django.utils import timezone


class Tier(models.TextChoices):
    """Price tiers. The catalogue loader picks the default tier of a ZIP (see catalogue.py)."""

    BASIC = "basic", "Basic"
    STANDARD = "standard", "Standard"
    PREMIUM = "premium", "Premium"


class TierPrice(models.Model):
    """The monthly price of every ZIP of a tier that has no price of its own."""

    tier = models.CharField(max_length=20, choices=Tier.choices, unique=True)
    price_cents = models.PositiveIntegerField()
    updated_at = models.DateTimeField(default=timezone.now)

    class Meta:
        constraints = [
            models.CheckConstraint(condition=Q(price_cents__gte=0), name="tier_price_not_negative"),
        ]

    def __str__(self) -> str:
        return f"{self.tier}: {self.price_cents} cents"


class Territory(models.Model):
    """One US ZIP code from the catalogue."""

    zip_code = models.CharField(max_length=5, unique=True)
    city = models.CharField(max_length=64)
    state = models.CharField(max_length=2, db_index=True)
    county = models.CharField(max_length=64, blank=True)
    time_zone = models.CharField(max_length=64, blank=True)
    latitude = models.FloatField()
    longitude = models.FloatField()
    tier = models.CharField(max_length=20, choices=Tier.choices, default=Tier.STANDARD)
    # A per-ZIP monthly price set by staff; None means the tier's price.
    price_cents = models.PositiveIntegerField(null=True, blank=True)
    slots = models.PositiveSmallIntegerField(default=1)
    is_active = models.BooleanField(default=True)

    class Meta:
        verbose_name_plural = "territories"
        ordering = ["zip_code"]
        constraints = [
            models.CheckConstraint(condition=Q(slots__gte=1), name="territory_slots_at_least_one"),
            models.CheckConstraint(condition=Q(price_cents__isnull=True) | Q(price_cents__gte=0),
                                   name="territory_price_not_negative"),
            models.CheckConstraint(condition=Q(zip_code__regex=r"^[0-9]{5}$"),
                                   name="territory_zip_five_digits"),
        ]
        indexes = [
            # "near a ZIP" searches cut a bounding box on latitude first
            models.Index(fields=["latitude", "longitude"], name="territory_lat_lon"),
            models.Index(fields=["state", "city"], name="territory_state_city"),
        ]

    def __str__(self) -> str:
        return f"{self.zip_code} {self.city}, {self.state}"


class Reservation(models.Model):
    """A seat's claim on a place in a territory, billed to the seat's brokerage."""

    class Status(models.TextChoices):
        PENDING = "pending", "Pending payment"
        ACTIVE = "active", "Active"
        PAST_DUE = "past_due", "Past due"
        SUSPENDED = "suspended", "Suspended"
        RELEASED = "released", "Released"

    # Statuses that keep a slot (suspended keeps it so a lapsed agent can recover).
    HOLDING = (Status.PENDING, Status.ACTIVE, Status.PAST_DUE, Status.SUSPENDED)
    # Statuses that receive leads (past due is the grace period).
    ELIGIBLE = (Status.ACTIVE, Status.PAST_DUE)

    territory = models.ForeignKey(Territory, on_delete=models.PROTECT, related_name="reservations")
    brokerage = models.ForeignKey("tenants.Brokerage", on_delete=models.CASCADE,
                                  related_name="reservations")
    seat = models.ForeignKey("tenants.Seat", on_delete=models.PROTECT, related_name="reservations")
    status = models.CharField(max_length=12, choices=Status.choices, default=Status.PENDING)
    price_cents = models.PositiveIntegerField()
    stripe_item_id = models.CharField(max_length=255, blank=True)
    # The waitlist offer this reservation was claimed from, if any.
    waitlist_entry = models.ForeignKey("WaitlistEntry", on_delete=models.SET_NULL, null=True,
                                       blank=True, related_name="+")
    created_at = models.DateTimeField(default=timezone.now)
    activated_at = models.DateTimeField(null=True, blank=True)
    # End of the paid period (the next charge), as billing last reported it.
    period_end = models.DateTimeField(null=True, blank=True)
    # When the owner released it: it stays active until then.
    release_at = models.DateTimeField(null=True, blank=True)
    past_due_since = models.DateTimeField(null=True, blank=True)
    suspended_at = models.DateTimeField(null=True, blank=True)
    released_at = models.DateTimeField(null=True, blank=True)
    release_reason = models.CharField(max_length=40, blank=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        constraints = [
            # An agent never holds the same ZIP twice.
            models.UniqueConstraint(fields=["territory", "seat"], condition=~Q(status="released"),
                                    name="reservation_one_open_per_seat"),
            models.CheckConstraint(
                condition=Q(status__in=["pending", "active", "past_due", "suspended",
                                        "released"]),
                name="reservation_status_known"),
        ]
        indexes = [
            models.Index(fields=["brokerage", "status"], name="reservation_brokerage_status"),
            models.Index(fields=["status", "release_at"], name="reservation_status_release"),
        ]

    def __str__(self) -> str:
        return f"reservation {self.pk} of {self.territory_id} ({self.status})"


class WaitlistEntry(models.Model):
    """A seat waiting for a place in a full territory; first come, first offered."""

    class Status(models.TextChoices):
        WAITING = "waiting", "Waiting"
        OFFERED = "offered", "Offered"
        ACCEPTED = "accepted", "Accepted"
        EXPIRED = "expired", "Expired"
        CANCELLED = "cancelled", "Cancelled"

    OPEN = (Status.WAITING, Status.OFFERED)

    territory = models.ForeignKey(Territory, on_delete=models.PROTECT, related_name="waitlist")
    brokerage = models.ForeignKey("tenants.Brokerage", on_delete=models.CASCADE,
                                  related_name="waitlist_entries")
    seat = models.ForeignKey("tenants.Seat", on_delete=models.PROTECT,
                             related_name="waitlist_entries")
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.WAITING)
    created_at = models.DateTimeField(default=timezone.now)
    offered_at = models.DateTimeField(null=True, blank=True)
    offer_expires_at = models.DateTimeField(null=True, blank=True)
    closed_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["created_at", "id"]
        verbose_name_plural = "waitlist entries"
        constraints = [
            models.UniqueConstraint(fields=["territory", "seat"],
                                    condition=Q(status__in=["waiting", "offered"]),
                                    name="waitlist_one_open_per_seat"),
        ]
        indexes = [
            models.Index(fields=["territory", "status", "created_at"], name="waitlist_queue"),
            models.Index(fields=["status", "offer_expires_at"], name="waitlist_offer_expiry"),
        ]

    def __str__(self) -> str:
        return f"waitlist {self.pk} for {self.territory_id} ({self.status})"


class Slot(models.Model):
    """A taken place in a territory. The row exists only while the place is taken, by a
    reservation or by an open waitlist offer (exactly one of the two)."""

    territory = models.ForeignKey(Territory, on_delete=models.PROTECT, related_name="taken_slots")
    number = models.PositiveSmallIntegerField()
    reservation = models.OneToOneField(Reservation, on_delete=models.CASCADE, null=True,
                                       blank=True, related_name="slot")
    offer = models.OneToOneField(WaitlistEntry, on_delete=models.CASCADE, null=True, blank=True,
                                 related_name="slot")

    class Meta:
        ordering = ["territory", "number"]
        constraints = [
            models.UniqueConstraint(fields=["territory", "number"], name="slot_unique_number"),
            models.CheckConstraint(condition=Q(number__gte=1), name="slot_number_positive"),
            models.CheckConstraint(
                condition=(Q(reservation__isnull=False, offer__isnull=True)
                           | Q(reservation__isnull=True, offer__isnull=False)),
                name="slot_one_holder"),
        ]

    def __str__(self) -> str:
        return f"slot {self.number} of {self.territory_id}"
