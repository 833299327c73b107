"""Kernel tasks: the mail outbox, and a diagnostic of which schema a task runs in."""

from __future__ import annotations

import redis
from celery import shared_task
from django.conf import settings
from django.db import connection

from clozings.platform import mail


@shared_task(name="platform.send_mail", acks_late=True, time_limit=60, soft_time_limit=50,
             ignore_result=True)
def send_mail_task(mail_id: int) -> None:
    """Send one queued mail now; a failure is recorded on the row and the sweeper retries."""
    mail.send_queued_mail(mail_id=mail_id)


@shared_task(name="platform.sweep_outbox", acks_late=True, time_limit=90, soft_time_limit=60,
             ignore_result=True)
def sweep_outbox() -> int:
    return mail.send_due_mail()


@shared_task(name="platform.record_schema", acks_late=True, time_limit=30, soft_time_limit=20,
             ignore_result=True)
def record_schema(*, key: str) -> str:
    """Write the schema this task runs in to Redis under `key` (kept for an hour)."""
    schema = connection.schema_name
    client = redis.Redis.from_url(settings.REDIS_URL)
    try:
        client.set(key, schema, ex=3600)
    finally:
        client.close()
    return schema
