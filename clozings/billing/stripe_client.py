"""The one place that builds the Stripe client: API base (localstripe), timeouts,
retries, and the errors the rest of billing deals with.

Every write goes through `write()` so that it always carries an idempotency key.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from typing import Any

import stripe
from django.conf import settings

from clozings.platform.errors import Unavailable

logger = logging.getLogger(__name__)

_local = threading.local()
_known_plans: set[tuple[str, str]] = set()


class StripeRefused(Exception):
    """Stripe answered and said no (card declined, invalid request): show the message."""

    def __init__(self, message: str, *, code: str = ""):
        super().__init__(message)
        self.message = message
        self.code = code


class StripeUnavailable(Unavailable):
    """Stripe could not be reached or failed on its side after our retries: the kernel's
    "not now" (a task retries it). People read the message; str() is the detail, for
    logs and staff."""

    default_code = "payment_service_unavailable"
    default_message = ("The payment service did not answer. Nothing was charged; please try "
                       "again in a few minutes.")

    def __init__(self, detail: str = ""):
        super().__init__()
        self.detail = detail

    def __str__(self) -> str:
        return self.detail or self.message


def client() -> stripe.StripeClient:
    """A StripeClient per thread (the requests session underneath is not shared)."""
    config = (settings.STRIPE_SECRET_KEY, settings.STRIPE_API_BASE,
              settings.STRIPE_TIMEOUT_SECONDS, settings.STRIPE_MAX_NETWORK_RETRIES)
    cached = getattr(_local, "client", None)
    if cached is None or cached[0] != config:
        base_addresses = {}
        if settings.STRIPE_API_BASE:
            base_addresses = {"api": settings.STRIPE_API_BASE.rstrip("/")}
        instance = stripe.StripeClient(
            settings.STRIPE_SECRET_KEY,
            base_addresses=base_addresses,
            max_network_retries=settings.STRIPE_MAX_NETWORK_RETRIES,
            http_client=stripe.new_default_http_client(
                timeout=settings.STRIPE_TIMEOUT_SECONDS),
        )
        _local.client = cached = (config, instance)
    return cached[1]


def _translate(exc: stripe.StripeError) -> Exception:
    if isinstance(exc, stripe.CardError | stripe.InvalidRequestError | stripe.IdempotencyError):
        message = exc.user_message or str(exc) or "Stripe refused the request."
        return StripeRefused(message, code=getattr(exc, "code", "") or "")
    if isinstance(exc, stripe.APIError) and exc.http_status and 400 <= exc.http_status < 500:
        # localstripe reports some refusals (409, 402) as generic API errors
        message = exc.user_message or str(exc) or "Stripe refused the request."
        return StripeRefused(message, code=getattr(exc, "code", "") or "")
    return StripeUnavailable(str(exc) or exc.__class__.__name__)


def call(operation: Callable[..., Any], *args, **kwargs) -> Any:
    """A read: errors become StripeRefused / StripeUnavailable."""
    try:
        return operation(*args, **kwargs)
    except stripe.StripeError as exc:
        raise _translate(exc) from exc


def write(operation: Callable[..., Any], *args, idempotency_key: str,
          params: dict | None = None) -> Any:
    """A write with its idempotency key: a retry (ours or the library's) never does the
    thing twice at Stripe."""
    logger.info("stripe.write", extra={"idempotency_key": idempotency_key})
    try:
        return operation(*args, params=params or {},
                         options={"idempotency_key": idempotency_key})
    except stripe.StripeError as exc:
        raise _translate(exc) from exc


def is_missing(exc: Exception) -> bool:
    cause = exc.__cause__
    return isinstance(cause, stripe.StripeError) and cause.http_status == 404


def ensure_plan(*, plan_id: str, amount_cents: int, name: str) -> str:
    """A monthly plan (localstripe knows Plans, not Prices; Stripe accepts both)."""
    known = (settings.STRIPE_API_BASE, plan_id)
    if known in _known_plans:
        return plan_id
    plans = client().v1.plans
    try:
        call(plans.retrieve, plan_id)
    except (StripeRefused, StripeUnavailable) as exc:
        if not is_missing(exc):
            raise
        try:
            write(plans.create, idempotency_key=f"plan:{plan_id}", params={
                "id": plan_id, "amount": amount_cents, "currency": settings.BILLING_CURRENCY,
                "interval": "month", "product": {"name": name},
                "nickname": name,
            })
        except StripeRefused:
            call(plans.retrieve, plan_id)  # made meanwhile by another process: fine
    _known_plans.add(known)
    return plan_id


def field(obj: Any, name: str, default: Any = None) -> Any:
    """A field of a Stripe object or of a plain dict, or `default` when absent."""
    if obj is None:
        return default
    if isinstance(obj, dict):
        return obj.get(name, default)
    try:
        return obj[name]
    except (KeyError, TypeError):
        return default


def register_local_webhook(*, api_base: str, url: str, secret: str,
                           name: str = "clozings") -> None:
    """localstripe only (under `clozings run`): send signed events to `url`, as the
    Stripe dashboard's webhook endpoint does for real Stripe."""
    import requests

    response = requests.post(f"{api_base.rstrip('/')}/_config/webhooks/{name}",
                             json={"url": url, "secret": secret}, timeout=10)
    response.raise_for_status()
