"""The agent's "My leads" page: their leads only, newest on top, phone first; logging a
touch from it."""

from __future__ import annotations

import pytest

from clozings.crm.models import Activity, Lead
from clozings.distribution.models import InboundLead
from clozings.distribution.routing import route_lead
from clozings.platform.tenancy import in_schema
from tests.conftest import host_client
from tests.distribution.factories import holder, lead_source, share, take
from tests.tenants.factories import SeatFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def two_agents(acme):
    """Two acme agents sharing 10001, with two leads each (fair share: one, two, one, two)."""
    share("10001", 2)
    first, second = holder(acme.brokerage, "10001"), holder(acme.brokerage, "10001")
    source = lead_source().source
    for n, name in enumerate(["Ann", "Bob", "Cat", "Dan"]):
        route_lead(inbound_lead_id=take(source, n, first_name=name).pk)
    return first.seat, second.seat


def test_an_agent_sees_their_own_leads_newest_first_with_a_call_link(acme, two_agents):
    first, _ = two_agents

    response = host_client(acme.host, first.user).get("/leads/")

    assert response.status_code == 200
    page = response.content.decode()
    assert page.index("Cat") < page.index("Ann")
    assert "Bob" not in page and "Dan" not in page
    assert 'href="tel:+12125550002"' in page


def test_logging_a_call_stops_the_clock_and_says_so(acme, two_agents):
    first, _ = two_agents
    with in_schema(acme.schema_name):
        lead = Lead.objects.filter(agent_id=first.pk).order_by("id").first()

    response = host_client(acme.host, first.user).post(
        f"/leads/{lead.pk}/touch/", {"kind": "call", "outcome": "voicemail"}, follow=True)

    assert response.status_code == 200
    assert "Logged a call (left a voicemail) with Ann Buyer." in response.content.decode()
    assert InboundLead.objects.get(pk=lead.inbound_lead_id).first_touch_at is not None


def test_a_bad_touch_is_shown_beside_its_field_and_changes_nothing(acme, two_agents):
    first, _ = two_agents
    with in_schema(acme.schema_name):
        lead = Lead.objects.filter(agent_id=first.pk).first()

    response = host_client(acme.host, first.user).post(
        f"/leads/{lead.pk}/touch/", {"kind": "fax", "outcome": "great"})

    assert response.status_code == 400
    assert "Select a valid choice" in response.content.decode()
    with in_schema(acme.schema_name):
        assert not Activity.objects.exists()


def test_a_colleagues_lead_is_answered_like_a_missing_one(acme, two_agents):
    first, second = two_agents
    with in_schema(acme.schema_name):
        theirs = Lead.objects.filter(agent_id=second.pk).first()

    response = host_client(acme.host, first.user).post(f"/leads/{theirs.pk}/touch/",
                                                       {"kind": "call"})
    missing = host_client(acme.host, first.user).post("/leads/987654321/touch/",
                                                      {"kind": "call"})

    assert response.status_code == missing.status_code == 404
    with in_schema(acme.schema_name):
        assert not Activity.objects.exists()


def test_an_agent_of_another_brokerage_sees_no_acme_lead(acme, globex, two_agents):
    stranger = SeatFactory(brokerage=globex.brokerage).user

    on_acme = host_client(acme.host, stranger).get("/leads/")
    on_globex = host_client(globex.host, stranger).get("/leads/")

    assert on_acme.status_code == 403
    assert on_globex.status_code == 200
    assert "Ann" not in on_globex.content.decode()
    assert "No leads yet" in on_globex.content.decode()
