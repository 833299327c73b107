"""Thin Celery wrappers around billing services: ids in, safe to run twice.

Retry or give up is decided from the kernel's domain error: a refusal that says "not now"
(`is_retryable`: Stripe did not answer) is retried with back-off, anything else is not."""

from __future__ import annotations

from celery import shared_task
from celery.utils.time import get_exponential_backoff_interval

from clozings.billing import services
from clozings.platform.errors import DomainError, is_retryable

MAX_RETRIES = 8


def _backoff(retries: int) -> int:
    """5 s doubling to 5 minutes, with full jitter (what retry_backoff=5 did)."""
    return get_exponential_backoff_interval(factor=5, retries=retries, maximum=300,
                                            full_jitter=True)


def _retrying(task, work):
    """Run `work`; a refusal that says "not now" is retried after a back-off, any other
    error goes up at once."""
    try:
        return work()
    except DomainError as exc:
        if not is_retryable(exc):
            raise
        raise task.retry(exc=exc, countdown=_backoff(task.request.retries)) from exc


@shared_task(name="billing.process_webhook_event", bind=True, acks_late=True,
             time_limit=120, soft_time_limit=100, max_retries=MAX_RETRIES)
def process_webhook_event(self, event_pk: int) -> str | None:
    try:
        event = services.process_webhook_event(event_pk=event_pk)
    except Exception as exc:
        if isinstance(exc, DomainError) and is_retryable(exc):
            countdown = min(300, 5 * 2 ** self.request.retries)
            services.record_webhook_failure(event_pk=event_pk, error=str(exc),
                                            retry_in=countdown)
            raise self.retry(exc=exc, countdown=countdown) from exc
        services.record_webhook_failure(event_pk=event_pk, error=repr(exc))
        raise
    return event.type if event else None


# Time limits stay under services.CLAIM_SECONDS, so a live run never outlasts its lease.
@shared_task(name="billing.sync_seat_quantity", bind=True, acks_late=True, time_limit=45,
             max_retries=MAX_RETRIES)
def sync_seat_quantity(self, brokerage_id: int) -> int | None:
    return _retrying(self, lambda: services.sync_seat_quantity(brokerage_id=brokerage_id))


@shared_task(name="billing.remove_reservation_item", bind=True, acks_late=True,
             time_limit=45, max_retries=MAX_RETRIES)
def remove_reservation_item(self, stripe_item_id: str, brokerage_id: int) -> bool:
    return _retrying(self, lambda: services.remove_reservation_item(
        stripe_item_id=stripe_item_id, brokerage_id=brokerage_id))


@shared_task(name="billing.retry_open_invoice", bind=True, acks_late=True, time_limit=60,
             max_retries=MAX_RETRIES)
def retry_open_invoice(self, account_id: int) -> str | None:
    return _retrying(self, lambda: services.retry_open_invoice(account_id=account_id))


@shared_task(name="billing.sweep", acks_late=True, time_limit=240)
def sweep() -> dict:
    return services.sweep()
