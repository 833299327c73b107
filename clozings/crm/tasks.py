"""Celery tasks of the CRM: thin wrappers, each safe to run twice. A task that works in a
brokerage's schema takes the schema name and switches to it; sweepers on beat read one
public column or table and fan out a task per brokerage that has work."""

from __future__ import annotations

import logging

from celery import shared_task
from django.db import OperationalError
from django.utils import timezone

from clozings.crm import messaging, reminders
from clozings.platform.tenancy import enqueue_now, in_schema

logger = logging.getLogger(__name__)


@shared_task(name="crm.send_lead_text", acks_late=True, time_limit=60, soft_time_limit=50,
             ignore_result=True)
def send_lead_text(*, schema_name: str, text_id: int) -> None:
    """Send one queued text to a lead; a failure is recorded on the row and the brokerage's
    next run retries it."""
    with in_schema(schema_name):
        messaging.send_lead_text(text_id=text_id)


@shared_task(name="crm.run_automated", acks_late=True, time_limit=120, soft_time_limit=90,
             autoretry_for=(OperationalError,), retry_backoff=1, max_retries=3,
             ignore_result=True)
def run_automated(*, schema_name: str) -> dict:
    """One brokerage's due automated steps and lead texts."""
    with in_schema(schema_name):
        return messaging.run_automated()


@shared_task(name="crm.sweep_automated", acks_late=True, time_limit=60, ignore_result=True)
def sweep_automated() -> int:
    """Every 30 s: a run for each brokerage whose wake-up has come (one public query)."""
    schemas = messaging.brokerages_with_due_work(now=timezone.now())
    for schema_name in schemas:
        enqueue_now(run_automated, schema_name=schema_name)
    if schemas:
        logger.info("crm.automated_sweep", extra={"brokerages": len(schemas)})
    return len(schemas)


@shared_task(name="crm.send_digests", acks_late=True, time_limit=120, soft_time_limit=90,
             ignore_result=True)
def send_digests() -> int:
    """Every few minutes: the daily digest of each agent whose local hour has come."""
    return reminders.send_due_digests()


@shared_task(name="crm.remind_overdue", acks_late=True, time_limit=60, soft_time_limit=50,
             ignore_result=True)
def remind_overdue(*, schema_name: str) -> int:
    with in_schema(schema_name):
        return reminders.remind_overdue()


@shared_task(name="crm.sweep_overdue", acks_late=True, time_limit=60, ignore_result=True)
def sweep_overdue() -> int:
    """Every few minutes: a reminder run for each brokerage with overdue tasks to announce."""
    schemas = reminders.brokerages_with_overdue_work(now=timezone.now())
    for schema_name in schemas:
        enqueue_now(remind_overdue, schema_name=schema_name)
    return len(schemas)
