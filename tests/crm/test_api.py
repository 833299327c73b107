"""The CRM's API on a brokerage host: an agent works their own leads (a colleague's are
404), an admin all of them; errors in the project's format; cadences read by every seat
and written by admins only."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from django.utils import timezone

from clozings.crm.models import Cadence, Lead, Task
from clozings.platform.tenancy import in_schema
from clozings.tenants.models import Seat
from tests.conftest import host_client
from tests.crm.lead_factories import new_lead
from tests.tenants.factories import SeatFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def agent(acme):
    return SeatFactory(brokerage=acme.brokerage, name="Sam Agent")


@pytest.fixture
def colleague(acme):
    return SeatFactory(brokerage=acme.brokerage)


@pytest.fixture
def lead(acme, agent):
    with in_schema(acme.schema_name):
        return new_lead(agent, now=timezone.now() - timedelta(minutes=5), first_name="Zoë",
                        last_name="Park", phone="+12125550142", email="zoe@example.test")


def client(acme, seat):
    return host_client(acme.host, seat.user)


def test_an_agent_lists_searches_and_reads_their_own_leads(acme, agent, colleague, lead):
    with in_schema(acme.schema_name):
        new_lead(colleague, now=timezone.now(), first_name="Other", last_name="")
    api = client(acme, agent)

    listed = api.get("/api/v1/leads").json()
    assert [row["name"] for row in listed["results"]] == ["Zoë Park"]
    assert listed["count"] == 1
    for q, found in [("zoë", 1), ("park", 1), ("555-0142", 1), ("zoe@", 1), ("nobody", 0),
                     ("Zoë Park", 1), ("Other", 0)]:
        assert api.get("/api/v1/leads", {"q": q}).json()["count"] == found, q
    assert api.get("/api/v1/leads", {"stage": "new"}).json()["count"] == 1
    assert api.get("/api/v1/leads", {"stage": "closed"}).json()["count"] == 0

    detail = api.get(f"/api/v1/leads/{lead.pk}").json()
    assert (detail["stage"], detail["area"], detail["cadence"]["name"]) == (
        "new", "New York, NY", "New lead follow-up")
    task = detail["next_task"]
    assert (task["title"], task["channel"], task["automated"]) == ("Call now", "call", False)
    assert "Hi Zoë, this is Sam Agent with" in task["script"]
    assert "$400k–$550k" in task["script"]
    assert detail["activities"] == [] and detail["stage_changes"] == []


def test_a_colleagues_lead_is_not_found_but_an_admin_sees_it(acme, colleague, lead):
    for method, url, body in [
        ("get", f"/api/v1/leads/{lead.pk}", None),
        ("patch", f"/api/v1/leads/{lead.pk}", {"first_name": "X"}),
        ("post", f"/api/v1/leads/{lead.pk}/activities", {"kind": "call"}),
        ("post", f"/api/v1/leads/{lead.pk}/stage", {"stage": "contacted"}),
        ("post", f"/api/v1/leads/{lead.pk}/cadence", {"cadence_id": 1}),
    ]:
        response = getattr(client(acme, colleague), method)(url, body,
                                                            content_type="application/json")
        assert response.status_code == 404, url
        assert response.json()["error"]["code"] == "not_found"
    with in_schema(acme.schema_name):
        task = Task.objects.get(lead=lead)
        assert not Lead.objects.get(pk=lead.pk).touch_count
    refused = client(acme, colleague).post(f"/api/v1/tasks/{task.pk}/complete")
    assert refused.status_code == 404

    admin = host_client(acme.host, acme.admin)
    assert admin.get(f"/api/v1/leads/{lead.pk}").status_code == 200
    assert admin.get("/api/v1/leads").json()["count"] >= 1


def test_logging_a_call_returns_the_next_task(acme, agent, lead):
    api = client(acme, agent)

    response = api.post(f"/api/v1/leads/{lead.pk}/activities",
                        {"kind": "call", "outcome": "voicemail", "note": "Left details"},
                        content_type="application/json")

    assert response.status_code == 201, response.json()
    body = response.json()
    assert (body["kind"], body["outcome"], body["note"]) == ("call", "voicemail",
                                                             "Left details")
    assert body["next_task"]["title"] == "Call: day 1"
    assert body["next_task"]["script"]
    detail = api.get(f"/api/v1/leads/{lead.pk}").json()
    assert detail["touch_count"] == 1
    assert detail["activities"][0]["task_id"] is not None


@pytest.mark.parametrize("body,field", [
    ({"kind": "fax"}, "kind"), ({"kind": "call", "outcome": "great"}, "outcome"),
    ({"kind": "inquiry"}, "kind"), ({"kind": "note", "outcome": "connected"}, "outcome")])
def test_a_bad_activity_is_a_validation_error(acme, agent, lead, body, field):
    response = client(acme, agent).post(f"/api/v1/leads/{lead.pk}/activities", body,
                                        content_type="application/json")
    assert response.status_code == 400
    assert field in response.json()["error"]["fields"]


def test_closing_through_the_api(acme, agent, lead):
    api = client(acme, agent)
    url = f"/api/v1/leads/{lead.pk}/stage"

    missing = api.post(url, {"stage": "closed"}, content_type="application/json")
    assert missing.status_code == 400
    assert set(missing.json()["error"]["fields"]) == {"sale_price_cents", "commission_cents"}
    closed = api.post(url, {"stage": "closed", "sale_price_cents": 50_000_000,
                            "commission_cents": 1_250_000}, content_type="application/json")
    assert closed.status_code == 200
    body = closed.json()
    assert (body["stage"], body["next_task"], body["commission_cents"]) == (
        "closed", None, 1_250_000)
    assert body["stage_changes"][0]["to_stage"] == "closed"
    again = api.post(url, {"stage": "lost", "reason": ""}, content_type="application/json")
    assert again.status_code == 400 and "reason" in again.json()["error"]["fields"]


def test_editing_contact_details_and_switching_cadence(acme, agent, lead):
    api = client(acme, agent)
    bad = api.patch(f"/api/v1/leads/{lead.pk}", {"phone": "12", "zip_code": "99999",
                                                 "last_name": "Pa\u202erk"},
                    content_type="application/json")
    assert bad.status_code == 400
    assert set(bad.json()["error"]["fields"]) == {"phone", "zip_code", "last_name"}

    good = api.patch(f"/api/v1/leads/{lead.pk}", {"phone": "(312) 555-0100",
                                                  "zip_code": "60601"},
                     content_type="application/json")
    assert good.status_code == 200
    assert (good.json()["phone"], good.json()["time_zone"], good.json()["first_name"]) == (
        "+13125550100", "America/Chicago", "Zoë")

    with in_schema(acme.schema_name):
        re_engagement = Cadence.objects.get(purpose="re_engagement")
    switched = api.post(f"/api/v1/leads/{lead.pk}/cadence", {"cadence_id": re_engagement.pk},
                        content_type="application/json")
    assert switched.status_code == 200
    assert switched.json()["cadence"]["name"] == "Re-engagement"
    assert switched.json()["next_task"]["channel"] == "auto_email"
    unknown = api.post(f"/api/v1/leads/{lead.pk}/cadence", {"cadence_id": 987654},
                       content_type="application/json")
    assert unknown.status_code == 400 and "cadence_id" in unknown.json()["error"]["fields"]


def test_creating_a_lead_by_hand(acme, agent, colleague):
    api = client(acme, agent)
    created = api.post("/api/v1/leads", {"first_name": "Lee", "phone": "212 555 0199",
                                         "zip_code": "10001"},
                       content_type="application/json")
    assert created.status_code == 201, created.json()
    assert (created.json()["agent_id"], created.json()["next_task"]["title"]) == (
        agent.pk, "Call now")
    for_colleague = api.post("/api/v1/leads", {"phone": "2125550198",
                                               "agent_id": colleague.pk},
                             content_type="application/json")
    assert for_colleague.status_code == 403
    empty = api.post("/api/v1/leads", {"first_name": "Nobody"},
                     content_type="application/json")
    assert empty.status_code == 400
    by_admin = host_client(acme.host, acme.admin).post(
        "/api/v1/leads", {"phone": "2125550197", "agent_id": colleague.pk},
        content_type="application/json")
    assert by_admin.status_code == 201 and by_admin.json()["agent_id"] == colleague.pk


def test_tasks_due_today_overdue_and_upcoming_in_the_viewers_time_zone(acme, agent):
    agent.user.time_zone = "America/Los_Angeles"
    agent.user.save(update_fields=["time_zone"])
    now = timezone.now()
    with in_schema(acme.schema_name):
        leads = [new_lead(agent, now=now, first_name=name, last_name="")
                 for name in ("A", "B", "C")]
        Task.objects.filter(lead=leads[0]).update(due_at=now - timedelta(days=2))
        Task.objects.filter(lead=leads[2]).update(due_at=now + timedelta(days=3))
    api = client(acme, agent)

    def names(due):
        return [t["lead_name"] for t in api.get("/api/v1/tasks", {"due": due}).json()["results"]]

    assert names("overdue") == ["A"]
    assert names("today") == ["B"]
    assert names("upcoming") == ["C"]
    assert api.get("/api/v1/tasks").json()["count"] == 3
    assert api.get("/api/v1/tasks", {"due": "yesterday"}).status_code == 400

    with in_schema(acme.schema_name):
        task = Task.objects.get(lead=leads[1], completed_at__isnull=True)
    done = api.post(f"/api/v1/tasks/{task.pk}/complete")
    assert done.status_code == 200
    assert done.json()["next_task"]["title"] == "Call: day 1"
    assert api.post(f"/api/v1/tasks/{task.pk}/complete").json()["next_task"]["title"] == (
        "Call: day 1")  # done twice: nothing more


def test_the_local_day_of_a_viewer():
    from clozings.crm.selectors import local_day

    start, end = local_day(datetime(2026, 3, 8, 12, 0, tzinfo=UTC), "America/New_York")
    assert (end - start) == timedelta(hours=23)  # the day clocks spring forward
    assert start == datetime(2026, 3, 8, 5, 0, tzinfo=UTC)


STEPS = [{"offset_minutes": 0, "channel": "call", "title": "Call", "template": "Hi {first_name}"},
         {"offset_minutes": 1440, "channel": "auto_email", "title": "Email",
          "subject": "Homes in {area}", "template": "New homes in {area}."}]


def test_cadences_are_read_by_agents_and_written_by_admins(acme, agent):
    admin = host_client(acme.host, acme.admin)
    listed = client(acme, agent).get("/api/v1/cadences").json()
    assert [c["name"] for c in listed] == ["New lead follow-up", "Re-engagement"]
    assert listed[0]["is_default"] and len(listed[0]["steps"]) == 19

    refused = client(acme, agent).post("/api/v1/cadences", {"name": "Mine", "steps": STEPS},
                                       content_type="application/json")
    assert refused.status_code == 403

    created = admin.post("/api/v1/cadences", {"name": "Open house", "steps": STEPS},
                         content_type="application/json")
    assert created.status_code == 201, created.json()
    cadence_id = created.json()["id"]
    steps = [*STEPS, {"offset_minutes": 2880, "channel": "text", "title": "Text",
                      "template": "Open house on Sunday in {area}?"}]
    replaced = admin.put(f"/api/v1/cadences/{cadence_id}",
                         {"name": "Open house", "steps": steps, "is_default": True},
                         content_type="application/json")
    assert replaced.status_code == 200
    assert (len(replaced.json()["steps"]), replaced.json()["is_default"]) == (3, True)
    assert client(acme, agent).get(f"/api/v1/cadences/{cadence_id}").json()["is_default"]
    assert client(acme, agent).put(f"/api/v1/cadences/{cadence_id}",
                                   {"name": "x", "steps": STEPS},
                                   content_type="application/json").status_code == 403
    with in_schema(acme.schema_name):
        assert Cadence.objects.filter(is_default=True).count() == 1


@pytest.mark.parametrize("steps,field", [
    ([], "steps"),
    ([{"offset_minutes": 60, "channel": "call"}, {"offset_minutes": 0, "channel": "call"}],
     "steps[1]"),
    ([{"offset_minutes": 0, "channel": "fax"}], "steps"),
    ([{"offset_minutes": -1, "channel": "call"}], "steps"),
    ([{"offset_minutes": 0, "channel": "auto_text", "template": "x" * 1001}], "steps[0]"),
    ([{"offset_minutes": 0, "channel": "call", "title": "Call\nnow"}], "steps"),
    ([{"offset_minutes": 0, "channel": "auto_email", "template": "Hi"}], "steps[0]"),
    ([{"offset_minutes": 0, "channel": "call", "template": "Hi\x07"}], "steps[0]"),
])
def test_a_cadence_that_is_not_valid_is_refused(acme, steps, field):
    response = host_client(acme.host, acme.admin).post(
        "/api/v1/cadences", {"name": "Bad", "steps": steps}, content_type="application/json")
    assert response.status_code == 400, response.json()
    fields = response.json()["error"]["fields"]
    assert any(name.startswith(field) for name in fields), fields
    with in_schema(acme.schema_name):
        assert not Cadence.objects.filter(name="Bad").exists()


def test_seats_of_other_brokerages_get_nothing(acme, globex, lead):
    stranger = SeatFactory(brokerage=globex.brokerage, role=Seat.Role.ADMIN)
    response = host_client(acme.host, stranger.user).get(f"/api/v1/leads/{lead.pk}")
    assert response.status_code == 403
    assert host_client(acme.host).get("/api/v1/leads").status_code in (401, 403)
