"""The staff side of distribution on the platform host: the orphan queue (assign by hand,
or to the nearest eligible holder within a radius), the delivery figures, and the SLA
summary of the brokerage list; each figure one query whatever the number of brokerages."""

from __future__ import annotations

from datetime import datetime, timedelta

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from clozings.crm.models import Lead
from clozings.distribution.models import InboundLead, SlaBreach
from clozings.distribution.routing import route_lead
from clozings.platform.tenancy import in_schema
from clozings.tenants.models import Brokerage, Seat
from clozings.territories import selectors as territory_selectors
from tests.conftest import host_client
from tests.distribution.factories import holder, lead_source, take
from tests.tenants.factories import SeatFactory, UserFactory
from tests.territories.factories import territory

pytestmark = pytest.mark.django_db

ZIP = "10001"


@pytest.fixture
def staff_user():
    return UserFactory(is_staff=True, email="ops@clozings.test")


@pytest.fixture
def staff(staff_user):
    return host_client("localhost", staff_user)


@pytest.fixture
def source():
    return lead_source("Portal").source


@pytest.fixture
def orphan(source) -> InboundLead:
    lead = route_lead(inbound_lead_id=take(source).pk)
    assert lead.status == "orphaned"
    return lead


def crm_leads(brokerage) -> list[Lead]:
    with in_schema(brokerage.schema_name):
        return list(Lead.objects.order_by("id"))


def assign(client, lead_id, body):
    return client.post(f"/api/v1/staff/orphans/{lead_id}/assign", body,
                       content_type="application/json")


def nearest_other_zip() -> tuple[str, float]:
    row = (territory_selectors.territory_rows(near=territory(ZIP), radius_miles=5)
           .exclude(zip_code=ZIP).first())
    return row.zip_code, row.distance_miles


# --- the orphan queue ---------------------------------------------------------------------
def test_staff_see_the_orphan_queue_with_zip_time_and_source(staff, orphan, source, acme):
    holder(acme.brokerage, "30303")
    delivered = take(source, 2, zip_code="30303")
    route_lead(inbound_lead_id=delivered.pk)

    response = staff.get("/api/v1/staff/orphans")

    assert response.status_code == 200
    [row] = response.json()
    assert datetime.fromisoformat(row.pop("received_at")) == orphan.received_at
    assert row == {"id": orphan.pk, "zip_code": ZIP, "source": {"id": source.pk,
                   "name": "Portal"}, "why": "nobody holds this ZIP"}


@pytest.mark.parametrize("who", ["anonymous", "agent"])
def test_the_orphan_queue_is_staff_only(orphan, acme, who):
    client = host_client("localhost", acme.admin if who == "agent" else None)

    assert client.get("/api/v1/staff/orphans").status_code in (401, 403)
    response = assign(client, orphan.pk, {"agent_id": acme.admin_seat.pk})
    assert response.status_code in (401, 403)
    assert InboundLead.objects.get(pk=orphan.pk).status == "orphaned"


def test_staff_assign_an_orphan_to_any_active_seat_once_through_delivery(
        staff, orphan, globex):
    agent = SeatFactory(brokerage=globex.brokerage)

    response = assign(staff, orphan.pk, {"agent_id": agent.pk})

    assert response.status_code == 200, response.json()
    body = response.json()
    assert (body["status"], body["brokerage"], body["agent_id"]) == (
        "delivered", "globex", agent.pk)
    lead = InboundLead.objects.get(pk=orphan.pk)
    assert (lead.status, lead.seat_id, lead.brokerage) == ("delivered", agent.pk,
                                                           globex.brokerage)
    assert [entry["rule"] for entry in lead.routing_log] == ["no_holder", "assigned_by_staff"]
    assert lead.routing_log[-1]["why"] == "assigned by staff (ops@clozings.test)"
    assert [crm.inbound_lead_id for crm in crm_leads(globex.brokerage)] == [lead.pk]

    again = assign(staff, orphan.pk, {"agent_id": agent.pk})

    assert again.status_code == 409
    assert again.json()["error"]["code"] == "not_orphaned"
    assert len(crm_leads(globex.brokerage)) == 1


@pytest.mark.parametrize(("body", "field"), [
    ({}, None), ({"agent_id": 1, "nearest_within_miles": 3}, None),
    ({"agent_id": "x"}, "agent_id"), ({"agent_id": 2**40}, "agent_id"),
    ({"agent_id": 999999}, "agent_id"), ({"nearest_within_miles": 0}, "nearest_within_miles"),
    ({"nearest_within_miles": 10**6}, "nearest_within_miles"),
    ({"nearest_within_miles": "NaN"}, "nearest_within_miles"),
])
def test_a_bad_assignment_is_refused_and_changes_nothing(staff, orphan, body, field):
    response = assign(staff, orphan.pk, body)

    assert response.status_code == 400
    error = response.json()["error"]
    assert error["code"] == "validation_error" and error["message"]
    if field:
        assert field in error["fields"]
    assert InboundLead.objects.get(pk=orphan.pk).status == "orphaned"


