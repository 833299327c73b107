"""Every write about territories: holds, reservations, lapses, releases and the waitlist.

Locking order, everywhere: the territory row first (SELECT ... FOR UPDATE), then its
reservations and waitlist entries. Taking or freeing a slot happens only under that lock,
so a ZIP never has more holders than slots; the slot table's unique (territory, number)
constraint makes it impossible in the database as well.

Billing orchestrates "reserve and pay" (hold_slot / claim_offer -> Stripe ->
activate_reservation or abandon_hold) and never the other way round.
"""

from __future__ import annotations

import functools
import logging
import re
import zoneinfo
from datetime import datetime, timedelta

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import connection, transaction
from django.db.models import OuterRef, Q, Subquery
from django.template.loader import render_to_string
from django.utils import timezone

from clozings.platform.errors import Conflict, NotFound
from clozings.platform.mail import queue_mail
from clozings.tenants.models import Seat
from clozings.territories.models import (
    Reservation,
    Slot,
    Territory,
    Tier,
    TierPrice,
    WaitlistEntry,
)
from clozings.territories.signals import reservation_released

logger = logging.getLogger(__name__)

ZIP_RE = re.compile(r"^[0-9]{5}$")
RESERVATION = Reservation.Status
WAITLIST = WaitlistEntry.Status
MAX_SLOTS = 100
MAX_PRICE_CENTS = 10_000_000  # $100,000 a month: anything above is a typo
OFFER_MAIL = "territories.offer"  # the outbox's kind; its ref is the waitlist entry's id


def grace_days() -> int:
    return getattr(settings, "TERRITORY_GRACE_DAYS", 7)


def suspended_days() -> int:
    return getattr(settings, "TERRITORY_SUSPENDED_DAYS", 14)


def offer_hours() -> int:
    return getattr(settings, "WAITLIST_OFFER_HOURS", 48)


# --- look-ups ---------------------------------------------------------------------------
def clean_zip_code(zip_code, *, field: str = "zip_code") -> str:
    """A 5-digit ZIP as a string, or ValidationError on `field`."""
    value = str(zip_code if zip_code is not None else "").strip()
    if not ZIP_RE.match(value):
        raise ValidationError({field: ["Enter a 5-digit ZIP code, like 10001."]})
    return value


def _not_found(zip_code: str) -> NotFound:
    return NotFound(f"There is no territory for ZIP {zip_code}.")


def _lock_territory(territory_id: int) -> Territory:
    return Territory.objects.select_for_update().get(pk=territory_id)


def _require_active_seat(seat: Seat) -> Seat:
    fresh = Seat.objects.filter(pk=seat.pk).first()
    if fresh is None or fresh.status != Seat.Status.ACTIVE:
        raise ValidationError({"agent_id": ["This agent's seat is not active."]})
    return fresh


def _holds(*, territory_id: int, seat_id: int) -> bool:
    return Reservation.objects.filter(territory_id=territory_id, seat_id=seat_id).exclude(
        status=RESERVATION.RELEASED).exists()


def _free_numbers(territory: Territory) -> list[int]:
    """Free slot numbers (lowest first), at most slots - taken of them."""
    taken = set(Slot.objects.filter(territory=territory).values_list("number", flat=True))
    room = territory.slots - len(taken)
    if room <= 0:
        return []
    free = (n for n in range(1, territory.slots + len(taken) + 1) if n not in taken)
    return [next(free) for _ in range(room)]


def price_for(*, territory: Territory) -> int:
    """The monthly price of a ZIP in cents: its own price, else its tier's."""
    if territory.price_cents is not None:
        return territory.price_cents
    return TierPrice.objects.get(tier=territory.tier).price_cents


