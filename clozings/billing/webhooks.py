"""`POST /billing/stripe/webhook` on the platform host: verify, store once, 200."""

from __future__ import annotations

from django.http import JsonResponse
from django.views.decorators.csrf import csrf_exempt

from clozings.billing import services
from clozings.platform.errors import ApiError, error_body

MAX_PAYLOAD_BYTES = 512 * 1024


@csrf_exempt
def stripe_webhook(request):
    if request.method != "POST":
        response = JsonResponse(error_body("method_not_allowed", "Stripe POSTs events here."),
                                status=405)
        response["Allow"] = "POST"
        return response
    if len(request.body) > MAX_PAYLOAD_BYTES:
        return JsonResponse(error_body("payload_too_large", "The event is too large."),
                            status=413)
    try:
        event, created = services.record_webhook_event(
            payload=request.body, signature=request.headers.get("Stripe-Signature", ""))
    except ApiError as exc:
        return JsonResponse(error_body(exc.code, str(exc.detail)), status=exc.status_code)
    return JsonResponse({"received": True, "id": event.stripe_event_id,
                         "duplicate": not created})
