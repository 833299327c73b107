"""Holds and reservations: taking a place (hold_slot), billing's answer (activate or
abandon), releases (scheduled, at once, due) and handing a leaving seat's ZIPs over.

Billing orchestrates "reserve and pay" (hold_slot / claim_offer -> Stripe ->
activate_reservation or abandon_hold) and never the other way round.
"""

from __future__ import annotations

import functools
import logging
from datetime import datetime

from django.core.exceptions import ValidationError
from django.db import connection, transaction
from django.db.models import OuterRef, Subquery
from django.utils import timezone

from clozings.platform.errors import Conflict, NotFound
from clozings.tenants.models import Seat
from clozings.territories.models import Reservation, Slot, Territory, TierPrice, WaitlistEntry
from clozings.territories.services.slots import (
    RESERVATION,
    WAITLIST,
    _holds,
    _lock_territory,
    _not_found,
    clean_zip_code,
)
from clozings.territories.services.waitlist import _cancel_entry, _offer_free_slots
from clozings.territories.signals import reservation_released

logger = logging.getLogger(__name__)

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
