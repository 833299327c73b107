"""What an agent or admin sets about a seat (the pause through the API, a cap through the
Seats page) is what routing honours."""

from __future__ import annotations

import json
from datetime import timedelta

import pytest
from django.test import Client
from django.utils import timezone

from clozings.distribution.routing import route_lead
from clozings.platform.auth import issue_token
from tests.distribution.factories import holder, lead_source, share, take

pytestmark = pytest.mark.django_db

ZIP = "10001"


@pytest.fixture
def source():
    return lead_source().source


def routed(source, n: int):
    return route_lead(inbound_lead_id=take(source, n).pk)


def test_a_pause_an_agent_sets_through_the_api_stops_their_leads(acme, source):
    share(ZIP, 2)
    away, other = holder(acme.brokerage, ZIP), holder(acme.brokerage, ZIP)
    assert {routed(source, n).seat_id for n in range(4)} == {away.seat_id, other.seat_id}
    client = Client(HTTP_HOST="acme.localhost",
                    HTTP_AUTHORIZATION=f"Bearer {issue_token(away.seat.user)}")
    until = (timezone.now() + timedelta(days=7)).isoformat()

    response = client.patch(f"/api/v1/seats/{away.seat_id}", json.dumps(
        {"paused_until": until}), content_type="application/json")

    assert response.status_code == 200
    leads = [routed(source, n) for n in range(4, 10)]
    assert {lead.seat_id for lead in leads} == {other.seat_id}
    passed = {c["seat_id"]: c["passed_over"] for c in leads[0].routing_log[0]["candidates"]}
    assert passed[away.seat_id].startswith("the agent is paused until ")

    client.patch(f"/api/v1/seats/{away.seat_id}", json.dumps(
        {"paused_from": None, "paused_until": None}), content_type="application/json")
    assert away.seat_id in {routed(source, n).seat_id for n in range(10, 14)}


def test_a_daily_cap_an_admin_sets_on_the_seat_page_is_respected(acme, source):
    capped = holder(acme.brokerage, ZIP)
    admin = Client(HTTP_HOST="acme.localhost")
    admin.force_login(acme.admin)

    response = admin.post(f"/seats/{capped.seat_id}/caps/", {"daily_cap": "2"})

    assert response.status_code == 302
    leads = [routed(source, n) for n in range(3)]
    assert [lead.status for lead in leads] == ["delivered", "delivered", "orphaned"]
    passed = {c["seat_id"]: c["passed_over"] for c in leads[2].routing_log[0]["candidates"]}
    assert passed == {capped.seat_id: "the agent reached the daily cap of 2"}
