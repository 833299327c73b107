"""Every write about billing: the Stripe customer, the card, reserve-and-pay, the seats
item, and turning Stripe's current state into territory standing.

Territories never import billing; billing calls territories' services (DESIGN.md).
"""

from __future__ import annotations

import hashlib
import json
import logging
import re
import uuid
from datetime import UTC, datetime, timedelta

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import transaction
from django.db.models import Count, F, Q
from django.utils import timezone

from clozings.billing import stripe_client
from clozings.billing.models import BillingAccount, ItemRemoval, WebhookEvent
from clozings.billing.stripe_client import StripeRefused, StripeUnavailable, field
from clozings.platform.errors import DomainError, Forbidden, PaymentRequired, Unavailable
from clozings.platform.money import format_cents
from clozings.tenants.models import Brokerage, Seat, User
from clozings.territories import services as territories
from clozings.territories.models import Reservation

logger = logging.getLogger(__name__)

PAYMENT_METHOD_RE = re.compile(r"^pm_[A-Za-z0-9_]{1,120}$")
NO_CARD_MESSAGE = ("Your brokerage has no card on file yet: ask your admin to add a card "
                   "on the billing page.")
PAST_DUE_MESSAGE = ("Your brokerage's last payment failed: an admin must update the card on "
                    "the billing page before more territories can be reserved.")
# Stripe subscription states and what they mean for the brokerage's territories.
PAST_DUE_STATES = {"past_due", "unpaid"}
GOOD_STATES = {"active", "trialing"}
ENDED_STATES = {"canceled", "incomplete_expired"}
# Events that may change a brokerage's standing; others are stored and ignored.
HANDLED_EVENT_PREFIXES = ("customer.subscription.", "invoice.")
# Events that say a period was paid for (their period end moves the reservations').
PAID_INVOICE_EVENTS = {"invoice.paid", "invoice.payment_succeeded"}
# A lease on a row being synced with Stripe: longer than a task's time limit, so a live
# run never loses it; a dead worker's lapses and the sweeper takes the row.
CLAIM_SECONDS = 50
# How long the normal task has before the sweeper does its work instead.
SWEEP_AFTER_SECONDS = 30
# Deeper than any Stripe object; deeper bodies are refused (and kept for staff).
MAX_EVENT_DEPTH = 32
SWEEP_BATCH = 200
# An event that failed this often is left to staff (the stuck events of the console).
MAX_EVENT_ATTEMPTS = 20


# --- the customer and the card ----------------------------------------------------------
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
    except StripeUnavailable as exc:
        raise _unavailable() from exc
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
            # A new card is the usual way out of past due: try the open invoice with it.
            transaction.on_commit(lambda: enqueue("billing.retry_open_invoice", account.pk))
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


# --- reserve and pay --------------------------------------------------------------------
def reserve_and_pay(*, seat: Seat, zip_code: str, by: User) -> Reservation:
    """Hold a slot, add the territory to the brokerage's subscription, activate.

    No card: 402 before anything is held. Stripe refuses: the hold is abandoned and the
    user gets Stripe's message; nothing about reservations changed."""
    _check_acting_for(seat=seat, by=by)
    account = _account_that_can_pay(seat)
    reservation = territories.hold_slot(seat=seat, zip_code=zip_code)
    return _bill_hold(account=account, reservation=reservation)


def accept_offer(*, entry_id: int, seat: Seat, by: User) -> Reservation:
    """Accept a waitlist offer: the offered slot becomes a hold, billed like a reservation."""
    _check_acting_for(seat=seat, by=by)
    account = _account_that_can_pay(seat)
    reservation = territories.claim_offer(entry_id=entry_id, seat=seat)
    return _bill_hold(account=account, reservation=reservation)


def _account_that_can_pay(seat: Seat) -> BillingAccount:
    # A read, by id: no brokerage row to load first, and a brokerage without an account
    # has no card (a refusal writes nothing, not even an empty account).
    account = next(iter(BillingAccount.objects.filter(brokerage_id=seat.brokerage_id)[:1]),
                   None)
    if account is None:
        raise PaymentRequired(NO_CARD_MESSAGE)
    _check_can_pay(account)
    return account


