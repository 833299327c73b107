"""The staff follow-up SLA page and `GET /api/v1/staff/sla`: per brokerage and per agent,
worst first, overdue steps, touches per lead and time to first touch, with the first-touch
SLA breaches; from the public ledger only, the same queries whatever the brokerages."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from clozings.distribution.models import InboundLead, SlaBreach
from clozings.tenants.models import Seat
from tests.conftest import host_client
from tests.distribution.factories import lead_source
from tests.distribution.test_staff_api import brokerages_without_schemas
from tests.tenants.factories import SeatFactory, UserFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def staff():
    return host_client("localhost", UserFactory(is_staff=True, email="ops@clozings.test"))


def followed_up(source, seat: Seat, *, n: int, touches: int, first_touch_minutes: float,
                overdue: int = 0, now) -> list[InboundLead]:
    """`n` leads delivered an hour ago to `seat`, each touched `touches` times (the first
    after `first_touch_minutes`), the first `overdue` of them with a step overdue."""
    delivered = now - timedelta(hours=1)
    rows = [InboundLead(
        source=source, zip_code="10001", status="delivered", brokerage=seat.brokerage,
        seat=seat, received_at=delivered, delivered_at=delivered,
        first_touch_at=delivered + timedelta(minutes=first_touch_minutes) if touches else None,
        touches=touches, crm_stage="contacted" if touches else "new",
        next_task_due_at=now - timedelta(hours=2) if i < overdue else now + timedelta(days=1))
        for i in range(n)]
    return InboundLead.objects.bulk_create(rows)


def test_brokerages_and_agents_come_worst_first_with_their_figures(staff):
    now = timezone.now()
    source = lead_source().source
    calm, late = brokerages_without_schemas(2)
    good, slow = SeatFactory(brokerage=calm, name="Gail Good"), SeatFactory(
        brokerage=late, name="Sid Slow")
    followed_up(source, good, n=4, touches=5, first_touch_minutes=2, now=now)
    followed_up(source, slow, n=4, touches=1, first_touch_minutes=40, overdue=3, now=now)
    closed = followed_up(source, slow, n=1, touches=2, first_touch_minutes=40, overdue=1,
                         now=now)
    InboundLead.objects.filter(pk=closed[0].pk).update(crm_stage="closed")  # not overdue

    body = staff.get("/api/v1/staff/sla").json()

    first, second = body["by_brokerage"]
    assert (first["slug"], first["overdue"], first["delivered"]) == (late.slug, 3, 5)
    assert first["touches_per_lead"] == pytest.approx(6 / 5)
    assert first["first_touch_p50_seconds"] == pytest.approx(40 * 60)
    assert (second["slug"], second["overdue"], second["touches_per_lead"]) == (calm.slug, 0, 5)
    assert [row["name"] for row in body["by_agent"]] == ["Sid Slow", "Gail Good"]
    assert body["totals"]["overdue"] == 3 and body["totals"]["delivered"] == 9


def test_first_touch_breaches_are_counted_per_brokerage(staff):
    now = timezone.now()
    source = lead_source().source
    [late] = brokerages_without_schemas(1)
    seat = SeatFactory(brokerage=late)
    leads = followed_up(source, seat, n=2, touches=0, first_touch_minutes=0, now=now)
    SlaBreach.objects.bulk_create([SlaBreach(
        inbound_lead=lead, brokerage=late, seat=seat, sla_minutes=5, delivered_at=now,
        breached_at=now - timedelta(minutes=10), action="alerted") for lead in leads])

    body = staff.get("/api/v1/staff/sla").json()
    page = staff.get("/staff/sla/").content.decode()

    assert body["breaches_by_brokerage"] == [
        {"slug": late.slug, "name": late.name, "breaches": 2, "rerouted": 0}]
    assert len(body["recent_breaches"]) == 2
    assert "First-touch SLA breaches" in page and "Agent and admins alerted" in page


def test_the_page_draws_charts_with_the_same_queries_for_2_or_20_brokerages(staff):
    now = timezone.now()
    source = lead_source().source

    def queries() -> int:
        with CaptureQueriesContext(connection) as captured:
            response = staff.get("/staff/sla/")
        assert response.status_code == 200
        return len(captured)

    every = brokerages_without_schemas(20)

    def brokerages(some) -> None:
        for brokerage in some:
            seat = SeatFactory(brokerage=brokerage)
            followed_up(source, seat, n=2, touches=2, first_touch_minutes=3, overdue=1, now=now)
            SlaBreach.objects.create(inbound_lead=followed_up(
                source, seat, n=1, touches=0, first_touch_minutes=0, now=now)[0],
                brokerage=brokerage, seat=seat, sla_minutes=5, delivered_at=now,
                breached_at=now, action="alerted")

    brokerages(every[:2])
    few = queries()
    brokerages(every[2:])
    many = queries()

    assert few == many
    page = staff.get("/staff/sla/").content.decode()
    assert page.count("<svg") == 7


def test_only_staff_see_the_sla_figures(acme):
    agent = host_client("localhost", SeatFactory(brokerage=acme.brokerage).user)

    assert agent.get("/staff/sla/").status_code == 403
    assert agent.get("/api/v1/staff/sla").status_code == 403
    assert host_client("localhost").get("/api/v1/staff/sla").status_code == 401