# --- holding and paying -----------------------------------------------------------------
def hold_slot(*, seat: Seat, zip_code: str) -> Reservation:
    """Take a free place in a ZIP for a seat: a pending reservation that billing then
    activates (Stripe accepted) or abandons (Stripe refused)."""
    zip_code = clean_zip_code(zip_code)
    # One read without a lock first: a full ZIP (the common case under a rush) answers
    # without queueing on the territory's row lock. A holding reservation always has a
    # slot, so "this seat holds it" is a look at the slots.
    found = _availability(zip_code=zip_code, seat_id=seat.pk)
    if found is None:
        raise _not_found(zip_code)
    territory_id, slots, taken, seat_holds, seat_active = found
    if not seat_active:
        raise ValidationError({"agent_id": ["This agent's seat is not active."]})
    if seat_holds:
        raise _already(zip_code)
    if taken >= slots:
        raise _full(zip_code)
    with transaction.atomic():
        territory = Territory.objects.select_for_update(of=("self",)).annotate(
            tier_price_cents=Subquery(TierPrice.objects.filter(tier=OuterRef("tier")).values(
                "price_cents")[:1]),
        ).get(pk=territory_id)
        slots = list(Slot.objects.filter(territory=territory).values_list(
            "number", "reservation__seat_id"))
        if any(holder == seat.pk for _, holder in slots):
            raise _already(zip_code)
        free = _first_free(territory.slots, {number for number, _ in slots})
        if free is None:
            raise _full(zip_code)
        # Deactivation locks the seat, then the territories it holds. This seat holds no
        # place here (checked under this territory's lock), so waiting for its row cannot
        # deadlock, and no hold outlives a deactivated seat.
        if not Seat.objects.select_for_update(no_key=True).filter(
                pk=seat.pk, status=Seat.Status.ACTIVE).values_list("pk").first():
            raise ValidationError({"agent_id": ["This agent's seat is not active."]})
        price = territory.price_cents
        reservation = Reservation.objects.create(
            territory=territory, brokerage_id=seat.brokerage_id, seat_id=seat.pk,
            status=RESERVATION.PENDING,
            price_cents=territory.tier_price_cents if price is None else price)
        Slot.objects.create(territory=territory, number=free, reservation=reservation)
    logger.info("territory.held", extra={"reservation": reservation.pk, "zip_code": zip_code,
                                         "seat": seat.pk})
    return reservation


@functools.cache
def _availability_sql() -> str:
    """hold_slot's unlocked first look, written out once: the ORM spent more CPU building
    this statement (~1.5 ms) than the database spends answering it (~0.1 ms), and under a
    rush of 100 that CPU is the queue. Names come from the models."""
    def table(model) -> str:
        return connection.ops.quote_name(model._meta.db_table)

    def column(model, name: str) -> str:
        return connection.ops.quote_name(model._meta.get_field(name).column)

    territory_id = f"t.{column(Territory, 'id')}"
    slot_territory = f"s.{column(Slot, 'territory')}"
    return (
        f"SELECT {territory_id}, t.{column(Territory, 'slots')}, "
        f"(SELECT count(*) FROM {table(Slot)} s WHERE {slot_territory} = {territory_id}), "
        f"EXISTS (SELECT 1 FROM {table(Slot)} s JOIN {table(Reservation)} r "
        f"ON r.{column(Reservation, 'id')} = s.{column(Slot, 'reservation')} "
        f"WHERE {slot_territory} = {territory_id} AND r.{column(Reservation, 'seat')} = %s), "
        f"EXISTS (SELECT 1 FROM {table(Seat)} a WHERE a.{column(Seat, 'id')} = %s "
        f"AND a.{column(Seat, 'status')} = %s) "
        f"FROM {table(Territory)} t WHERE t.{column(Territory, 'zip_code')} = %s "
        f"AND t.{column(Territory, 'is_active')}")


def _availability(*, zip_code: str, seat_id: int) -> tuple[int, int, int, bool, bool] | None:
    """(territory id, slots, places taken, the seat holds one, the seat is active) of an
    offered ZIP, or None."""
    with connection.cursor() as cursor:
        cursor.execute(_availability_sql(),
                       [seat_id, seat_id, Seat.Status.ACTIVE.value, zip_code])
        return cursor.fetchone()


def _first_free(slots: int, taken: set[int]) -> int | None:
    if len(taken) >= slots:
        return None
    return next(n for n in range(1, slots + len(taken) + 1) if n not in taken)


