"""GET/PATCH /api/v1/me and the calendar link through the API."""

from __future__ import annotations

from urllib.parse import urlparse

import pytest
from django.test import Client

from clozings.platform.auth import issue_token
from tests.conftest import host_client
from tests.tenants.factories import SeatFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def agent(acme):
    return SeatFactory(brokerage=acme.brokerage, phone="+12125550100")


def api(acme, seat):
    return Client(HTTP_HOST=acme.host, HTTP_AUTHORIZATION=f"Bearer {issue_token(seat.user)}")


def test_me_describes_the_callers_seat(acme, agent):
    body = api(acme, agent).get("/api/v1/me").json()

    assert body == {
        "seat_id": agent.pk, "role": "agent", "brokerage": "acme", "name": agent.name,
        "email": agent.email, "time_zone": "America/New_York", "calendar_url": None,
        "calendar_link_active": False,
        "notifications": {"digest_hour": 7, "new_lead_text_phone": "+12125550100"}}


def test_patch_sets_the_digest_hour_and_time_zone(acme, agent):
    client = api(acme, agent)

    off = client.patch("/api/v1/me", {"digest_hour": None, "time_zone": "America/Chicago"},
                       content_type="application/json")
    bad = client.patch("/api/v1/me", {"digest_hour": 24, "time_zone": "Nowhere/Land"},
                       content_type="application/json")

    assert off.status_code == 200
    assert (off.json()["notifications"]["digest_hour"], off.json()["time_zone"]) == (
        None, "America/Chicago")
    assert bad.status_code == 400
    assert set(bad.json()["error"]["fields"]) == {"digest_hour", "time_zone"}


def test_a_calendar_link_is_shown_once_and_a_new_one_ends_it(acme, agent):
    client = api(acme, agent)

    first = client.post("/api/v1/me/calendar-link").json()["calendar_url"]
    second = client.post("/api/v1/me/calendar-link").json()["calendar_url"]
    me = client.get("/api/v1/me").json()
    client.delete("/api/v1/me/calendar-link")

    assert (me["calendar_url"], me["calendar_link_active"]) == (None, True)
    feed = host_client(acme.host)
    assert feed.get(urlparse(first).path).status_code == 404
    assert client.get("/api/v1/me").json()["calendar_link_active"] is False
    assert feed.get(urlparse(second).path).status_code == 404


def test_me_needs_a_seat_here(acme, globex):
    outsider = SeatFactory(brokerage=globex.brokerage)

    assert api(acme, outsider).get("/api/v1/me").status_code == 403
    assert host_client(acme.host).get("/api/v1/me").status_code in (401, 403)
