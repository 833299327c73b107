"""Stripe's events: verified and stored once, then processed from Stripe's current state,
which moves the brokerage's territories (past due, active again, paid until, released)."""

from __future__ import annotations

import hashlib
import json
import logging
from datetime import UTC, datetime, timedelta

from django.conf import settings
from django.db import transaction
from django.utils import timezone

from clozings.billing import stripe_client
from clozings.billing.models import BillingAccount, WebhookEvent
from clozings.billing.services.payment_methods import _id_of
from clozings.billing.services.subscriptions import GOOD_STATES, _period_end
from clozings.billing.stripe_client import StripeRefused, field
from clozings.platform.errors import DomainError
from clozings.platform.tenancy import enqueue_on_commit
from clozings.territories import services as territories
from clozings.territories.models import Reservation

logger = logging.getLogger(__name__)

# Stripe subscription states and what they mean for the brokerage's territories.
PAST_DUE_STATES = {"past_due", "unpaid"}
ENDED_STATES = {"canceled", "incomplete_expired"}
# Events that may change a brokerage's standing; others are stored and ignored.
HANDLED_EVENT_PREFIXES = ("customer.subscription.", "invoice.")
# Events that say a period was paid for (their period end moves the reservations').
PAID_INVOICE_EVENTS = {"invoice.paid", "invoice.payment_succeeded"}
# Deeper than any Stripe object; deeper bodies are refused (and kept for staff).
MAX_EVENT_DEPTH = 32


def record_webhook_event(*, payload: bytes, signature: str) -> tuple[WebhookEvent, bool]:
    """Verify Stripe's signature and store the event once. Returns (event, created);
    a new event is processed by a task after commit. A signed event that cannot be
    used (a NUL character, nesting deeper than any Stripe object) is kept as sent,
    marked rejected for staff, and answered 400."""
    import stripe

    try:
        text = payload.decode("utf-8")
        stripe.WebhookSignature.verify_header(text, signature, settings.STRIPE_WEBHOOK_SECRET,
                                              stripe.Webhook.DEFAULT_TOLERANCE)
    except (stripe.SignatureVerificationError, ValueError) as exc:
        raise DomainError("The Stripe signature is missing or does not match.",
                          code="bad_signature") from exc
    try:
        data = json.loads(text)
    except RecursionError:
        _reject_event(payload, None, "nested too deeply to read")
    except ValueError:
        data = None
    event_id = data.get("id") if isinstance(data, dict) else None
    event_type = data.get("type") if isinstance(data, dict) else None
    if not isinstance(event_id, str) or not event_id or not isinstance(event_type, str):
        raise DomainError("The event is not a Stripe event (no id or type).", code="bad_event")
    problem = _unusable(data)
    if problem:
        _reject_event(payload, data, problem)
    with transaction.atomic():
        stored, created = WebhookEvent.objects.get_or_create(
            stripe_event_id=event_id[:255],
            defaults={"type": event_type[:100], "payload": data,
                      "enqueued_at": timezone.now()})
        if created:
            from clozings.billing import tasks  # tasks import services: a local import

            enqueue_on_commit(tasks.process_webhook_event, stored.pk)
    logger.info("billing.webhook_received",
                extra={"event": event_id, "type": event_type, "duplicate": not created})
    return stored, created


def _unusable(data) -> str:
    """Why a parsed event cannot be stored as JSON (PostgreSQL's jsonb takes no NUL)
    or processed; empty when it is fine. Walks without recursion."""
    stack = [(data, 1)]
    while stack:
        value, depth = stack.pop()
        if depth > MAX_EVENT_DEPTH:
            return f"nested deeper than {MAX_EVENT_DEPTH} levels"
        if isinstance(value, str):
            if "\x00" in value:
                return "contains a NUL character"
        elif isinstance(value, dict):
            for key, item in value.items():
                if "\x00" in key:
                    return "contains a NUL character"
                stack.append((item, depth + 1))
        elif isinstance(value, list):
            stack.extend((item, depth + 1) for item in value)
    return ""


def _reject_event(payload: bytes, data, problem: str):
    """Keep a signed but unusable event as sent (for the staff console), then refuse it."""
    event_id = data.get("id") if isinstance(data, dict) else None
    event_type = data.get("type") if isinstance(data, dict) else None
    clean = (isinstance(event_id, str) and event_id and "\x00" not in event_id)
    stored_id = event_id[:255] if clean else \
        f"rejected:{hashlib.sha256(payload).hexdigest()}"
    stored_type = event_type[:100].replace("\x00", "") if isinstance(event_type, str) else ""
    WebhookEvent.objects.get_or_create(
        stripe_event_id=stored_id,
        defaults={"type": stored_type, "payload": {}, "raw_body": payload, "rejected": True,
                  "error": f"Refused: the event {problem}."})
    logger.warning("billing.webhook_rejected", extra={"event": stored_id, "problem": problem})
    raise DomainError(f"The event cannot be processed: it {problem}.", code="bad_event")


def process_webhook_event(*, event_pk: int) -> WebhookEvent | None:
    """Re-read the current Stripe state the event is about and apply it. Events are
    nudges, never trusted for order: running one twice, or late, is harmless. The one
    thing taken from a (signed) event is the end of a period it says was paid for,
    and a period end only ever moves forward."""
    event = WebhookEvent.objects.filter(pk=event_pk, rejected=False).first()
    if event is None:
        return None  # removed meanwhile (e.g. a test database reset), or refused
    WebhookEvent.objects.filter(pk=event.pk).update(attempts=event.attempts + 1)
    if event.type.startswith(HANDLED_EVENT_PREFIXES):
        customer_id = _customer_of(event.payload)
        account = BillingAccount.objects.filter(stripe_customer_id=customer_id).first() \
            if customer_id else None
        if account is not None:
            sync_billing_status(account_id=account.pk,
                                paid_through=_paid_through(event.type, event.payload))
    WebhookEvent.objects.filter(pk=event.pk).update(processed_at=timezone.now(), error="")
    event.refresh_from_db()
    return event


