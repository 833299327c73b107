"""The first-touch SLA, with the clock passed in: an untouched lead on a shared ZIP goes to
the other holder (re-routed, counted in the fair share), on an exclusive ZIP the agent and
the admins are alerted; the breach is in the public ledger once; a touch in time stops it."""

from __future__ import annotations

from datetime import timedelta

import pytest

from clozings.crm import services as crm_services
from clozings.crm.models import Activity, Lead, Task
from clozings.distribution import notifications, sla, tasks
from clozings.distribution.models import InboundLead, OutboundText, RoutingState, SlaBreach
from clozings.platform.models import OutboundMail
from clozings.platform.tenancy import in_schema
from clozings.tenants.models import Seat
from tests.distribution.factories import holder, lead_source, share, take

pytestmark = pytest.mark.django_db

ZIP = "10001"


@pytest.fixture
def source():
    return lead_source().source


def delivered(source, **fields) -> InboundLead:
    lead = take(source, **fields)
    tasks.route_lead(inbound_lead_id=lead.pk)
    lead.refresh_from_db()
    assert lead.status == "delivered"
    return lead


def test_an_untouched_lead_on_a_shared_zip_goes_to_the_other_holder(acme, globex, source):
    share(ZIP, 2)
    first = holder(acme.brokerage, ZIP, phone="+12125550101")
    other = holder(globex.brokerage, ZIP, phone="+12125550102")
    lead = delivered(source)
    assert lead.seat_id == first.seat_id  # the earlier holder is owed the first lead
    decisions = RoutingState.objects.get(territory__zip_code=ZIP).decisions

    assert sla.watch_first_touch(now=lead.delivered_at + timedelta(minutes=4, seconds=59)) == 0
    assert sla.watch_first_touch(now=lead.delivered_at + timedelta(minutes=5)) == 1
    assert sla.watch_first_touch(now=lead.delivered_at + timedelta(minutes=30)) == 0

    lead.refresh_from_db()
    assert (lead.status, lead.brokerage_id, lead.seat_id, lead.reservation_id) == (
        "rerouted", globex.brokerage.pk, other.seat_id, other.pk)
    entry = lead.routing_log[-1]
    assert entry["reroute"] == "no first touch within 5 minutes"
    assert entry["chosen"]["seat_id"] == other.seat_id
    passed = {c["seat_id"]: c["passed_over"] for c in entry["candidates"]}
    assert "first-touch SLA" in passed[first.seat_id]
    assert RoutingState.objects.get(territory__zip_code=ZIP).decisions == decisions + 1
    breach = SlaBreach.objects.get()
    assert (breach.inbound_lead_id, breach.seat_id, breach.brokerage_id, breach.action,
            breach.rerouted_to_id, breach.sla_minutes) == (
        lead.pk, first.seat_id, acme.brokerage.pk, "rerouted", other.seat_id, 5)
    with in_schema(acme.schema_name):
        closed = Lead.objects.get(inbound_lead_id=lead.pk)
        assert closed.stage == "reassigned"
        assert not Task.objects.filter(lead=closed, completed_at__isnull=True).exists()
        assert "No first touch within 5 minutes" in Activity.objects.get(lead=closed).note
    with in_schema(globex.schema_name):
        moved = Lead.objects.get(inbound_lead_id=lead.pk)
        assert (moved.agent_id, moved.stage) == (other.seat_id, "new")
        assert Task.objects.get(lead=moved).title == "Call now"
    assert sorted(OutboundText.objects.values_list("to", flat=True)) == [
        "+12125550101", "+12125550102"]
    assert OutboundMail.objects.filter(kind=notifications.NEW_LEAD,
                                       ref=f"{lead.pk}:{other.seat_id}").count() == 1


def test_a_reroute_within_one_brokerage_moves_the_crm_lead_to_the_other_agent(acme, source):
    share(ZIP, 2)
    first = holder(acme.brokerage, ZIP)
    other = holder(acme.brokerage, ZIP)
    lead = delivered(source)

    breach = sla.handle_breach(inbound_lead_id=lead.pk,
                               now=lead.delivered_at + timedelta(minutes=6))

    assert (breach.seat_id, breach.rerouted_to_id) == (first.seat_id, other.seat_id)
    with in_schema(acme.schema_name):
        crm = Lead.objects.get()
        assert (crm.agent_id, crm.stage) == (other.seat_id, "new")
        assert Task.objects.get(lead=crm, completed_at__isnull=True).agent_id == other.seat_id


def test_an_exclusive_zip_alerts_the_agent_and_the_admins(acme, source):
    reservation = holder(acme.brokerage, ZIP)
    lead = delivered(source)

    assert sla.watch_first_touch(now=lead.delivered_at + timedelta(minutes=5, seconds=1)) == 1
    assert sla.watch_first_touch(now=lead.delivered_at + timedelta(hours=1)) == 0

    lead.refresh_from_db()
    assert (lead.status, lead.seat_id) == ("delivered", reservation.seat_id)
    breach = SlaBreach.objects.get()
    assert (breach.action, breach.rerouted_to_id, breach.seat_id) == (
        "alerted", None, reservation.seat_id)
    alerts = {m.to: m for m in OutboundMail.objects.filter(kind=sla.SLA_ALERT)}
    assert set(alerts) == {reservation.seat.user.email, acme.admin.email}
    assert "You have not logged a first touch" in alerts[reservation.seat.user.email].text
    assert "/seats/" in alerts[acme.admin.email].text


def test_a_shared_zip_with_nobody_else_eligible_alerts_instead(acme, globex, source):
    share(ZIP, 2)
    first = holder(acme.brokerage, ZIP)
    other = holder(globex.brokerage, ZIP)
    lead = delivered(source)
    Seat.objects.filter(pk=other.seat_id).update(status=Seat.Status.DEACTIVATED)

    breach = sla.handle_breach(inbound_lead_id=lead.pk,
                               now=lead.delivered_at + timedelta(minutes=5))

    assert (breach.action, breach.seat_id) == ("alerted", first.seat_id)
    lead.refresh_from_db()
    assert lead.status == "delivered" and lead.routing_log[-1]["rule"] == "no_holder"


def test_a_touch_logged_in_time_means_no_breach(acme, source):
    reservation = holder(acme.brokerage, ZIP)
    lead = delivered(source)
    with in_schema(acme.schema_name):
        crm_services.log_activity(lead=Lead.objects.get(), by=reservation.seat, kind="call",
                                  outcome="voicemail")

    assert sla.watch_first_touch(now=lead.delivered_at + timedelta(hours=2)) == 0
    assert not SlaBreach.objects.exists()
    assert not OutboundMail.objects.filter(kind=sla.SLA_ALERT).exists()


def test_the_brokerages_own_sla_minutes_decide(acme, source):
    acme.brokerage.first_touch_sla_minutes = 15
    acme.brokerage.save(update_fields=["first_touch_sla_minutes"])
    holder(acme.brokerage, ZIP)
    lead = delivered(source)

    assert sla.watch_first_touch(now=lead.delivered_at + timedelta(minutes=14)) == 0
    assert sla.watch_first_touch(now=lead.delivered_at + timedelta(minutes=15)) == 1
    assert SlaBreach.objects.get().sla_minutes == 15