def _check_can_pay(account: BillingAccount) -> None:
    if not account.has_card:
        raise PaymentRequired(NO_CARD_MESSAGE)
    if account.status == BillingAccount.Status.PAST_DUE:
        raise PaymentRequired(PAST_DUE_MESSAGE)


def _bill_hold(*, account: BillingAccount, reservation: Reservation) -> Reservation:
    try:
        item_id, period_end = _add_territory_item(account=account, reservation=reservation)
    except StripeRefused as exc:
        territories.abandon_hold(reservation_id=reservation.pk)
        logger.info("billing.reservation_refused",
                    extra={"reservation": reservation.pk, "reason": exc.message})
        raise PaymentRequired(f"Your card was not charged and nothing was reserved: "
                              f"{exc.message}") from exc
    except StripeUnavailable as exc:
        # We can't know whether Stripe made the item: the hold stays pending and
        # reconcile_pending_holds settles it with the same idempotency key.
        logger.warning("billing.reservation_pending", extra={"reservation": reservation.pk})
        raise Unavailable(
            f"The payment service did not answer. Your place in ZIP "
            f"{reservation.territory.zip_code} is held and will be confirmed (and billed) or "
            f"let go within {settings.BILLING_PENDING_HOLD_MINUTES} minutes.",
            code="payment_service_unavailable") from exc
    reservation = territories.activate_reservation(
        reservation_id=reservation.pk, stripe_item_id=item_id, period_end=period_end)
    logger.info("billing.reservation_paid", extra={"reservation": reservation.pk})
    return reservation


def _territory_plan(reservation: Reservation) -> str:
    territory = reservation.territory
    tier = getattr(territory, "tier", "") or "standard"
    cents = reservation.price_cents
    return stripe_client.ensure_plan(
        plan_id=f"territory-{tier}-{cents}", amount_cents=cents,
        name=f"Territory ({tier}, {format_cents(cents)}/month)")


def _seats_plan() -> str:
    cents = settings.BILLING_SEAT_PRICE_CENTS
    return stripe_client.ensure_plan(plan_id=f"seats-{cents}", amount_cents=cents,
                                     name=f"Seats ({format_cents(cents)}/seat/month)")


def _add_territory_item(*, account: BillingAccount,
                        reservation: Reservation) -> tuple[str, datetime | None]:
    """Add the reservation's item to the subscription (made on first use). The
    idempotency key comes from the reservation id, so a retry finds the same item."""
    plan = _territory_plan(reservation)
    metadata = {"reservation_id": str(reservation.pk),
                "zip_code": reservation.territory.zip_code}
    api = stripe_client.client().v1
    if not account.stripe_subscription_id:
        # The one Stripe call made under a row lock, on purpose: the subscription must
        # exist once, and a second first reservation needs its id before it can add its
        # item, so it waits here for the first one's answer (a refused first payment
        # is cancelled under the same lock). The lock is one brokerage's
        # account row, taken once in the subscription's life, and bounded by
        # STRIPE_TIMEOUT_SECONDS: a timeout rolls back and frees it, the hold stays
        # pending and reconcile_pending_holds settles it with the same key
        # (tests/billing/test_hardening.py).
        with transaction.atomic():
            account = BillingAccount.objects.select_for_update().get(pk=account.pk)
            if not account.stripe_subscription_id:
                # localstripe takes exactly one item at creation: the seats item follows.
                subscription = stripe_client.write(
                    api.subscriptions.create,
                    idempotency_key=account.idempotency_key("reservation", reservation.pk,
                                                            "subscription"),
                    params={"customer": account.stripe_customer_id,
                            "items": [{"plan": plan, "quantity": 1, "metadata": metadata}],
                            "payment_behavior": "error_if_incomplete",
                            "metadata": {"brokerage_id": str(account.brokerage_id)}})
                if field(subscription, "status") not in GOOD_STATES:
                    _cancel_unpaid_subscription(account, subscription)
                item = field(subscription, "items").data[0]
                account.stripe_subscription_id = subscription.id
                account.status = BillingAccount.Status.ACTIVE
                account.current_period_end = _period_end(subscription, item)
                account.save()
                transaction.on_commit(lambda: enqueue("billing.sync_seat_quantity",
                                                       account.brokerage_id))
                return item.id, account.current_period_end
    item = stripe_client.write(
        api.subscription_items.create,
        idempotency_key=account.idempotency_key("reservation", reservation.pk, "item"),
        params={"subscription": account.stripe_subscription_id, "plan": plan,
                "quantity": 1, "metadata": metadata})
    return item.id, _period_end(None, item) or account.current_period_end


