"""Running code in a brokerage's schema, and sending tasks once the data they need is
committed.

Kernel module: imports no app.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from contextlib import contextmanager

from django.db import transaction
from django_tenants.utils import schema_context

logger = logging.getLogger(__name__)


@contextmanager
def in_schema(schema_name: str) -> Iterator[None]:
    """Run the block in `schema_name` (a brokerage's, or "public"), then restore the schema
    the connection had before, even when the block raises."""
    with schema_context(schema_name):
        yield


def enqueue_now(task, *args, **kwargs) -> None:
    """Send `task` (the imported Celery task or a signature, never a name) at once: for
    work outside any transaction, such as a sweeper sending again what the database says
    is due. A broker outage is logged and never fails the caller (the next sweep sends)."""
    try:
        task.apply_async(args=args, kwargs=kwargs)
    except Exception:  # noqa: BLE001 - kombu raises many kinds; the caller must not fail
        logger.exception("task.enqueue_failed", extra={"task": task.name})


def enqueue_on_commit(task, *args, **kwargs) -> None:
    """Send `task` (the imported Celery task, never a name) once the current transaction
    commits, or at once outside one. A broker outage is logged and never fails the caller:
    whatever must happen is recorded in the database, and a beat sweeper sends it again."""
    transaction.on_commit(lambda: enqueue_now(task, *args, **kwargs), robust=True)


def enqueue_many_on_commit(task, kwargs_list: list[dict]) -> None:
    """enqueue_on_commit for several sends of one task (keyword arguments each), in one
    broker round trip (kombu's publish batch) once the transaction commits."""
    if kwargs_list:
        transaction.on_commit(lambda: _send_many(task, kwargs_list), robust=True)


def _send_many(task, kwargs_list: list[dict]) -> None:
    try:
        with task.app.producer_or_acquire() as producer, producer.batch():
            for kwargs in kwargs_list:
                task.apply_async(kwargs=kwargs, producer=producer)
    except Exception:  # noqa: BLE001 - as enqueue_now: the sweeper sends what was lost
        logger.exception("task.enqueue_failed", extra={"task": task.name,
                                                       "messages": len(kwargs_list)})