def _already(zip_code: str) -> Conflict:
    return Conflict(f"This agent already holds ZIP {zip_code}.", code="already_reserved")


def _full(zip_code: str) -> Conflict:
    return Conflict(f"ZIP {zip_code} is taken. Join its waitlist to be offered the next "
                    "free place.", code="territory_full")


def activate_reservation(*, reservation_id: int, stripe_item_id: str,
                         period_end: datetime | None = None) -> Reservation:
    """Stripe accepted the subscription item: the hold becomes an active reservation.
    Calling it again only refreshes the item id and the period end."""
    with transaction.atomic():
        reservation = Reservation.objects.select_for_update().filter(pk=reservation_id).first()
        if reservation is None:
            raise NotFound("No such reservation.")
        if reservation.status == RESERVATION.RELEASED:
            raise Conflict("This reservation was released before it was paid for.",
                           code="reservation_released")
        if reservation.status == RESERVATION.PENDING:
            reservation.status = RESERVATION.ACTIVE
            reservation.activated_at = timezone.now()
        reservation.stripe_item_id = stripe_item_id or reservation.stripe_item_id
        reservation.period_end = period_end or reservation.period_end
        reservation.save(update_fields=["status", "activated_at", "stripe_item_id",
                                        "period_end"])
    logger.info("territory.activated", extra={"reservation": reservation.pk})
    return reservation


def abandon_hold(*, reservation_id: int) -> None:
    """Stripe refused: the pending hold goes as if it never happened. A hold claimed from
    a waitlist offer goes back to being that offer. Anything not pending is left alone."""
    reservation = Reservation.objects.filter(pk=reservation_id).first()
    if reservation is None:
        return
    with transaction.atomic():
        territory = _lock_territory(reservation.territory_id)
        reservation = Reservation.objects.select_for_update().filter(pk=reservation_id).first()
        if reservation is None or reservation.status != RESERVATION.PENDING:
            return
        entry = reservation.waitlist_entry
        if entry is not None and entry.status == WAITLIST.ACCEPTED:
            Slot.objects.filter(reservation=reservation).update(reservation=None, offer=entry)
            entry.status = WAITLIST.OFFERED
            entry.closed_at = None
            entry.save(update_fields=["status", "closed_at"])
        reservation.delete()  # its slot row goes with it (CASCADE) unless handed back above
        _offer_free_slots(territory)
    logger.info("territory.hold_abandoned", extra={"reservation": reservation_id})


def schedule_release(*, reservation: Reservation, at: datetime) -> Reservation:
    """The owner or an admin released it: it stays theirs (and billed) until `at`.
    A hold never paid for, or a time already past, releases at once."""
    current = Reservation.objects.get(pk=reservation.pk)
    if current.status == RESERVATION.RELEASED:
        return current
    if current.status == RESERVATION.PENDING or at <= timezone.now():
        return release_reservation(reservation_id=current.pk, reason="released_by_owner")
    with transaction.atomic():
        _lock_territory(current.territory_id)
        current = Reservation.objects.select_for_update().get(pk=reservation.pk)
        if current.status == RESERVATION.RELEASED:
            return current
        current.release_at = at
        current.save(update_fields=["release_at"])
    logger.info("territory.release_scheduled", extra={"reservation": current.pk, "at": at})
    return current


def release_reservation(*, reservation_id: int, reason: str) -> Reservation:
    """Free the reservation's slot and offer it to the waitlist. Idempotent."""
    reservation = Reservation.objects.filter(pk=reservation_id).first()
    if reservation is None:
        raise NotFound("No such reservation.")
    with transaction.atomic():
        territory = _lock_territory(reservation.territory_id)
        reservation = Reservation.objects.select_for_update().get(pk=reservation_id)
        if reservation.status == RESERVATION.RELEASED:
            return reservation
        reservation.status = RESERVATION.RELEASED
        reservation.released_at = timezone.now()
        reservation.release_reason = reason[:40]
        reservation.save(update_fields=["status", "released_at", "release_reason"])
        Slot.objects.filter(reservation=reservation).delete()
        reservation_released.send(sender=Reservation, reservation=reservation)
        _offer_free_slots(territory)
    logger.info("territory.released", extra={"reservation": reservation.pk, "reason": reason,
                                             "zip_code": territory.zip_code})
    return reservation


