"""Diagnostic task: which schema does a task run in (used to check tenant routing)."""

from __future__ import annotations

import redis
from celery import shared_task
from django.conf import settings
from django.db import connection


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
