"""Routing and delivery (pure service calls, in the test's transaction): who may take a
lead, the fair share, the same person again, exactly once, and brokerages kept apart."""

from __future__ import annotations

from datetime import timedelta
from fractions import Fraction

import pytest
from django.utils import timezone

from clozings.crm.models import Activity, Lead, Task
from clozings.distribution.models import InboundLead, RoutingState
from clozings.distribution.routing import route_lead, route_waiting, set_holder_weight
from clozings.platform.tenancy import in_schema
from clozings.tenants.models import Seat, User
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


# --- batches (route_waiting: what the routing task runs) ----------------------------------
def test_a_batch_routes_what_is_waiting_as_one_lead_at_a_time_would(acme, globex, source):
    share(ZIP, 3)
    a, b = holder(acme.brokerage, ZIP), holder(acme.brokerage, ZIP)
    c = holder(globex.brokerage, ZIP)
    set_holder_weight(reservation=c, weight=2)
    other = holder(globex.brokerage, "60601")
    leads = [take(source, n, zip_code=ZIP if n < 8 else "60601") for n in range(10)]

    taken = route_waiting(first_id=leads[5].pk, limit=7)
    assert [lead.pk for lead in taken] == [leads[5].pk] + [lead.pk for lead in leads[:5]] + [
        leads[6].pk]
    route_waiting(limit=50)

    rows = {lead.pk: lead for lead in InboundLead.objects.all()}
    assert {lead.status for lead in rows.values()} == {"delivered"}
    # the same fixed order as one at a time, in the order the batches took them
    order = [leads[n].pk for n in (5, 0, 1, 2, 3, 4, 6, 7)]
    assert [rows[pk].seat_id for pk in order] == [c.seat_id, a.seat_id, b.seat_id,
                                                  c.seat_id] * 2
    assert [rows[leads[n].pk].seat_id for n in (8, 9)] == [other.seat_id] * 2
    assert RoutingState.objects.get(territory__zip_code=ZIP).decisions == 8
    assert sorted(lead.inbound_lead_id for lead in crm_leads(acme.brokerage)) == sorted(
        pk for pk in rows if rows[pk].brokerage_id == acme.brokerage.pk)
    assert len(crm_leads(globex.brokerage)) == 6
    assert route_waiting(limit=50) == []


def test_the_same_person_twice_in_one_batch_is_one_crm_lead_with_an_inquiry(acme, source):
    share(ZIP, 2)
    holder(acme.brokerage, ZIP), holder(acme.brokerage, ZIP)
    first = take(source, 1, phone="(212) 555-0100", email="pat@example.test")
    again = take(source, 2, phone="212-555-0100", email="", message="Still looking!")

    route_waiting(limit=10)

    first, again = InboundLead.objects.get(pk=first.pk), InboundLead.objects.get(pk=again.pk)
    assert first.seat_id == again.seat_id and not first.is_repeat
    assert again.is_repeat and again.routing_log[0]["rule"] == "same_person"
    with in_schema(acme.schema_name):
        crm = Lead.objects.get()
        assert Activity.objects.get().inbound_lead_id == again.pk
    assert crm.inbound_lead_id == first.pk


def test_a_lead_whose_delivery_fails_is_rolled_back_alone(acme, globex, source):
    share(ZIP, 2)
    good = holder(acme.brokerage, ZIP)
    # an agent whose new-lead mail cannot be queued: their deliveries fail
    bad = holder(globex.brokerage, ZIP)
    User.objects.filter(pk=bad.seat.user_id).update(email="not-an-address")
    leads = [take(source, n) for n in range(4)]

    route_waiting(limit=10)

    rows = {lead.pk: lead for lead in InboundLead.objects.all()}
    # decided in turn (good, bad, good, bad); bad's two fail and stay waiting
    assert [rows[lead.pk].status for lead in leads] == ["delivered", "received"] * 2
    assert {rows[lead.pk].seat_id for lead in leads if rows[lead.pk].status == "delivered"} \
        == {good.seat_id}
    assert len(crm_leads(acme.brokerage)) == 2 and crm_leads(globex.brokerage) == []
    state = RoutingState.objects.get(territory__zip_code=ZIP)
    # the failed decisions were given back: good got both leads counted, bad is owed one
    assert state.decisions == 2
    assert {key: Fraction(value) for key, value in state.credits.items()} == {
        str(good.pk): -1, str(bad.pk): 1}
