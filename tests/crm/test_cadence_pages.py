"""The cadences page: every seat reads the brokerage's cadences; an admin edits the steps
(rows: day, hour, channel, title, subject, message), adds and removes steps, adds a
cadence and chooses the default; an agent cannot change them."""

from __future__ import annotations

import pytest

from clozings.crm.models import Cadence
from clozings.platform.tenancy import in_schema
from tests.conftest import host_client
from tests.tenants.factories import SeatFactory

pytestmark = pytest.mark.django_db


def step_rows(cadence: Cadence, *, extra: dict | None = None, delete: set[int] = frozenset(),
              change: dict | None = None) -> dict:
    """The edit form's POST data for `cadence` as it is, with changes."""
    steps = list(cadence.steps.all())
    data = {"name": cadence.name, "description": cadence.description,
            "purpose": cadence.purpose, "steps-INITIAL_FORMS": len(steps),
            "steps-MIN_NUM_FORMS": 0, "steps-MAX_NUM_FORMS": 60}
    rows = [{"days": s.offset_minutes // 1440, "hours": s.offset_minutes % 1440 // 60,
             "channel": s.channel, "title": s.title, "subject": s.subject,
             "template": s.template} for s in steps]
    for index, fields in (change or {}).items():
        rows[index].update(fields)
    rows.append(extra or {"days": 0, "hours": "", "channel": "call", "title": "",
                          "subject": "", "template": ""})
    for index, row in enumerate(rows):
        for field, value in row.items():
            data[f"steps-{index}-{field}"] = value
        if index in delete:
            data[f"steps-{index}-DELETE"] = "on"
    data["steps-TOTAL_FORMS"] = len(rows)
    return data


def test_an_agent_reads_the_cadences_but_cannot_change_them(acme):
    agent = host_client(acme.host, SeatFactory(brokerage=acme.brokerage).user)
    listed = agent.get("/cadences/")
    assert listed.status_code == 200
    assert "New lead follow-up" in listed.content.decode()
    assert "Make it the default" not in listed.content.decode()
    with in_schema(acme.schema_name):
        cadence = Cadence.objects.get(is_default=True)
        data = step_rows(cadence, change={0: {"title": "Changed"}})
    shown = agent.get(f"/cadences/{cadence.pk}/")
    assert shown.status_code == 200 and "Only an admin can change" in shown.content.decode()
    assert agent.post(f"/cadences/{cadence.pk}/", data).status_code == 403
    assert agent.get("/cadences/new/").status_code == 403
    assert agent.post(f"/cadences/{cadence.pk}/default/").status_code == 403
    with in_schema(acme.schema_name):
        assert cadence.steps.get(position=0).title == "Call now"


def test_an_admin_edits_adds_and_removes_steps(acme):
    admin = host_client(acme.host, acme.admin)
    with in_schema(acme.schema_name):
        cadence = Cadence.objects.get(purpose="re_engagement")
        data = step_rows(cadence, change={1: {"days": 3, "title": "Call: day 3",
                                              "template": "Hi {first_name}, homes in {area}"}},
                         delete={2},
                         extra={"days": 30, "hours": 9, "channel": "auto_text",
                                "title": "Monthly text", "subject": "",
                                "template": "New in {area} this month: want the list?"})

    response = admin.post(f"/cadences/{cadence.pk}/", data)

    assert response.status_code == 302, response.content.decode()[:2000]
    with in_schema(acme.schema_name):
        steps = list(cadence.steps.all())
    assert [(s.offset_minutes, s.channel, s.title) for s in steps] == [
        (0, "auto_email", "Value email: still looking?"), (3 * 1440, "call", "Call: day 3"),
        (14 * 1440, "call", "Call: day 14"), (30 * 1440 + 9 * 60, "auto_text", "Monthly text")]
    page = admin.get(response["Location"]).content.decode()
    assert "Saved “Re-engagement” (4 steps)." in page


def test_steps_out_of_order_are_shown_on_their_row(acme):
    admin = host_client(acme.host, acme.admin)
    with in_schema(acme.schema_name):
        cadence = Cadence.objects.get(purpose="re_engagement")
        data = step_rows(cadence, change={3: {"days": 1}})

    response = admin.post(f"/cadences/{cadence.pk}/", data)

    assert response.status_code == 400
    errors = response.context["steps"].forms[3].non_field_errors()
    assert any("time order" in e for e in errors)
    with in_schema(acme.schema_name):
        assert cadence.steps.get(position=3).offset_minutes == 14 * 1440


def test_an_admin_adds_a_cadence_and_makes_it_the_default(acme):
    admin = host_client(acme.host, acme.admin)
    data = {"name": "Open house", "description": "", "purpose": "follow_up",
            "steps-TOTAL_FORMS": 2, "steps-INITIAL_FORMS": 0, "steps-MIN_NUM_FORMS": 0,
            "steps-MAX_NUM_FORMS": 60,
            "steps-0-days": 0, "steps-0-hours": 2, "steps-0-channel": "text",
            "steps-0-title": "Thank them", "steps-0-template": "Thanks for coming, {first_name}!",
            "steps-1-days": 0, "steps-1-channel": "call"}
    assert admin.get("/cadences/new/").status_code == 200

    created = admin.post("/cadences/new/", data)

    assert created.status_code == 302
    with in_schema(acme.schema_name):
        cadence = Cadence.objects.get(name="Open house")
        assert [(s.offset_minutes, s.title) for s in cadence.steps.all()] == [(120, "Thank them")]
    assert admin.post(f"/cadences/{cadence.pk}/default/").status_code == 302
    with in_schema(acme.schema_name):
        assert Cadence.objects.get(is_default=True) == cadence
