"""Issue 6, billing: renewals move the paid period, seat syncs are one task with keys
derived from what they mean, no Stripe call waits under a row lock, odd but signed
events are refused and kept, and sweepers finish what a lost task left behind."""

from __future__ import annotations

import json
import threading
import time
import uuid
from datetime import datetime, timedelta

import pytest
import redis
from django.conf import settings as django_settings
from django.db import connection, connections
from django.test import Client
from django.utils import timezone

from clozings.billing import services, tasks
from clozings.billing.models import BillingAccount, ItemRemoval, WebhookEvent
from clozings.billing.stripe_client import StripeRefused, StripeUnavailable, call, is_missing
from clozings.platform.errors import DomainError, is_retryable
from clozings.tenants import services as tenants
from clozings.tenants.models import Seat
from clozings.territories import services as territories
from clozings.territories.models import Reservation
from tests.billing.conftest import add_card, sign, stripe_api, wait_until
from tests.billing.stripe_proxy import proxy_for
from tests.conftest import host_client
from tests.tenants.factories import SeatFactory

GOOD_CARD = "4242424242424242"
WEBHOOK = "/billing/stripe/webhook"


@pytest.fixture
def stripe_proxy(localstripe, settings):
    with proxy_for(localstripe) as proxy:
        settings.STRIPE_API_BASE = proxy.url
        yield proxy


@pytest.fixture
def paying(acme, localstripe):
    """acme with a good card and one billed territory (so a subscription exists)."""
    admin = host_client(acme.host, acme.admin)
    assert add_card(admin, localstripe, GOOD_CARD).status_code == 200
    response = admin.post("/api/v1/reservations", {"zip_code": "94103"},
                          content_type="application/json")
    assert response.status_code == 201
    return acme


def queued(task_name: str) -> int:
    """Messages for `task_name` waiting in the Celery queue in Redis (no worker runs)."""
    broker = redis.Redis.from_url(django_settings.CELERY_BROKER_URL)
    return sum(1 for raw in broker.lrange("celery", 0, -1)
               if json.loads(raw)["headers"]["task"] == task_name)


def purge_queue() -> None:
    redis.Redis.from_url(django_settings.CELERY_BROKER_URL).delete("celery")


def seats_items(account: BillingAccount, *, besides: set[str] = frozenset()) -> list:
    """The brokerage's seats items at localstripe (which files items added later apart
    from their subscription, so they are found by their metadata), less `besides`: the
    ones earlier tests left for a brokerage of the same id."""
    return [item for item in stripe_api().subscription_items.list(
                params={"limit": 100}).auto_paging_iter()
            if item.id not in besides
            and item.metadata.to_dict() == {"kind": "seats",
                                            "brokerage_id": str(account.brokerage_id)}]


def deliver(body: bytes) -> dict:
    response = Client(HTTP_HOST="localhost").post(
        WEBHOOK, data=body, content_type="application/json", HTTP_STRIPE_SIGNATURE=sign(body))
    assert response.status_code == 200, response.content
    return response.json()


def renewal_events(account: BillingAccount, *, start: datetime, end: datetime) -> list[bytes]:
    """The two events Stripe sends when a subscription renews and its invoice is paid.

    localstripe cannot renew: a subscription's period is always its start date plus one
    interval (no test clocks, no billing cycle, `start_date` only backdated at creation),
    so these are made here as Stripe sends them and signed with the test secret."""
    period = {"start": int(start.timestamp()), "end": int(end.timestamp())}
    subscription = {"object": "subscription", "id": account.stripe_subscription_id,
                    "customer": account.stripe_customer_id, "status": "active",
                    "current_period_start": period["start"],
                    "current_period_end": period["end"]}
    invoice = {"object": "invoice", "id": f"in_renewal_{uuid.uuid4().hex[:8]}",
               "customer": account.stripe_customer_id,
               "subscription": account.stripe_subscription_id, "status": "paid",
               "billing_reason": "subscription_cycle",
               "lines": {"object": "list", "data": [
                   {"object": "line_item", "type": "subscription", "period": period}]}}
    return [json.dumps({"id": f"evt_{uuid.uuid4().hex}", "object": "event", "type": kind,
                        "created": int(time.time()), "data": {"object": obj}}).encode()
            for kind, obj in (("customer.subscription.updated", subscription),
                              ("invoice.paid", invoice))]


