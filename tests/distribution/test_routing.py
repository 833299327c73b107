"""Routing and delivery (pure service calls, in the test's transaction): who may take a
lead, the fair share, the same person again, exactly once, and brokerages kept apart."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone

from clozings.crm.models import Activity, Lead, Task
from clozings.distribution.models import InboundLead
from clozings.distribution.routing import route_lead, set_holder_weight
from clozings.platform.tenancy import in_schema
from clozings.tenants.models import Seat
from clozings.territories.models import Reservation
from tests.distribution.factories import holder, lead_source, share, take

pytestmark = pytest.mark.django_db

ZIP = "10001"


@pytest.fixture
def source():
    return lead_source().source


def routed(source, n: int = 1, **fields) -> InboundLead:
    return route_lead(inbound_lead_id=take(source, n, **fields).pk)


def crm_leads(brokerage) -> list[Lead]:
    with in_schema(brokerage.schema_name):
        return list(Lead.objects.order_by("id"))


def test_a_lead_for_an_exclusive_zip_goes_into_the_holders_crm_with_a_call_now_task(
        acme, source):
    reservation = holder(acme.brokerage, ZIP)

    lead = routed(source, first_name="Zoë", consent={"text": "Call me"})

    assert lead.status == "delivered"
    assert (lead.brokerage, lead.seat_id, lead.reservation) == (
        acme.brokerage, reservation.seat_id, reservation)
    assert lead.delivered_at is not None
    assert lead.routing_log[0]["rule"] == "exclusive"
    assert lead.routing_log[0]["chosen"]["seat_id"] == reservation.seat_id
    with in_schema(acme.schema_name):
        crm = Lead.objects.get()
        task = Task.objects.get()
    assert (crm.inbound_lead_id, crm.agent_id, crm.first_name, crm.consent) == (
        lead.pk, reservation.seat_id, "Zoë", {"text": "Call me"})
    assert (task.lead_id, task.title, task.completed_at) == (crm.pk, "Call now", None)
    assert task.due_at <= timezone.now()


def test_routing_again_never_makes_a_second_crm_lead(acme, source):
    holder(acme.brokerage, ZIP)
    lead = routed(source)

    route_lead(inbound_lead_id=lead.pk)  # a retried task
    # a delivery whose ledger write was lost: the CRM's unique inbound lead id holds
    InboundLead.objects.filter(pk=lead.pk).update(status="received")
    again = route_lead(inbound_lead_id=lead.pk)

    assert again.status == "delivered"
    assert [crm.inbound_lead_id for crm in crm_leads(acme.brokerage)] == [lead.pk]
    with in_schema(acme.schema_name):
        assert Task.objects.count() == 1


def test_nobody_holding_the_zip_leaves_the_lead_orphaned_with_the_reason(source):
    lead = routed(source)

    assert lead.status == "orphaned"
    assert lead.routing_log[0]["rule"] == "no_holder"
    assert lead.routing_log[0]["why"] == "nobody holds this ZIP"


def test_grace_still_gets_leads_and_suspended_does_not(acme, source):
    reservation = holder(acme.brokerage, ZIP)
    Reservation.objects.filter(pk=reservation.pk).update(status="past_due",
                                                         past_due_since=timezone.now())
    in_grace = routed(source, 1)
    Reservation.objects.filter(pk=reservation.pk).update(status="suspended",
                                                         suspended_at=timezone.now())
    suspended = routed(source, 2)

    assert in_grace.status == "delivered"
    assert suspended.status == "orphaned"
    assert suspended.routing_log[0]["candidates"][0]["passed_over"] == \
        "the reservation is suspended for an unpaid invoice"
    assert len(crm_leads(acme.brokerage)) == 1


def test_a_paused_or_deactivated_agent_is_passed_over_for_the_other_holder(acme, source):
    share(ZIP, 3)
    paused = holder(acme.brokerage, ZIP, paused_from=timezone.now() - timedelta(days=1),
                    paused_until=timezone.now() + timedelta(days=6))
    gone = holder(acme.brokerage, ZIP)
    Seat.objects.filter(pk=gone.seat_id).update(status="deactivated")
    working = holder(acme.brokerage, ZIP)

    leads = [routed(source, n) for n in range(3)]

    assert {lead.seat_id for lead in leads} == {working.seat_id}
    reasons = {c["seat_id"]: c["passed_over"] for c in leads[0].routing_log[0]["candidates"]}
    assert reasons[paused.seat_id].startswith("the agent is paused until ")
    assert reasons[gone.seat_id] == "the agent's seat is not active"
    assert reasons[working.seat_id] is None


def test_a_pause_that_ended_gets_leads_again(acme, source):
    reservation = holder(acme.brokerage, ZIP, paused_from=timezone.now() - timedelta(days=8),
                         paused_until=timezone.now() - timedelta(days=1))

    assert routed(source).seat_id == reservation.seat_id


def test_caps_send_the_lead_to_the_next_holder_then_leave_it_orphaned(acme, source):
    share(ZIP, 2)
    daily = holder(acme.brokerage, ZIP, daily_cap=1)
    monthly = holder(acme.brokerage, ZIP, monthly_cap=2)

    leads = [routed(source, n) for n in range(5)]

    assert [lead.seat_id for lead in leads[:3]].count(daily.seat_id) == 1
    assert [lead.seat_id for lead in leads[:3]].count(monthly.seat_id) == 2
    assert [lead.status for lead in leads[3:]] == ["orphaned", "orphaned"]
    reasons = {c["seat_id"]: c["passed_over"] for c in leads[4].routing_log[0]["candidates"]}
    assert reasons == {daily.seat_id: "the agent reached the daily cap of 1",
                       monthly.seat_id: "the agent reached the monthly cap of 2"}


def test_a_shared_zip_follows_the_weights_in_a_fixed_order(acme, globex, source):
    share(ZIP, 3)
    a, b = holder(acme.brokerage, ZIP), holder(acme.brokerage, ZIP)
    c = holder(globex.brokerage, ZIP)
    set_holder_weight(reservation=c, weight=2)

    seats = [routed(source, n).seat_id for n in range(8)]

    assert seats == [c.seat_id, a.seat_id, b.seat_id, c.seat_id] * 2
    assert {lead.routing_log[0]["rule"] for lead in InboundLead.objects.all()} == {"shared"}


def test_the_same_person_again_goes_to_their_agent_as_a_new_inquiry(acme, source):
    share(ZIP, 2)
    first_agent, _ = holder(acme.brokerage, ZIP), holder(acme.brokerage, ZIP)
    first = routed(source, 1, phone="(212) 555-0100", email="pat@example.test")

    again = routed(source, 2, phone="212-555-0100", email="", message="Still looking!")

    assert first.seat_id == again.seat_id == first_agent.seat_id
    assert again.is_repeat and again.routing_log[0]["rule"] == "same_person"
    with in_schema(acme.schema_name):
        crm = Lead.objects.get()
        inquiry = Activity.objects.get()
    assert crm.inbound_lead_id == first.pk
    assert (inquiry.lead_id, inquiry.kind, inquiry.note, inquiry.inbound_lead_id) == (
        crm.pk, "inquiry", "Still looking!", again.pk)


def test_a_lead_never_reaches_another_brokerages_schema(acme, globex, source):
    share(ZIP, 2)
    holder(acme.brokerage, ZIP)
    holder(globex.brokerage, ZIP)

    to_acme = routed(source, 1, email="one@example.test")
    to_globex = routed(source, 2, email="two@example.test")

    assert (to_acme.brokerage, to_globex.brokerage) == (acme.brokerage, globex.brokerage)
    assert [lead.email for lead in crm_leads(acme.brokerage)] == ["one@example.test"]
    assert [lead.email for lead in crm_leads(globex.brokerage)] == ["two@example.test"]