def release_due(*, now: datetime) -> int:
    """Release every reservation whose scheduled release time has come."""
    due = Reservation.objects.filter(release_at__lte=now).exclude(
        status__in=[RESERVATION.RELEASED, RESERVATION.PENDING]).values_list("pk", flat=True)
    released = 0
    for reservation_id in list(due):
        release_reservation(reservation_id=reservation_id, reason="released_by_owner")
        released += 1
    return released


# --- lapses (driven by billing's view of Stripe) ----------------------------------------
def record_period_end(*, brokerage_id: int, period_end: datetime) -> int:
    """The brokerage's subscription renewed: its billed reservations are paid until
    `period_end` (shown as the next charge; a seat leaving keeps its ZIPs until then).
    Never moves a period end backwards, so a late or repeated call changes nothing."""
    return Reservation.objects.filter(
        brokerage_id=brokerage_id,
        status__in=[RESERVATION.ACTIVE, RESERVATION.PAST_DUE, RESERVATION.SUSPENDED],
    ).filter(Q(period_end__isnull=True) | Q(period_end__lt=period_end)).update(
        period_end=period_end)


def mark_brokerage_past_due(*, brokerage_id: int, since: datetime) -> int:
    """The brokerage's payment failed: active reservations enter the grace period.
    A repeated or late call only moves `past_due_since` earlier, never later."""
    with transaction.atomic():
        moved = Reservation.objects.filter(
            brokerage_id=brokerage_id, status=RESERVATION.ACTIVE
        ).update(status=RESERVATION.PAST_DUE, past_due_since=since)
        Reservation.objects.filter(
            brokerage_id=brokerage_id, status__in=[RESERVATION.PAST_DUE, RESERVATION.SUSPENDED],
            past_due_since__gt=since,
        ).update(past_due_since=since)
    logger.info("territory.past_due", extra={"brokerage": brokerage_id, "reservations": moved})
    return moved


def restore_brokerage(*, brokerage_id: int) -> int:
    """Payment recovered: past-due and suspended reservations are active again."""
    restored = Reservation.objects.filter(
        brokerage_id=brokerage_id, status__in=[RESERVATION.PAST_DUE, RESERVATION.SUSPENDED]
    ).update(status=RESERVATION.ACTIVE, past_due_since=None, suspended_at=None)
    logger.info("territory.restored", extra={"brokerage": brokerage_id,
                                             "reservations": restored})
    return restored


def suspend_overdue(*, now: datetime) -> int:
    """Past due longer than the grace period: suspended (the slot is kept, leads stop)."""
    suspended = Reservation.objects.filter(
        status=RESERVATION.PAST_DUE, past_due_since__lte=now - timedelta(days=grace_days())
    ).update(status=RESERVATION.SUSPENDED, suspended_at=now)
    if suspended:
        logger.info("territory.suspended", extra={"reservations": suspended})
    return suspended


def release_suspended(*, now: datetime) -> int:
    """Suspended longer than TERRITORY_SUSPENDED_DAYS: released and offered to the waitlist."""
    overdue = Reservation.objects.filter(
        status=RESERVATION.SUSPENDED,
        suspended_at__lte=now - timedelta(days=suspended_days()),
    ).values_list("pk", flat=True)
    released = 0
    for reservation_id in list(overdue):
        release_reservation(reservation_id=reservation_id, reason="unpaid")
        released += 1
    return released


