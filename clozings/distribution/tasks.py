"""Celery tasks of distribution: thin wrappers around routing, each safe to run twice."""

from __future__ import annotations

import logging

from celery import shared_task
from django.conf import settings
from django.db import OperationalError

from clozings.distribution import notifications, routing, selectors, services, sla
from clozings.platform.tenancy import enqueue_now, woken

logger = logging.getLogger(__name__)


@shared_task(name="distribution.route_lead", acks_late=True, time_limit=60,
             soft_time_limit=50, autoretry_for=(OperationalError,), retry_backoff=1,
             max_retries=5, ignore_result=True)
def route_lead(*, inbound_lead_id: int | None = None) -> None:
    """Route this lead (when still waiting), and with it up to LEAD_ROUTING_BATCH - 1
    others waiting (skipping those another worker holds): one transaction for the lot.
    Intake sends it as a wake-up (`routing.WAKE`): cleared here before anything is read."""
    woken(routing.WAKE)
    routing.route_waiting(first_id=inbound_lead_id, limit=settings.LEAD_ROUTING_BATCH)


@shared_task(name="distribution.sweep_waiting_leads", acks_late=True, time_limit=60,
             ignore_result=True)
def sweep_waiting_leads() -> int:
    """Send routing again for every lead still waiting after LEAD_SWEEP_AFTER_SECONDS (its
    message was lost, or its worker died): the database is the queue of record."""
    waiting = selectors.waiting_lead_ids(older_than_seconds=settings.LEAD_SWEEP_AFTER_SECONDS)
    for inbound_lead_id in waiting:
        enqueue_now(route_lead, inbound_lead_id=inbound_lead_id)
    if waiting:
        logger.info("lead.sweep", extra={"requeued": len(waiting)})
    return len(waiting)


@shared_task(name="distribution.fetch_meta_lead", acks_late=True, time_limit=60,
             soft_time_limit=50, autoretry_for=(OperationalError,), retry_backoff=1,
             max_retries=5, ignore_result=True)
def fetch_meta_lead(*, notification_id: int) -> None:
    services.take_meta_lead(notification_id=notification_id)


@shared_task(name="distribution.sweep_meta_notifications", acks_late=True, time_limit=60,
             ignore_result=True)
def sweep_meta_notifications() -> int:
    """Fetch again every Meta notification whose fetch is due (its task was lost, or the
    Graph API failed it): within about 30 s of a lost task, then backing off."""
    due = services.claim_due_meta_notifications()
    for notification_id in due:
        enqueue_now(fetch_meta_lead, notification_id=notification_id)
    if due:
        logger.info("meta_lead.sweep", extra={"requeued": len(due)})
    return len(due)


@shared_task(name="distribution.send_text", acks_late=True, time_limit=60, soft_time_limit=50,
             ignore_result=True)
def send_text(*, text_id: int) -> None:
    """Send one queued text now; a failure is recorded on the row and the sweeper retries."""
    notifications.send_queued_text(text_id=text_id)


@shared_task(name="distribution.send_texts", acks_late=True, time_limit=60,
             soft_time_limit=50, ignore_result=True)
def send_texts(*, text_ids: list[int]) -> None:
    """Send a batch's queued texts now (`notifications.announced_together`); what is left
    when the time is up goes on in a task of its own; the sweeper retries failures."""
    left = notifications.send_queued_texts(text_ids=text_ids)
    if left:
        enqueue_now(send_texts, text_ids=left)


@shared_task(name="distribution.sweep_texts", acks_late=True, time_limit=90,
             soft_time_limit=60, ignore_result=True)
def sweep_texts() -> int:
    return notifications.send_due_texts()


@shared_task(name="distribution.watch_first_touch", acks_late=True, time_limit=90,
             soft_time_limit=60, ignore_result=True)
def watch_first_touch() -> int:
    """Re-route or alert every delivered lead untouched past its first-touch SLA."""
    return sla.watch_first_touch()
