"""The API layer's side of errors: DRF's exception handler in the error format, and the
refusals the API layer raises itself (body too large, wrong method).

Kernel module: imports no app.
"""

from __future__ import annotations

from django.core.exceptions import PermissionDenied
from django.core.exceptions import ValidationError as DjangoValidationError
from django.http import Http404
from rest_framework import exceptions, status
from rest_framework.response import Response
from rest_framework.views import exception_handler

from clozings.platform.errors import DomainError, error_body, status_for


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