# --- waitlist ---------------------------------------------------------------------------
def join_waitlist(*, seat: Seat, zip_code: str) -> WaitlistEntry:
    """Queue a seat for a full ZIP. Joining again returns the same open entry."""
    zip_code = clean_zip_code(zip_code)
    seat = _require_active_seat(seat)
    territory = Territory.objects.filter(zip_code=zip_code, is_active=True).first()
    if territory is None:
        raise _not_found(zip_code)
    with transaction.atomic():
        territory = _lock_territory(territory.pk)
        if _holds(territory_id=territory.pk, seat_id=seat.pk):
            raise Conflict(f"This agent already holds ZIP {zip_code}.", code="already_reserved")
        entry = WaitlistEntry.objects.filter(territory=territory, seat=seat,
                                             status__in=WaitlistEntry.OPEN).first()
        if entry is not None:
            return entry
        if _free_numbers(territory):
            raise Conflict(f"ZIP {zip_code} has a free place: reserve it instead.",
                           code="territory_available")
        entry = WaitlistEntry.objects.create(territory=territory, brokerage_id=seat.brokerage_id,
                                             seat=seat)
    logger.info("territory.waitlist_joined", extra={"entry": entry.pk, "zip_code": zip_code})
    return entry


def offer_next(*, territory_id: int) -> list[WaitlistEntry]:
    """Offer every free place of a territory to the first in line, each held for them."""
    with transaction.atomic():
        return _offer_free_slots(_lock_territory(territory_id))


def _offer_free_slots(territory: Territory) -> list[WaitlistEntry]:
    """Under the territory's lock: each free place goes to the next waiting seat."""
    offered = []
    for number in _free_numbers(territory):
        entry = WaitlistEntry.objects.select_for_update().filter(
            territory=territory, status=WAITLIST.WAITING, seat__status=Seat.Status.ACTIVE,
        ).order_by("created_at", "id").first()
        if entry is None:
            break
        now = timezone.now()
        entry.status = WAITLIST.OFFERED
        entry.offered_at = now
        entry.offer_expires_at = now + timedelta(hours=offer_hours())
        entry.save(update_fields=["status", "offered_at", "offer_expires_at"])
        Slot.objects.create(territory=territory, number=number, offer=entry)
        send_offer_email(entry_id=entry.pk)
        logger.info("territory.offered", extra={"entry": entry.pk,
                                                "zip_code": territory.zip_code})
        offered.append(entry)
    return offered


def send_offer_email(*, entry_id: int) -> None:
    """Queue the offer's mail in the offer's transaction: the outbox sends it after commit
    and retries it until the mail server takes it, so an outage never loses an offer."""
    from clozings.tenants.services import brokerage_url

    entry = WaitlistEntry.objects.select_related("territory", "seat__user", "brokerage").get(
        pk=entry_id)
    context = {
        "entry": entry, "territory": entry.territory, "seat": entry.seat,
        "brokerage": entry.brokerage, "hours": offer_hours(),
        "link": brokerage_url(entry.brokerage, f"/territories/offers/{entry.pk}/"),
    }
    zone = (entry.seat.user.time_zone if entry.seat.user else "") or entry.brokerage.time_zone
    with timezone.override(zoneinfo.ZoneInfo(zone)):  # the deadline in the agent's own time
        queue_mail(
            to=entry.seat.email,
            subject=f"ZIP {entry.territory.zip_code} is yours to take",
            text=render_to_string("territories/email/offer.txt", context),
            html=render_to_string("territories/email/offer.html", context),
            kind=OFFER_MAIL, ref=str(entry.pk),
        )


def expire_offers(*, now: datetime) -> int:
    """Offers not taken in time lapse; their places go to the next in line."""
    expired = WaitlistEntry.objects.filter(status=WAITLIST.OFFERED, offer_expires_at__lte=now)
    count = 0
    for entry_id, territory_id in list(expired.values_list("pk", "territory_id")):
        with transaction.atomic():
            territory = _lock_territory(territory_id)
            entry = WaitlistEntry.objects.select_for_update().get(pk=entry_id)
            if entry.status != WAITLIST.OFFERED or entry.offer_expires_at > now:
                continue
            _close_entry(entry, WAITLIST.EXPIRED)
            _offer_free_slots(territory)
            count += 1
        logger.info("territory.offer_expired", extra={"entry": entry_id})
    return count


