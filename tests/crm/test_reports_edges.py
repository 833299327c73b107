"""The follow-up report's edges since it is one pass over the leads in SQL: no leads, an
empty window, an agent's figures against the team's (speed, funnel and money too), a lead
moved back or lost through the services, a closing of an older lead, percentiles over
leads split across sources, and the history index PostgreSQL must use."""

from __future__ import annotations

import statistics
from datetime import timedelta

import pytest
from django.db import connection, transaction

from clozings.crm import reports, services
from clozings.crm.models import Lead
from clozings.platform.tenancy import in_schema
from tests.crm.report_data import NOW, close, make_leads
from tests.tenants.factories import SeatFactory

pytestmark = pytest.mark.django_db

SINCE = NOW - timedelta(days=90)


def report(acme, agent_id, since=SINCE, **kwargs):
    with in_schema(acme.schema_name):
        return reports.follow_up_report(brokerage=acme.brokerage, agent_id=agent_id,
                                        since=since, now=NOW, **kwargs)


def p(values: list[float], fraction: float) -> float:
    """PostgreSQL's percentile_cont: linear interpolation between the closest ranks."""
    ordered = sorted(values)
    at = fraction * (len(ordered) - 1)
    low = int(at)
    high = min(low + 1, len(ordered) - 1)
    return ordered[low] + (ordered[high] - ordered[low]) * (at - low)


def test_no_leads_at_all_is_a_report_of_zeros(acme):
    agent = SeatFactory(brokerage=acme.brokerage)

    team, own = report(acme, None, per_agent=True), report(acme, agent.pk)

    for figures in (team, own):
        assert figures["leads"] == 0
        assert [b["leads"] for b in figures["depth"]["buckets"]] == [0] * 6
        assert figures["depth"]["average_touches"] is None
        assert figures["first_touch"] == {
            "routed_leads": 0, "touched": 0, "untouched": 0, "p50_seconds": None,
            "p90_seconds": None, "within_5_minutes": 0, "within_5_minutes_share": None}
        assert [row["leads"] for row in figures["funnel"]] == [0] * 5
        assert figures["roi"]["by_source"] == [] and figures["roi"]["total"]["closings"] == 0
    [row] = [row for row in team["agents"] if row["agent_id"] == agent.pk]
    assert row["leads"] == 0 and row["first_touch"]["p50_seconds"] is None


def test_a_window_after_every_lead_is_empty(acme):
    agent = SeatFactory(brokerage=acme.brokerage)
    make_leads(acme.schema_name, agent_id=agent.pk, touches=[1, 2, 3])

    figures = report(acme, None, since=NOW - timedelta(days=1), per_agent=True)

    assert figures["leads"] == 0 and figures["first_touch"]["p50_seconds"] is None
    assert figures["roi"]["by_source"] == []
    assert [row["leads"] for row in figures["agents"] if row["agent_id"] == agent.pk] == [0]


def test_an_agent_sees_only_their_own_speed_funnel_and_money(acme):
    mine, colleague = SeatFactory(brokerage=acme.brokerage), SeatFactory(brokerage=acme.brokerage)
    make_leads(acme.schema_name, agent_id=mine.pk, touches=[1, 1], first_touch_minutes=[1, 3],
               stages=["contacted", "appointment"], source_name="Zillow", cost_cents=1_000)
    theirs = make_leads(acme.schema_name, agent_id=colleague.pk, touches=[4, 4],
                        first_touch_minutes=[60, 120], stages=["agreement", "agreement"],
                        source_name="Realtor.com", cost_cents=3_000)
    close(acme.schema_name, theirs[0], commission_cents=500_000, at=NOW - timedelta(days=1))

    own, team = report(acme, mine.pk), report(acme, None, per_agent=True)

    assert own["first_touch"]["p50_seconds"] == 120  # 1 and 3 minutes
    assert [row["leads"] for row in own["funnel"]] == [2, 1, 0, 0, 0]
    assert [(s["source"], s["leads"], s["lead_cost_cents"]) for s in own["roi"]["by_source"]] \
        == [("Zillow", 2, 2_000)]
    assert own["roi"]["total"]["commission_cents"] == 0
    assert team["first_touch"]["p50_seconds"] == p([60, 180, 3_600, 7_200], 0.5)
    assert [row["leads"] for row in team["funnel"]] == [4, 3, 2, 1, 1]
    assert team["roi"]["total"]["commission_cents"] == 500_000
    rows = {row["agent_id"]: row for row in team["agents"]}
    assert rows[mine.pk]["first_touch"]["p90_seconds"] == pytest.approx(p([60, 180], 0.9))
    assert rows[colleague.pk]["funnel"][-1]["leads"] == 1


