"""A refused reservation is the common answer under a rush (99 of 100 attempts on a full
ZIP, see tests/perf/bench_reservations.py): its statements are pinned here, one per step,
so a query added on that path fails this test instead of slowing the rush unnoticed."""

from __future__ import annotations

import re

import pytest
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext

from clozings.billing.models import BillingAccount
from clozings.platform.auth import issue_token
from tests.territories.factories import active_reservation, agent, snapshot

pytestmark = pytest.mark.django_db

ZIP = "60601"
TABLE = re.compile(r'"((?:tenants|billing|territories)_[a-z]+)"')


def _tables_per_statement(captured: CaptureQueriesContext) -> list[set[str]]:
    """The tables each statement read, less django-tenants' search_path switches."""
    return [set(TABLE.findall(q["sql"])) for q in captured.captured_queries
            if not q["sql"].startswith("SET search_path")]


def _statements(captured: CaptureQueriesContext) -> list[str]:
    return [q["sql"] for q in captured.captured_queries
            if not q["sql"].startswith("SET search_path")]


def test_a_refused_reservation_costs_one_select_per_step_and_writes_nothing(acme):
    # given: acme has a card on file, another agent holds the exclusive ZIP, and a
    # colleague tries it with a bearer token
    BillingAccount.objects.create(brokerage=acme.brokerage,
                                  default_payment_method_id="pm_card_on_file")
    active_reservation(agent(acme.brokerage), ZIP)
    before = snapshot(ZIP)
    late = agent(acme.brokerage)
    client = Client(HTTP_HOST=acme.host, HTTP_AUTHORIZATION=f"Bearer {issue_token(late.user)}")

    # when
    with CaptureQueriesContext(connection) as captured:
        response = client.post("/api/v1/reservations", {"zip_code": ZIP},
                               content_type="application/json")

    # then
    assert response.status_code == 409
    assert response.json()["error"]["code"] == "territory_full"
    assert _tables_per_statement(captured) == [
        {"tenants_domain", "tenants_brokerage"},  # the host's brokerage
        {"tenants_user", "tenants_apitoken"},  # the token's user, and that it stands
        {"tenants_seat"},  # the caller's seat in that brokerage
        {"billing_billingaccount"},  # a card on file (the brokerage comes with the seat)
        # the ZIP's places, whether this seat holds one and is still active, in one read
        {"territories_territory", "territories_slot", "territories_reservation",
         "tenants_seat"},
    ]
    assert all(sql.startswith("SELECT") for sql in _statements(captured))
    assert snapshot(ZIP) == before