# --- 1. a renewal moves the paid period --------------------------------------------------
@pytest.mark.worker
def test_after_a_renewal_a_released_zip_stays_the_agents_until_the_new_period_end(
        committed, celery_worker, localstripe):
    # given two agents, each holding a ZIP billed through localstripe
    setup = committed.brokerage("h6-renew")
    keeper, leaver = (SeatFactory(brokerage=setup.brokerage) for _ in range(2))
    admin = host_client(setup.host, setup.admin)
    assert add_card(admin, localstripe, GOOD_CARD).status_code == 200
    ids = {}
    for seat, zip_code in ((keeper, "60611"), (leaver, "60612")):
        response = admin.post("/api/v1/reservations", {"zip_code": zip_code,
                                                       "agent_id": seat.pk},
                              content_type="application/json")
        assert response.status_code == 201, response.content
        ids[seat.pk] = response.json()["id"]
    account = BillingAccount.objects.get(brokerage=setup.brokerage)
    # and the first paid period has ended (yesterday, say); the renewal pays a month
    # past the period localstripe reports, which cannot move
    first_end = (timezone.now() - timedelta(days=1)).replace(microsecond=0)
    Reservation.objects.filter(brokerage=setup.brokerage).update(period_end=first_end)
    new_end = account.current_period_end + timedelta(days=31)

    # when Stripe renews and the worker processes its webhooks
    event_ids = {deliver(body)["id"] for body in renewal_events(account, start=first_end,
                                                                end=new_end)}
    wait_until(lambda: WebhookEvent.objects.filter(
        stripe_event_id__in=event_ids, processed_at__isnull=False).count() == 2,
        timeout=30, what="the worker to process the renewal")
    # and the keeper's ZIP is released by its agent, the leaver's seat is deactivated
    agent_client = host_client(setup.host, keeper.user)
    assert agent_client.delete(f"/api/v1/reservations/{ids[keeper.pk]}").status_code == 200
    tenants.deactivate_seat(seat=Seat.objects.get(pk=leaver.pk), by=setup.admin)

    # then both ZIPs stay theirs until the end of the renewed period, not a moment less
    account.refresh_from_db()
    assert account.current_period_end == new_end
    assert list(Reservation.objects.filter(pk__in=ids.values()).values_list(
        "status", "period_end", "release_at")) == [("active", new_end, new_end)] * 2
    assert territories.release_due(now=new_end - timedelta(seconds=1)) == 0
    assert territories.release_due(now=new_end) == 2


@pytest.mark.django_db
@pytest.mark.parametrize("kind", ["customer.subscription.updated", "invoice.paid"])
def test_either_renewal_event_alone_moves_the_period_end_and_a_late_one_never_back(
        paying, kind):
    # given
    account = BillingAccount.objects.get(brokerage=paying.brokerage)
    reservation = Reservation.objects.get(territory__zip_code="94103")
    new_end = (account.current_period_end + timedelta(days=30)).replace(microsecond=0)
    bodies = {json.loads(body)["type"]: body for body in renewal_events(
        account, start=account.current_period_end, end=new_end)}
    older = {json.loads(body)["type"]: body for body in renewal_events(
        account, start=account.current_period_end - timedelta(days=60),
        end=account.current_period_end - timedelta(days=30))}
    # when the renewal, then a stale event of an earlier period, are processed
    for body in (bodies[kind], older[kind]):
        services.process_webhook_event(
            event_pk=WebhookEvent.objects.get(stripe_event_id=deliver(body)["id"]).pk)
    # then
    reservation.refresh_from_db()
    account.refresh_from_db()
    assert (reservation.period_end, account.current_period_end) == (new_end, new_end)


# --- 2. seat sync keys come from what the write means ------------------------------------
@pytest.mark.django_db
def test_a_seat_sync_retried_after_a_lost_answer_makes_one_seats_item(paying, stripe_proxy):
    # given a subscription without its seats item yet, and Stripe's answer to the
    # create gets lost after Stripe made the item
    brokerage_id = paying.brokerage.pk
    account = BillingAccount.objects.get(brokerage_id=brokerage_id)
    assert account.seats_item_id == ""
    earlier = {item["id"] for item in seats_items(account)}
    stripe_proxy.lose_answer_to("POST", "/v1/subscription_items")
    with pytest.raises(StripeUnavailable):
        services.sync_seat_quantity(brokerage_id=brokerage_id)
    # when the task is retried
    assert services.sync_seat_quantity(brokerage_id=brokerage_id) == 1
    # then there is one seats item, and every try of the create was the same request
    account.refresh_from_db()
    assert [item["id"] for item in seats_items(account, besides=earlier)] \
        == [account.seats_item_id]
    creates = stripe_proxy.keys("POST", "/v1/subscription_items")
    assert len(set(creates)) == 1, creates