def test_percentiles_over_leads_split_across_sources_and_reservations(acme):
    first, second = SeatFactory(brokerage=acme.brokerage), SeatFactory(brokerage=acme.brokerage)
    minutes = {first.pk: [], second.pk: []}
    for agent, source, reservation, after in (
            (first, "Zillow", 1, [0.5, 7, 40]), (first, "Website", None, [2, 90]),
            (second, "Zillow", 2, [3, 4, 5, 6]), (second, "Realtor.com", 2, [300])):
        make_leads(acme.schema_name, agent_id=agent.pk, touches=[1] * len(after),
                   first_touch_minutes=after, source_name=source, reservation_id=reservation)
        minutes[agent.pk] += after

    team = report(acme, None, per_agent=True)

    everyone = [m * 60 for values in minutes.values() for m in values]
    assert team["first_touch"]["p50_seconds"] == pytest.approx(p(everyone, 0.5))
    assert team["first_touch"]["p90_seconds"] == pytest.approx(p(everyone, 0.9))
    for row in team["agents"]:
        seconds = [m * 60 for m in minutes[row["agent_id"]]]
        assert row["first_touch"]["p50_seconds"] == pytest.approx(statistics.median(seconds))
        assert row["first_touch"]["p90_seconds"] == pytest.approx(p(seconds, 0.9))
    assert {s["source"]: s["leads"] for s in team["roi"]["by_source"]} == {
        "Zillow": 7, "Website": 2, "Realtor.com": 1}
    territories = team["roi"]["by_territory"]
    assert {t["reservation_id"]: t["leads"] for t in territories if t["leads"]} == {
        1: 3, 2: 5, None: 2}


def test_leads_moved_back_or_lost_through_the_services_count_for_where_they_got(acme):
    agent = SeatFactory(brokerage=acme.brokerage)
    back, lost, lost_from_new = make_leads(
        acme.schema_name, agent_id=agent.pk, touches=[3, 3, 0],
        stages=["under_contract", "agreement", "new"])
    with in_schema(acme.schema_name):
        services.change_stage(lead=Lead.objects.get(pk=back.pk), by=agent, stage="contacted",
                              now=NOW - timedelta(days=2))
        for lead in (lost, lost_from_new):
            services.change_stage(lead=Lead.objects.get(pk=lead.pk), by=agent, stage="lost",
                                  reason="Bought elsewhere", now=NOW - timedelta(days=1))

    funnel = [row["leads"] for row in report(acme, agent.pk)["funnel"]]

    # contacted: back, lost; appointment and agreement: both; under contract: back
    assert funnel == [2, 2, 2, 1, 0]


def test_an_older_lead_closed_in_the_window_is_money_not_a_lead_of_the_window(acme):
    agent = SeatFactory(brokerage=acme.brokerage)
    [old] = make_leads(acme.schema_name, agent_id=agent.pk, touches=[6],
                       arrived=SINCE - timedelta(days=30), stages=["under_contract"])
    close(acme.schema_name, old, commission_cents=700_000, at=NOW - timedelta(days=3))
    other = SeatFactory(brokerage=acme.brokerage, status="deactivated")
    [former] = make_leads(acme.schema_name, agent_id=other.pk, touches=[2],
                          arrived=SINCE - timedelta(days=30), stages=["under_contract"])
    close(acme.schema_name, former, commission_cents=100_000, at=NOW - timedelta(days=3))

    team = report(acme, None, per_agent=True)

    assert team["leads"] == 0 and team["funnel"][-1]["leads"] == 0
    assert team["roi"]["total"]["closings"] == 2
    assert team["roi"]["total"]["commission_cents"] == 800_000
    [source] = team["roi"]["by_source"]
    assert source["leads"] == 0 and source["lead_cost_cents"] == 0
    assert isinstance(source["commission_cents"], int)
    # the former seat holds no lead of the window, so it has no row
    assert other.pk not in {row["agent_id"] for row in team["agents"]}


def test_the_team_weeks_depth_adds_up_over_every_agent(acme):
    first, second = SeatFactory(brokerage=acme.brokerage), SeatFactory(brokerage=acme.brokerage)
    recent = NOW - timedelta(days=10)
    make_leads(acme.schema_name, agent_id=first.pk, touches=[0, 1, 1, 5], arrived=recent)
    make_leads(acme.schema_name, agent_id=second.pk, touches=[2, 3, 4, 9], arrived=recent)
    make_leads(acme.schema_name, agent_id=second.pk, touches=[1] * 5,
               arrived=NOW - timedelta(days=40))  # before the 30 days

    with in_schema(acme.schema_name):
        week = reports.team_week(brokerage=acme.brokerage, now=NOW)

    assert [b["leads"] for b in week["depth"]["buckets"]] == [1, 2, 1, 1, 1, 2]
    assert week["depth"]["average_touches"] == 25 / 8
    rows = {row["agent_id"]: row for row in week["agents"]}
    assert rows[first.pk]["at_most_one_touch"] == 3 and rows[first.pk]["leads"] == 4
    assert rows[second.pk]["average_touches"] == 4.5


def test_the_stage_history_is_read_through_its_partial_index(acme):
    """The query's text for a change that moved a lead back is migration 0007's index
    predicate: with sequential scans off, PostgreSQL picks that index (it would not if the
    two texts drifted apart)."""
    with in_schema(acme.schema_name), transaction.atomic(), connection.cursor() as cursor:
        cursor.execute("SET LOCAL enable_seqscan = off")
        cursor.execute(f"EXPLAIN SELECT lead_id FROM crm_stagechange WHERE {reports._DOWNWARD}")
        plan = "\n".join(row[0] for row in cursor.fetchall())

    assert "crm_stage_change_down" in plan


def test_overdue_tasks_are_counted_from_their_partial_index(acme):
    """The same in a brokerage's schema, which is a copy of the template: the copied index
    still matches the query."""
    with in_schema(acme.schema_name), transaction.atomic(), connection.cursor() as cursor:
        cursor.execute("SET LOCAL enable_seqscan = off")
        cursor.execute("SET LOCAL enable_bitmapscan = off")
        plan = reports.overdue_tasks(now=NOW).values("agent_id").explain()

    assert "crm_task_overdue" in plan
