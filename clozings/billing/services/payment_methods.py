"""The brokerage's Stripe customer and its card: made once, changed by an admin, and
the open invoice tried again with a new card."""

from __future__ import annotations

import logging
import re
import uuid

from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils import timezone

from clozings.billing import stripe_client
from clozings.billing.models import BillingAccount
from clozings.billing.stripe_client import StripeRefused, field
from clozings.platform.errors import PaymentRequired
from clozings.platform.tenancy import enqueue_on_commit
from clozings.tenants.models import Brokerage

logger = logging.getLogger(__name__)

PAYMENT_METHOD_RE = re.compile(r"^pm_[A-Za-z0-9_]{1,120}$")


def account_for(*, brokerage: Brokerage) -> BillingAccount:
    account, _ = BillingAccount.objects.get_or_create(brokerage=brokerage)
    return account


def ensure_customer(*, brokerage: Brokerage) -> BillingAccount:
    """The brokerage's Stripe customer, made once.

    No row lock is held while Stripe is called: two requests at once send the same
    idempotency key (Stripe answers both with one customer), and the id is stored by
    compare-and-set, so the first stored id is the one every caller gets."""
    account = account_for(brokerage=brokerage)
    if account.stripe_customer_id:
        return account
    customer = _stripe_or_402(
        stripe_client.write, stripe_client.client().v1.customers.create,
        idempotency_key=account.idempotency_key("customer"),
        params={"name": brokerage.name,
                "metadata": {"brokerage_id": str(brokerage.pk),
                             "brokerage_slug": brokerage.slug}})
    BillingAccount.objects.filter(pk=account.pk, stripe_customer_id="").update(
        stripe_customer_id=customer.id, updated_at=timezone.now())
    account.refresh_from_db()
    logger.info("billing.customer_created", extra={"brokerage": brokerage.slug})
    return account


def create_setup_intent(*, brokerage: Brokerage) -> str:
    """A SetupIntent for Stripe.js to collect a card; returns its client secret."""
    account = ensure_customer(brokerage=brokerage)
    intent = _stripe_or_402(
        stripe_client.write, stripe_client.client().v1.setup_intents.create,
        idempotency_key=account.idempotency_key("setup-intent", uuid.uuid4()),
        params={"customer": account.stripe_customer_id, "usage": "off_session",
                "payment_method_types": ["card"]})
    return intent.client_secret


def attach_payment_method(*, brokerage: Brokerage, payment_method_id: str) -> BillingAccount:
    """Make a card (from Stripe.js) the brokerage's default. localstripe's
    confirmCardSetup leaves it unattached, and so may Stripe: attach it when needed."""
    payment_method_id = (payment_method_id or "").strip()
    if not PAYMENT_METHOD_RE.match(payment_method_id):
        raise ValidationError({"payment_method_id": [
            "Send the payment method id Stripe.js returned (it starts with 'pm_')."]})
    account = ensure_customer(brokerage=brokerage)
    methods = stripe_client.client().v1.payment_methods
    try:
        method = stripe_client.call(methods.retrieve, payment_method_id)
    except StripeRefused as exc:
        raise ValidationError({"payment_method_id": ["Stripe does not know this card."]}) \
            from exc
    owner = field(method, "customer")
    owner = owner if isinstance(owner, str) or owner is None else field(owner, "id")
    if owner and owner != account.stripe_customer_id:
        raise ValidationError({"payment_method_id": ["This card belongs to someone else."]})
    if not owner:
        _stripe_or_402(stripe_client.write, methods.attach, payment_method_id,
                       idempotency_key=account.idempotency_key("attach", payment_method_id),
                       params={"customer": account.stripe_customer_id})
    _stripe_or_402(
        stripe_client.write, stripe_client.client().v1.customers.update,
        account.stripe_customer_id,
        idempotency_key=account.idempotency_key("default-card", payment_method_id, uuid.uuid4()),
        params={"invoice_settings": {"default_payment_method": payment_method_id}})
    card = field(method, "card") or {}
    with transaction.atomic():
        account = BillingAccount.objects.select_for_update().get(pk=account.pk)
        account.default_payment_method_id = payment_method_id
        account.card_brand = str(field(card, "brand", "") or "")[:20]
        account.card_last4 = str(field(card, "last4", "") or "")[:4]
        account.card_exp_month = field(card, "exp_month")
        account.card_exp_year = field(card, "exp_year")
        account.save()
        if account.status == BillingAccount.Status.PAST_DUE:
            from clozings.billing import tasks  # tasks import services: a local import

            # A new card is the usual way out of past due: try the open invoice with it.
            enqueue_on_commit(tasks.retry_open_invoice, account.pk)
    logger.info("billing.card_added", extra={"brokerage": brokerage.slug})
    return account


def retry_open_invoice(*, account_id: int) -> str | None:
    """Pay the subscription's latest invoice with the current card, when it is open.
    Stripe's answer comes back as webhooks; returns the invoice status seen."""
    account = BillingAccount.objects.get(pk=account_id)
    if not account.stripe_subscription_id:
        return None
    api = stripe_client.client().v1
    subscription = stripe_client.call(api.subscriptions.retrieve, account.stripe_subscription_id)
    invoice_id = _id_of(field(subscription, "latest_invoice"))
    if not invoice_id:
        return None
    invoice = stripe_client.call(api.invoices.retrieve, invoice_id)
    if field(invoice, "status") != "open":
        return field(invoice, "status")
    try:
        invoice = stripe_client.write(
            api.invoices.pay, invoice_id,
            idempotency_key=account.idempotency_key("pay", invoice_id,
                                                    account.default_payment_method_id))
    except StripeRefused as exc:
        logger.info("billing.invoice_retry_refused", extra={"invoice": invoice_id,
                                                             "reason": exc.message})
        return "open"
    return field(invoice, "status")


def _stripe_or_402(operation, *args, **kwargs):
    """A refusal is the card's 402; Stripe not answering goes up as it is (a 503 that says
    nothing was charged)."""
    try:
        return operation(*args, **kwargs)
    except StripeRefused as exc:
        raise PaymentRequired(exc.message) from exc


def _id_of(value) -> str | None:
    if isinstance(value, str):
        return value or None
    return field(value, "id")
