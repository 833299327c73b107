"""Reads for the billing page and API: the card, what the subscription holds, invoices."""

from __future__ import annotations

import logging
from datetime import UTC, datetime

from django.conf import settings
from django.db.models import Q
from django.utils import timezone

from clozings.billing import stripe_client
from clozings.billing.models import BillingAccount, WebhookEvent
from clozings.billing.services import MAX_EVENT_ATTEMPTS
from clozings.billing.stripe_client import StripeRefused, StripeUnavailable, field
from clozings.tenants.models import Brokerage, Seat
from clozings.territories.models import Reservation
from clozings.territories.selectors import reservations_for

logger = logging.getLogger(__name__)

BILLED_STATUSES = {Reservation.Status.ACTIVE, Reservation.Status.PAST_DUE,
                   Reservation.Status.SUSPENDED}


def account_of(*, brokerage: Brokerage) -> BillingAccount | None:
    return BillingAccount.objects.filter(brokerage=brokerage).first()


def card_on_file(account: BillingAccount | None) -> dict | None:
    if account is None or not account.has_card:
        return None
    return {"brand": account.card_brand, "last4": account.card_last4,
            "exp_month": account.card_exp_month, "exp_year": account.card_exp_year}


def invoices_of(account: BillingAccount | None, *, limit: int = 12) -> list[dict] | None:
    """The latest invoices as Stripe has them now; None when Stripe can't be reached.

    Each has a `kind` that says what it means for the brokerage: "paid"; "unpaid" (open
    on the current subscription: the card must be replaced or the charge retried);
    "declined" (a first charge that failed, so nothing was reserved and nothing is owed);
    "void" or "uncollectible"."""
    if account is None or not account.stripe_customer_id:
        return []
    try:
        page = stripe_client.call(stripe_client.client().v1.invoices.list,
                                  params={"customer": account.stripe_customer_id,
                                          "limit": limit})
    except (StripeRefused, StripeUnavailable):
        logger.warning("billing.invoices_unavailable", extra={"account": account.pk})
        return None
    rows = []
    for invoice in field(page, "data", []) or []:
        status = field(invoice, "status")
        if status == "draft":
            continue
        created = field(invoice, "created")
        subscription = field(invoice, "subscription")
        subscription = subscription if isinstance(subscription, str) or subscription is None \
            else field(subscription, "id")
        rows.append({
            "id": field(invoice, "id"),
            "number": field(invoice, "number") or field(invoice, "id"),
            "status": status,
            "kind": _invoice_kind(status, bool(field(invoice, "attempted")),
                                  current=bool(subscription)
                                  and subscription == account.stripe_subscription_id),
            "amount_due_cents": int(field(invoice, "amount_due", 0) or 0),
            "amount_paid_cents": int(field(invoice, "amount_paid", 0) or 0),
            "currency": field(invoice, "currency", settings.BILLING_CURRENCY),
            "created": datetime.fromtimestamp(int(created), tz=UTC) if created else None,
        })
    return rows


def _invoice_kind(status: str | None, attempted: bool, *, current: bool) -> str:
    if status == "paid":
        return "paid"
    if status == "open":
        # an open invoice of a subscription that was cancelled at its first charge
        return "unpaid" if current else "declined"
    if status == "void":
        return "declined" if attempted else "void"
    return "uncollectible" if status == "uncollectible" else "void"