def _cancel_unpaid_subscription(account: BillingAccount, subscription) -> None:
    """The first payment did not go through (Stripe answers 402 with
    error_if_incomplete; localstripe leaves the subscription incomplete): cancel it and
    refuse with the card's message."""
    api = stripe_client.client().v1
    message = "Your card was declined."
    invoice_id = _id_of(field(subscription, "latest_invoice"))
    try:
        invoice = stripe_client.call(api.invoices.retrieve, invoice_id) if invoice_id else None
        intent_id = _id_of(field(invoice, "payment_intent"))
        if intent_id:
            intent = stripe_client.call(api.payment_intents.retrieve, intent_id)
            message = field(field(intent, "last_payment_error"), "message") or message
    except (StripeRefused, StripeUnavailable):
        pass  # the generic message will do
    stripe_client.write(api.subscriptions.cancel, subscription.id,
                        idempotency_key=account.idempotency_key("cancel", subscription.id))
    if invoice_id:
        # Left open, the refused first invoice would be owed (and retried) for a
        # subscription that no longer exists: void it, so the bill says nothing is owed.
        try:
            stripe_client.write(api.invoices.void_invoice, invoice_id,
                                idempotency_key=account.idempotency_key("void", invoice_id))
        except (StripeRefused, StripeUnavailable):
            logger.warning("billing.void_failed", extra={"invoice": invoice_id})
    raise StripeRefused(message, code="card_declined")


def _period_end(subscription, item) -> datetime | None:
    # Newer Stripe API versions carry the period on the item, older ones on the subscription.
    stamp = field(item, "current_period_end") or field(subscription, "current_period_end")
    return datetime.fromtimestamp(int(stamp), tz=UTC) if stamp else None


def release_and_bill(*, reservation: Reservation, by: User) -> Reservation:
    """Release at the end of the paid period; the Stripe item goes when the release
    happens (receivers.remove_item_on_release)."""
    seat = Seat.objects.filter(brokerage_id=reservation.brokerage_id, user=by,
                               status=Seat.Status.ACTIVE).first()
    if seat is None or not (seat.is_admin or seat.pk == reservation.seat_id):
        raise Forbidden("Only the agent who holds this territory or an admin can release it.")
    account = account_for(brokerage=reservation.brokerage)
    at = reservation.period_end or account.current_period_end
    if at is None or at < timezone.now():
        at = timezone.now()
    return territories.schedule_release(reservation=reservation, at=at)


def record_item_removal(*, stripe_item_id: str, brokerage_id: int) -> ItemRemoval | None:
    """In the release's transaction: the item must leave the subscription. The row is
    the promise; the task (after commit) or else the sweeper keeps it."""
    if not stripe_item_id:
        return None
    removal, _ = ItemRemoval.objects.get_or_create(stripe_item_id=stripe_item_id,
                                                   defaults={"brokerage_id": brokerage_id})
    return removal


