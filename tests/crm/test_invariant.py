"""Every open lead has exactly one open task, however many people (or workers) write to it
at the same moment: each service takes the lead's row lock first. Real PostgreSQL, one
connection per thread, committed data."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import pytest

from clozings.crm import services
from clozings.crm.models import Activity, Lead, Task
from clozings.platform.tenancy import in_schema
from tests.crm.lead_factories import new_lead
from tests.territories.factories import CommittedSeats, run_at_once

pytestmark = pytest.mark.django_db(transaction=True)

T0 = datetime(2026, 1, 5, 15, 0, tzinfo=UTC)


@pytest.fixture
def seats(acme) -> Iterator[CommittedSeats]:
    made = CommittedSeats(brokerage=acme.brokerage)
    yield made
    with in_schema(acme.schema_name):
        Lead.objects.filter(agent_id__in=[s.pk for s in made.seats]).delete()
    made.cleanup()


def test_touches_logged_at_once_leave_exactly_one_open_task(acme, seats):
    (agent,) = seats.make(1)
    with in_schema(acme.schema_name):
        lead = new_lead(agent, now=T0)

    def touch(n: int):
        with in_schema(acme.schema_name):
            return services.log_activity(lead=lead, by=agent, kind="call",
                                         outcome="no_answer",
                                         now=T0 + timedelta(minutes=n))

    def inbound():
        with in_schema(acme.schema_name):
            return services.record_inbound_message(lead=lead, channel="text", body="Hi!",
                                                   now=T0 + timedelta(minutes=3))

    results = run_at_once([lambda n=n: touch(n) for n in range(1, 7)] + [inbound])

    assert not [r for r in results if isinstance(r, Exception)], results
    with in_schema(acme.schema_name):
        lead.refresh_from_db()
        assert lead.touch_count == 6
        assert Activity.objects.filter(lead=lead, kind="call").count() == 6
        assert Task.objects.filter(lead=lead, completed_at__isnull=True).count() == 1
        assert lead.cadence_state == "paused"  # the reply came in among the touches