@pytest.mark.django_db
def test_a_retried_quantity_change_is_the_same_request_and_a_later_one_is_not(
        paying, stripe_proxy):
    brokerage_id = paying.brokerage.pk
    services.sync_seat_quantity(brokerage_id=brokerage_id)
    item_id = BillingAccount.objects.get(brokerage_id=brokerage_id).seats_item_id
    update = f"/v1/subscription_items/{item_id}"
    # given a second seat, and the answer to the quantity change is lost
    second = SeatFactory(brokerage=paying.brokerage)
    stripe_proxy.lose_answer_to("POST", update)
    with pytest.raises(StripeUnavailable):
        services.sync_seat_quantity(brokerage_id=brokerage_id)
    # when retried, then back to one seat, then two again
    assert services.sync_seat_quantity(brokerage_id=brokerage_id) == 2
    Seat.objects.filter(pk=second.pk).update(status=Seat.Status.DEACTIVATED)
    assert services.sync_seat_quantity(brokerage_id=brokerage_id) == 1
    Seat.objects.filter(pk=second.pk).update(status=Seat.Status.ACTIVE)
    assert services.sync_seat_quantity(brokerage_id=brokerage_id) == 2
    # then the retry repeated its key; each later change had its own
    keys = stripe_proxy.keys("POST", update)
    assert len(keys) == 4 and keys[0] == keys[1]
    assert len(set(keys)) == 3
    assert int(stripe_api().subscription_items.retrieve(item_id).quantity) == 2


# --- 3. one seat event, one task ---------------------------------------------------------
@pytest.mark.django_db
def test_deactivating_a_seat_queues_one_seat_sync(paying, django_capture_on_commit_callbacks):
    # given
    agent = SeatFactory(brokerage=paying.brokerage)
    purge_queue()
    # when
    with django_capture_on_commit_callbacks(execute=True):
        tenants.deactivate_seat(seat=agent, by=paying.admin)
    # then
    assert queued("billing.sync_seat_quantity") == 1
    purge_queue()


@pytest.mark.django_db
def test_a_role_change_or_an_invitation_queues_no_seat_sync(
        paying, django_capture_on_commit_callbacks):
    agent = SeatFactory(brokerage=paying.brokerage)
    purge_queue()
    with django_capture_on_commit_callbacks(execute=True):
        tenants.change_seat_role(seat=agent, role=Seat.Role.ADMIN, by=paying.admin)
        tenants.invite_seat(brokerage=paying.brokerage, email="new@acme.test", name="New",
                            notify=False)
    assert queued("billing.sync_seat_quantity") == 0


# --- no Stripe call under a row lock -----------------------------------------------------
def _account_row_is_free(account_id: int) -> bool:
    """Another connection locks the account row without waiting."""
    other = connections.create_connection("default")
    try:
        with other.cursor() as cursor:
            cursor.execute("BEGIN")
            cursor.execute("SELECT id FROM billing_billingaccount WHERE id = %s "
                           "FOR UPDATE NOWAIT", [account_id])
            cursor.execute("ROLLBACK")
        return True
    except Exception:  # noqa: BLE001 - psycopg's LockNotAvailable
        return False
    finally:
        other.close()


def test_the_first_customer_is_made_without_holding_the_account_row(
        committed, localstripe, settings):
    # given Stripe holds the customer create without answering
    setup = committed.brokerage("h6-cust")
    account = services.account_for(brokerage=setup.brokerage)
    with proxy_for(localstripe) as proxy:
        settings.STRIPE_API_BASE = proxy.url
        proxy.hold("POST", "/v1/customers")
        outcome: list = []

        def make():
            try:
                outcome.append(services.ensure_customer(brokerage=setup.brokerage))
            except Exception as exc:  # noqa: BLE001
                outcome.append(exc)
            finally:
                connection.close()

        thread = threading.Thread(target=make)
        thread.start()
        wait_until(lambda: proxy.keys("POST", "/v1/customers"), what="the customer create")
        # then while Stripe is waited for, the account row is not locked
        free = _account_row_is_free(account.pk)
        proxy.released.set()
        thread.join(30)
    assert free


