"""The API error format: {"error": {"code", "message", "fields"?}} for every 4xx/5xx.

Kernel module: imports no app.
"""

from __future__ import annotations

import logging

from django.core.exceptions import PermissionDenied
from django.core.exceptions import ValidationError as DjangoValidationError
from django.http import Http404, JsonResponse
from rest_framework import exceptions, status
from rest_framework.response import Response
from rest_framework.views import exception_handler

logger = logging.getLogger(__name__)


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


class ApiError(exceptions.APIException):
    """An HTTP refusal raised by the API layer itself (body too large, wrong method)."""

    status_code = status.HTTP_400_BAD_REQUEST
    default_code = "bad_request"
    default_detail = "The request could not be carried out."

    def __init__(self, message: str | None = None, *, code: str | None = None,
                 status_code: int | None = None, fields: dict | None = None):
        super().__init__(detail=message or self.default_detail, code=code or self.default_code)
        self.code = code or self.default_code
        self.fields = fields
        if status_code is not None:
            self.status_code = status_code


_CODES = {
    exceptions.NotAuthenticated: "not_authenticated",
    exceptions.AuthenticationFailed: "not_authenticated",
    exceptions.PermissionDenied: "permission_denied",
    exceptions.NotFound: "not_found",
    exceptions.Throttled: "throttled",
    exceptions.MethodNotAllowed: "method_not_allowed",
    exceptions.UnsupportedMediaType: "unsupported_media_type",
    exceptions.ParseError: "parse_error",
    exceptions.NotAcceptable: "not_acceptable",
    exceptions.ValidationError: "validation_error",
}

_MESSAGES = {
    "validation_error": "Some fields are not valid.",
    "not_found": "Not found.",
    "permission_denied": "You do not have permission to do this.",
    "not_authenticated": "Authentication credentials were not provided or are not valid.",
}


def error_body(code: str, message: str, fields: dict | None = None) -> dict:
    error: dict = {"code": code, "message": message}
    if fields:
        error["fields"] = fields
    return {"error": error}


def _flatten_fields(detail) -> dict:
    if isinstance(detail, dict):
        return {
            str(key): [str(item) for item in value] if isinstance(value, list) else
            ([str(value)] if not isinstance(value, dict) else [str(value)])
            for key, value in detail.items()
        }
    if isinstance(detail, list):
        return {"non_field_errors": [str(item) for item in detail]}
    return {"non_field_errors": [str(detail)]}


def api_exception_handler(exc, context):
    if isinstance(exc, DomainError):
        response = Response(error_body(exc.code, exc.message, exc.fields),
                            status=status_for(exc))
        if getattr(exc, "wait", None):
            response["Retry-After"] = str(int(exc.wait))
        return response
    if isinstance(exc, Http404):
        exc = exceptions.NotFound()
    elif isinstance(exc, PermissionDenied):
        exc = exceptions.PermissionDenied()
    elif isinstance(exc, DjangoValidationError):
        exc = exceptions.ValidationError(
            exc.message_dict if hasattr(exc, "error_dict") else {"non_field_errors": exc.messages}
        )
    response = exception_handler(exc, context)
    if response is None:
        return None  # a real bug: Django's 500 handler (JSON for the API) and Sentry take it

    if isinstance(exc, ApiError):
        body = error_body(exc.code, str(exc.detail), exc.fields)
    elif isinstance(exc, exceptions.ValidationError):
        body = error_body("validation_error", _MESSAGES["validation_error"],
                          _flatten_fields(exc.detail))
    else:
        code = next((c for cls, c in _CODES.items() if isinstance(exc, cls)), "error")
        detail = exc.detail if isinstance(exc.detail, str) else _MESSAGES.get(code, code)
        body = error_body(code, str(detail))
    response.data = body
    return response


def json_error(request, code: str, message: str, status_code: int) -> JsonResponse:
    return JsonResponse(error_body(code, message), status=status_code)


# Paths answered in the API's JSON error format (the Stripe webhook is an API too).
API_PATH_PREFIXES = ("/api/", "/billing/stripe/")


def is_api_request(request) -> bool:
    return request.path.startswith(API_PATH_PREFIXES)


def error_response(status_code: int, code: str, message: str) -> Response:
    return Response(error_body(code, message), status=status_code)
