"""The CRM's services: a routed lead received once; a touch stops the first-touch clock in
the CRM and in the public ledger, in one transaction."""

from __future__ import annotations

import pytest
from django.core.exceptions import ValidationError
from django.db import transaction

from clozings.crm.models import Activity, Lead
from clozings.crm.services import log_activity
from clozings.distribution.models import InboundLead
from clozings.distribution.routing import route_lead
from clozings.platform.tenancy import in_schema
from tests.distribution.factories import holder, lead_source, take

pytestmark = pytest.mark.django_db


@pytest.fixture
def delivered(acme):
    """A lead delivered to an acme agent: (inbound lead, CRM lead, agent's seat)."""
    reservation = holder(acme.brokerage, "10001")
    inbound = route_lead(inbound_lead_id=take(lead_source().source).pk)
    with in_schema(acme.schema_name):
        return inbound, Lead.objects.get(), reservation.seat


def test_a_call_logged_stops_the_first_touch_clock_here_and_in_the_ledger(acme, delivered):
    inbound, lead, agent = delivered

    with in_schema(acme.schema_name):
        activity = log_activity(lead=lead, by=agent, kind="call", outcome="voicemail")
        lead.refresh_from_db()

    inbound.refresh_from_db()
    assert lead.first_touch_at == inbound.first_touch_at == activity.created_at
    assert (activity.kind, activity.outcome, activity.by_id) == ("call", "voicemail", agent.pk)


def test_only_the_first_touch_counts_and_a_note_is_not_a_touch(acme, delivered):
    inbound, lead, agent = delivered

    with in_schema(acme.schema_name):
        log_activity(lead=lead, by=agent, kind="note", note="Looked them up")
        inbound.refresh_from_db()
        assert inbound.first_touch_at is None
        first = log_activity(lead=lead, by=agent, kind="text")
        log_activity(lead=lead, by=agent, kind="call", outcome="connected")

    inbound.refresh_from_db()
    assert inbound.first_touch_at == first.created_at


def test_a_touch_rolled_back_leaves_the_ledger_as_it_was(acme, delivered):
    inbound, lead, agent = delivered

    with pytest.raises(RuntimeError), in_schema(acme.schema_name), transaction.atomic():
        log_activity(lead=lead, by=agent, kind="call")
        raise RuntimeError("the request failed after the touch")

    inbound.refresh_from_db()
    assert inbound.first_touch_at is None
    with in_schema(acme.schema_name):
        assert not Activity.objects.exists()


def test_another_brokerages_schema_cannot_stop_this_leads_clock(acme, globex, delivered):
    inbound, _, agent = delivered

    with in_schema(globex.schema_name):
        # a globex lead that names acme's inbound lead (it never would; the ledger checks)
        stray = Lead.objects.create(inbound_lead_id=inbound.pk, agent_id=agent.pk, phone="+1")
        log_activity(lead=stray, by=agent, kind="call")

    assert InboundLead.objects.get(pk=inbound.pk).first_touch_at is None


@pytest.mark.parametrize("kind,outcome,field", [
    ("inquiry", "", "kind"), ("fax", "", "kind"), ("call", "great", "outcome")])
def test_a_touch_of_an_unknown_kind_or_outcome_is_refused(acme, delivered, kind, outcome,
                                                          field):
    _, lead, agent = delivered

    with in_schema(acme.schema_name), pytest.raises(ValidationError) as refused:
        log_activity(lead=lead, by=agent, kind=kind, outcome=outcome)

    assert field in refused.value.message_dict
    with in_schema(acme.schema_name):
        assert not Activity.objects.exists()