def test_a_timeout_creating_the_subscription_under_the_lock_frees_it_and_keeps_the_hold(
        committed, localstripe, settings):
    # given a card on file, and Stripe never answers the subscription create
    setup = committed.brokerage("h6-tmo")
    admin = host_client(setup.host, setup.admin)
    assert add_card(admin, localstripe, GOOD_CARD).status_code == 200
    settings.STRIPE_TIMEOUT_SECONDS = 1
    with proxy_for(localstripe) as proxy:
        settings.STRIPE_API_BASE = proxy.url
        proxy.hold("POST", "/v1/subscriptions")
        # when
        response = admin.post("/api/v1/reservations", {"zip_code": "60613"},
                              content_type="application/json")
    # then the person is told, the place is held, and nothing stays locked
    assert response.status_code == 503
    assert response.json()["error"]["code"] == "payment_service_unavailable"
    account = BillingAccount.objects.get(brokerage=setup.brokerage)
    assert account.stripe_subscription_id == ""
    assert Reservation.objects.get(brokerage=setup.brokerage).status == "pending"
    assert _account_row_is_free(account.pk)


# --- 11. odd but signed events -----------------------------------------------------------
@pytest.mark.django_db
@pytest.mark.parametrize("body", [
    b'{"id": "evt_nul_1", "type": "invoice.paid", "data": {"object": {"name": "a\\u0000b"}}}',
    b'{"id": "evt_deep_1", "type": "invoice.paid", "data": ' + b'{"a": ' * 3000 + b"1"
    + b"}" * 3000 + b"}",
    b'{"id": "evt_deep_2", "type": "invoice.paid", "data": ' + b"[" * 100000
    + b"]" * 100000 + b"}",
], ids=["nul", "deep-object", "very-deep-array"])
def test_a_signed_event_with_nul_or_deep_nesting_is_400_and_kept_for_staff(platform_client,
                                                                           body):
    # when
    response = platform_client.post(WEBHOOK, data=body, content_type="application/json",
                                    HTTP_STRIPE_SIGNATURE=sign(body))
    # then
    assert response.status_code == 400
    assert response.json()["error"]["code"] == "bad_event"
    stored = WebhookEvent.objects.get()
    assert stored.rejected and stored.processed_at is None
    assert bytes(stored.raw_body) == body
    assert stored.error
    # and a sweep leaves it for staff, it is not processed
    services.sweep(now=timezone.now() + timedelta(minutes=5))
    stored.refresh_from_db()
    assert stored.processed_at is None and stored.attempts == 0


# --- 10. sweepers ------------------------------------------------------------------------
@pytest.mark.django_db
def test_the_sweeper_syncs_seats_a_lost_task_left_behind(paying):
    # given a new seat whose sync task never ran (the test's transaction never commits)
    SeatFactory(brokerage=paying.brokerage)
    account = BillingAccount.objects.get(brokerage=paying.brokerage)
    assert account.seats_item_id == ""
    earlier = {item["id"] for item in seats_items(account)}
    # when
    services.sweep(now=timezone.now())
    # then
    account.refresh_from_db()
    assert account.seats_quantity == 2
    assert [int(item["quantity"]) for item in seats_items(account, besides=earlier)] == [2]
    # and a second sweep writes nothing more
    services.sweep(now=timezone.now())
    assert [item["id"] for item in seats_items(account, besides=earlier)] \
        == [account.seats_item_id]


@pytest.mark.django_db
def test_the_sweeper_leaves_a_live_sync_alone_and_takes_over_a_dead_workers(paying,
                                                                              stripe_proxy):
    # given a new seat, and a sync in progress elsewhere (its lease is live)
    SeatFactory(brokerage=paying.brokerage)
    account = BillingAccount.objects.get(brokerage=paying.brokerage)
    BillingAccount.objects.filter(pk=account.pk).update(
        seats_claimed_until=timezone.now() + timedelta(seconds=40))
    # when the sweeper runs beside it
    services.sweep(now=timezone.now())
    # then it writes nothing to Stripe
    assert stripe_proxy.keys("POST", "/v1/subscription_items") == []
    # when that worker died: its lease lapses and the next sweep finishes the sync
    BillingAccount.objects.filter(pk=account.pk).update(
        seats_claimed_until=timezone.now() - timedelta(seconds=1))
    services.sweep(now=timezone.now())
    account.refresh_from_db()
    assert (account.seats_quantity, account.seats_claimed_until) == (2, None)
    assert len(stripe_proxy.keys("POST", "/v1/subscription_items")) == 1
    assert int(stripe_api().subscription_items.retrieve(account.seats_item_id).quantity) == 2