def _close_entry(entry: WaitlistEntry, status: str) -> None:
    Slot.objects.filter(offer=entry).delete()
    entry.status = status
    entry.closed_at = timezone.now()
    entry.save(update_fields=["status", "closed_at"])


def _entry_for(*, entry_id: int, seat: Seat) -> WaitlistEntry:
    """A waitlist entry the seat may act on: its own, or any of its brokerage's for an
    admin. Anything else is not found, so ids of other brokerages reveal nothing."""
    entry = None
    if 0 < entry_id < 2**63:  # ids are bigints: a larger number names nothing
        entry = WaitlistEntry.objects.filter(pk=entry_id, brokerage_id=seat.brokerage_id).first()
    if entry is None or (entry.seat_id != seat.pk and not seat.is_admin):
        raise NotFound("No such waitlist entry.")
    return entry


def claim_offer(*, entry_id: int, seat: Seat) -> Reservation:
    """Take an open offer: the offered place becomes a pending hold for the waiting agent
    (billing then activates or abandons it)."""
    entry = _entry_for(entry_id=entry_id, seat=seat)
    with transaction.atomic():
        territory = _lock_territory(entry.territory_id)
        entry = WaitlistEntry.objects.select_for_update().select_related("seat").get(
            pk=entry.pk)
        if entry.status != WAITLIST.OFFERED:
            raise Conflict("This offer is no longer open.", code="offer_closed")
        if entry.offer_expires_at <= timezone.now():
            raise Conflict("This offer has expired.", code="offer_expired")
        holder = _require_active_seat(entry.seat)
        if _holds(territory_id=territory.pk, seat_id=holder.pk):
            raise Conflict(f"This agent already holds ZIP {territory.zip_code}.",
                           code="already_reserved")
        reservation = Reservation.objects.create(
            territory=territory, brokerage_id=holder.brokerage_id, seat=holder,
            status=RESERVATION.PENDING, price_cents=price_for(territory=territory),
            waitlist_entry=entry)
        Slot.objects.filter(offer=entry).update(offer=None, reservation=reservation)
        entry.status = WAITLIST.ACCEPTED
        entry.closed_at = timezone.now()
        entry.save(update_fields=["status", "closed_at"])
    logger.info("territory.offer_claimed", extra={"entry": entry.pk,
                                                  "reservation": reservation.pk})
    return reservation


def cancel_waitlist_entry(*, entry_id: int, seat: Seat) -> WaitlistEntry:
    """Leave the waitlist (or decline an offer, whose place goes to the next in line)."""
    entry = _entry_for(entry_id=entry_id, seat=seat)
    return _cancel_entry(entry)


def _cancel_entry(entry: WaitlistEntry) -> WaitlistEntry:
    with transaction.atomic():
        territory = _lock_territory(entry.territory_id)
        entry = WaitlistEntry.objects.select_for_update().get(pk=entry.pk)
        if entry.status not in WaitlistEntry.OPEN:
            return entry
        _close_entry(entry, WAITLIST.CANCELLED)
        _offer_free_slots(territory)
    logger.info("territory.waitlist_cancelled", extra={"entry": entry.pk})
    return entry


