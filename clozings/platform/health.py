"""/healthz: is the database reachable, is the broker reachable."""

import functools

import redis
from django.conf import settings
from django.db import connection
from django.http import JsonResponse
from django.views.decorators.cache import never_cache


def _database_ok() -> tuple[bool, str]:
    try:
        with connection.cursor() as cursor:
            cursor.execute("SELECT 1")
        return True, "ok"
    except Exception as exc:  # noqa: BLE001 - any failure means "not healthy", reported
        return False, exc.__class__.__name__


@functools.lru_cache(maxsize=4)
def _broker_client(url: str) -> redis.Redis:
    # One pooled client per broker URL: a health check must not open a connection per call.
    return redis.Redis.from_url(url, socket_timeout=1, socket_connect_timeout=1)


def _broker_ok() -> tuple[bool, str]:
    try:
        _broker_client(settings.CELERY_BROKER_URL).ping()
        return True, "ok"
    except redis.RedisError as exc:
        return False, exc.__class__.__name__


@never_cache
def healthz(request):
    db_ok, db_detail = _database_ok()
    broker_ok, broker_detail = _broker_ok()
    healthy = db_ok and broker_ok
    return JsonResponse(
        {"status": "ok" if healthy else "unhealthy",
         "database": db_detail, "broker": broker_detail},
        status=200 if healthy else 503,
    )