@pytest.mark.django_db
def test_a_webhook_retry_that_is_due_later_is_not_sent_again_meanwhile(platform_client):
    body = json.dumps({"id": "evt_retry_1", "type": "invoice.paid",
                       "data": {"object": {"object": "invoice", "customer": "cus_x"}}}).encode()
    assert platform_client.post(WEBHOOK, data=body, content_type="application/json",
                                HTTP_STRIPE_SIGNATURE=sign(body)).status_code == 200
    event = WebhookEvent.objects.get()
    services.record_webhook_failure(event_pk=event.pk, error="Stripe timed out", retry_in=160)
    purge_queue()
    services.sweep(now=timezone.now() + timedelta(seconds=120))
    early = queued("billing.process_webhook_event")
    services.sweep(now=timezone.now() + timedelta(seconds=200))
    assert (early, queued("billing.process_webhook_event")) == (0, 1)
    purge_queue()


@pytest.mark.django_db
def test_the_sweeper_removes_a_released_zips_item_a_lost_task_left_behind(paying):
    # given a released reservation whose removal task never ran
    reservation = Reservation.objects.get(territory__zip_code="94103")
    territories.release_reservation(reservation_id=reservation.pk, reason="released_by_owner")
    removal = ItemRemoval.objects.get(stripe_item_id=reservation.stripe_item_id)
    assert removal.done_at is None
    # when (not yet: the task has its half minute)
    services.sweep(now=timezone.now())
    assert stripe_api().subscription_items.retrieve(reservation.stripe_item_id)
    services.sweep(now=timezone.now() + timedelta(minutes=1))
    # then it is gone at Stripe, and recorded as done
    removal.refresh_from_db()
    assert removal.done_at is not None
    with pytest.raises(StripeRefused) as missing:
        call(stripe_api().subscription_items.retrieve, reservation.stripe_item_id)
    assert is_missing(missing.value)


@pytest.mark.django_db
def test_the_sweeper_requeues_an_event_left_unprocessed_for_half_a_minute(platform_client):
    # given an event stored but whose task was lost
    body = json.dumps({"id": "evt_lost_1", "type": "invoice.paid",
                       "data": {"object": {"object": "invoice", "customer": "cus_x"}}}).encode()
    assert platform_client.post(WEBHOOK, data=body, content_type="application/json",
                                HTTP_STRIPE_SIGNATURE=sign(body)).status_code == 200
    purge_queue()
    received = WebhookEvent.objects.get().received_at
    # when
    services.sweep(now=received + timedelta(seconds=10))
    early = queued("billing.process_webhook_event")
    services.sweep(now=received + timedelta(seconds=40))
    # then
    assert (early, queued("billing.process_webhook_event")) == (0, 1)
    purge_queue()


def test_beat_sweeps_billing_at_least_every_half_minute():
    schedule = django_settings.CELERY_BEAT_SCHEDULE["billing.sweep"]
    assert schedule["task"] == "billing.sweep" and schedule["schedule"] <= 30


# --- tasks decide retry or give up from the domain error ---------------------------------
def test_stripe_not_answering_is_the_kernels_retryable_refusal_with_a_message_for_people():
    # when
    error = StripeUnavailable("Network error: ConnectionError(127.0.0.1:9)")
    # then: a task retries it; people read no internals, staff and logs read the detail
    assert isinstance(error, DomainError) and is_retryable(error)
    assert error.code == "payment_service_unavailable"
    assert "127.0.0.1" not in error.message
    assert str(error) == "Network error: ConnectionError(127.0.0.1:9)"


@pytest.mark.django_db
def test_the_seat_sync_task_retries_when_stripe_did_not_answer_and_makes_one_item(
        paying, stripe_proxy):
    # given the answer to the seats item's creation is lost after Stripe made it
    brokerage_id = paying.brokerage.pk
    account = BillingAccount.objects.get(brokerage_id=brokerage_id)
    earlier = {item["id"] for item in seats_items(account)}
    stripe_proxy.lose_answer_to("POST", "/v1/subscription_items")
    # when the task runs (eagerly: its retry runs at once)
    result = tasks.sync_seat_quantity.apply(args=[brokerage_id])
    # then it was retried with the same request, and there is one seats item
    assert result.get() == 1
    account.refresh_from_db()
    assert [item["id"] for item in seats_items(account, besides=earlier)] \
        == [account.seats_item_id]
    creates = stripe_proxy.keys("POST", "/v1/subscription_items")
    assert len(creates) == 2 and len(set(creates)) == 1
