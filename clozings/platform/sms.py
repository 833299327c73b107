"""Sending and receiving text messages, whoever sends them (agents' new-lead alerts in
distribution, leads' automated texts and opt-out confirmations in crm).

The backend is the SMS_BACKEND setting: "console" prints each text (one machine, demos,
tests), "twilio" sends it with Twilio's official client (TWILIO_ACCOUNT_SID,
TWILIO_AUTH_TOKEN, TWILIO_FROM_NUMBER; TWILIO_API_BASE points it at another host, such as
the tests' stand-in). Callers keep their own outbox row and call `send_text` while holding
its lock, so a text is sent by one process at a time.

Inbound texts arrive signed: Twilio's X-Twilio-Signature (checked with Twilio's own
RequestValidator against TWILIO_AUTH_TOKEN), or, for the console/generic backend, an
HMAC-SHA256 of the raw body with SMS_INBOUND_SECRET. Kernel rule: this imports no app.
"""

from __future__ import annotations

import hashlib
import hmac
import sys
from collections.abc import Callable, Mapping

from django.conf import settings


def _send_console(to: str, body: str) -> str:
    sys.stdout.write(f"SMS to {to}: {body}\n")
    sys.stdout.flush()
    return ""


def _send_twilio(to: str, body: str) -> str:
    from twilio.rest import Client

    client = Client(settings.TWILIO_ACCOUNT_SID, settings.TWILIO_AUTH_TOKEN)
    if settings.TWILIO_API_BASE:
        client.api.base_url = settings.TWILIO_API_BASE
    message = client.messages.create(to=to, from_=settings.TWILIO_FROM_NUMBER, body=body)
    return message.sid or ""


BACKENDS: dict[str, Callable[[str, str], str]] = {"console": _send_console,
                                                  "twilio": _send_twilio}


def backend() -> Callable[[str, str], str]:
    try:
        return BACKENDS[settings.SMS_BACKEND]
    except KeyError:
        raise ValueError(f"SMS_BACKEND is {settings.SMS_BACKEND!r}; "
                         f"use one of {', '.join(BACKENDS)}.") from None


def send_text(*, to: str, body: str) -> str:
    """Send one text now through SMS_BACKEND; the provider's message id ("" for the
    console). Raises whatever the provider raised: the caller records it and retries."""
    return backend()(to, body)[:64]


def twilio_signature_valid(*, url: str, params: Mapping[str, str], signature: str) -> bool:
    """Whether a Twilio webhook's X-Twilio-Signature matches `url` and its form `params`
    under TWILIO_AUTH_TOKEN (never valid without a token configured)."""
    if not settings.TWILIO_AUTH_TOKEN or not signature:
        return False
    from twilio.request_validator import RequestValidator

    return RequestValidator(settings.TWILIO_AUTH_TOKEN).validate(url, dict(params), signature)


def hmac_signature(*, secret: str, body: bytes) -> str:
    """The hex HMAC-SHA256 of a webhook body: what a generic sender puts in its header."""
    return hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


def hmac_signature_valid(*, secret: str, body: bytes, signature: str) -> bool:
    """Constant-time check of a generic webhook's signature ("sha256=<hex>" or "<hex>");
    never valid without a secret configured."""
    if not secret or not signature:
        return False
    given = signature.removeprefix("sha256=").strip().lower()
    return hmac.compare_digest(given, hmac_signature(secret=secret, body=body))
