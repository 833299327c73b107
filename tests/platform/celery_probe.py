"""A task for the worker tests only: it records the schema it runs in. The test worker
loads this module with `--include`; production workers never see it."""

from __future__ import annotations

import logging

import redis
from celery import shared_task
from django.conf import settings
from django.db import connection

logger = logging.getLogger(__name__)


@shared_task(name="tests.record_schema", acks_late=True, time_limit=30, soft_time_limit=20,
             ignore_result=True)
def record_schema(*, key: str) -> str:
    """Write the schema this task runs in to Redis under `key` (kept for an hour)."""
    schema = connection.schema_name
    client = redis.Redis.from_url(settings.REDIS_URL)
    try:
        client.set(key, schema, ex=3600)
    finally:
        client.close()
    logger.info("tests.schema_recorded", extra={"key": key})
    return schema