@pytest.mark.parametrize("status", [Seat.Status.INVITED, Seat.Status.DEACTIVATED])
def test_a_seat_that_is_not_active_gets_no_orphan(staff, orphan, acme, status):
    agent = SeatFactory(brokerage=acme.brokerage, status=status)

    response = assign(staff, orphan.pk, {"agent_id": agent.pk})

    assert response.status_code == 400
    assert "agent_id" in response.json()["error"]["fields"]
    assert InboundLead.objects.get(pk=orphan.pk).status == "orphaned"
    assert crm_leads(acme.brokerage) == []


def test_an_unknown_lead_is_404(staff, acme):
    response = assign(staff, 987654, {"agent_id": acme.admin_seat.pk})

    assert response.status_code == 404
    assert response.json()["error"]["code"] == "not_found"


def test_nearest_within_miles_sends_the_orphan_to_the_closest_eligible_holder(
        staff, orphan, acme):
    near_zip, miles = nearest_other_zip()
    paused = holder(acme.brokerage, near_zip, paused_from=timezone.now() - timedelta(hours=1),
                    paused_until=timezone.now() + timedelta(days=1))
    assert paused.seat.is_paused_at(timezone.now())

    too_close = assign(staff, orphan.pk, {"nearest_within_miles": 50})

    assert too_close.status_code == 409  # the only holder near is paused
    assert too_close.json()["error"]["code"] == "no_holder_nearby"
    assert InboundLead.objects.get(pk=orphan.pk).status == "orphaned"

    Seat.objects.filter(pk=paused.seat_id).update(paused_from=None, paused_until=None)
    short = assign(staff, orphan.pk, {"nearest_within_miles": max(miles / 2, 0.1)})
    assert short.status_code == 409 and short.json()["error"]["code"] == "no_holder_nearby"

    response = assign(staff, orphan.pk, {"nearest_within_miles": miles + 1})

    assert response.status_code == 200, response.json()
    lead = InboundLead.objects.get(pk=orphan.pk)
    assert (lead.status, lead.seat_id, lead.reservation_id) == (
        "delivered", paused.seat_id, paused.pk)
    entry = lead.routing_log[-1]
    assert entry["rule"] == "nearest_by_staff" and entry["zip_code"] == near_zip
    assert "sent by staff (ops@clozings.test)" in entry["why"]
    assert [crm.inbound_lead_id for crm in crm_leads(acme.brokerage)] == [lead.pk]


# --- delivery figures ---------------------------------------------------------------------
def ledger(source, brokerages, *, per_brokerage: int, now) -> None:
    """Delivered and touched leads for each brokerage (2 to 10 minutes to first touch), and
    an orphan and a rejection, written straight into the ledger."""
    rows = []
    for b, brokerage in enumerate(brokerages):
        for i in range(per_brokerage):
            received = now - timedelta(hours=1 + i)
            rows.append(InboundLead(
                source=source, external_id=f"{brokerage.slug}-{i}", zip_code=ZIP,
                status="delivered", brokerage=brokerage, received_at=received,
                routed_at=received, delivered_at=received + timedelta(seconds=1 + b % 2),
                first_touch_at=received + timedelta(minutes=2 + 8 * (i % 2))))
    rows.append(InboundLead(source=source, zip_code=ZIP, status="orphaned",
                            received_at=now - timedelta(hours=2)))
    rows.append(InboundLead(source=source, zip_code="", status="rejected",
                            received_at=now - timedelta(hours=3)))
    rows.append(InboundLead(source=source, zip_code=ZIP, status="delivered",
                            received_at=now - timedelta(days=40)))  # outside every window
    InboundLead.objects.bulk_create(rows)


def breaches(source, brokerages, *, now) -> None:
    """Per brokerage, a lead re-routed and a lead alerted past the first-touch SLA (and a
    breach of a lead received before every window)."""
    for brokerage in brokerages:
        seat = SeatFactory(brokerage=brokerage)
        for action, status, hours in (("rerouted", "rerouted", 2), ("alerted", "delivered", 3),
                                      ("alerted", "delivered", 24 * 40)):
            received = now - timedelta(hours=hours)
            lead = InboundLead.objects.create(
                source=source, external_id=f"{brokerage.slug}-sla-{action}-{hours}",
                zip_code=ZIP, status=status, brokerage=brokerage, seat=seat,
                received_at=received, delivered_at=received + timedelta(seconds=1))
            SlaBreach.objects.create(inbound_lead=lead, brokerage=brokerage, seat=seat,
                                     sla_minutes=5, delivered_at=lead.delivered_at,
                                     breached_at=received + timedelta(minutes=6),
                                     action=action)


