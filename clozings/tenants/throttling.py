"""Login throttle: failed sign-ins counted per email and per client address.

Shared by the token API and the login page. Counters live in the Django cache (Redis) in a
fixed window of settings.LOGIN_THROTTLE_WINDOW_SECONDS; once either counter has reached
settings.LOGIN_THROTTLE_ATTEMPTS, sign-in is refused (even with the right password) until
that window ends. The counters are kept under the public schema's cache keys, so an
attacker cannot multiply the attempts by trying every brokerage's host in turn.
"""

from __future__ import annotations

import hashlib
import math
import time

from django.conf import settings
from django.core.cache import cache
from django_tenants.utils import schema_context

_PREFIX = "login-failures"


def client_ip(request) -> str:
    """The address a request came from.

    Behind settings.TRUSTED_PROXY_HOPS proxies, the address the nearest of them saw, taken
    from the right of X-Forwarded-For: entries further left are the client's own to write,
    and a throttle that believed them could be dodged by changing the header every time.
    With no proxies configured, the header is ignored.
    """
    hops = settings.TRUSTED_PROXY_HOPS
    forwarded = [part.strip() for part in request.META.get("HTTP_X_FORWARDED_FOR", "").split(",")
                 if part.strip()]
    if hops > 0 and len(forwarded) >= hops:
        return forwarded[-hops]
    return request.META.get("REMOTE_ADDR") or "unknown"


def _email_key(email: str) -> str:
    # Hashed: no address in cache keys, and a fixed key length whatever was typed.
    digest = hashlib.sha256((email or "").strip().lower().encode()).hexdigest()
    return f"{_PREFIX}:email:{digest}"


def _ip_key(ip: str) -> str:
    return f"{_PREFIX}:ip:{ip}"


def _keys(*, email: str, ip: str) -> list[str]:
    return [_email_key(email), _ip_key(ip)]


def _blocked_keys(*, email: str, ip: str) -> list[str]:
    with schema_context("public"):
        counts = cache.get_many(_keys(email=email, ip=ip))
    return [key for key, count in counts.items() if count >= settings.LOGIN_THROTTLE_ATTEMPTS]


def login_allowed(*, email: str, ip: str) -> bool:
    """False while the email or the address has used up its failed attempts."""
    return not _blocked_keys(email=email, ip=ip)


def seconds_until_login_allowed(*, email: str, ip: str) -> int:
    """How long until a refused sign-in may be tried again (0 when it may be now)."""
    blocked = _blocked_keys(email=email, ip=ip)
    if not blocked:
        return 0
    with schema_context("public"):
        window_ends = cache.get_many([f"{key}:until" for key in blocked]).values()
    latest = max(window_ends, default=time.time() + settings.LOGIN_THROTTLE_WINDOW_SECONDS)
    return max(1, math.ceil(latest - time.time()))


def record_login_failure(*, email: str, ip: str) -> None:
    """Count one failed sign-in against the email and the address."""
    window = settings.LOGIN_THROTTLE_WINDOW_SECONDS
    with schema_context("public"):
        for key in _keys(email=email, ip=ip):
            # add() only sets a missing key: the first failure opens the window.
            cache.add(f"{key}:until", time.time() + window, timeout=window)
            cache.add(key, 0, timeout=window)
            try:
                cache.incr(key)
            except ValueError:  # the window closed between add() and incr()
                cache.set(key, 1, timeout=window)


def clear_login_failures(*, email: str, ip: str | None = None) -> None:
    """Forget the email's failures after a successful sign-in.

    The address's count is kept on purpose: one right password for one account must not
    wipe a run of wrong guesses at other accounts from the same address. `ip` is accepted
    so that callers pass the same pair to all three functions.
    """
    key = _email_key(email)
    with schema_context("public"):
        cache.delete_many([key, f"{key}:until"])
