"""Domain errors and the API's error format: {"error": {"code", "message", "fields"?}}.

Kernel module: imports no app, and no DRF (services raise these errors; only the API layer,
clozings.platform.api_errors, turns them into HTTP answers).
"""

from __future__ import annotations

from django.http import JsonResponse


class DomainError(Exception):
    """A business-rule refusal, raised by services: a stable `code` (the codes API.md lists)
    and a message for people. It knows nothing of HTTP: the API's exception handler turns
    the code into a status (STATUS_BY_CODE, else the class's), pages show the message next
    to the field, and tasks decide from the code whether to retry."""

    default_code = "bad_request"
    default_message = "The request could not be carried out."
    default_status = 400  # only read by the API layer

    def __init__(self, message: str | None = None, *, code: str | None = None,
                 fields: dict | None = None):
        self.message = message or self.default_message
        self.code = code or self.default_code
        self.fields = fields
        super().__init__(self.message)


class NotFound(DomainError):
    default_code = "not_found"
    default_message = "Not found."
    default_status = 404


class Forbidden(DomainError):
    default_code = "permission_denied"
    default_message = "You do not have permission to do this."
    default_status = 403


class Conflict(DomainError):
    """A conflict with the current state; the code says which (territory_full, ...)."""

    default_code = "conflict"
    default_status = 409


class PaymentRequired(DomainError):
    default_code = "payment_required"
    default_message = "The brokerage has no payment method on file."
    default_status = 402


class Throttled(DomainError):
    """Too many attempts; `wait` is the seconds until the next one is allowed."""

    default_code = "throttled"
    default_message = "Too many attempts. Try again later."
    default_status = 429

    def __init__(self, message: str | None = None, *, wait: int | None = None, **kwargs):
        super().__init__(message, **kwargs)
        self.wait = wait


class Unavailable(DomainError):
    """A service the request needs did not answer; worth retrying later."""

    default_code = "service_unavailable"
    default_message = "A service this needs did not answer. Try again in a minute."
    default_status = 503


# Codes whose status differs from their class's default.
STATUS_BY_CODE = {
    "validation_error": 400,
    "not_authenticated": 401,
    "payload_too_large": 413,
    "method_not_allowed": 405,
    "length_required": 411,
    "unsupported_media_type": 415,
}
# Codes a task may retry: the refusal says "not now", not "never".
RETRYABLE_CODES = frozenset({"service_unavailable", "payment_service_unavailable"})


def status_for(error: DomainError) -> int:
    return STATUS_BY_CODE.get(error.code, error.default_status)


def is_retryable(error: DomainError) -> bool:
    return isinstance(error, Unavailable) or error.code in RETRYABLE_CODES


def error_body(code: str, message: str, fields: dict | None = None) -> dict:
    error: dict = {"code": code, "message": message}
    if fields:
        error["fields"] = fields
    return {"error": error}


def json_error(request, code: str, message: str, status_code: int) -> JsonResponse:
    return JsonResponse(error_body(code, message), status=status_code)


# Paths answered in the API's JSON error format (the Stripe webhook and the Follow Up
# Boss-compatible events endpoint are APIs too).
API_PATH_PREFIXES = ("/api/", "/billing/stripe/", "/v1/events")


def is_api_request(request) -> bool:
    return request.path.startswith(API_PATH_PREFIXES)