def brokerages_without_schemas(n: int) -> list[Brokerage]:
    return Brokerage.objects.bulk_create([
        Brokerage(schema_name=f"figures_{i}", slug=f"figures-{i}", name=f"Figures {i}")
        for i in range(n)])


def test_delivery_figures_count_by_status_and_give_percentiles(staff, source):
    now = timezone.now()
    brokerages = brokerages_without_schemas(2)
    ledger(source, brokerages, per_brokerage=2, now=now)

    response = staff.get("/api/v1/staff/delivery",
                         {"since": (now - timedelta(days=7)).isoformat()})

    assert response.status_code == 200, response.json()
    body = response.json()
    assert body["counts"] == {"received": 0, "routed": 0, "delivered": 4, "orphaned": 1,
                              "rerouted": 0, "rejected": 1, "duplicate": 0}
    assert (body["orphans"], body["reroutes"]) == (1, 0)
    # deliveries took 1, 1, 2, 2 seconds; first touches 2, 10, 2, 10 minutes
    assert body["delivery_seconds"] == {"p50": 1.5, "p90": pytest.approx(2.0),
                                        "p99": pytest.approx(2.0)}
    assert body["first_touch_seconds"]["p50"] == pytest.approx(360.0)
    assert body["first_touch_seconds"]["p90"] == pytest.approx(600.0)
    assert len(body["days"]) == 8
    assert sum(day["counts"]["delivered"] for day in body["days"]) == 4
    assert [(s["name"], s["total"]) for s in body["by_source"]] == [("Portal", 6)]
    by_slug = {b["slug"]: b for b in body["by_brokerage"]}
    assert set(by_slug) == {"figures-0", "figures-1", None}
    assert by_slug["figures-1"]["delivery_seconds"]["p50"] == pytest.approx(2.0)
    assert by_slug[None]["counts"]["orphaned"] == 1


@pytest.mark.parametrize("since", ["yesterday", "2999-01-01T00:00:00Z",
                                   "1999-01-01T00:00:00Z"])
def test_a_bad_window_is_refused_with_its_field(staff, since):
    response = staff.get("/api/v1/staff/delivery", {"since": since})

    assert response.status_code == 400
    assert "since" in response.json()["error"]["fields"]


def test_delivery_figures_default_to_the_last_day(staff, source):
    ledger(source, brokerages_without_schemas(1), per_brokerage=30, now=timezone.now())

    body = staff.get("/api/v1/staff/delivery").json()

    assert body["counts"]["delivered"] == 23  # received 1 to 23 hours ago


def figure_queries(client, brokerages: int, source) -> tuple[int, int]:
    InboundLead.objects.all().delete()
    Brokerage.objects.filter(slug__startswith="figures-").delete()
    made = brokerages_without_schemas(brokerages)
    ledger(source, made, per_brokerage=3, now=timezone.now())
    breaches(source, made, now=timezone.now())
    counts = []
    for url in ("/api/v1/staff/delivery", "/api/v1/brokerages"):
        with CaptureQueriesContext(connection) as queries:
            assert client.get(url).status_code == 200
        counts.append(len(queries))
    return tuple(counts)


def test_the_figures_take_as_many_queries_for_20_brokerages_as_for_2(staff, source):
    assert figure_queries(staff, 2, source) == figure_queries(staff, 20, source)


def test_sla_breaches_are_counted_by_action_per_source_and_per_brokerage_that_missed(
        staff, source):
    now = timezone.now()
    made = brokerages_without_schemas(2)
    ledger(source, made, per_brokerage=2, now=now)
    breaches(source, made[:1], now=now)
    other = lead_source("Other portal").source
    breaches(other, made[1:], now=now)

    body = staff.get("/api/v1/staff/delivery",
                     {"since": (now - timedelta(days=7)).isoformat()}).json()

    assert body["sla_breaches"] == {"rerouted": 2, "alerted": 2, "total": 4}
    assert body["reroutes"] == 2
    by_source = {s["name"]: s["sla_breaches"] for s in body["by_source"]}
    assert by_source == {"Portal": {"rerouted": 1, "alerted": 1, "total": 2},
                         "Other portal": {"rerouted": 1, "alerted": 1, "total": 2}}
    assert sorted((b["slug"], b["rerouted"], b["alerted"], b["total"])
                  for b in body["sla_breaches_by_brokerage"]) == [
        ("figures-0", 1, 1, 2), ("figures-1", 1, 1, 2)]
    # the lead counted once whatever the join: statuses still add up to the leads
    assert sum(body["counts"].values()) == 4 + 2 + 2 + 2


def test_the_brokerage_list_carries_each_brokerages_sla_summary(staff, source, acme):
    now = timezone.now()
    ledger(source, [acme.brokerage], per_brokerage=3, now=now)

    rows = {row["slug"]: row for row in staff.get("/api/v1/brokerages").json()}

    # first touches after 2, 10 and 2 minutes
    assert rows["acme"]["sla"] == {"delivered_30d": 3, "first_touch_p50_seconds": 120.0}
