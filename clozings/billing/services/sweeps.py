"""Periodic repair: what a lost task, a dead worker or an unreachable Stripe left undone,
finished within a minute (beat runs `sweep` every 30 s)."""

from __future__ import annotations

import logging
from datetime import datetime, timedelta

from django.conf import settings
from django.db import connection
from django.db.models import Count, F, Q
from django.utils import timezone

from clozings.billing.models import BillingAccount, ItemRemoval, WebhookEvent
from clozings.billing.services.payment_methods import account_for
from clozings.billing.services.subscriptions import (
    _add_territory_item,
    remove_reservation_item,
    sync_seat_quantity,
)
from clozings.billing.stripe_client import StripeRefused, StripeUnavailable
from clozings.platform.tenancy import enqueue_now
from clozings.tenants.models import Seat
from clozings.territories import services as territories
from clozings.territories.models import Reservation

logger = logging.getLogger(__name__)

# How long the normal task has before the sweeper does its work instead.
SWEEP_AFTER_SECONDS = 30
SWEEP_BATCH = 200
# An event that failed this often is left to staff (the stuck events of the console).
MAX_EVENT_ATTEMPTS = 20
SWEEP_LOCK = 0x62696C6C  # one sweep at a time (a PostgreSQL advisory lock, not a row lock)


def sweep(*, now: datetime | None = None) -> dict[str, int]:
    """What a lost task, a dead worker or an unreachable Stripe left undone, finished
    within a minute (beat runs this every 30 s; the broker would wait an hour):
    stale pending holds, seats items out of step with the active seats, released items
    still on the subscription, and events not processed. Every piece claims its row or
    repeats the normal task's idempotency key, so running beside that task writes
    nothing twice."""
    now = now or timezone.now()
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_try_advisory_lock(%s)", [SWEEP_LOCK])
        if not cursor.fetchone()[0]:
            return {}
    try:
        counts = reconcile_pending_holds(now=now)
        counts["seats"] = _sweep_seats()
        counts["removals"] = _sweep_removals(now)
        counts["events"] = _sweep_events(now)
    finally:
        with connection.cursor() as cursor:
            cursor.execute("SELECT pg_advisory_unlock(%s)", [SWEEP_LOCK])
    logger.info("billing.swept", extra=counts)
    return counts


def _sweep_seats() -> int:
    """Accounts whose seats item is not the number of active seats (the seats are the
    desired state, `seats_quantity` what Stripe was last told)."""
    active = Count("brokerage__seats", filter=Q(brokerage__seats__status=Seat.Status.ACTIVE))
    behind = BillingAccount.objects.exclude(stripe_subscription_id="").annotate(
        active=active).filter(
        ~Q(active=F("seats_quantity")) | Q(active__gt=0, seats_item_id="")
        | Q(active=0, seats_item_id__gt=""))
    synced = 0
    for brokerage_id in list(behind.values_list("brokerage_id", flat=True)[:SWEEP_BATCH]):
        try:
            sync_seat_quantity(brokerage_id=brokerage_id)
            synced += 1
        except (StripeRefused, StripeUnavailable) as exc:
            logger.warning("billing.seats_sweep_failed",
                           extra={"brokerage": brokerage_id, "reason": str(exc)})
    return synced


def _sweep_removals(now: datetime) -> int:
    pending = ItemRemoval.objects.filter(
        done_at__isnull=True, created_at__lt=now - timedelta(seconds=SWEEP_AFTER_SECONDS))
    removed = 0
    for item_id, brokerage_id in list(pending.values_list(
            "stripe_item_id", "brokerage_id")[:SWEEP_BATCH]):
        try:
            removed += remove_reservation_item(stripe_item_id=item_id,
                                               brokerage_id=brokerage_id)
        except StripeUnavailable as exc:
            logger.warning("billing.removal_sweep_failed",
                           extra={"item": item_id, "reason": str(exc)})
    return removed


def _sweep_events(now: datetime) -> int:
    """Events whose task was sent over half a minute ago (or whose retry was due then)
    and has not finished are sent again (processing re-reads Stripe, so a second run is
    harmless)."""
    cutoff = now - timedelta(seconds=SWEEP_AFTER_SECONDS)
    stale = WebhookEvent.objects.filter(processed_at__isnull=True, rejected=False,
                                        attempts__lt=MAX_EVENT_ATTEMPTS).filter(
        Q(enqueued_at__lt=cutoff) | Q(enqueued_at__isnull=True, received_at__lt=cutoff))
    from clozings.billing import tasks  # tasks import services: a local import

    sent = 0
    for pk, enqueued_at in list(stale.values_list("pk", "enqueued_at")[:SWEEP_BATCH]):
        # compare-and-set: a sweep running beside this one sends it once
        if WebhookEvent.objects.filter(pk=pk, enqueued_at=enqueued_at).update(
                enqueued_at=now):
            enqueue_now(tasks.process_webhook_event, pk)
            sent += 1
    return sent


def reconcile_pending_holds(*, now: datetime | None = None) -> dict[str, int]:
    """Holds left pending (the request died between hold and activation, or Stripe was
    unreachable) are settled: replaying the create with the same idempotency key
    returns the item Stripe made, or makes it; a refusal abandons the hold."""
    now = now or timezone.now()
    cutoff = now - timedelta(minutes=settings.BILLING_PENDING_HOLD_MINUTES)
    counts = {"activated": 0, "abandoned": 0, "left": 0}
    stale = Reservation.objects.filter(status=Reservation.Status.PENDING,
                                       created_at__lt=cutoff).select_related(
        "territory", "brokerage")
    for reservation in stale:
        account = account_for(brokerage=reservation.brokerage)
        if not account.has_card:
            territories.abandon_hold(reservation_id=reservation.pk)
            counts["abandoned"] += 1
            continue
        try:
            item_id, period_end = _add_territory_item(account=account, reservation=reservation)
        except StripeRefused:
            territories.abandon_hold(reservation_id=reservation.pk)
            counts["abandoned"] += 1
            continue
        except StripeUnavailable:
            counts["left"] += 1
            continue
        territories.activate_reservation(reservation_id=reservation.pk,
                                         stripe_item_id=item_id, period_end=period_end)
        counts["activated"] += 1
    logger.info("billing.reconciled", extra=counts)
    return counts
