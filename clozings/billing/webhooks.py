"""`POST /billing/stripe/webhook` on the platform host: verify, store once, 200.

A DRF view so that the platform host's OpenAPI schema describes it, but nothing of DRF's
request handling applies: no authentication (Stripe signs the body instead; a bearer token
or a session is ignored), no CSRF, no parser. The signature is checked on the exact bytes
Stripe sent (`request.body`, which Django reads once and keeps); `request.data` is never
read, so no parser consumes the stream or re-encodes the body first.
"""

from __future__ import annotations

from drf_spectacular.utils import OpenApiParameter, OpenApiResponse, extend_schema
from rest_framework import serializers
from rest_framework.permissions import AllowAny
from rest_framework.response import Response

from clozings.billing import services
from clozings.platform.api import ApiView, error_responses
from clozings.platform.api_errors import ApiError

MAX_PAYLOAD_BYTES = 512 * 1024
NOT_POST = "Stripe POSTs events here."
TOO_LARGE = "The event is too large."


# --- for the OpenAPI schema -----------------------------------------------------------------
class StripeEventData(serializers.Serializer):
    object = serializers.DictField(help_text="The Stripe object the event is about.")


class StripeEvent(serializers.Serializer):
    """A Stripe event, as Stripe sends it (only the fields read here are listed)."""

    id = serializers.CharField(help_text="`evt_...`: an event delivered again is stored once.")
    object = serializers.CharField(required=False, help_text="`event`.")
    type = serializers.CharField(help_text="e.g. `invoice.payment_failed`.")
    created = serializers.IntegerField(required=False)
    data = StripeEventData(required=False)


class WebhookReceived(serializers.Serializer):
    received = serializers.BooleanField(help_text="Always true.")
    id = serializers.CharField(help_text="The event's id.")
    duplicate = serializers.BooleanField(help_text="True when the event was already stored.")


SIGNATURE_HEADER = OpenApiParameter(
    "Stripe-Signature", str, OpenApiParameter.HEADER, required=True,
    description="`t=<unix time>,v1=<HMAC-SHA256 of \"<t>.<raw body>\" with the endpoint's "
                "signing secret>`; checked on the exact bytes of the body, within Stripe's "
                "tolerance (5 minutes).")


class StripeWebhookApi(ApiView):
    authentication_classes: list = []
    permission_classes = [AllowAny]
    parser_classes: list = []  # the body is read as bytes, never parsed by DRF
    http_method_names = ["post"]

    def initial(self, request, *args, **kwargs):
        # Before ApiView's own size guard, so that every oversized event gets this answer.
        if request.method != "POST":
            raise ApiError(NOT_POST, code="method_not_allowed", status_code=405)
        try:
            length = int(request.META.get("CONTENT_LENGTH") or 0)
        except ValueError:
            length = 0
        if length > MAX_PAYLOAD_BYTES:
            raise ApiError(TOO_LARGE, code="payload_too_large", status_code=413)
        super().initial(request, *args, **kwargs)

    def finalize_response(self, request, response, *args, **kwargs):
        response = super().finalize_response(request, response, *args, **kwargs)
        if response.status_code != 405:
            del response["Allow"]  # DRF names the allowed methods on every answer; only a 405
        return response

    @extend_schema(
        operation_id="stripe_webhook",
        tags=["billing"],
        summary="Receive a signed Stripe event",
        description="Stripe delivers its events here. The event is stored once (by id) and "
                    "processed later from Stripe's current state, so a repeated, late or "
                    "out-of-order delivery is harmless. No credentials: the "
                    "`Stripe-Signature` header authenticates the body.",
        request={"application/json": StripeEvent},
        parameters=[SIGNATURE_HEADER],
        auth=[],
        responses={
            200: OpenApiResponse(WebhookReceived, description="Stored, or already stored."),
            **error_responses(
                400, 405, 413,
                s400="`bad_signature`: the `Stripe-Signature` header is missing, malformed, "
                     "stale or does not match the body; or `bad_event`: a signed body that "
                     "is not a Stripe event (no `id` or `type`: nothing is stored), or a "
                     "signed event that cannot be processed (a NUL character, nesting "
                     f"deeper than {services.MAX_EVENT_DEPTH} levels: kept as sent for "
                     "staff, never processed).",
                s405="`method_not_allowed`: only POST.",
                s413=f"`payload_too_large`: the body is over {MAX_PAYLOAD_BYTES} bytes.",
            ),
        },
    )
    def post(self, request):
        event, created = services.record_webhook_event(
            payload=request.body,  # the raw bytes, as signed (at most Content-Length)
            signature=request.headers.get("Stripe-Signature", ""))
        return Response({"received": True, "id": event.stripe_event_id,
                         "duplicate": not created})

