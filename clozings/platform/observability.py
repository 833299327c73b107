"""Error reporting: sentry-sdk for Django and Celery, with no personal data unless asked.

Kernel module: imports no app. `init_sentry` is called from settings when SENTRY_DSN is
set; `SentryBrokerageMiddleware` tags each brokerage request with the brokerage's slug,
and the Celery app tags each task with the brokerage whose schema it runs in.
"""

from __future__ import annotations

import re
import warnings
from typing import Any

import sentry_sdk
from sentry_sdk.integrations.celery import CeleryIntegration
from sentry_sdk.integrations.django import DjangoIntegration

# Headers that carry credentials or the client's address.
_PRIVATE_HEADERS = {"cookie", "authorization", "x-forwarded-for", "x-real-ip", "forwarded",
                    "proxy-authorization", "x-csrftoken"}
_PRIVATE_ENV = {"REMOTE_ADDR", "HTTP_X_FORWARDED_FOR", "HTTP_X_REAL_IP"}
_REDACTED = "[redacted]"
# Emails turn up in exception messages and log breadcrumbs ("x@y already has a seat").
_EMAIL_RE = re.compile(r"[\w.+-]+@[\w-]+(?:\.[\w-]+)+")


def init_sentry(*, dsn: str, environment: str, send_pii: bool = False) -> None:
    """Turn on sentry-sdk (errors only) for Django and Celery; called from settings."""
    with warnings.catch_warnings():
        # Newer sentry-sdk versions prefer `data_collection`; send_default_pii works in all 2.x.
        warnings.simplefilter("ignore", DeprecationWarning)
        sentry_sdk.init(
            dsn=dsn,
            environment=environment,
            integrations=[DjangoIntegration(), CeleryIntegration()],
            send_default_pii=send_pii,
            # Bodies hold leads' names, phones and emails: they never leave unless configured.
            max_request_body_size="medium" if send_pii else "never",
            before_send=None if send_pii else strip_personal_data,
        )


def strip_personal_data(event: dict[str, Any], hint: dict[str, Any]) -> dict[str, Any]:
    """Remove request bodies, cookies, credentials, emails and IP addresses from an event.

    sentry-sdk already leaves most of these out when send_default_pii is off; this is the
    second lock, for anything an integration or a `set_user` call adds anyway.
    """
    request = event.get("request")
    if isinstance(request, dict):
        request.pop("data", None)
        request.pop("cookies", None)
        headers = request.get("headers")
        if isinstance(headers, dict):
            request["headers"] = {
                name: (_REDACTED if name.lower() in _PRIVATE_HEADERS else value)
                for name, value in headers.items()
            }
        env = request.get("env")
        if isinstance(env, dict):
            request["env"] = {k: v for k, v in env.items() if k not in _PRIVATE_ENV}
    user = event.get("user")
    if isinstance(user, dict):
        kept = {key: user[key] for key in ("id",) if key in user}
        if kept:
            event["user"] = kept
        else:
            event.pop("user", None)
    return _scrub_emails(event)


def _scrub_emails(value: Any) -> Any:
    if isinstance(value, str):
        return _EMAIL_RE.sub("[email]", value)
    if isinstance(value, dict):
        return {key: _scrub_emails(item) for key, item in value.items()}
    if isinstance(value, list):
        return [_scrub_emails(item) for item in value]
    if isinstance(value, tuple):
        return tuple(_scrub_emails(item) for item in value)
    return value


class SentryBrokerageMiddleware:
    """Tag the request's events with the brokerage (after BrokerageMiddleware has run)."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        brokerage = getattr(request, "brokerage", None)
        tag_brokerage(brokerage.slug if brokerage is not None else None)
        return self.get_response(request)


def tag_brokerage(slug: str | None) -> None:
    """Tag the current scope's events with a brokerage slug ('-' for the platform)."""
    sentry_sdk.set_tag("brokerage", slug or "-")
