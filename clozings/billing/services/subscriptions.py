"""Reserve and pay (a hold, then the territory's item on the brokerage's subscription,
then activation; a refusal abandons the hold), releases leaving the subscription, and the
seats item following the number of active seats."""

from __future__ import annotations

import logging
from datetime import UTC, datetime, timedelta

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import transaction
from django.db.models import F, Q
from django.utils import timezone

from clozings.billing import stripe_client
from clozings.billing.models import BillingAccount, ItemRemoval
from clozings.billing.services.payment_methods import _id_of, account_for
from clozings.billing.stripe_client import StripeRefused, StripeUnavailable, field
from clozings.platform.errors import Forbidden, PaymentRequired, Unavailable
from clozings.platform.money import format_cents
from clozings.platform.tenancy import enqueue_on_commit
from clozings.tenants.models import Seat, User
from clozings.territories import services as territories
from clozings.territories.models import Reservation

logger = logging.getLogger(__name__)

NO_CARD_MESSAGE = ("Your brokerage has no card on file yet: ask your admin to add a card "
                   "on the billing page.")
PAST_DUE_MESSAGE = ("Your brokerage's last payment failed: an admin must update the card on "
                    "the billing page before more territories can be reserved.")
# Stripe subscription states a brokerage is in good standing in.
GOOD_STATES = {"active", "trialing"}
# A lease on a row being synced with Stripe: longer than a task's time limit, so a live
# run never loses it; a dead worker's lapses and the sweeper takes the row.
CLAIM_SECONDS = 50
SEATS_SYNC_ROUNDS = 3


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


def _check_acting_for(*, seat: Seat, by: User) -> None:
    """An agent reserves for themself; an admin for any active seat of their brokerage."""
    if seat.status != Seat.Status.ACTIVE:
        raise ValidationError({"agent_id": ["This seat is not active."]})
    if seat.user_id == by.pk:
        return
    if not Seat.objects.filter(brokerage_id=seat.brokerage_id, user=by, role=Seat.Role.ADMIN,
                               status=Seat.Status.ACTIVE).exists():
        raise Forbidden("Only an admin can reserve for another agent.")


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
                from clozings.billing import tasks  # tasks import services: a local import

                enqueue_on_commit(tasks.sync_seat_quantity, account.brokerage_id)
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
