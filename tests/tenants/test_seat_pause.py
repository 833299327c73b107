"""A seat's pause (vacation) and lead caps: `PATCH /api/v1/seats/<id>` (admins any seat of
the brokerage, an agent only their own pause) and the pages (the agent's "Away" section on
Lead alerts, the admin's Pause and Lead caps on a seat's page)."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

import pytest
from django.test import Client
from django.utils import timezone

from clozings.platform.auth import issue_token
from clozings.tenants.models import Seat, User
from tests.tenants.factories import SeatFactory

URL = "/api/v1/seats/{}"


def api(user: User) -> Client:
    return Client(HTTP_HOST="acme.localhost", HTTP_AUTHORIZATION=f"Bearer {issue_token(user)}")


def patch(user: User, seat_id: int, body) -> object:
    return api(user).patch(URL.format(seat_id), data=json.dumps(body),
                           content_type="application/json")


def error(response) -> tuple[int, str, set]:
    body = response.json()["error"]
    return response.status_code, body["code"], set(body.get("fields", {}))


def routing_of(seat: Seat) -> tuple:
    seat.refresh_from_db()
    return seat.paused_from, seat.paused_until, seat.daily_cap, seat.monthly_cap, seat.role


@pytest.fixture
def agent(acme) -> Seat:
    return SeatFactory(brokerage=acme.brokerage, role=Seat.Role.AGENT)


FROM, UNTIL = "2026-12-05T00:00:00Z", "2026-12-12T00:00:00Z"


# --- the API ---------------------------------------------------------------------------------
def test_an_agent_sets_and_ends_their_own_pause(agent):
    response = patch(agent.user, agent.pk, {"paused_from": FROM, "paused_until": UNTIL})

    assert response.status_code == 200, response.content
    body = response.json()
    assert (datetime.fromisoformat(body["paused_from"]),
            datetime.fromisoformat(body["paused_until"])) == (
        datetime(2026, 12, 5, tzinfo=UTC), datetime(2026, 12, 12, tzinfo=UTC))
    assert routing_of(agent)[:2] == (datetime(2026, 12, 5, tzinfo=UTC),
                                     datetime(2026, 12, 12, tzinfo=UTC))
    assert agent.is_paused_at(datetime(2026, 12, 8, tzinfo=UTC))
    assert not agent.is_paused_at(datetime(2026, 12, 12, tzinfo=UTC))

    ended = patch(agent.user, agent.pk, {"paused_from": None, "paused_until": None})

    assert ended.status_code == 200
    assert routing_of(agent)[:2] == (None, None)


def test_a_time_without_offset_is_read_in_the_callers_time_zone(agent):
    agent.user.time_zone = "America/New_York"
    agent.user.save(update_fields=["time_zone"])

    response = patch(agent.user, agent.pk, {"paused_until": "2026-12-12T00:00:00"})

    assert response.status_code == 200
    assert routing_of(agent)[1] == datetime(2026, 12, 12, 5, tzinfo=UTC)


@pytest.mark.parametrize("body", [{"daily_cap": 3}, {"monthly_cap": None}, {"role": "admin"},
                                  {"paused_until": UNTIL, "daily_cap": 1}, {"name": "x"}])
def test_an_agent_changes_nothing_but_their_pause(agent, body):
    before = routing_of(agent)

    response = patch(agent.user, agent.pk, body)

    assert error(response)[:2] == (403, "permission_denied")
    assert routing_of(agent) == before


def test_an_agent_cannot_pause_a_colleague_and_every_other_id_looks_the_same(acme, agent):
    colleague = SeatFactory(brokerage=acme.brokerage)

    theirs = patch(agent.user, colleague.pk, {"paused_until": UNTIL})
    admins = patch(agent.user, acme.admin_seat.pk, {"paused_until": UNTIL})
    nobody = patch(agent.user, 999_999, {"paused_until": UNTIL})

    assert error(theirs) == error(admins) == error(nobody) == (403, "permission_denied", set())
    assert routing_of(colleague)[:2] == (None, None)


def test_an_admin_pauses_anyone_and_sets_caps_and_role(acme, agent):
    response = patch(acme.admin, agent.pk, {"paused_from": FROM, "paused_until": UNTIL,
                                            "daily_cap": 5, "monthly_cap": 40})

    assert response.status_code == 200
    assert response.json() | {"daily_cap": 5, "monthly_cap": 40} == response.json()
    assert routing_of(agent)[2:] == (5, 40, "agent")

    cleared = patch(acme.admin, agent.pk, {"daily_cap": None, "role": "admin"})

    assert cleared.status_code == 200
    # what was not sent is kept
    assert routing_of(agent) == (datetime(2026, 12, 5, tzinfo=UTC),
                                 datetime(2026, 12, 12, tzinfo=UTC), None, 40, "admin")


def test_an_admin_of_another_brokerage_gets_404_for_this_ones_seat(acme, globex, agent):
    theirs = SeatFactory(brokerage=globex.brokerage)

    response = patch(acme.admin, theirs.pk, {"daily_cap": 1})

    assert error(response)[:2] == (404, "not_found")
    assert routing_of(theirs)[2] is None


def test_the_last_active_admin_cannot_demote_themselves(acme):
    response = patch(acme.admin, acme.admin_seat.pk, {"role": "agent", "daily_cap": 2})

    assert error(response)[:2] == (409, "last_admin")
    assert "at least one active admin" in response.json()["error"]["message"]
    assert routing_of(acme.admin_seat)[2:] == (None, None, "admin")


def test_an_admin_demotes_themselves_when_another_admin_remains(acme):
    SeatFactory(brokerage=acme.brokerage, role=Seat.Role.ADMIN)

    response = patch(acme.admin, acme.admin_seat.pk, {"role": "agent"})

    assert response.status_code == 200 and routing_of(acme.admin_seat)[4] == "agent"


def test_a_deactivated_seat_is_a_conflict(acme, agent):
    Seat.objects.filter(pk=agent.pk).update(status=Seat.Status.DEACTIVATED)

    response = patch(acme.admin, agent.pk, {"daily_cap": 1})

    assert error(response)[:2] == (409, "conflict")


@pytest.mark.parametrize(("body", "fields"), [
    ({"paused_from": UNTIL, "paused_until": FROM}, {"paused_until"}),
    ({"paused_from": FROM, "paused_until": FROM}, {"paused_until"}),
    ({"daily_cap": -1}, {"daily_cap"}),
    ({"monthly_cap": 1.5}, {"monthly_cap"}),
    ({"monthly_cap": "ten"}, {"monthly_cap"}),
    ({"daily_cap": 10**12}, {"daily_cap"}),
    ({"role": "owner"}, {"role"}),
    ({"paused_from": "next tuesday"}, {"paused_from"}),
    ({"paused_until": "2026-12-12\x00T00:00Z"}, {"paused_until"}),
    ({"paused_until": "\u202e2026-12-12"}, {"paused_until"}),
    ({"paused_until": "2" * 5000}, {"paused_until"}),
    ({"paused_from": ["2026-12-05"]}, {"paused_from"}),
    ({"colour": "red"}, {"colour"}),
    ({}, {"non_field_errors"}),
])
def test_bad_input_is_400_with_its_field_and_changes_nothing(acme, agent, body, fields):
    before = routing_of(agent)

    response = patch(acme.admin, agent.pk, body)

    assert error(response) == (400, "validation_error", fields)
    assert routing_of(agent) == before


def test_the_pause_end_is_checked_against_the_pause_already_stored(acme, agent):
    patch(acme.admin, agent.pk, {"paused_from": UNTIL})

    response = patch(agent.user, agent.pk, {"paused_until": FROM})

    assert error(response) == (400, "validation_error", {"paused_until"})


def test_non_json_and_huge_bodies_change_nothing(acme, agent):
    client = api(acme.admin)
    text = client.patch(URL.format(agent.pk), data="daily_cap=1", content_type="text/plain")
    huge = client.patch(URL.format(agent.pk), data=json.dumps({"x": "x" * (3 * 1024 * 1024)}),
                        content_type="application/json")

    assert text.status_code == 415 and huge.status_code == 413
    assert routing_of(agent)[2] is None


# --- the pages -------------------------------------------------------------------------------
def page_client(user: User) -> Client:
    client = Client(HTTP_HOST="acme.localhost")
    client.force_login(user)
    return client


def test_an_agent_goes_away_in_their_time_zone_and_sees_until_when(agent):
    agent.user.time_zone = "America/Los_Angeles"
    agent.user.save(update_fields=["time_zone"])
    client = page_client(agent.user)
    today = timezone.now().astimezone(timezone.get_fixed_timezone(-8 * 60)).date()
    back = today + timedelta(days=10)

    response = client.post("/lead-alerts/away/", {"away_from": "", "back_on": back.isoformat()},
                           follow=True)

    page = response.content.decode()
    agent.refresh_from_db()
    assert agent.is_paused_at(timezone.now())
    # the morning of the day back, Los Angeles time, stored in UTC
    assert agent.paused_until.astimezone(UTC).hour in (7, 8)
    label = f"{back:%b} {back.day}, {back.year}"
    assert f"You are paused: no new leads until {label}." in page
    assert f"You're paused: no new leads until {label}." in page

    ended = client.post("/lead-alerts/away/", {"action": "end"}, follow=True)

    agent.refresh_from_db()
    assert (agent.paused_from, agent.paused_until) == (None, None)
    assert "You are taking new leads again." in ended.content.decode()


@pytest.mark.parametrize(("data", "message"), [
    ({"away_from": "", "back_on": ""}, "Give the day you leave, the day you are back, or both."),
    ({"away_from": "2026-12-12", "back_on": "2026-12-05"},
     "The day you are back must come after the day you leave."),
    ({"away_from": "not a day", "back_on": ""}, "Enter a valid date."),
])
def test_a_bad_time_away_shows_its_error_and_changes_nothing(agent, data, message):
    response = page_client(agent.user).post("/lead-alerts/away/", data)

    assert response.status_code == 400
    assert message in response.content.decode()
    agent.refresh_from_db()
    assert (agent.paused_from, agent.paused_until) == (None, None)


def test_an_admin_pauses_an_agent_and_sets_caps_on_the_seat_page(acme, agent):
    client = page_client(acme.admin)

    paused = client.post(f"/seats/{agent.pk}/pause/",
                         {"away_from": "2030-01-02", "back_on": "2030-01-09"}, follow=True)
    capped = client.post(f"/seats/{agent.pk}/caps/", {"daily_cap": "3", "monthly_cap": ""},
                         follow=True)
    listed = client.get("/seats/").content.decode()

    assert "is paused from Jan 2, 2030: no new leads until Jan 9, 2030." in \
        paused.content.decode()
    assert "gets at most 3 a day." in capped.content.decode()
    agent.refresh_from_db()
    assert (agent.daily_cap, agent.monthly_cap) == (3, None)
    assert agent.paused_from.date().isoformat() >= "2030-01-01"
    assert "Pause from Jan 2, 2030" in listed and "Cap 3/day" in listed


def test_an_agent_cannot_use_the_admins_pause_and_caps_pages(acme, agent):
    colleague = SeatFactory(brokerage=acme.brokerage)
    client = page_client(agent.user)

    for url, data in ((f"/seats/{colleague.pk}/pause/", {"back_on": "2030-01-09"}),
                      (f"/seats/{agent.pk}/caps/", {"daily_cap": "9"})):
        assert client.post(url, data).status_code == 403
    colleague.refresh_from_db()
    agent.refresh_from_db()
    assert colleague.paused_until is None and agent.daily_cap is None


def test_a_bad_cap_on_the_page_is_shown_beside_its_field(acme, agent):
    response = page_client(acme.admin).post(f"/seats/{agent.pk}/caps/", {"daily_cap": "-2"})

    assert response.status_code == 400
    assert "Ensure this value is greater than or equal to 0." in response.content.decode()
    agent.refresh_from_db()
    assert agent.daily_cap is None
