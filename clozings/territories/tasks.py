"""Periodic territory work (beat runs each every few minutes): thin wrappers around
services, each safe to run twice or late. They work on public-schema tables only."""

from __future__ import annotations

from celery import shared_task
from django.db import OperationalError
from django.utils import timezone

from clozings.territories import services

PERIODIC = {"acks_late": True, "time_limit": 240, "soft_time_limit": 200,
            "autoretry_for": (OperationalError,), "retry_backoff": 5, "max_retries": 5,
            "ignore_result": True}


@shared_task(name="territories.expire_offers", **PERIODIC)
def expire_offers() -> int:
    return services.expire_offers(now=timezone.now())


@shared_task(name="territories.suspend_overdue", **PERIODIC)
def suspend_overdue() -> int:
    return services.suspend_overdue(now=timezone.now())


@shared_task(name="territories.release_suspended", **PERIODIC)
def release_suspended() -> int:
    return services.release_suspended(now=timezone.now())


@shared_task(name="territories.release_due", **PERIODIC)
def release_due() -> int:
    return services.release_due(now=timezone.now())
