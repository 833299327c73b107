"""Lapses, driven by billing's view of Stripe: renewals move the paid period, a failed
payment starts the grace period, then suspension (the place is kept, leads stop), then
release."""

from __future__ import annotations

import logging
from datetime import datetime, timedelta

from django.conf import settings
from django.db import transaction
from django.db.models import Q

from clozings.territories.models import Reservation
from clozings.territories.services.reservations import release_reservation
from clozings.territories.services.slots import RESERVATION

logger = logging.getLogger(__name__)

def grace_days() -> int:
    return getattr(settings, "TERRITORY_GRACE_DAYS", 7)


def suspended_days() -> int:
    return getattr(settings, "TERRITORY_SUSPENDED_DAYS", 14)


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
