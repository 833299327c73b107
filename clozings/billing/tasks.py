"""Thin Celery wrappers around billing services: ids in, safe to run twice."""

from __future__ import annotations

from celery import shared_task

from clozings.billing import services
from clozings.billing.stripe_client import StripeUnavailable

RETRY = {"autoretry_for": (StripeUnavailable,), "retry_backoff": 5, "retry_backoff_max": 300,
         "retry_jitter": True, "max_retries": 8}


@shared_task(name="billing.process_webhook_event", bind=True, acks_late=True,
             time_limit=120, soft_time_limit=100, max_retries=8)
def process_webhook_event(self, event_pk: int) -> str | None:
    try:
        event = services.process_webhook_event(event_pk=event_pk)
    except StripeUnavailable as exc:
        countdown = min(300, 5 * 2 ** self.request.retries)
        services.record_webhook_failure(event_pk=event_pk, error=str(exc), retry_in=countdown)
        raise self.retry(exc=exc, countdown=countdown) from exc
    except Exception as exc:
        services.record_webhook_failure(event_pk=event_pk, error=repr(exc))
        raise
    return event.type if event else None


# Time limits stay under services.CLAIM_SECONDS, so a live run never outlasts its lease.
@shared_task(name="billing.sync_seat_quantity", acks_late=True, time_limit=45, **RETRY)
def sync_seat_quantity(brokerage_id: int) -> int | None:
    return services.sync_seat_quantity(brokerage_id=brokerage_id)


@shared_task(name="billing.remove_reservation_item", acks_late=True, time_limit=45, **RETRY)
def remove_reservation_item(stripe_item_id: str, brokerage_id: int) -> bool:
    return services.remove_reservation_item(stripe_item_id=stripe_item_id,
                                            brokerage_id=brokerage_id)


@shared_task(name="billing.retry_open_invoice", acks_late=True, time_limit=60, **RETRY)
def retry_open_invoice(account_id: int) -> str | None:
    return services.retry_open_invoice(account_id=account_id)


@shared_task(name="billing.sweep", acks_late=True, time_limit=240)
def sweep() -> dict:
    return services.sweep()
