"""Billing services against localstripe: reconcile stale holds, the seats item, a
canceled subscription, removing a released territory's item."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone

from clozings.billing import selectors, services
from clozings.billing.models import BillingAccount
from clozings.billing.stripe_client import StripeRefused, call, is_missing
from clozings.platform.embedded import free_port
from clozings.tenants.models import Seat
from clozings.territories import services as territories
from clozings.territories.models import Reservation, Slot
from tests.billing.conftest import add_card, stripe_api
from tests.conftest import host_client
from tests.tenants.factories import SeatFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def paying(acme, localstripe):
    """acme with a good card and one billed territory (so a subscription exists)."""
    admin = host_client(acme.host, acme.admin)
    add_card(admin, localstripe, "4242424242424242")
    response = admin.post("/api/v1/reservations", {"zip_code": "94103"},
                          content_type="application/json")
    assert response.status_code == 201
    return acme


def _stale_hold(seat, zip_code: str) -> Reservation:
    reservation = territories.hold_slot(seat=seat, zip_code=zip_code)
    Reservation.objects.filter(pk=reservation.pk).update(
        created_at=timezone.now() - timedelta(minutes=11))
    return reservation


def test_a_stale_pending_hold_is_billed_and_activated(paying):
    # given a hold whose request died before Stripe answered
    agent = SeatFactory(brokerage=paying.brokerage)
    reservation = _stale_hold(agent, "94104")
    # when
    counts = services.reconcile_pending_holds()
    # then
    reservation.refresh_from_db()
    assert counts["activated"] == 1
    assert reservation.status == "active"
    item = stripe_api().subscription_items.retrieve(reservation.stripe_item_id)
    assert item.metadata["reservation_id"] == str(reservation.pk)


def test_a_fresh_pending_hold_is_left_to_its_request(paying):
    # given
    agent = SeatFactory(brokerage=paying.brokerage)
    reservation = territories.hold_slot(seat=agent, zip_code="94104")
    # when
    services.reconcile_pending_holds()
    # then
    reservation.refresh_from_db()
    assert reservation.status == "pending"


def test_a_stale_hold_whose_card_fails_is_abandoned(acme, localstripe):
    # given a brokerage whose only card fails to charge, and a stale hold
    add_card(host_client(acme.host, acme.admin), localstripe, "4000000000000341")
    reservation = _stale_hold(acme.admin_seat, "94104")
    # when
    counts = services.reconcile_pending_holds()
    # then
    assert counts["abandoned"] == 1
    assert not Reservation.objects.filter(pk=reservation.pk).exists()
    assert not Slot.objects.filter(territory__zip_code="94104").exists()


def test_the_seats_item_follows_active_seats(paying):
    # given
    first = services.sync_seat_quantity(brokerage_id=paying.brokerage.pk)
    agents = [SeatFactory(brokerage=paying.brokerage) for _ in range(2)]
    # when
    grown = services.sync_seat_quantity(brokerage_id=paying.brokerage.pk)
    Seat.objects.filter(pk=agents[0].pk).update(status=Seat.Status.DEACTIVATED)
    shrunk = services.sync_seat_quantity(brokerage_id=paying.brokerage.pk)
    # then
    account = BillingAccount.objects.get(brokerage=paying.brokerage)
    assert (first, grown, shrunk) == (1, 3, 2)
    assert int(stripe_api().subscription_items.retrieve(account.seats_item_id).quantity) == 2
    assert host_client(paying.host, paying.admin).get("/api/v1/billing").json()["items"][-1] \
        == {"kind": "seats", "quantity": 2, "unit_price_cents": 1500, "price_cents": 3000}


def test_a_canceled_subscription_releases_every_territory(paying):
    # given Stripe ended the subscription (e.g. after its last retry failed)
    account = BillingAccount.objects.get(brokerage=paying.brokerage)
    stripe_api().subscriptions.cancel(account.stripe_subscription_id)
    # when, twice
    services.sync_billing_status(account_id=account.pk)
    status = services.sync_billing_status(account_id=account.pk)
    # then
    account.refresh_from_db()
    assert status == account.status == BillingAccount.Status.CANCELED
    assert account.stripe_subscription_id == ""
    assert list(Reservation.objects.filter(brokerage=paying.brokerage).values_list(
        "status", "release_reason")) == [("released", "subscription_canceled")]
    assert not Slot.objects.filter(territory__zip_code="94103").exists()
    assert [a.brokerage.slug for a in selectors.accounts_needing_attention()] == ["acme"]


def test_removing_a_released_item_is_safe_twice(paying):
    # given
    reservation = Reservation.objects.get(territory__zip_code="94103")
    # when
    first = services.remove_reservation_item(stripe_item_id=reservation.stripe_item_id,
                                             brokerage_id=paying.brokerage.pk)
    second = services.remove_reservation_item(stripe_item_id=reservation.stripe_item_id,
                                              brokerage_id=paying.brokerage.pk)
    # then
    assert (first, second) == (True, False)
    with pytest.raises(StripeRefused) as missing:
        call(stripe_api().subscription_items.retrieve, reservation.stripe_item_id)
    assert is_missing(missing.value)


def test_when_stripe_is_unreachable_the_hold_waits_and_reconcile_settles_it(
        acme, localstripe, settings):
    # given a card on file, then Stripe out of reach (nothing listens on that port)
    admin = host_client(acme.host, acme.admin)
    add_card(admin, localstripe, "4242424242424242")
    settings.STRIPE_API_BASE = f"http://127.0.0.1:{free_port()}"
    # when
    response = admin.post("/api/v1/reservations", {"zip_code": "94104"},
                          content_type="application/json")
    # then the place is held, not lost, and the person is told so
    assert response.status_code == 503
    assert response.json()["error"]["code"] == "payment_service_unavailable"
    assert "94104 is held" in response.json()["error"]["message"]
    reservation = Reservation.objects.get(territory__zip_code="94104")
    assert reservation.status == "pending"
    # when Stripe is back and the hold has gone stale
    settings.STRIPE_API_BASE = localstripe
    Reservation.objects.filter(pk=reservation.pk).update(
        created_at=timezone.now() - timedelta(minutes=11))
    services.reconcile_pending_holds()
    # then it is billed and active
    reservation.refresh_from_db()
    assert reservation.status == "active"
    assert stripe_api().subscription_items.retrieve(reservation.stripe_item_id).plan.amount \
        == reservation.price_cents
