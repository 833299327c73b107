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


class ApiError(exceptions.APIException):
    """A business-rule refusal with a stable code, raised from services or API views."""

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


class Conflict(ApiError):
    status_code = status.HTTP_409_CONFLICT
    default_code = "conflict"


class PaymentRequired(ApiError):
    status_code = status.HTTP_402_PAYMENT_REQUIRED
    default_code = "payment_required"
    default_detail = "The brokerage has no payment method on file."


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
