"""Kernel base for API views and the OpenAPI description of the error format.

Imports no app. Every API view derives from ApiView: bodies over
DATA_UPLOAD_MAX_MEMORY_SIZE are refused before they are read, and `parse` validates input
with a serializer (a bad input raises ValidationError, which the handler turns into a 400).
"""

from __future__ import annotations

from django.conf import settings
from drf_spectacular.extensions import OpenApiAuthenticationExtension
from drf_spectacular.utils import OpenApiResponse
from rest_framework import serializers
from rest_framework.views import APIView

from clozings.platform.api_errors import ApiError
from clozings.platform.parsers import MAX_JSON_DEPTH

MAX_ID = 2**63 - 1  # ids are PostgreSQL bigints: a larger number can name nothing
BODY_METHODS = {"POST", "PUT", "PATCH"}


# --- the error format, for the OpenAPI schema ---------------------------------------------
class ErrorBody(serializers.Serializer):
    code = serializers.CharField(help_text="Stable, machine-readable, snake_case.")
    message = serializers.CharField(help_text="For people.")
    fields = serializers.DictField(
        child=serializers.ListField(child=serializers.CharField()), required=False,
        help_text="Only for validation errors: the problems of each field.")


class ErrorResponse(serializers.Serializer):
    error = ErrorBody()


_ERROR_MEANINGS = {
    400: "`validation_error` (with `fields`), `parse_error` (the body is not valid JSON, or "
         f"nests deeper than {MAX_JSON_DEPTH} levels) or `unsupported_charset` (send UTF-8).",
    401: "`not_authenticated`: no credentials, or a token that is not valid or has expired.",
    403: "`permission_denied`: signed in, but not allowed here.",
    404: "`not_found`.",
    409: "A conflict with the current state (the code says which).",
    413: "`payload_too_large`: the request body is larger than the server accepts.",
    415: "`unsupported_media_type`: send JSON (or a form).",
    429: "`throttled`: too many attempts; the Retry-After header says when to try again.",
}


def error_responses(*statuses: int, **descriptions: str) -> dict[int, OpenApiResponse]:
    """OpenAPI responses for the error statuses an endpoint can answer with.

    `descriptions` override the default text by status, e.g. `s409="already_member: ..."`.
    """
    return {
        status: OpenApiResponse(
            response=ErrorResponse,
            description=descriptions.get(f"s{status}", _ERROR_MEANINGS.get(status, "Error.")),
        )
        for status in statuses
    }


class BearerTokenScheme(OpenApiAuthenticationExtension):
    target_class = "clozings.platform.auth.BearerTokenAuthentication"
    name = "bearerAuth"

    def get_security_definition(self, auto_schema):
        return {"type": "http", "scheme": "bearer",
                "description": "A token from `POST /api/v1/auth/token`."}


class ApiView(APIView):
    def initial(self, request, *args, **kwargs):
        # Refuse bodies over DATA_UPLOAD_MAX_MEMORY_SIZE before reading them: DRF's JSON
        # parser reads the raw stream, where Django's own limit does not apply. Only the
        # methods whose body is read; the others ignore theirs.
        try:
            length = int(request.META.get("CONTENT_LENGTH") or 0)
        except ValueError:
            length = 0
        # a view taking files (a CSV import) sets its own, larger `max_body_bytes`
        limit = getattr(self, "max_body_bytes", None) or settings.DATA_UPLOAD_MAX_MEMORY_SIZE
        if request.method in BODY_METHODS and limit is not None and length > limit:
            raise ApiError(f"The request body is larger than {limit} bytes.",
                           code="payload_too_large", status_code=413)
        super().initial(request, *args, **kwargs)

    def parse(self, serializer_class, request, **kwargs) -> dict:
        """Validate request.data (or query params for GET) and return the clean data."""
        data = request.query_params if request.method == "GET" else request.data
        serializer = serializer_class(data=data, **kwargs)
        serializer.is_valid(raise_exception=True)
        return serializer.validated_data