def _paid_through(event_type: str, payload: dict) -> datetime | None:
    """The end of the period a renewal event says is paid for: a paid invoice's
    subscription lines, or an active subscription's current period (on the
    subscription in older API versions, on its items in newer ones)."""
    obj = field(field(payload, "data"), "object")
    if not isinstance(obj, dict):
        return None
    if event_type in PAID_INVOICE_EVENTS and obj.get("status", "paid") == "paid":
        lines = field(field(obj, "lines"), "data") or []
        stamps = [field(field(line, "period"), "end") for line in lines
                  if isinstance(line, dict) and line.get("type", "subscription") == "subscription"]
    elif event_type.startswith("customer.subscription.") and obj.get("status") in GOOD_STATES:
        items = field(field(obj, "items"), "data") or []
        stamps = [obj.get("current_period_end"),
                  *(field(item, "current_period_end") for item in items
                    if isinstance(item, dict))]
    else:
        return None
    ends = [end for end in map(_stamp, stamps) if end is not None]
    latest = max(ends, default=None)
    # a year's plan is the longest; anything further is not a period Stripe billed
    if latest is None or latest > timezone.now() + timedelta(days=400):
        return None
    return latest


def record_webhook_failure(*, event_pk: int, error: str, retry_in: int = 0) -> None:
    """Keep the error for staff; a retry due in `retry_in` seconds is left to its task
    (the sweeper waits for it before sending another)."""
    WebhookEvent.objects.filter(pk=event_pk).update(
        error=error[:2000], enqueued_at=timezone.now() + timedelta(seconds=retry_in))


def _customer_of(payload: dict) -> str | None:
    data = payload.get("data") if isinstance(payload, dict) else None
    obj = data.get("object") if isinstance(data, dict) else None
    if not isinstance(obj, dict):
        return None
    if obj.get("object") == "customer":
        return obj.get("id")
    customer = obj.get("customer")
    if isinstance(customer, dict):
        customer = customer.get("id")
    return customer if isinstance(customer, str) else None


def sync_billing_status(*, account_id: int, paid_through: datetime | None = None) -> str:
    """Read the subscription and its latest invoice as they are now at Stripe, and move
    the brokerage's territories to match: past due, active again, or released. In good
    standing, every billed reservation is paid until the later of Stripe's current
    period end and `paid_through` (a renewal event's), never earlier than before."""
    account = BillingAccount.objects.get(pk=account_id)
    if not account.stripe_subscription_id:
        return account.status
    api = stripe_client.client().v1
    try:
        subscription = stripe_client.call(api.subscriptions.retrieve,
                                          account.stripe_subscription_id)
    except StripeRefused as exc:
        if not stripe_client.is_missing(exc):
            raise
        subscription = None  # deleted at Stripe: ended
    status = field(subscription, "status", "canceled")
    invoice = None
    invoice_id = _id_of(field(subscription, "latest_invoice"))
    if invoice_id:
        invoice = stripe_client.call(api.invoices.retrieve, invoice_id)
    # An open invoice that Stripe already tried to charge is an unpaid bill, whatever
    # the subscription says yet.
    unpaid = field(invoice, "status") == "open" and bool(field(invoice, "attempted"))
    items = field(field(subscription, "items"), "data") or []
    ends = [_period_end(subscription, items[0] if items else None), paid_through]
    period_end = max((end for end in ends if end is not None), default=None)

    with transaction.atomic():
        account = BillingAccount.objects.select_for_update().get(pk=account.pk)
        if status in ENDED_STATES:
            _end_subscription(account)
        elif status in PAST_DUE_STATES or (status in GOOD_STATES and unpaid):
            since = _stamp(field(invoice, "created")) or timezone.now()
            territories.mark_brokerage_past_due(brokerage_id=account.brokerage_id, since=since)
            account.status = BillingAccount.Status.PAST_DUE
        elif status in GOOD_STATES:
            territories.restore_brokerage(brokerage_id=account.brokerage_id)
            account.status = BillingAccount.Status.ACTIVE
            if period_end is not None:
                territories.record_period_end(brokerage_id=account.brokerage_id,
                                              period_end=period_end)
        if period_end is not None and (account.current_period_end is None
                                       or period_end > account.current_period_end):
            account.current_period_end = period_end
        account.save()
    logger.info("billing.status_synced", extra={"brokerage": account.brokerage_id,
                                                 "stripe_status": status,
                                                 "status": account.status})
    return account.status


def _end_subscription(account: BillingAccount) -> None:
    """Stripe ended the subscription: every territory goes, and the next reservation
    starts a new subscription."""
    held = Reservation.objects.filter(brokerage_id=account.brokerage_id).exclude(
        status=Reservation.Status.RELEASED).values_list("pk", flat=True)
    for reservation_id in list(held):
        territories.release_reservation(reservation_id=reservation_id,
                                        reason="subscription_canceled")
    account.status = BillingAccount.Status.CANCELED
    account.stripe_subscription_id = ""
    account.seats_item_id = ""
    account.seats_quantity = 0


def _stamp(value) -> datetime | None:
    try:
        return datetime.fromtimestamp(int(value), tz=UTC) if value else None
    except (TypeError, ValueError):
        return None