def remove_reservation_item(*, stripe_item_id: str, brokerage_id: int) -> bool:
    """Take a released territory off the subscription; True when an item was removed.
    Paid through the period end, so no proration. The removal row is claimed first (a
    task and the sweeper never delete at once) and marked done after Stripe answers."""
    removal = record_item_removal(stripe_item_id=stripe_item_id, brokerage_id=brokerage_id)
    if removal is None or removal.done_at is not None:
        return False
    lease = _claim(ItemRemoval.objects.filter(pk=removal.pk, done_at__isnull=True),
                   "claimed_until")
    if lease is None:
        return False  # another run has it
    mine = ItemRemoval.objects.filter(pk=removal.pk, claimed_until=lease)
    account = BillingAccount.objects.filter(brokerage_id=removal.brokerage_id).first()
    key = account.idempotency_key("remove", stripe_item_id) if account else \
        f"remove:{stripe_item_id}"
    removed = True
    try:
        stripe_client.write(stripe_client.client().v1.subscription_items.delete,
                            stripe_item_id, idempotency_key=key,
                            params={"proration_behavior": "none"})
    except StripeRefused as exc:
        removed = False
        if not stripe_client.is_missing(exc):  # Stripe will never take it: say so to staff
            logger.warning("billing.item_removal_refused",
                           extra={"item": stripe_item_id, "reason": exc.message})
            mine.update(error=exc.message[:2000])
    except Exception as exc:
        mine.update(claimed_until=None, attempts=F("attempts") + 1, error=str(exc)[:2000])
        raise
    mine.update(done_at=timezone.now(), claimed_until=None, attempts=F("attempts") + 1)
    if removed:
        logger.info("billing.item_removed", extra={"item": stripe_item_id})
    return removed


# --- seats ------------------------------------------------------------------------------
SEATS_SYNC_ROUNDS = 3


def sync_seat_quantity(*, brokerage_id: int) -> int | None:
    """Make the seats item's quantity the number of active seats; returns it (None when
    there is no subscription, or another run holds the sync and will see this change).

    No row lock during the Stripe call: a lease on the account (compare-and-set) keeps
    it to one run at a time, and each write's idempotency key says what it means (the
    subscription or item, the seats version, the target quantity), so a retry after a
    lost answer is the same request and a later change is a new one."""
    account = BillingAccount.objects.filter(brokerage_id=brokerage_id).first()
    if account is None or not account.stripe_subscription_id:
        return None
    lease = _claim(BillingAccount.objects.filter(pk=account.pk), "seats_claimed_until")
    if lease is None:
        return None
    try:
        # A seat may change while Stripe is called: look again before letting go.
        for _ in range(SEATS_SYNC_ROUNDS):
            account.refresh_from_db()
            quantity = Seat.objects.filter(brokerage_id=brokerage_id,
                                           status=Seat.Status.ACTIVE).count()
            if not account.stripe_subscription_id:
                return None
            if _seats_in_step(account, quantity):
                break
            _write_seats(account, quantity)
    finally:
        BillingAccount.objects.filter(pk=account.pk, seats_claimed_until=lease).update(
            seats_claimed_until=None)
    logger.info("billing.seats_synced", extra={"brokerage": brokerage_id, "quantity": quantity})
    return quantity


def _seats_in_step(account: BillingAccount, quantity: int) -> bool:
    if quantity == 0:
        return not account.seats_item_id
    return bool(account.seats_item_id) and account.seats_quantity == quantity


def _write_seats(account: BillingAccount, quantity: int) -> None:
    api = stripe_client.client().v1
    version = account.seats_version
    item_id = account.seats_item_id
    if not item_id:
        item = stripe_client.write(
            api.subscription_items.create,
            idempotency_key=account.idempotency_key(
                "seats", account.stripe_subscription_id, version, "create", quantity),
            params={"subscription": account.stripe_subscription_id, "plan": _seats_plan(),
                    "quantity": quantity,
                    "metadata": {"kind": "seats", "brokerage_id": str(account.brokerage_id)}})
        item_id = item.id
    elif quantity == 0:
        try:
            stripe_client.write(
                api.subscription_items.delete, item_id,
                idempotency_key=account.idempotency_key("seats", item_id, version, "delete"))
        except StripeRefused as exc:
            if not stripe_client.is_missing(exc):
                raise
        item_id = ""
    else:
        stripe_client.write(
            api.subscription_items.update, item_id,
            idempotency_key=account.idempotency_key("seats", item_id, version, quantity),
            params={"quantity": quantity})
    BillingAccount.objects.filter(pk=account.pk, seats_version=version).update(
        seats_item_id=item_id, seats_quantity=quantity, seats_version=version + 1,
        updated_at=timezone.now())


