"""The private calendar link: open follow-up tasks as iCalendar, found by the token's hash
only; a reset or a deactivated seat ends it; guessing is throttled."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from urllib.parse import urlparse

import pytest
from icalendar import Calendar

from clozings.crm import calendar
from clozings.crm.models import Channel, Lead, Task
from clozings.crm.views_calendar import CALENDAR_MISSES
from clozings.platform.tenancy import in_schema
from clozings.tenants.models import Seat
from tests.conftest import host_client
from tests.tenants.factories import SeatFactory

pytestmark = pytest.mark.django_db
DUE = datetime(2026, 3, 2, 15, 30, tzinfo=UTC)


@pytest.fixture
def agent(acme):
    return SeatFactory(brokerage=acme.brokerage)


def lead_with_task(acme, agent, *, channel=Channel.CALL, done=False, **fields) -> Task:
    with in_schema(acme.schema_name):
        lead = Lead.objects.create(agent_id=agent.pk, zip_code="10001", **fields)
        return Task.objects.create(lead=lead, agent_id=agent.pk, title="Call on day 3",
                                   channel=channel, due_at=DUE,
                                   completed_at=DUE if done else None)


def path_of(url: str) -> str:
    return urlparse(url).path


def test_the_feed_shows_the_agents_open_personal_tasks(acme, agent):
    call = lead_with_task(acme, agent, first_name="Jane", last_name="Doe",
                          phone="+12125550101", email="jane@example.test")
    lead_with_task(acme, agent, first_name="Done", phone="+12125550102", done=True)
    lead_with_task(acme, agent, first_name="Robot", phone="+12125550103",
                   channel=Channel.AUTO_EMAIL)
    lead_with_task(acme, SeatFactory(brokerage=acme.brokerage), first_name="Colleague",
                   phone="+12125550104")
    url = calendar.create_calendar_link(seat=agent)

    response = host_client(acme.host).get(path_of(url))

    assert response.status_code == 200
    assert response["Content-Type"].startswith("text/calendar")
    [event] = Calendar.from_ical(response.content).walk("VEVENT")
    assert str(event["summary"]) == "Call Jane Doe"
    assert str(event["uid"]) == f"task-{call.pk}@{acme.host}"
    assert event.decoded("dtstart") == DUE
    assert "Phone: +12125550101" in str(event["description"])
    assert f"/leads/{call.lead_id}/" in str(event["description"])
    assert "jane@example.test" not in response.content.decode()


def test_only_the_tokens_hash_is_stored_and_a_reset_ends_the_old_link(acme, agent):
    old = calendar.create_calendar_link(seat=agent)
    new = calendar.create_calendar_link(seat=agent)
    client = host_client(acme.host)

    stored = Seat.objects.get(pk=agent.pk).calendar_token_hash
    assert len(stored) == 64 and old.rsplit("/", 1)[1][:-4] not in stored
    assert client.get(path_of(old)).status_code == 404
    assert client.get(path_of(new)).status_code == 200


@pytest.mark.parametrize("change", ["deactivated", "removed", "other brokerage"])
def test_a_link_ends_with_its_seat_or_on_another_host(acme, globex, agent, change):
    url = calendar.create_calendar_link(seat=agent)
    host = acme.host
    if change == "deactivated":
        Seat.objects.filter(pk=agent.pk).update(status=Seat.Status.DEACTIVATED)
    elif change == "removed":
        calendar.remove_calendar_link(seat=agent)
    else:
        host = globex.host

    assert host_client(host).get(path_of(url)).status_code == 404


def test_guessing_tokens_is_throttled(acme, agent):
    url = calendar.create_calendar_link(seat=agent)
    client = host_client(acme.host)
    guesses = [client.get(f"/calendar/{'x' * 43}{n}.ics").status_code
               for n in range(CALENDAR_MISSES)]

    assert set(guesses) == {404}
    assert client.get(path_of(url)).status_code == 429
    assert client.get(path_of(url), REMOTE_ADDR="10.9.8.7").status_code == 200


def test_the_settings_page_shows_a_new_link_once(acme, agent):
    client = host_client(acme.host, agent.user)

    made = client.post("/settings/calendar-link/", follow=True).content.decode()
    again = client.get("/settings/").content.decode()

    assert "/calendar/" in made and "shown only now" in made
    assert "/calendar/" not in again and "is active" in again
    assert Seat.objects.get(pk=agent.pk).calendar_token_hash


def test_the_settings_page_saves_the_digest_hour_and_time_zone(acme, agent):
    client = host_client(acme.host, agent.user)

    saved = client.post("/settings/", {"digest_hour": "6", "time_zone": "America/Denver"})
    refused = client.post("/settings/", {"digest_hour": "25", "time_zone": "Mars/Base"})

    assert saved.status_code == 302
    agent.refresh_from_db()
    agent.user.refresh_from_db()
    assert (agent.digest_hour, agent.user.time_zone) == (6, "America/Denver")
    assert refused.status_code == 400
    assert set(refused.context["form"].errors) == {"digest_hour", "time_zone"}


def test_each_event_lasts_a_quarter_hour_from_the_due_time(acme, agent):
    lead_with_task(acme, agent, first_name="Ann", phone="+12125550101")
    agent.brokerage = acme.brokerage

    with in_schema(acme.schema_name):
        body = calendar.feed(seat=agent, now=DUE - timedelta(hours=1))

    [event] = Calendar.from_ical(body).walk("VEVENT")
    assert event.decoded("dtend") - event.decoded("dtstart") == timedelta(minutes=15)
