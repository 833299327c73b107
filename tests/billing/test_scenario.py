"""The whole billing story against localstripe, with a real Celery worker processing the
webhooks localstripe sends: card, two territories, a new seat, a failed payment, grace,
suspension, release to the waitlist, and (for a second brokerage) recovery. Then every
webhook of the story is delivered again, three times in shuffled order, into a fresh copy
of the state: the result is the same.
"""

from __future__ import annotations

import random
from datetime import timedelta

import pytest
import requests
from django.test import Client
from django.utils import timezone

from clozings.billing.models import BillingAccount, WebhookEvent
from clozings.tenants.models import Seat
from clozings.territories import selectors as territory_selectors
from clozings.territories import services as territories
from clozings.territories.models import Reservation, WaitlistEntry
from tests.billing.conftest import add_card, sign, stripe_api, wait_until
from tests.conftest import host_client
from tests.tenants.factories import SeatFactory

pytestmark = [pytest.mark.worker, pytest.mark.slow]

GOOD_CARD = "4242424242424242"
FAILS_TO_CHARGE = "4000000000000341"
# 3-D Secure card whose charge is declined once the cardholder has authenticated.
AUTHENTICATES_THEN_DECLINED = "4000008260003178"
WEBHOOK = "/billing/stripe/webhook"


def deliver(events, *, resign: bool = False) -> list[dict]:
    client = Client(HTTP_HOST="localhost")
    answers = []
    for _, body, signature in events:
        response = client.post(WEBHOOK, data=body, content_type="application/json",
                               HTTP_STRIPE_SIGNATURE=sign(body) if resign else signature)
        assert response.status_code == 200, response.content
        answers.append(response.json())
    return answers


def wait_processed(event_ids: set[str]) -> None:
    wait_until(lambda: WebhookEvent.objects.filter(
        stripe_event_id__in=event_ids, processed_at__isnull=False).count() == len(event_ids),
        timeout=60, what="the worker to process every webhook")


def state_of(setups: dict) -> dict:
    """What a person would see: the account's standing and each territory's status."""
    return {
        label: (BillingAccount.objects.get(brokerage=setup.brokerage).status,
                sorted(Reservation.objects.filter(brokerage=setup.brokerage).exclude(
                    status="released").values_list("territory__zip_code", "status")))
        for label, setup in setups.items()
    }


def snapshot(setups: dict) -> dict:
    brokerages = [s.brokerage for s in setups.values()]
    return {
        "accounts": list(BillingAccount.objects.filter(brokerage__in=brokerages).values(
            "pk", "status")),
        "reservations": list(Reservation.objects.filter(brokerage__in=brokerages).values(
            "pk", "status", "past_due_since", "suspended_at")),
    }


def restore(saved: dict) -> None:
    for row in saved["accounts"]:
        BillingAccount.objects.filter(pk=row["pk"]).update(status=row["status"])
    for row in saved["reservations"]:
        Reservation.objects.filter(pk=row["pk"]).update(
            status=row["status"], past_due_since=row["past_due_since"],
            suspended_at=row["suspended_at"])


def fail_renewal(account: BillingAccount, localstripe: str, *, authenticate: bool) -> str:
    """Play Stripe's billing clock: the next invoice is made and charged to the card on
    file. Returns the invoice id."""
    api = stripe_api()
    invoice = api.invoices.create(params={"customer": account.stripe_customer_id,
                                          "subscription": account.stripe_subscription_id})
    invoice = api.invoices.pay(invoice.id)
    if authenticate:
        # the cardholder passes 3-D Secure and the bank then declines the charge
        intent = api.payment_intents.retrieve(invoice.payment_intent)
        response = requests.post(
            f"{localstripe}/v1/payment_intents/{intent.id}/_authenticate",
            json={"key": "pk_test_clozings", "client_secret": intent.client_secret,
                  "success": True}, timeout=10)
        assert response.status_code == 402
    return invoice.id