# --- seats leaving ----------------------------------------------------------------------
def hand_over_reservations(*, seat: Seat, reassign_to: Seat | None) -> dict[str, int]:
    """A seat was deactivated: each of its territories goes to `reassign_to` (when that
    agent does not hold the ZIP already) or is released at the end of its paid period
    (at once when nothing is paid for). Its waitlist entries are cancelled."""
    counts = {"handed_over": 0, "releasing": 0, "cancelled": 0}
    held = Reservation.objects.filter(seat=seat).exclude(status=RESERVATION.RELEASED)
    for reservation in list(held):
        with transaction.atomic():
            _lock_territory(reservation.territory_id)
            current = Reservation.objects.select_for_update().get(pk=reservation.pk)
            if current.status == RESERVATION.RELEASED:
                continue
            if reassign_to is not None and not _holds(territory_id=current.territory_id,
                                                      seat_id=reassign_to.pk):
                current.seat = reassign_to
                current.save(update_fields=["seat"])
                # now a holder, the colleague no longer waits for this ZIP
                for entry in WaitlistEntry.objects.filter(
                        territory_id=current.territory_id, seat=reassign_to,
                        status__in=WaitlistEntry.OPEN):
                    _cancel_entry(entry)
                counts["handed_over"] += 1
                logger.info("territory.handed_over", extra={"reservation": current.pk,
                                                            "to": reassign_to.pk})
                continue
        paid_until = current.period_end if current.status == RESERVATION.ACTIVE else None
        schedule_release(reservation=current, at=paid_until or timezone.now())
        counts["releasing"] += 1
    open_entries = WaitlistEntry.objects.filter(seat=seat, status__in=WaitlistEntry.OPEN)
    for entry in list(open_entries):
        _cancel_entry(entry)
        counts["cancelled"] += 1
    return counts


# --- staff ------------------------------------------------------------------------------
_UNSET = object()


def _check_price(value, field: str, errors: dict, *, allow_none: bool) -> None:
    if value is None and allow_none:
        return
    if isinstance(value, bool) or not isinstance(value, int):
        errors[field] = ["Give the price as a whole number of cents."]
    elif value < 0:
        errors[field] = ["A price cannot be negative."]
    elif value > MAX_PRICE_CENTS:
        errors[field] = [f"A price cannot be more than {MAX_PRICE_CENTS} cents."]


def update_territory(*, zip_code: str, price_cents=_UNSET, tier=_UNSET, slots=_UNSET,
                     is_active=_UNSET) -> Territory:
    """Staff set a ZIP's own price (None: the tier's), tier, number of slots or whether
    it is offered. Slots never go below the places taken now; new places go to the
    waitlist first."""
    zip_code = clean_zip_code(zip_code)
    territory = Territory.objects.filter(zip_code=zip_code).first()
    if territory is None:
        raise _not_found(zip_code)
    errors: dict[str, list[str]] = {}
    if price_cents is not _UNSET:
        _check_price(price_cents, "price_cents", errors, allow_none=True)
    if tier is not _UNSET and tier not in Tier.values:
        errors["tier"] = [f"Choose one of: {', '.join(Tier.values)}."]
    if slots is not _UNSET and (isinstance(slots, bool) or not isinstance(slots, int)
                                or not 1 <= slots <= MAX_SLOTS):
        errors["slots"] = [f"Give a whole number of slots from 1 to {MAX_SLOTS}."]
    if is_active is not _UNSET and not isinstance(is_active, bool):
        errors["is_active"] = ["Give true or false."]
    if errors:
        raise ValidationError(errors)
    with transaction.atomic():
        territory = _lock_territory(territory.pk)
        if slots is not _UNSET:
            taken = Slot.objects.filter(territory=territory).count()
            if slots < taken:
                raise ValidationError({"slots": [
                    f"{taken} places of ZIP {zip_code} are taken; release some before "
                    f"going below {taken}."]})
            territory.slots = slots
        if price_cents is not _UNSET:
            territory.price_cents = price_cents
        if tier is not _UNSET:
            territory.tier = tier
        if is_active is not _UNSET:
            territory.is_active = is_active
        territory.save()
        _offer_free_slots(territory)
    logger.info("territory.updated", extra={"zip_code": zip_code})
    return territory


def set_tier_price(*, tier: str, price_cents) -> TierPrice:
    """Staff set the monthly price of a tier. Existing reservations keep their price."""
    if tier not in Tier.values:
        raise NotFound(f"There is no tier '{tier}'.")
    errors: dict[str, list[str]] = {}
    _check_price(price_cents, "price_cents", errors, allow_none=False)
    if errors:
        raise ValidationError(errors)
    tier_price, _ = TierPrice.objects.update_or_create(
        tier=tier, defaults={"price_cents": price_cents, "updated_at": timezone.now()})
    logger.info("territory.tier_priced", extra={"tier": tier, "price_cents": price_cents})
    return tier_price

