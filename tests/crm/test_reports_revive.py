"""Audit and revive: open leads of the last six months contacted only once, enrolled in
bulk (the ticked ones, or all) in the re-engagement cadence, with the count shown after."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone

from clozings.crm.models import Cadence, CadenceState, Lead
from clozings.platform.tenancy import in_schema
from tests.conftest import host_client
from tests.crm.report_data import make_leads
from tests.tenants.factories import SeatFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def once(acme):
    """An agent with three leads touched once (one long ago), one touched twice; and a
    colleague with one touched once."""
    ann = SeatFactory(brokerage=acme.brokerage, name="Ann Once")
    bob = SeatFactory(brokerage=acme.brokerage, name="Bob Colleague")
    now = timezone.now()
    mine = make_leads(acme.schema_name, agent_id=ann.pk, touches=[1, 1],
                      arrived=now - timedelta(days=40))
    make_leads(acme.schema_name, agent_id=ann.pk, touches=[1], arrived=now - timedelta(days=300))
    make_leads(acme.schema_name, agent_id=ann.pk, touches=[2], arrived=now - timedelta(days=5))
    theirs = make_leads(acme.schema_name, agent_id=bob.pk, touches=[1],
                        arrived=now - timedelta(days=20))
    return ann, bob, mine, theirs


def re_engagement(schema: str) -> Cadence:
    with in_schema(schema):
        return Cadence.objects.get(purpose=Cadence.Purpose.RE_ENGAGEMENT)


def test_the_agent_sees_their_leads_contacted_once_in_six_months(acme, once):
    ann, _, mine, theirs = once

    response = host_client(acme.host, ann.user).get("/leads/revive/")

    page = response.content.decode()
    assert response.status_code == 200
    assert page.count('name="lead_ids"') == 2
    assert all(f'value="{lead.pk}"' in page for lead in mine)
    assert f'value="{theirs[0].pk}"' not in page
    assert "Revive all 2" in page


def test_the_admin_sees_the_teams_with_whose_each_is(acme, once):
    page = host_client(acme.host, acme.admin).get("/leads/revive/").content.decode()

    assert page.count('name="lead_ids"') == 3 and "Bob Colleague" in page


def test_reviving_the_ticked_leads_enrols_them_and_says_how_many(acme, once):
    ann, _, mine, _ = once
    cadence = re_engagement(acme.schema_name)
    client = host_client(acme.host, ann.user)

    response = client.post("/leads/revive/", {"lead_ids": [mine[0].pk]}, follow=True)

    assert response.status_code == 200
    assert "Revived 1 lead" in response.content.decode()
    with in_schema(acme.schema_name):
        lead = Lead.objects.get(pk=mine[0].pk)
        other = Lead.objects.get(pk=mine[1].pk)
    assert lead.cadence_id == cadence.pk and lead.cadence_state == CadenceState.ACTIVE
    assert other.cadence_id != cadence.pk
    assert response.content.decode().count('name="lead_ids"') == 1  # the revived one left


def test_reviving_all_enrols_every_one_listed(acme, once):
    cadence = re_engagement(acme.schema_name)

    response = host_client(acme.host, acme.admin).post("/leads/revive/", {"everything": "on"},
                                                       follow=True)

    assert "Revived 3 leads" in response.content.decode()
    with in_schema(acme.schema_name):
        assert Lead.objects.filter(cadence=cadence).count() == 3


def test_a_colleagues_lead_cannot_be_revived_by_an_agent(acme, once):
    ann, _, _, theirs = once

    response = host_client(acme.host, ann.user).post("/leads/revive/",
                                                     {"lead_ids": [theirs[0].pk]})

    assert response.status_code == 400
    assert "lead_ids" in response.context["form"].errors
    with in_schema(acme.schema_name):
        assert Lead.objects.get(pk=theirs[0].pk).cadence_state == ""


def test_an_agent_cannot_open_a_colleagues_list(acme, once):
    ann, bob, _, _ = once

    response = host_client(acme.host, ann.user).get(f"/leads/revive/?agent_id={bob.pk}")

    assert response.status_code == 403
