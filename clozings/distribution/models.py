"""Lead sources, inbound leads (the public delivery ledger) and the fair-share state of each
shared territory. All in the public schema: platform-wide facts that staff dashboards read
without looping over brokerage schemas."""

from __future__ import annotations

from django.db import models
from django.db.models import Q
from django.utils import timezone


class LeadSource(models.Model):
    """Someone who sells the platform leads, with the key it posts them with.

    The key is shown once; only its SHA-256 is kept, with a short prefix that finds the row
    (a high-entropy key needs no slow hash: nobody can guess its way back from the digest).
    """

    class Adapter(models.TextChoices):
        NATIVE = "native", "Clozings API"
        FOLLOW_UP_BOSS = "follow_up_boss", "Follow Up Boss events"
        META = "meta", "Meta Lead Ads"
        GOOGLE = "google", "Google Ads lead forms"

    name = models.CharField(max_length=120)
    cost_per_lead_cents = models.PositiveIntegerField()
    adapter = models.CharField(max_length=20, choices=Adapter.choices, default=Adapter.NATIVE)
    settings = models.JSONField(default=dict, blank=True)
    key_prefix = models.CharField(max_length=16, unique=True)
    key_hash = models.CharField(max_length=64)
    created_at = models.DateTimeField(default=timezone.now)
    rotated_at = models.DateTimeField(null=True, blank=True)
    revoked_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["name", "id"]

    def __str__(self) -> str:
        return self.name

    @property
    def is_revoked(self) -> bool:
        return self.revoked_at is not None


class InboundLead(models.Model):
    """One lead as a source sent it, normalised, and where it went: the delivery ledger."""

    class Status(models.TextChoices):
        RECEIVED = "received", "Received"
        ROUTED = "routed", "Routed"
        DELIVERED = "delivered", "Delivered"
        ORPHANED = "orphaned", "Orphaned"
        REROUTED = "rerouted", "Re-routed"
        REJECTED = "rejected", "Rejected"
        DUPLICATE = "duplicate", "Duplicate"
        TEST = "test", "Test (never routed)"

    class Intent(models.TextChoices):
        BUY = "buy", "Buy"
        SELL = "sell", "Sell"
        BOTH = "both", "Buy and sell"

    source = models.ForeignKey(LeadSource, on_delete=models.PROTECT, related_name="leads")
    external_id = models.CharField(max_length=200, blank=True)
    payload = models.JSONField(default=dict)
    first_name = models.CharField(max_length=100, blank=True)
    last_name = models.CharField(max_length=100, blank=True)
    email = models.EmailField(max_length=254, blank=True)  # lower-case
    phone = models.CharField(max_length=20, blank=True)  # E.164
    zip_code = models.CharField(max_length=5, blank=True)
    intent = models.CharField(max_length=4, choices=Intent.choices, blank=True)
    price_min_cents = models.BigIntegerField(null=True, blank=True)
    price_max_cents = models.BigIntegerField(null=True, blank=True)
    timeframe = models.CharField(max_length=100, blank=True)
    message = models.TextField(blank=True)
    campaign = models.CharField(max_length=200, blank=True)
    consent = models.JSONField(null=True, blank=True)  # kept exactly as sent
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.RECEIVED)
    rejection_reasons = models.JSONField(default=list, blank=True)
    # Where it went: the holder's brokerage, seat and reservation.
    brokerage = models.ForeignKey("tenants.Brokerage", on_delete=models.PROTECT, null=True,
                                  blank=True, related_name="inbound_leads")
    seat = models.ForeignKey("tenants.Seat", on_delete=models.PROTECT, null=True, blank=True,
                             related_name="inbound_leads")
    reservation = models.ForeignKey("territories.Reservation", on_delete=models.SET_NULL,
                                    null=True, blank=True, related_name="inbound_leads")
    # A person the agent already has (same phone or email, recently): a new inquiry on the
    # existing CRM lead, not counted against the agent's caps.
    is_repeat = models.BooleanField(default=False)
    received_at = models.DateTimeField(default=timezone.now)
    routed_at = models.DateTimeField(null=True, blank=True)
    delivered_at = models.DateTimeField(null=True, blank=True)
    first_touch_at = models.DateTimeField(null=True, blank=True)
    # One entry per routing decision: the rule, the chosen holder and why, and every
    # candidate with the reason it was passed over.
    routing_log = models.JSONField(default=list, blank=True)
    # Follow-up facts projected from the brokerage's CRM in the same transaction as they
    # happen (crm signals -> distribution.receivers), so staff dashboards read one table:
    # touches so far, the last one, the CRM stage and when it changed, the open next task's
    # due time (overdue = before now), and the sale when the lead closes.
    touches = models.PositiveIntegerField(default=0, db_default=0)
    last_touch_at = models.DateTimeField(null=True, blank=True)
    crm_stage = models.CharField(max_length=20, blank=True, default="", db_default="")
    crm_stage_at = models.DateTimeField(null=True, blank=True)
    next_task_due_at = models.DateTimeField(null=True, blank=True)
    closed_at = models.DateTimeField(null=True, blank=True)
    sale_price_cents = models.BigIntegerField(null=True, blank=True)
    commission_cents = models.BigIntegerField(null=True, blank=True)

    class Meta:
        ordering = ["-received_at", "-id"]
        constraints = [
            models.UniqueConstraint(fields=["source", "external_id"],
                                    condition=~Q(external_id=""),
                                    name="inbound_lead_external_id_once_per_source"),
            models.CheckConstraint(
                condition=Q(status__in=["received", "routed", "delivered", "orphaned",
                                        "rerouted", "rejected", "duplicate", "test"]),
                name="inbound_lead_status_known"),
        ]
        indexes = [
            # the sweeper: leads still waiting to be routed
            models.Index(fields=["received_at"], condition=Q(status="received"),
                         name="inbound_lead_waiting"),
            # caps: an agent's leads since the start of the day or month
            models.Index(fields=["seat", "routed_at"], name="inbound_lead_seat_routed"),
            # the same person again, within a brokerage
            models.Index(fields=["brokerage", "phone", "received_at"],
                         name="inbound_lead_brokerage_phone"),
            models.Index(fields=["brokerage", "email", "received_at"],
                         name="inbound_lead_brokerage_email"),
            models.Index(fields=["status", "received_at"], name="inbound_lead_status"),
            # the follow-up SLA page: open leads with an overdue next step
            models.Index(fields=["next_task_due_at"], name="inbound_lead_next_task",
                         condition=Q(next_task_due_at__isnull=False)),
        ]

    def __str__(self) -> str:
        return f"inbound lead {self.pk} ({self.status})"