def _claim(rows, lease_field: str) -> datetime | None:
    """Compare-and-set a lease on one row; returns the lease (the claimant's token), or
    None when a live lease is someone else's. A dead worker's lease lapses."""
    now = timezone.now()
    lease = now + timedelta(seconds=CLAIM_SECONDS)
    free = Q(**{f"{lease_field}__isnull": True}) | Q(**{f"{lease_field}__lt": now})
    return lease if rows.filter(free).update(**{lease_field: lease}) else None


# --- webhooks ---------------------------------------------------------------------------
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
            transaction.on_commit(
                lambda: enqueue("billing.process_webhook_event", stored.pk))
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


# --- periodic repair --------------------------------------------------------------------
SWEEP_LOCK = 0x62696C6C  # one sweep at a time (a PostgreSQL advisory lock, not a row lock)


def sweep(*, now: datetime | None = None) -> dict[str, int]:
    """What a lost task, a dead worker or an unreachable Stripe left undone, finished
    within a minute (beat runs this every 30 s; the broker would wait an hour):
    stale pending holds, seats items out of step with the active seats, released items
    still on the subscription, and events not processed. Every piece claims its row or
    repeats the normal task's idempotency key, so running beside that task writes
    nothing twice."""
    from django.db import connection

    now = now or timezone.now()
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_try_advisory_lock(%s)", [SWEEP_LOCK])
        if not cursor.fetchone()[0]:
            return {}
    try:
        counts = reconcile_pending_holds(now=now)
        counts["seats"] = _sweep_seats()
        counts["removals"] = _sweep_removals(now)
        counts["events"] = _sweep_events(now)
    finally:
        with connection.cursor() as cursor:
            cursor.execute("SELECT pg_advisory_unlock(%s)", [SWEEP_LOCK])
    logger.info("billing.swept", extra=counts)
    return counts


def _sweep_seats() -> int:
    """Accounts whose seats item is not the number of active seats (the seats are the
    desired state, `seats_quantity` what Stripe was last told)."""
    active = Count("brokerage__seats", filter=Q(brokerage__seats__status=Seat.Status.ACTIVE))
    behind = BillingAccount.objects.exclude(stripe_subscription_id="").annotate(
        active=active).filter(
        ~Q(active=F("seats_quantity")) | Q(active__gt=0, seats_item_id="")
        | Q(active=0, seats_item_id__gt=""))
    synced = 0
    for brokerage_id in list(behind.values_list("brokerage_id", flat=True)[:SWEEP_BATCH]):
        try:
            sync_seat_quantity(brokerage_id=brokerage_id)
            synced += 1
        except (StripeRefused, StripeUnavailable) as exc:
            logger.warning("billing.seats_sweep_failed",
                           extra={"brokerage": brokerage_id, "reason": str(exc)})
    return synced


def _sweep_removals(now: datetime) -> int:
    pending = ItemRemoval.objects.filter(
        done_at__isnull=True, created_at__lt=now - timedelta(seconds=SWEEP_AFTER_SECONDS))
    removed = 0
    for item_id, brokerage_id in list(pending.values_list(
            "stripe_item_id", "brokerage_id")[:SWEEP_BATCH]):
        try:
            removed += remove_reservation_item(stripe_item_id=item_id,
                                               brokerage_id=brokerage_id)
        except StripeUnavailable as exc:
            logger.warning("billing.removal_sweep_failed",
                           extra={"item": item_id, "reason": str(exc)})
    return removed