def test_card_reserve_seat_lapse_release_waitlist_recovery_and_replay(
        committed, celery_worker, webhook_recorder, localstripe, mailbox):
    # --- given three brokerages: one will lapse, one will recover, one is waiting ---
    lapse, recover, waiting = (committed.brokerage("h6-lapse"), committed.brokerage("h6-rec"),
                               committed.brokerage("h6-wait"))
    lapse_agent = SeatFactory(brokerage=lapse.brokerage)
    waiting_agent = SeatFactory(brokerage=waiting.brokerage)
    admins = {name: host_client(s.host, s.admin)
              for name, s in (("lapse", lapse), ("recover", recover), ("waiting", waiting))}

    # --- add a card, reserve two ZIPs -------------------------------------------------
    for client in admins.values():
        assert add_card(client, localstripe, GOOD_CARD).status_code == 200
    agent_client = host_client(lapse.host, lapse_agent.user)
    first = agent_client.post("/api/v1/reservations", {"zip_code": "60601"},
                              content_type="application/json")
    second = admins["lapse"].post("/api/v1/reservations",
                                  {"zip_code": "60602", "agent_id": lapse_agent.pk},
                                  content_type="application/json")
    recovering = admins["recover"].post("/api/v1/reservations", {"zip_code": "60603"},
                                        content_type="application/json")
    assert [first.status_code, second.status_code, recovering.status_code] == [201, 201, 201]
    accounts = {label: BillingAccount.objects.get(brokerage=s.brokerage)
                for label, s in (("lapse", lapse), ("recover", recover))}
    customers = {a.stripe_customer_id for a in accounts.values()}

    # the waiting agent queues for the first ZIP, which is full
    entry = territories.join_waitlist(seat=waiting_agent, zip_code="60601")

    # --- add a seat: the seats item follows (admin + agent + new = 3) -------------------
    SeatFactory(brokerage=lapse.brokerage)
    seats = wait_until(lambda: BillingAccount.objects.filter(
        pk=accounts["lapse"].pk, seats_quantity=3).first(), what="seats quantity 3")
    assert int(stripe_api().subscription_items.retrieve(seats.seats_item_id).quantity) == 3

    # --- deliver what localstripe sent so far; everything is active --------------------
    webhook_recorder.wait_for(
        lambda e: e["type"] == "customer.subscription.created"
        and e["data"]["object"]["customer"] == accounts["recover"].stripe_customer_id,
        customers)
    setups = {"lapse": lapse, "recover": recover}
    before_failure = snapshot(setups)

    # --- payment fails: a card that fails to charge, and a 3-D Secure decline -----------
    assert add_card(admins["lapse"], localstripe, FAILS_TO_CHARGE).status_code == 200
    assert add_card(admins["recover"], localstripe,
                    AUTHENTICATES_THEN_DECLINED).status_code == 200
    lapse_invoice = fail_renewal(accounts["lapse"], localstripe, authenticate=False)
    recover_invoice = fail_renewal(accounts["recover"], localstripe, authenticate=True)
    webhook_recorder.wait_for(lambda e: e["type"] == "invoice.created"
                              and e["data"]["object"]["id"] == lapse_invoice, customers)
    webhook_recorder.wait_for(
        lambda e: e["type"] == "invoice.payment_failed"
        and e["data"]["object"]["customer"] == accounts["recover"].stripe_customer_id,
        customers)
    delivered = webhook_recorder.events(customers)
    deliver(delivered)
    wait_processed({e["id"] for e, _, _ in delivered})

    # then both are past due, and their territories still get leads (grace period)
    assert state_of(setups) == {
        "lapse": ("past_due", [("60601", "past_due"), ("60602", "past_due")]),
        "recover": ("past_due", [("60603", "past_due")]),
    }
    assert [r.seat_id for r in territory_selectors.eligible_reservations(zip_code="60601")] \
        == [lapse_agent.pk]

    # --- recovery: a working card pays the open invoice --------------------------------
    assert add_card(admins["recover"], localstripe, GOOD_CARD).status_code == 200
    webhook_recorder.wait_for(
        lambda e: e["type"] == "invoice.payment_succeeded"
        and e["data"]["object"]["id"] == recover_invoice, customers, timeout=30)
    delivered = webhook_recorder.events(customers)
    deliver(delivered)
    wait_processed({e["id"] for e, _, _ in delivered})
    in_order = state_of(setups)
    assert in_order == {
        "lapse": ("past_due", [("60601", "past_due"), ("60602", "past_due")]),
        "recover": ("active", [("60603", "active")]),
    }

    # --- replay: every event three times, shuffled, into a fresh copy ------------------
    restore(before_failure)
    WebhookEvent.objects.filter(stripe_event_id__in={e["id"] for e, _, _ in delivered}).delete()
    assert state_of(setups)["lapse"][0] == "active"
    replay = delivered * 3
    random.Random(3).shuffle(replay)
    answers = deliver(replay, resign=True)
    wait_processed({e["id"] for e, _, _ in delivered})
    assert state_of(setups) == in_order
    assert WebhookEvent.objects.filter(
        stripe_event_id__in={e["id"] for e, _, _ in delivered}).count() == len(
        {e["id"] for e, _, _ in delivered})
    assert sum(1 for a in answers if not a["duplicate"]) == len({e["id"] for e, _, _ in delivered})

    # --- grace passes: suspended (no leads); later released and offered to the waitlist
    later = timezone.now() + timedelta(days=8)
    territories.suspend_overdue(now=later)
    assert state_of(setups)["lapse"][1] == [("60601", "suspended"), ("60602", "suspended")]
    assert list(territory_selectors.eligible_reservations(zip_code="60601")) == []
    items = list(Reservation.objects.filter(brokerage=lapse.brokerage).values_list(
        "stripe_item_id", flat=True))
    territories.release_suspended(now=later + timedelta(days=15))
    assert state_of(setups)["lapse"][1] == []
    for item_id in items:
        wait_until(lambda item_id=item_id: _item_is_gone(item_id),
                   what=f"Stripe item {item_id} removed")
    entry.refresh_from_db()
    assert entry.status == WaitlistEntry.Status.OFFERED
    wait_until(lambda: any(waiting_agent.email in m["To"] for m in mailbox),
               what="the waitlist offer email")

    # --- the waiting agent accepts the offer: reserved and billed -----------------------
    accept = host_client(waiting.host, waiting_agent.user).post(
        f"/billing/offers/{entry.pk}/accept/")
    assert accept.status_code == 302
    taken = Reservation.objects.get(territory__zip_code="60601", status="active")
    assert taken.seat_id == waiting_agent.pk
    assert stripe_api().subscription_items.retrieve(taken.stripe_item_id).plan.amount \
        == taken.price_cents
    assert Seat.objects.get(pk=lapse_agent.pk).status == Seat.Status.ACTIVE


def _item_is_gone(item_id: str) -> bool:
    from clozings.billing.stripe_client import StripeRefused, call, is_missing

    try:
        call(stripe_api().subscription_items.retrieve, item_id)
    except StripeRefused as exc:
        return is_missing(exc)
    return False