class RoutingState(models.Model):
    """The fair share of one territory: each holder's weight (1 unless staff set one) and
    credit, the leads it is owed (its share of every lead routed while it was eligible,
    less the leads it got), keyed by reservation id. Locked while a lead is routed, so
    decisions on a ZIP are taken one at a time, in order."""

    territory = models.OneToOneField("territories.Territory", on_delete=models.CASCADE,
                                     related_name="routing_state")
    weights = models.JSONField(default=dict, blank=True)
    credits = models.JSONField(default=dict, blank=True)  # exact fractions, as "p/q"
    decisions = models.PositiveBigIntegerField(default=0)
    updated_at = models.DateTimeField(default=timezone.now)

    def __str__(self) -> str:
        return f"routing state of {self.territory_id}"


class MetaLeadNotification(models.Model):
    """A Meta Lead Ads webhook's `leadgen` notification, kept before the lead is fetched from
    the Graph API (by a task after commit; the sweeper tries again what is still unfetched)."""

    source = models.ForeignKey(LeadSource, on_delete=models.PROTECT,
                               related_name="meta_notifications")
    leadgen_id = models.CharField(max_length=64)
    form_id = models.CharField(max_length=64, blank=True)
    payload = models.JSONField(default=dict)  # the change's `value`, as sent
    received_at = models.DateTimeField(default=timezone.now)
    fetched_at = models.DateTimeField(null=True, blank=True)
    inbound_lead = models.ForeignKey(InboundLead, on_delete=models.PROTECT, null=True,
                                     blank=True, related_name="+")
    attempts = models.PositiveIntegerField(default=0)
    next_attempt_at = models.DateTimeField(default=timezone.now)
    last_error = models.TextField(blank=True)

    class Meta:
        ordering = ["received_at", "id"]
        constraints = [
            models.UniqueConstraint(fields=["source", "leadgen_id"],
                                    name="meta_notification_once_per_source"),
        ]
        indexes = [
            models.Index(fields=["next_attempt_at"], condition=Q(fetched_at__isnull=True),
                         name="meta_notification_unfetched"),
        ]

    def __str__(self) -> str:
        return f"Meta lead {self.leadgen_id} of source {self.source_id}"


class OutboundText(models.Model):
    """A text message that must go out (an agent's new-lead text): written in the delivery's
    transaction, sent by a task after commit, and by the text sweeper when the task never
    ran or the send failed; the row's lock keeps the two from both sending it. One per
    kind and ref (the inbound lead and the seat), however often delivery is retried."""

    to = models.CharField(max_length=20)  # E.164
    body = models.TextField()
    kind = models.CharField(max_length=60)
    ref = models.CharField(max_length=60)
    created_at = models.DateTimeField(default=timezone.now)
    attempts = models.PositiveIntegerField(default=0)
    last_error = models.TextField(blank=True)
    last_attempt_at = models.DateTimeField(null=True, blank=True)
    # NULL once sent, or once given up after the last attempt.
    next_attempt_at = models.DateTimeField(null=True, blank=True)
    sent_at = models.DateTimeField(null=True, blank=True)
    provider_id = models.CharField(max_length=64, blank=True)  # Twilio's message sid

    class Meta:
        constraints = [models.UniqueConstraint(fields=["kind", "ref"],
                                               name="outbound_text_once_per_ref")]
        indexes = [models.Index(fields=["next_attempt_at"], name="outbound_text_due",
                                condition=Q(next_attempt_at__isnull=False))]

    def __str__(self) -> str:
        return f"{self.kind} to {self.to}"


class SlaBreach(models.Model):
    """A delivered lead nobody touched within its brokerage's first-touch SLA: recorded
    once per lead, with what was done (re-routed to another holder, or the agent and the
    admins alerted)."""

    class Action(models.TextChoices):
        REROUTED = "rerouted", "Re-routed"
        ALERTED = "alerted", "Agent and admins alerted"

    inbound_lead = models.OneToOneField(InboundLead, on_delete=models.CASCADE,
                                        related_name="sla_breach")
    brokerage = models.ForeignKey("tenants.Brokerage", on_delete=models.PROTECT,
                                  related_name="sla_breaches")
    seat = models.ForeignKey("tenants.Seat", on_delete=models.PROTECT,
                             related_name="sla_breaches")
    sla_minutes = models.PositiveSmallIntegerField()
    delivered_at = models.DateTimeField()
    breached_at = models.DateTimeField()
    action = models.CharField(max_length=10, choices=Action.choices)
    rerouted_to = models.ForeignKey("tenants.Seat", on_delete=models.PROTECT, null=True,
                                    blank=True, related_name="+")

    class Meta:
        ordering = ["-breached_at", "-id"]

    def __str__(self) -> str:
        return f"SLA breach of inbound lead {self.inbound_lead_id} ({self.action})"