def _sweep_events(now: datetime) -> int:
    """Events whose task was sent over half a minute ago (or whose retry was due then)
    and has not finished are sent again (processing re-reads Stripe, so a second run is
    harmless)."""
    cutoff = now - timedelta(seconds=SWEEP_AFTER_SECONDS)
    stale = WebhookEvent.objects.filter(processed_at__isnull=True, rejected=False,
                                        attempts__lt=MAX_EVENT_ATTEMPTS).filter(
        Q(enqueued_at__lt=cutoff) | Q(enqueued_at__isnull=True, received_at__lt=cutoff))
    sent = 0
    for pk, enqueued_at in list(stale.values_list("pk", "enqueued_at")[:SWEEP_BATCH]):
        # compare-and-set: a sweep running beside this one sends it once
        if WebhookEvent.objects.filter(pk=pk, enqueued_at=enqueued_at).update(
                enqueued_at=now):
            enqueue("billing.process_webhook_event", pk)
            sent += 1
    return sent


def reconcile_pending_holds(*, now: datetime | None = None) -> dict[str, int]:
    """Holds left pending (the request died between hold and activation, or Stripe was
    unreachable) are settled: replaying the create with the same idempotency key
    returns the item Stripe made, or makes it; a refusal abandons the hold."""
    now = now or timezone.now()
    cutoff = now - timedelta(minutes=settings.BILLING_PENDING_HOLD_MINUTES)
    counts = {"activated": 0, "abandoned": 0, "left": 0}
    stale = Reservation.objects.filter(status=Reservation.Status.PENDING,
                                       created_at__lt=cutoff).select_related(
        "territory", "brokerage")
    for reservation in stale:
        account = account_for(brokerage=reservation.brokerage)
        if not account.has_card:
            territories.abandon_hold(reservation_id=reservation.pk)
            counts["abandoned"] += 1
            continue
        try:
            item_id, period_end = _add_territory_item(account=account, reservation=reservation)
        except StripeRefused:
            territories.abandon_hold(reservation_id=reservation.pk)
            counts["abandoned"] += 1
            continue
        except StripeUnavailable:
            counts["left"] += 1
            continue
        territories.activate_reservation(reservation_id=reservation.pk,
                                         stripe_item_id=item_id, period_end=period_end)
        counts["activated"] += 1
    logger.info("billing.reconciled", extra=counts)
    return counts


# --- helpers ----------------------------------------------------------------------------
def _check_acting_for(*, seat: Seat, by: User) -> None:
    """An agent reserves for themself; an admin for any active seat of their brokerage."""
    if seat.status != Seat.Status.ACTIVE:
        raise ValidationError({"agent_id": ["This seat is not active."]})
    if seat.user_id == by.pk:
        return
    if not Seat.objects.filter(brokerage_id=seat.brokerage_id, user=by, role=Seat.Role.ADMIN,
                               status=Seat.Status.ACTIVE).exists():
        raise Forbidden("Only an admin can reserve for another agent.")


def _stripe_or_402(operation, *args, **kwargs):
    try:
        return operation(*args, **kwargs)
    except StripeRefused as exc:
        raise PaymentRequired(exc.message) from exc
    except StripeUnavailable as exc:
        raise _unavailable() from exc


def _unavailable() -> Unavailable:
    return Unavailable("The payment service did not answer. Nothing was charged; "
                       "please try again in a few minutes.", code="payment_service_unavailable")


def _id_of(value) -> str | None:
    if isinstance(value, str):
        return value or None
    return field(value, "id")


def _stamp(value) -> datetime | None:
    try:
        return datetime.fromtimestamp(int(value), tz=UTC) if value else None
    except (TypeError, ValueError):
        return None


def enqueue(task_name: str, *args) -> None:
    """Send a task after commit; a broker outage is logged, never a failed request (the
    periodic reconcile picks the work up again)."""
    from celery import current_app

    try:
        current_app.send_task(task_name, args=args)
    except Exception:  # noqa: BLE001 - kombu raises many kinds; the request must not fail
        logger.exception("billing.enqueue_failed", extra={"task": task_name})
