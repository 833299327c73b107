"""The follow-up report's figures on generated data whose true figures are known: depth,
speed to first touch, funnel, ROI per territory and per source, per agent; a handful of
queries whatever the data size."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from clozings.crm import reports, services
from clozings.crm.models import Lead, Task
from clozings.platform.tenancy import in_schema
from clozings.territories.models import Reservation
from tests.crm.lead_factories import routed
from tests.crm.report_data import NOW, close, make_leads
from tests.tenants.factories import SeatFactory
from tests.territories.factories import active_reservation

pytestmark = pytest.mark.django_db

SINCE = NOW - timedelta(days=90)
# 100 leads: 48 touched once, 25 twice, 27 three times or more (15, 7, and 5 with 5-9).
KNOWN = [1] * 48 + [2] * 25 + [3] * 15 + [4] * 7 + [5, 6, 7, 8, 9]


def report(acme, agent_id, **kwargs):
    with in_schema(acme.schema_name):
        return reports.follow_up_report(brokerage=acme.brokerage, agent_id=agent_id,
                                        since=SINCE, now=NOW, **kwargs)


def test_the_depth_distribution_is_reproduced_exactly(acme):
    agent = SeatFactory(brokerage=acme.brokerage)
    make_leads(acme.schema_name, agent_id=agent.pk, touches=KNOWN)
    make_leads(acme.schema_name, agent_id=agent.pk, touches=[0, 0])  # never touched
    make_leads(acme.schema_name, agent_id=agent.pk, touches=[1] * 30,  # before the window
               arrived=SINCE - timedelta(days=1))

    depth = report(acme, agent.pk)["depth"]

    assert [(b["touches"], b["leads"]) for b in depth["buckets"]] == [
        ("0", 2), ("1", 48), ("2", 25), ("3", 15), ("4", 7), ("5+", 5)]
    shares = {b["touches"]: b["share"] for b in depth["buckets"]}
    assert shares["1"] == 48 / 102 and shares["2"] == 25 / 102
    assert shares["3"] + shares["4"] + shares["5+"] == pytest.approx(27 / 102)
    assert depth["five_or_more_share"] == 5 / 102
    assert depth["industry"][0] == {"touches": "1", "share": 0.48}


def test_exactly_48_25_27_over_100_leads(acme):
    agent = SeatFactory(brokerage=acme.brokerage)
    make_leads(acme.schema_name, agent_id=agent.pk, touches=KNOWN)

    buckets = {b["touches"]: b["share"] for b in report(acme, agent.pk)["depth"]["buckets"]}

    assert buckets["1"] == 0.48 and buckets["2"] == 0.25
    assert round(buckets["3"] + buckets["4"] + buckets["5+"], 10) == 0.27


def test_speed_to_first_touch_median_p90_and_within_five_minutes(acme):
    agent = SeatFactory(brokerage=acme.brokerage)
    # first touches 0, 1, ..., 99 minutes after arrival, and 5 leads never touched
    make_leads(acme.schema_name, agent_id=agent.pk, touches=[1] * 100,
               first_touch_minutes=list(range(100)))
    make_leads(acme.schema_name, agent_id=agent.pk, touches=[0] * 5)
    # imported leads do not count for speed (nobody was waiting on them)
    make_leads(acme.schema_name, agent_id=agent.pk, touches=[1] * 10,
               first_touch_minutes=[10_000] * 10, routed=False)

    speed = report(acme, agent.pk)["first_touch"]

    assert speed["routed_leads"] == 105 and speed["touched"] == 100 and speed["untouched"] == 5
    assert speed["p50_seconds"] == pytest.approx(49.5 * 60)
    assert speed["p90_seconds"] == pytest.approx(89.1 * 60)
    assert speed["within_5_minutes"] == 6  # 0..5 minutes
    assert speed["within_5_minutes_share"] == 6 / 105


def test_the_funnel_counts_leads_that_reached_at_least_each_stage(acme):
    agent = SeatFactory(brokerage=acme.brokerage)
    stages = (["new"] * 20 + ["contacted"] * 40 + ["appointment"] * 20 + ["agreement"] * 10
              + ["under_contract"] * 5 + ["closed"] * 3 + ["lost"] * 2)
    make_leads(acme.schema_name, agent_id=agent.pk, touches=[1] * 100, stages=stages)

    funnel = {row["stage"]: row for row in report(acme, agent.pk)["funnel"]}

    assert [funnel[s]["leads"] for s in reports.FUNNEL_STAGES] == [78, 38, 18, 8, 3]
    assert funnel["contacted"]["share_of_leads"] == 0.78
    assert funnel["closed"]["share_of_previous"] == 3 / 8


def test_a_lost_lead_counts_for_the_stages_it_reached_before(acme):
    agent = SeatFactory(brokerage=acme.brokerage)
    [lead] = make_leads(acme.schema_name, agent_id=agent.pk, touches=[3], stages=["agreement"])
    with in_schema(acme.schema_name):
        Lead.objects.filter(pk=lead.pk).update(stage="lost")

    funnel = {row["stage"]: row["leads"] for row in report(acme, agent.pk)["funnel"]}

    assert funnel == {"contacted": 1, "appointment": 1, "agreement": 1, "under_contract": 0,
                      "closed": 0}


def test_an_agent_sees_their_own_figures_and_an_admin_the_teams(acme):
    mine, colleague = SeatFactory(brokerage=acme.brokerage), SeatFactory(brokerage=acme.brokerage)
    make_leads(acme.schema_name, agent_id=mine.pk, touches=[1, 1, 1])
    make_leads(acme.schema_name, agent_id=colleague.pk, touches=[5, 5])

    own, team = report(acme, mine.pk), report(acme, None, per_agent=True)

    assert own["leads"] == 3 and own["depth"]["buckets"][5]["leads"] == 0
    assert team["leads"] == 5 and team["depth"]["buckets"][5]["leads"] == 2
    rows = {row["agent_id"]: row for row in team["agents"]}
    assert rows[mine.pk]["leads"] == 3 and rows[colleague.pk]["depth"]["average_touches"] == 5
    assert own["agents"] is None


def test_roi_per_territory_and_source_changes_when_a_lead_closes(acme):
    agent = SeatFactory(brokerage=acme.brokerage)
    reservation = active_reservation(agent, "10001")
    # held for the whole 90-day window at $300 a month
    Reservation.objects.filter(pk=reservation.pk).update(
        price_cents=30_000, activated_at=SINCE - timedelta(days=30))
    leads = make_leads(acme.schema_name, agent_id=agent.pk, touches=[2] * 10,
                       reservation_id=reservation.pk, cost_cents=2_500, source_name="Zillow")
    territory_cost = round(30_000 * (timedelta(days=90) / reports.MONTH))

    before = report(acme, agent.pk)["roi"]
    close(acme.schema_name, leads[0], commission_cents=900_000, at=NOW - timedelta(days=1))
    after = report(acme, agent.pk)["roi"]

    [row_before], [row_after] = before["by_territory"], after["by_territory"]
    assert row_before["zip_code"] == "10001" and row_before["leads"] == 10
    assert row_before["territory_cost_cents"] == territory_cost
    assert row_before["cost_cents"] == territory_cost + 25_000
    assert row_before["commission_cents"] == 0 and row_before["net_cents"] < 0
    assert row_after["closings"] == 1 and row_after["commission_cents"] == 900_000
    assert row_after["net_cents"] == 900_000 - territory_cost - 25_000
    assert row_after["roi"] == pytest.approx(row_after["net_cents"] / row_after["cost_cents"])
    [source] = after["by_source"]
    assert source == {"source": "Zillow", "leads": 10, "lead_cost_cents": 25_000,
                      "closings": 1, "commission_cents": 900_000, "cost_cents": 25_000,
                      "net_cents": 875_000, "roi": 35.0}
    assert after["total"]["commission_cents"] == 900_000


def test_a_territory_held_without_leads_still_costs(acme):
    agent = SeatFactory(brokerage=acme.brokerage)
    reservation = active_reservation(agent, "10001")
    Reservation.objects.filter(pk=reservation.pk).update(
        price_cents=10_000, activated_at=NOW - reports.MONTH)

    [row] = report(acme, agent.pk)["roi"]["by_territory"]

    assert row["leads"] == 0 and row["territory_cost_cents"] == 10_000
    assert row["net_cents"] == -10_000 and row["roi"] == -1.0


def test_the_report_is_a_handful_of_queries_whatever_the_data_size(acme):
    agents = [SeatFactory(brokerage=acme.brokerage) for _ in range(3)]

    def queries() -> int:
        with CaptureQueriesContext(connection) as captured:
            report(acme, None, per_agent=True)
        return len(captured)

    small = queries()
    for agent, zip_code in zip(agents, ["10001", "10002", "10003"], strict=True):
        reservation = active_reservation(agent, zip_code)
        make_leads(acme.schema_name, agent_id=agent.pk, touches=KNOWN,
                   reservation_id=reservation.pk)

    assert queries() == small <= 8


def test_the_team_week_names_the_agents_who_need_a_nudge(acme):
    slow, shallow, good = (SeatFactory(brokerage=acme.brokerage, name=n)
                           for n in ("Slow Sam", "Shallow Sue", "Good Gil"))
    recent = NOW - timedelta(days=2)
    make_leads(acme.schema_name, agent_id=slow.pk, touches=[3, 3], arrived=recent,
               first_touch_minutes=[120, 180])
    leads = make_leads(acme.schema_name, agent_id=shallow.pk, touches=[1, 1, 0],
                       arrived=recent)
    make_leads(acme.schema_name, agent_id=good.pk, touches=[4, 5], arrived=recent)
    with in_schema(acme.schema_name):
        Task.objects.create(lead=leads[2], agent_id=shallow.pk, title="Call",
                            due_at=NOW - timedelta(hours=5))
        week = reports.team_week(brokerage=acme.brokerage, now=NOW)

    assert week["new_leads"] == 7 and week["overdue_tasks"] == 1
    assert week["first_touch_p50_seconds"] == 60  # 1, 1, 1, 1, 120, 180 minutes: median 1
    nudges = {row["name"]: [why for why, _ in row["why"]] for row in week["nudges"]}
    assert nudges == {"Shallow Sue": ["overdue", "shallow"], "Slow Sam": ["slow"]}


def test_contacted_once_lists_open_leads_of_six_months_touched_once(acme):
    agent = SeatFactory(brokerage=acme.brokerage)
    once = make_leads(acme.schema_name, agent_id=agent.pk, touches=[1, 1],
                      arrived=NOW - timedelta(days=150))
    make_leads(acme.schema_name, agent_id=agent.pk, touches=[1], stages=["lost"])
    make_leads(acme.schema_name, agent_id=agent.pk, touches=[2, 0])
    make_leads(acme.schema_name, agent_id=agent.pk, touches=[1],
               arrived=NOW - timedelta(days=200))

    with in_schema(acme.schema_name):
        found = list(reports.contacted_once(agent_id=agent.pk, now=NOW))

    assert sorted(lead.pk for lead in found) == sorted(lead.pk for lead in once)


def test_through_the_crms_services_a_closing_with_commission_moves_roi(acme):
    """The same figures from leads made, touched and closed by crm's own services."""
    agent = SeatFactory(brokerage=acme.brokerage)
    reservation = active_reservation(agent, "10001")
    arrived = NOW - timedelta(days=3)
    with in_schema(acme.schema_name):
        lead = services.receive_routed_lead(
            routed=routed(received_at=arrived, reservation_id=reservation.pk, cost_cents=3_000,
                          source_name="Zillow"), agent=agent, now=arrived)
        services.log_activity(lead=lead, by=agent, kind="call", outcome="connected",
                              now=arrived + timedelta(minutes=2))
        services.log_activity(lead=lead, by=agent, kind="text", now=arrived + timedelta(hours=1))
    before = report(acme, agent.pk)
    with in_schema(acme.schema_name):
        services.change_stage(lead=Lead.objects.get(pk=lead.pk), by=agent, stage="closed",
                              sale_price_cents=50_000_000, commission_cents=1_250_000,
                              now=NOW - timedelta(days=1))
    after = report(acme, agent.pk)

    assert before["depth"]["buckets"][2]["leads"] == 1  # two touches
    assert before["first_touch"]["p50_seconds"] == 120
    [territory] = after["roi"]["by_territory"]
    assert territory["commission_cents"] == 1_250_000 and territory["closings"] == 1
    assert territory["net_cents"] - before["roi"]["by_territory"][0]["net_cents"] == 1_250_000
    assert after["roi"]["by_source"][0]["source"] == "Zillow"
    assert after["funnel"][-1]["leads"] == 1
