"""Two workers routing at the same moment, on committed data: an agent's cap holds across
the ZIPs they hold."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from clozings.crm.models import Lead, Task
from clozings.distribution.models import InboundLead, LeadSource, RoutingState
from clozings.distribution.routing import route_lead
from clozings.platform.tenancy import in_schema
from clozings.tenants.models import Seat
from tests.distribution.factories import lead_source, take
from tests.territories.factories import CommittedSeats, active_reservation, run_at_once

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def seats(acme) -> Iterator[CommittedSeats]:
    made = CommittedSeats(brokerage=acme.brokerage)
    yield made
    with in_schema(acme.schema_name):
        Task.objects.all().delete()
        Lead.objects.all().delete()
    InboundLead.objects.all().delete()
    LeadSource.objects.all().delete()
    RoutingState.objects.all().delete()
    made.cleanup()


def test_a_daily_cap_of_one_holds_when_two_of_the_agents_zips_get_a_lead_at_once(seats):
    (agent,) = seats.make(1)
    Seat.objects.filter(pk=agent.pk).update(daily_cap=1)
    for zip_code in ("10001", "60601"):
        active_reservation(agent, zip_code)
    source = lead_source().source
    leads = [take(source, 1, zip_code="10001"), take(source, 2, zip_code="60601")]

    run_at_once([lambda lead=lead: route_lead(inbound_lead_id=lead.pk) for lead in leads])

    assert sorted(InboundLead.objects.values_list("status", flat=True)) == [
        "delivered", "orphaned"]
