"""The follow-up report as a page and as JSON (`GET /api/v1/reports/follow-up`), and the
admin's home: an agent sees their own figures, an admin the team's with a row per agent."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone

from clozings.crm.models import Task
from clozings.platform.auth import issue_token
from clozings.platform.tenancy import in_schema
from tests.conftest import host_client
from tests.crm.report_data import make_leads
from tests.tenants.factories import SeatFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def team(acme):
    """Two agents: Ann follows up once (48 leads of 100 in the known split), Bob five times."""
    ann = SeatFactory(brokerage=acme.brokerage, name="Ann Once")
    bob = SeatFactory(brokerage=acme.brokerage, name="Bob Five")
    arrived = timezone.now() - timedelta(days=3)
    make_leads(acme.schema_name, agent_id=ann.pk, touches=[1] * 48 + [2] * 25 + [3] * 27,
               arrived=arrived)
    make_leads(acme.schema_name, agent_id=bob.pk, touches=[5] * 4, arrived=arrived,
               first_touch_minutes=[30] * 4)
    return ann, bob


def api(host, user, query=""):
    return host_client(host).get(f"/api/v1/reports/follow-up{query}",
                                 HTTP_AUTHORIZATION=f"Bearer {issue_token(user)}")


def test_an_agents_report_is_their_own(acme, team):
    ann, _ = team

    response = api(acme.host, ann.user)

    assert response.status_code == 200
    body = response.json()
    assert body["agent_id"] == ann.pk and body["leads"] == 100 and body["agents"] is None
    shares = {b["touches"]: b["share"] for b in body["depth"]["buckets"]}
    assert (shares["1"], shares["2"], shares["3"]) == (0.48, 0.25, 0.27)
    assert body["depth"]["industry"][0] == {"touches": "1", "share": 0.48}


def test_an_admins_report_is_the_teams_with_a_row_per_agent(acme, team):
    ann, bob = team

    body = api(acme.host, acme.admin).json()
    one = api(acme.host, acme.admin, f"?agent_id={bob.pk}").json()

    assert body["agent_id"] is None and body["leads"] == 104
    rows = {row["agent_id"]: row for row in body["agents"]}
    assert rows[ann.pk]["leads"] == 100 and rows[bob.pk]["depth"]["average_touches"] == 5
    assert one["agent_id"] == bob.pk and one["leads"] == 4


def test_an_agent_naming_a_colleague_is_refused_in_the_error_format(acme, team):
    ann, bob = team

    response = api(acme.host, ann.user, f"?agent_id={bob.pk}")

    assert response.status_code == 403
    assert response.json()["error"]["code"] == "permission_denied"


def test_a_window_out_of_range_is_a_field_error(acme, team):
    ann, _ = team

    response = api(acme.host, ann.user, "?since=1999-01-01T00:00:00Z")

    assert response.status_code == 400
    assert "since" in response.json()["error"]["fields"]


def test_the_report_page_shows_the_depth_beside_the_industry(acme, team):
    ann, _ = team

    response = host_client(acme.host, ann.user).get("/reports/?window=30d")

    page = response.content.decode()
    assert response.status_code == 200
    assert "Your follow-up" in page and "<svg" in page
    assert "<td class=\"num\">48%</td><td class=\"num\">48%</td>" in page  # 1 touch: you, industry
    assert "Per agent" not in page


def test_the_admins_report_page_has_a_row_per_agent_and_a_colleague_is_refused(acme, team):
    ann, bob = team

    admin_page = host_client(acme.host, acme.admin).get("/reports/").content.decode()
    refused = host_client(acme.host, ann.user).get(f"/reports/?agent_id={bob.pk}")

    assert "Per agent" in admin_page and "Ann Once" in admin_page and "Bob Five" in admin_page
    assert refused.status_code == 403


def test_the_admins_home_is_the_team_this_week_and_names_who_needs_a_nudge(acme, team):
    ann, _ = team
    with in_schema(acme.schema_name):
        lead = make_leads(acme.schema_name, agent_id=ann.pk, touches=[0])[0]
        Task.objects.create(lead=lead, agent_id=ann.pk, title="Call",
                            due_at=timezone.now() - timedelta(hours=3))

    response = host_client(acme.host, acme.admin).get("/")

    page = response.content.decode()
    assert response.status_code == 200
    assert "The team this week" in page
    assert "Who needs a nudge" in page and "Ann Once" in page and "1 overdue task" in page


def test_an_agents_home_is_not_the_team_page(acme, team):
    ann, _ = team

    page = host_client(acme.host, ann.user).get("/").content.decode()

    assert "The team this week" not in page and "Who needs a nudge" not in page
