"""Many agents reserve one exclusive ZIP through the API at the same moment."""

from __future__ import annotations

import threading
from collections import Counter

import pytest
from django.db import connection

from clozings.billing.models import BillingAccount
from clozings.territories.models import Reservation, Slot
from tests.billing.conftest import add_card, stripe_api
from tests.conftest import host_client
from tests.tenants.factories import SeatFactory

pytestmark = pytest.mark.slow

THREADS = 20


def test_twenty_agents_reserve_one_exclusive_zip_exactly_one_wins(committed, localstripe):
    # given a brokerage with a card and twenty agents, each signed in
    setup = committed.brokerage("h6-rush")
    assert add_card(host_client(setup.host, setup.admin), localstripe,
                    "4242424242424242").status_code == 200
    clients = [host_client(setup.host, SeatFactory(brokerage=setup.brokerage).user)
               for _ in range(THREADS)]
    barrier = threading.Barrier(THREADS)
    answers: list[tuple[int, str]] = []
    lock = threading.Lock()

    def reserve(client):
        try:
            barrier.wait()
            response = client.post("/api/v1/reservations", {"zip_code": "60604"},
                                   content_type="application/json")
            body = response.json()
            with lock:
                answers.append((response.status_code,
                                body.get("status") or body["error"]["code"]))
        finally:
            connection.close()

    threads = [threading.Thread(target=reserve, args=(client,)) for client in clients]
    # when
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    # then
    assert Counter(answers) == {(201, "active"): 1, (409, "territory_full"): THREADS - 1}
    winner = Reservation.objects.get(territory__zip_code="60604")
    assert winner.status == "active"
    assert Slot.objects.filter(territory__zip_code="60604").count() == 1
    account = BillingAccount.objects.get(brokerage=setup.brokerage)
    subscription = stripe_api().subscriptions.retrieve(account.stripe_subscription_id)
    assert subscription.status == "active"
    assert stripe_api().subscription_items.retrieve(winner.stripe_item_id).plan.amount \
        == winner.price_cents
