"""Login throttle: failed sign-ins counted per email, per client address, and per pair.

Shared by the token API and the login page. Counters live in the Django cache (Redis) in a
fixed window of settings.LOGIN_THROTTLE_WINDOW_SECONDS. They are kept under the public
schema's cache keys, so an attacker cannot multiply the attempts by trying every
brokerage's host in turn.

What is refused, and why:

- An email with settings.LOGIN_THROTTLE_ATTEMPTS failures in the window is refused from
  every address, even with the right password: this caps the guesses at one account, however
  many addresses they come from.
- An address is never refused as a whole. Many people can share one (an office's NAT, every
  user behind an ingress that is not counted as a proxy hop), and a flood of failures from it
  (one person's, or an attacker's) must not stop another person's correct sign-in. Instead,
  once an address has settings.LOGIN_THROTTLE_ADDRESS_ATTEMPTS failures in the window (far
  more than one person mistypes: failures across many accounts), each email that has itself
  failed from that address is refused there. Someone whose account has not failed from the
  address signs in as usual; an attacker spraying many accounts from it gets one guess per
  account per window instead of LOGIN_THROTTLE_ATTEMPTS.

The address is the one the nearest trusted proxy saw (client_ip): behind an ingress set
settings.TRUSTED_PROXY_HOPS, or every user shares the ingress's address.
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


def _digest(text: str) -> str:
    # Hashed: no address in cache keys, and a fixed key length whatever was typed.
    return hashlib.sha256(text.encode()).hexdigest()


def _normal(email: str) -> str:
    return (email or "").strip().lower()


def _email_key(email: str) -> str:
    return f"{_PREFIX}:email:{_digest(_normal(email))}"


def _ip_key(ip: str) -> str:
    return f"{_PREFIX}:ip:{ip}"


def _pair_key(*, email: str, ip: str) -> str:
    return f"{_PREFIX}:pair:{_digest(ip + chr(0) + _normal(email))}"


def _blocked_keys(*, email: str, ip: str) -> list[str]:
    email_key, ip_key, pair_key = _email_key(email), _ip_key(ip), _pair_key(email=email, ip=ip)
    with schema_context("public"):
        counts = cache.get_many([email_key, ip_key, pair_key])
    blocked = []
    if counts.get(email_key, 0) >= settings.LOGIN_THROTTLE_ATTEMPTS:
        blocked.append(email_key)
    if counts.get(ip_key, 0) >= settings.LOGIN_THROTTLE_ADDRESS_ATTEMPTS \
            and counts.get(pair_key, 0) > 0:
        blocked.append(ip_key)
    return blocked


def login_allowed(*, email: str, ip: str) -> bool:
    """False while the email has used up its failed attempts, or while the address has
    failed across many accounts and this email is one of those that failed from it."""
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
    """Count one failed sign-in against the email, the address and the pair of them."""
    window = settings.LOGIN_THROTTLE_WINDOW_SECONDS
    with schema_context("public"):
        for key in (_email_key(email), _ip_key(ip), _pair_key(email=email, ip=ip)):
            # add() only sets a missing key: the first failure opens the window.
            cache.add(f"{key}:until", time.time() + window, timeout=window)
            cache.add(key, 0, timeout=window)
            try:
                cache.incr(key)
            except ValueError:  # the window closed between add() and incr()
                cache.set(key, 1, timeout=window)


def clear_login_failures(*, email: str, ip: str | None = None) -> None:
    """Forget the email's failures (and, given `ip`, the pair's) after a successful sign-in.

    The address's count is kept on purpose: one right password for one account must not
    wipe a run of wrong guesses at other accounts from the same address.
    """
    keys = [_email_key(email)]
    if ip is not None:
        keys.append(_pair_key(email=email, ip=ip))
    with schema_context("public"):
        cache.delete_many([name for key in keys for name in (key, f"{key}:until")])
