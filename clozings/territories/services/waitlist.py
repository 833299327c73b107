"""The waitlist of a full ZIP: joining, offers of freed places (each held for 48 hours
and mailed), claiming an offer as a pending hold, leaving."""

from __future__ import annotations

import logging
import zoneinfo
from datetime import datetime, timedelta

from django.conf import settings
from django.db import transaction
from django.template.loader import render_to_string
from django.utils import timezone

from clozings.platform.errors import Conflict, NotFound
from clozings.platform.mail import queue_mail
from clozings.tenants.models import Seat
from clozings.tenants.services import brokerage_url
from clozings.territories.models import Reservation, Slot, Territory, WaitlistEntry
from clozings.territories.services.slots import (
    RESERVATION,
    WAITLIST,
    _free_numbers,
    _holds,
    _lock_territory,
    _not_found,
    _require_active_seat,
    clean_zip_code,
    price_for,
)

logger = logging.getLogger(__name__)

OFFER_MAIL = "territories.offer"  # the outbox's kind; its ref is the waitlist entry's id


def offer_hours() -> int:
    return getattr(settings, "WAITLIST_OFFER_HOURS", 48)


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
