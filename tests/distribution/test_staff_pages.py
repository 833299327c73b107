"""The staff console's orphan queue and delivery pages: the same actions and figures as
the staff API, as forms and server-drawn SVG charts."""

from __future__ import annotations

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from clozings.distribution.models import InboundLead
from clozings.distribution.routing import route_lead
from clozings.tenants.models import Brokerage, Seat
from tests.conftest import host_client
from tests.distribution.factories import lead_source, take
from tests.distribution.test_staff_api import breaches, brokerages_without_schemas, ledger
from tests.tenants.factories import SeatFactory, UserFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def staff():
    return host_client("localhost", UserFactory(is_staff=True, email="ops@clozings.test"))


@pytest.fixture
def source():
    return lead_source("Portal").source


@pytest.fixture
def orphan(source) -> InboundLead:
    return route_lead(inbound_lead_id=take(source).pk)


def test_the_orphan_page_lists_each_orphan_with_both_actions(staff, orphan, acme):
    page = staff.get("/staff/orphans/")

    assert page.status_code == 200
    html = page.content.decode()
    assert "ZIP 10001" in html and "From Portal" in html and "nobody holds this ZIP" in html
    assert f'action="/staff/orphans/{orphan.pk}/assign/"' in html
    assert "Send to nearest" in html and 'list="seats"' in html
    assert f'<option value="{acme.admin_seat.pk}">' in html


def test_staff_assign_an_orphan_from_the_page(staff, orphan, globex):
    agent = SeatFactory(brokerage=globex.brokerage, name="Rita Agent")

    response = staff.post(f"/staff/orphans/{orphan.pk}/assign/",
                          {f"lead-{orphan.pk}-agent_id": agent.pk})

    assert response.status_code == 302 and response["Location"] == "/staff/orphans/"
    lead = InboundLead.objects.get(pk=orphan.pk)
    assert (lead.status, lead.seat_id) == ("delivered", agent.pk)
    assert lead.routing_log[-1]["rule"] == "assigned_by_staff"
    page = staff.get("/staff/orphans/").content.decode()
    assert "delivered to Rita Agent at Globex" in page
    assert "No orphaned lead" in page


@pytest.mark.parametrize(("data", "error"), [
    ({}, "Give an agent seat number or a radius."),
    ({"agent_id": "999999"}, "No agent seat has this number."),
    ({"agent_id": "abc"}, "Enter a whole number."),
    ({"nearest_within_miles": "0"}, "greater than or equal to 0.1"),
    ({"nearest_within_miles": "3"}, "No holder within 3 miles of ZIP 10001"),
])
def test_a_bad_assignment_shows_its_error_and_changes_nothing(staff, orphan, data, error):
    response = staff.post(f"/staff/orphans/{orphan.pk}/assign/",
                          {f"lead-{orphan.pk}-{key}": value for key, value in data.items()})

    assert response.status_code == 400
    assert error in response.content.decode()
    assert InboundLead.objects.get(pk=orphan.pk).status == "orphaned"


def test_a_seat_that_is_not_active_shows_an_error_beside_the_field(staff, orphan, acme):
    agent = SeatFactory(brokerage=acme.brokerage, status=Seat.Status.DEACTIVATED)

    response = staff.post(f"/staff/orphans/{orphan.pk}/assign/",
                          {f"lead-{orphan.pk}-agent_id": agent.pk})

    assert response.status_code == 400
    html = response.content.decode()
    assert f'id="id_lead-{orphan.pk}-agent_id_error"' in html
    assert "This agent&#x27;s seat is not active." in html
    assert InboundLead.objects.get(pk=orphan.pk).status == "orphaned"


def test_assigning_a_lead_already_delivered_says_so(staff, orphan, acme):
    staff.post(f"/staff/orphans/{orphan.pk}/assign/",
               {f"lead-{orphan.pk}-agent_id": acme.admin_seat.pk})

    response = staff.post(f"/staff/orphans/{orphan.pk}/assign/",
                          {f"lead-{orphan.pk}-agent_id": acme.admin_seat.pk}, follow=True)

    assert "not orphaned" in response.content.decode()


@pytest.mark.parametrize("path", ["/staff/orphans/", "/staff/delivery/"])
def test_the_pages_are_staff_only(acme, path):
    assert host_client("localhost", acme.admin).get(path).status_code in (302, 403)


@pytest.mark.parametrize("window", ["24h", "7d", "30d", "bogus"])
def test_the_delivery_page_draws_each_chart_with_its_numbers(staff, source, window):
    ledger(source, brokerages_without_schemas(2), per_brokerage=2, now=timezone.now())

    page = staff.get("/staff/delivery/", {"window": window})

    assert page.status_code == 200
    html = page.content.decode()
    assert html.count("<svg class=\"chart\"") == 4
    assert 'class="bar-delivered"' in html and 'class="bar-orphaned"' in html
    assert "Figures 0" in html and "Delivery p50" in html and "1.5 s" in html
    assert 'aria-current="page">' + {"7d": "7 days", "30d": "30 days"}.get(
        window, "24 hours") in html


def test_the_delivery_page_draws_the_sla_breaches_per_brokerage(staff, source):
    made = brokerages_without_schemas(2)
    ledger(source, made, per_brokerage=2, now=timezone.now())
    breaches(source, made, now=timezone.now())

    html = staff.get("/staff/delivery/", {"window": "7d"}).content.decode()

    assert html.count("<svg class=\"chart\"") == 5
    assert 'id="breach-chart-title"' in html
    assert 'class="bar-alerted"' in html and "Figures 1: 1 rerouted" in html
    assert "Brokerage that missed it" in html


def page_queries(client, source, brokerages: int) -> int:
    InboundLead.objects.all().delete()
    Brokerage.objects.filter(slug__startswith="figures-").delete()
    made = brokerages_without_schemas(brokerages)
    ledger(source, made, per_brokerage=2, now=timezone.now())
    breaches(source, made, now=timezone.now())
    with CaptureQueriesContext(connection) as queries:
        assert client.get("/staff/delivery/", {"window": "7d"}).status_code == 200
    return len(queries)


def test_the_delivery_page_takes_as_many_queries_for_20_brokerages_as_for_2(staff, source):
    few = page_queries(staff, source, 2)
    assert page_queries(staff, source, 20) == few
