"""Celery tasks of CSV imports: thin wrappers, each safe to run twice (a job's advisory
lock keeps a second worker off it; rows are resumed from the last committed chunk)."""

from __future__ import annotations

import logging

from celery import shared_task
from django.db import OperationalError

from clozings.crm import imports
from clozings.platform.tenancy import enqueue_now, in_schema
from clozings.tenants.models import Brokerage

logger = logging.getLogger(__name__)


@shared_task(name="crm.run_import", acks_late=True, time_limit=1800, soft_time_limit=1700,
             autoretry_for=(OperationalError,), retry_backoff=2, max_retries=5,
             ignore_result=True)
def run_import(*, schema_name: str, import_id: int) -> None:
    with in_schema(schema_name):
        imports.run_import(import_id=import_id)


@shared_task(name="crm.sweep_imports", acks_late=True, time_limit=300, soft_time_limit=240,
             ignore_result=True)
def sweep_imports() -> int:
    """Send again every queued or running import (its message was lost, or its worker
    died): one whose worker is alive holds the job's lock, and the second run leaves it."""
    sent = 0
    for schema_name in Brokerage.objects.exclude(schema_name="public").values_list(
            "schema_name", flat=True).iterator():
        with in_schema(schema_name):
            pending = imports.resumable_imports()
        for import_id in pending:
            enqueue_now(run_import, schema_name=schema_name, import_id=import_id)
        sent += len(pending)
    if sent:
        logger.info("crm.import_sweep", extra={"requeued": sent})
    return sent