def billing_overview(*, brokerage: Brokerage, with_invoices: bool = True) -> dict:
    """What the billing page says: the card on file, what is billed every month
    (each territory, the seats) and from when, the next charge, and the invoices."""
    account = account_of(brokerage=brokerage)
    reservations = [r for r in reservations_for(brokerage=brokerage)
                    if r.status in BILLED_STATUSES]
    items: list[dict] = [{
        "kind": "territory",
        "reservation_id": r.pk,
        "zip_code": r.territory.zip_code,
        "agent_id": r.seat_id,
        "agent_name": r.seat.name or r.seat.email,
        "status": r.status,
        "quantity": 1,
        "unit_price_cents": r.price_cents,
        "price_cents": r.price_cents,
        "release_at": r.release_at,
    } for r in reservations]
    unit = settings.BILLING_SEAT_PRICE_CENTS
    subscribed = account is not None and bool(account.stripe_subscription_id)
    seats = active_seats(brokerage=brokerage)
    if account is not None and account.seats_quantity:
        items.append({"kind": "seats", "quantity": account.seats_quantity,
                      "unit_price_cents": unit, "price_cents": unit * account.seats_quantity})
    total = sum(item["price_cents"] for item in items)
    # The seats item follows the active seats (a task syncs it within seconds of a
    # change); until it has, the page bills what it is about to be and says so.
    bill = [item for item in items if item["kind"] != "seats"]
    if subscribed and seats:
        bill.append({"kind": "seats", "quantity": seats, "unit_price_cents": unit,
                     "price_cents": unit * seats,
                     "updating": seats != account.seats_quantity})
    bill_total = sum(item["price_cents"] for item in bill)
    period_end = account.current_period_end if account else None
    invoices = invoices_of(account) if with_invoices else []
    return {
        "status": account.status if account else BillingAccount.Status.NEW,
        "card": card_on_file(account),
        "current_period_end": period_end,
        "items": items,
        "monthly_total_cents": total,
        "subscribed": subscribed,
        "seat_price_cents": unit,
        "bill": bill,
        "bill_total_cents": bill_total,
        "next_charge": {"at": period_end, "cents": bill_total}
        if subscribed and period_end and period_end > timezone.now() else None,
        # before the first territory nothing is billed; this is what the seats will cost
        "seats_preview": None if subscribed else {
            "quantity": seats, "unit_price_cents": unit, "price_cents": seats * unit},
        "invoices": invoices,
        "unpaid": [i for i in invoices or [] if i["kind"] == "unpaid"],
        "declined": [i for i in invoices or [] if i["kind"] == "declined"],
    }


def active_seats(*, brokerage: Brokerage) -> int:
    return Seat.objects.filter(brokerage=brokerage, status=Seat.Status.ACTIVE).count()


def reserve_terms(*, brokerage: Brokerage) -> dict:
    """What reserving one more territory costs and when, for the confirmation page.

    The first territory starts the brokerage's subscription: it is charged at once, and
    the seats join the bill then. Later ones go on the same subscription and are first
    billed with its next monthly charge."""
    account = account_of(brokerage=brokerage)
    first = account is None or not account.stripe_subscription_id
    seats = active_seats(brokerage=brokerage) if first else 0
    unit = settings.BILLING_SEAT_PRICE_CENTS
    return {
        "card": card_on_file(account),
        "past_due": account is not None and account.status == BillingAccount.Status.PAST_DUE,
        "first": first,
        "next_charge_at": None if first else account.current_period_end,
        "seats": seats, "seat_price_cents": unit, "seats_cents": seats * unit,
    }


def release_terms(*, reservation: Reservation) -> dict:
    """Until when a released territory stays the agent's: the end of the period paid
    for (the reservation's, else the subscription's); at once when nothing is paid ahead."""
    account = account_of(brokerage=reservation.brokerage)
    until = reservation.period_end or (account.current_period_end if account else None)
    now = timezone.now()
    return {"until": until if until and until > now else now,
            "at_once": until is None or until <= now}


def accounts_needing_attention():
    """For the staff console: brokerages whose payment failed or whose subscription ended,
    oldest change first (one query)."""
    return BillingAccount.objects.filter(
        status__in=[BillingAccount.Status.PAST_DUE, BillingAccount.Status.CANCELED]
    ).select_related("brokerage").order_by("updated_at")


def stuck_webhook_events(*, limit: int = 50):
    """For the staff console: Stripe events left for staff, oldest first: refused as sent
    (kept, never processed) or failed as often as the sweeper retries them."""
    return WebhookEvent.objects.filter(processed_at__isnull=True).filter(
        Q(rejected=True) | Q(attempts__gte=MAX_EVENT_ATTEMPTS)).order_by("received_at")[:limit]
