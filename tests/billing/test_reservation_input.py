"""A malformed reservation request is a 400 before any payment question (found by fuzzing:
`{"zip_code": "\\x1di*********"}` from a brokerage with no card got 402 "add a card")."""

from __future__ import annotations

import pytest

from clozings.billing.models import BillingAccount
from clozings.platform.api import MAX_ID
from clozings.territories.models import Reservation
from tests.conftest import host_client

pytestmark = pytest.mark.django_db


@pytest.mark.parametrize("zip_code", ["\x1di*********", "abcde", "3030", "100011", " 1000"])
def test_a_malformed_zip_is_a_validation_error_even_without_a_card(acme, zip_code):
    client = host_client(acme.host, acme.admin)

    response = client.post("/api/v1/reservations", {"zip_code": zip_code},
                           content_type="application/json")

    assert response.status_code == 400
    fields = response.json()["error"]["fields"]
    assert list(fields) == ["zip_code"]
    assert "Enter a 5-digit ZIP code, like 10001." in fields["zip_code"]
    assert not Reservation.objects.filter(brokerage=acme.brokerage).exists()
    assert not BillingAccount.objects.filter(brokerage=acme.brokerage).exists()


def test_an_agent_id_no_bigint_can_hold_is_a_validation_error(acme):
    client = host_client(acme.host, acme.admin)

    response = client.post("/api/v1/reservations", {"zip_code": "10001", "agent_id": MAX_ID + 1},
                           content_type="application/json")

    assert response.status_code == 400
    assert list(response.json()["error"]["fields"]) == ["agent_id"]


def test_a_well_formed_zip_without_a_card_is_still_payment_required(acme):
    client = host_client(acme.host, acme.admin)

    response = client.post("/api/v1/reservations", {"zip_code": "10001"},
                           content_type="application/json")

    assert (response.status_code, response.json()["error"]["code"]) == (402, "payment_required")
