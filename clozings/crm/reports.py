"""The follow-up reports (reads): how deep agents follow up, how fast they first touch a
lead, how far leads get through the stages, and what the territories and sources return.

An agent's report covers their own leads; an admin's the team's (`agent_id=None`), with a
row per agent. Every figure is aggregated in PostgreSQL: a report is a handful of queries
whatever the number of leads (the lead figures in one, ROI in three, the per-agent table
in two). Runs inside the brokerage's schema (the request's), plus public reads of the
territories' reservations for what a territory cost.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from django.db.models import (
    Aggregate,
    Avg,
    Count,
    Exists,
    F,
    FloatField,
    Func,
    OuterRef,
    Q,
    QuerySet,
    Sum,
)
from django.db.models.functions import Coalesce

from clozings.crm.models import (
    Activity,
    Cadence,
    CadenceState,
    Channel,
    Lead,
    StageChange,
    Task,
)
from clozings.tenants.models import Brokerage, Seat
from clozings.territories.models import Reservation

DEFAULT_WINDOW = timedelta(days=90)
FAST_FIRST_TOUCH = timedelta(minutes=5)
# A month of a territory's subscription, for what a territory cost over a window.
MONTH = timedelta(days=365.25 / 12)

# Follow-up depth buckets: the number of touches on a lead (5+: five or more).
DEPTH_BUCKETS = ("0", "1", "2", "3", "4", "5+")
# The figures the issue cites (National Association of Sales Executives, as widely
# quoted): about half never follow up after a first call (48% stop at one touch), a quarter
# try a second time, 12% a third, and about one in ten four or more.
INDUSTRY_SOURCE = ("National Association of Sales Executives, as widely quoted: about half "
                   "of salespeople never follow up after a first call, a quarter try a "
                   "second time and fewer than one in ten try three or more.")
INDUSTRY_DEPTH = (("1", 0.48), ("2", 0.25), ("3", 0.12), ("4+", 0.10))
# The funnel: each stage counts the leads that reached at least it (from the stage history
# and the current stage), in order.
FUNNEL_STAGES = (Lead.Stage.CONTACTED, Lead.Stage.APPOINTMENT, Lead.Stage.AGREEMENT,
                 Lead.Stage.UNDER_CONTRACT, Lead.Stage.CLOSED)


class PercentileCont(Aggregate):
    """PostgreSQL's continuous percentile of an expression, e.g. the median at 0.5."""

    function = "percentile_cont"
    template = "%(function)s(%(fraction)s) WITHIN GROUP (ORDER BY %(expressions)s)"
    output_field = FloatField()

    def __init__(self, expression, *, fraction: float, **extra):
        super().__init__(expression, fraction=float(fraction), **extra)


def _seconds(later: str, earlier: str = "created_at") -> Func:
    return Func(F(later) - F(earlier), template="EXTRACT(EPOCH FROM %(expressions)s)",
                output_field=FloatField())


def _share(part: int, whole: int) -> float | None:
    return part / whole if whole else None


# --- whose leads, since when ---------------------------------------------------------------
def leads_in_scope(*, agent_id: int | None) -> QuerySet[Lead]:
    """The leads a report covers: the agent's, or the team's (None); never the ones taken
    away after the first-touch SLA (they are another agent's now)."""
    leads = Lead.objects.exclude(stage=Lead.Stage.REASSIGNED).order_by()
    return leads if agent_id is None else leads.filter(agent_id=agent_id)


def _at_least(stage: str) -> list[str]:
    stages = list(FUNNEL_STAGES)
    return [str(s) for s in stages[stages.index(stage):]]


def _lead_aggregates(*, routed: Q) -> dict:
    """Depth buckets, speed to first touch and the funnel, as aggregates of one query."""
    figures: dict = {"total": Count("id")}
    for bucket in DEPTH_BUCKETS:
        touches = (Q(touch_count__gte=5) if bucket == "5+" else Q(touch_count=int(bucket)))
        figures[f"depth_{bucket}"] = Count("id", filter=touches)
    figures["touches"] = Coalesce(Sum("touch_count"), 0)
    # Speed counts leads that were routed in (an imported or hand-made lead was not waiting).
    touched = routed & Q(first_touch_at__isnull=False)
    figures["routed"] = Count("id", filter=routed)
    figures["touched"] = Count("id", filter=touched)
    figures["fast"] = Count("id", filter=touched & Q(
        first_touch_at__lte=F("created_at") + FAST_FIRST_TOUCH))
    figures["first_touch_p50"] = PercentileCont(_seconds("first_touch_at"), fraction=0.5,
                                                filter=touched)
    figures["first_touch_p90"] = PercentileCont(_seconds("first_touch_at"), fraction=0.9,
                                                filter=touched)
    for stage in FUNNEL_STAGES:
        reached = _at_least(stage)
        figures[f"reached_{stage}"] = Count("id", filter=Q(stage__in=reached) | Q(Exists(
            StageChange.objects.filter(lead=OuterRef("pk"), to_stage__in=reached))))
    return figures


def _shape_leads(row: dict) -> dict:
    total = row["total"]
    depth = [{"touches": bucket, "leads": row[f"depth_{bucket}"],
              "share": _share(row[f"depth_{bucket}"], total)} for bucket in DEPTH_BUCKETS]
    four_plus = row["depth_4"] + row["depth_5+"]
    previous = total
    funnel = []
    for stage in FUNNEL_STAGES:
        n = row[f"reached_{stage}"]
        funnel.append({"stage": str(stage), "label": Lead.Stage(stage).label, "leads": n,
                       "share_of_leads": _share(n, total),
                       "share_of_previous": _share(n, previous)})
        previous = n
    return {
        "leads": total,
        "depth": {
            "buckets": depth,
            "average_touches": _share(row["touches"], total),
            "four_or_more_share": _share(four_plus, total),
            "five_or_more_share": _share(row["depth_5+"], total),
            "industry": [{"touches": touches, "share": share}
                         for touches, share in INDUSTRY_DEPTH],
            "industry_source": INDUSTRY_SOURCE,
        },
        "first_touch": {
            "routed_leads": row["routed"],
            "touched": row["touched"],
            "untouched": row["routed"] - row["touched"],
            "p50_seconds": row["first_touch_p50"],
            "p90_seconds": row["first_touch_p90"],
            "within_5_minutes": row["fast"],
            "within_5_minutes_share": _share(row["fast"], row["routed"]),
        },
        "funnel": funnel,
    }


def lead_figures(*, agent_id: int | None, since: datetime) -> dict:
    """Depth, speed and funnel over the leads that arrived since `since`, in one query."""
    row = leads_in_scope(agent_id=agent_id).filter(created_at__gte=since).aggregate(
        **_lead_aggregates(routed=Q(inbound_lead_id__isnull=False)))
    return _shape_leads(row)


# --- ROI -----------------------------------------------------------------------------------
def _money_aggregates(since: datetime) -> dict:
    arrived, closed = Q(created_at__gte=since), Q(stage=Lead.Stage.CLOSED, closed_at__gte=since)
    return {"leads": Count("id", filter=arrived),
            "lead_cost_cents": Coalesce(Sum("cost_cents", filter=arrived), 0),
            "closings": Count("id", filter=closed),
            "commission_cents": Coalesce(Sum("commission_cents", filter=closed), 0)}


def _returns(row: dict, cost: int) -> dict:
    net = row["commission_cents"] - cost
    return {"cost_cents": cost, "net_cents": net,
            "roi": net / cost if cost else None}


def held_cost_cents(reservation: Reservation, *, since: datetime, now: datetime) -> int:
    """What holding a territory cost over [since, now]: its monthly price prorated over the
    time it was held (from activation to release) within the window."""
    if reservation.activated_at is None:
        return 0
    start = max(reservation.activated_at, since)
    end = min(reservation.released_at or now, now)
    if end <= start:
        return 0
    return round(reservation.price_cents * ((end - start) / MONTH))


def roi_by_territory(*, brokerage: Brokerage, agent_id: int | None, since: datetime,
                     now: datetime) -> list[dict]:
    """Per territory (the reservation a lead came through): commission closed since `since`
    against the territory's cost over the window plus what its leads cost. Reservations held
    in the window count even without a lead; leads of no territory (imported, added by
    hand) make a row of their own. Best return first. Two queries."""
    in_window = Q(created_at__gte=since) | Q(closed_at__gte=since)
    rows = {row["reservation_id"]: row for row in
            leads_in_scope(agent_id=agent_id).filter(in_window).values("reservation_id")
            .annotate(**_money_aggregates(since))}
    held = Reservation.objects.filter(brokerage=brokerage).filter(
        Q(activated_at__isnull=False) & (Q(released_at__isnull=True) | Q(released_at__gt=since)))
    if agent_id is not None:
        held = held.filter(seat_id=agent_id)
    reservations = {r.pk: r for r in Reservation.objects.filter(
        Q(pk__in=[pk for pk in rows if pk is not None]) | Q(pk__in=held.values("pk")))
        .select_related("territory")}
    empty = {"leads": 0, "lead_cost_cents": 0, "closings": 0, "commission_cents": 0}
    out = []
    for pk in sorted(set(rows) | set(reservations), key=lambda pk: (pk is None, pk or 0)):
        row = rows.get(pk, empty)
        reservation = reservations.get(pk)
        territory_cost = 0 if reservation is None else held_cost_cents(
            reservation, since=since, now=now)
        out.append({
            "reservation_id": pk,
            "zip_code": reservation.territory.zip_code if reservation else None,
            "city": reservation.territory.city if reservation else "",
            "agent_id": reservation.seat_id if reservation else None,
            "territory_cost_cents": territory_cost,
            **{key: row[key] for key in empty},
            **_returns(row, territory_cost + row["lead_cost_cents"]),
        })
    out.sort(key=lambda r: (r["zip_code"] is None, -(r["net_cents"])))
    return out


def roi_by_source(*, agent_id: int | None, since: datetime) -> list[dict]:
    """Per lead source: commission closed since `since` against what its leads cost, one
    query, best return first."""
    in_window = Q(created_at__gte=since) | Q(closed_at__gte=since)
    rows = (leads_in_scope(agent_id=agent_id).filter(in_window).values("source_name")
            .annotate(**_money_aggregates(since)))
    out = [{"source": row["source_name"] or "", **{k: row[k] for k in (
        "leads", "lead_cost_cents", "closings", "commission_cents")},
        **_returns(row, row["lead_cost_cents"])} for row in rows]
    out.sort(key=lambda r: (-r["net_cents"], r["source"]))
    return out


# --- per agent (admins) -----------------------------------------------------------------------
def by_agent(*, brokerage: Brokerage, since: datetime) -> list[dict]:
    """One row per agent of the team (active seats, and anyone else holding leads of the
    window): leads, depth, speed and closings. Two queries; the least followed-up first."""
    routed = Q(inbound_lead_id__isnull=False)
    rows = {row["agent_id"]: row for row in
            leads_in_scope(agent_id=None).filter(created_at__gte=since).values("agent_id")
            .annotate(**_lead_aggregates(routed=routed))}
    seats = Seat.objects.filter(brokerage=brokerage).filter(
        Q(status=Seat.Status.ACTIVE) | Q(pk__in=list(rows))).order_by("name", "email", "pk")
    out = []
    for seat in seats:
        row = rows.get(seat.pk)
        if row is None and (seat.status != Seat.Status.ACTIVE or seat.is_admin):
            continue  # no lead here: a former seat, or an admin who takes none
        shaped = _shape_leads(row) if row else _shape_leads(_empty_lead_row())
        out.append({"agent_id": seat.pk, "name": seat.name or seat.email,
                    "role": seat.role, **shaped})
    out.sort(key=lambda r: (r["leads"] == 0, r["depth"]["average_touches"] or 0, r["name"]))
    return out


def _empty_lead_row() -> dict:
    row = {"total": 0, "touches": 0, "routed": 0, "touched": 0, "fast": 0,
           "first_touch_p50": None, "first_touch_p90": None}
    row |= {f"depth_{bucket}": 0 for bucket in DEPTH_BUCKETS}
    row |= {f"reached_{stage}": 0 for stage in FUNNEL_STAGES}
    return row


# --- the whole report ------------------------------------------------------------------------
def follow_up_report(*, brokerage: Brokerage, agent_id: int | None, since: datetime,
                     now: datetime, per_agent: bool = False) -> dict:
    """The follow-up report of an agent (their id) or the team (None): the lead figures,
    ROI per territory and per source, and (`per_agent`) a row per agent."""
    report = {"since": since, "until": now, "agent_id": agent_id,
              **lead_figures(agent_id=agent_id, since=since),
              "roi": {"by_territory": roi_by_territory(brokerage=brokerage, agent_id=agent_id,
                                                       since=since, now=now),
                      "by_source": roi_by_source(agent_id=agent_id, since=since)}}
    totals = {"commission_cents": 0, "cost_cents": 0, "closings": 0}
    for row in report["roi"]["by_territory"]:
        totals["commission_cents"] += row["commission_cents"]
        totals["cost_cents"] += row["cost_cents"]
        totals["closings"] += row["closings"]
    report["roi"]["total"] = {**totals, **_returns(totals, totals["cost_cents"])}
    report["agents"] = by_agent(brokerage=brokerage, since=since) if per_agent else None
    return report


# --- the admin's home: the team this week ------------------------------------------------------
WEEK = timedelta(days=7)
DEPTH_WINDOW = timedelta(days=30)
NUDGES_SHOWN = 3


def team_week(*, brokerage: Brokerage, now: datetime) -> dict:
    """The team's week for the admin's home: new leads, median time to first touch, depth
    (leads of the last 30 days), overdue tasks, closings, and the agents who need a nudge.
    Five queries."""
    week_ago = now - WEEK
    leads = leads_in_scope(agent_id=None)
    week = leads.filter(created_at__gte=week_ago).aggregate(
        new=Count("id"),
        routed=Count("id", filter=Q(inbound_lead_id__isnull=False)),
        fast=Count("id", filter=Q(inbound_lead_id__isnull=False, first_touch_at__lte=F(
            "created_at") + FAST_FIRST_TOUCH)),
        untouched=Count("id", filter=Q(first_touch_at__isnull=True, stage__in=Lead.OPEN_STAGES)),
        first_touch_p50=PercentileCont(_seconds("first_touch_at"), fraction=0.5, filter=Q(
            inbound_lead_id__isnull=False, first_touch_at__isnull=False)))
    closings = leads.filter(stage=Lead.Stage.CLOSED, closed_at__gte=week_ago).aggregate(
        n=Count("id"), commission_cents=Coalesce(Sum("commission_cents"), 0))
    touches = Activity.objects.filter(kind__in=Activity.TOUCHES, automated=False,
                                      inbound=False, created_at__gte=week_ago).count()
    depth = lead_figures(agent_id=None, since=now - DEPTH_WINDOW)["depth"]
    agents = _nudge_rows(brokerage=brokerage, now=now)
    overdue = sum(row["overdue"] for row in agents)
    return {
        "since": week_ago, "now": now,
        "new_leads": week["new"], "untouched": week["untouched"],
        "first_touch_p50_seconds": week["first_touch_p50"],
        "within_5_minutes_share": _share(week["fast"], week["routed"]),
        "touches": touches,
        "depth": depth, "depth_since": now - DEPTH_WINDOW,
        "overdue_tasks": overdue,
        "closings": closings["n"], "commission_cents": closings["commission_cents"],
        "agents": agents,
        "nudges": _nudges(agents),
    }


def _nudge_rows(*, brokerage: Brokerage, now: datetime) -> list[dict]:
    """Per active seat: open overdue tasks now (the agent's, not the worker's), median first
    touch this week, average touches on leads of the last 30 days. Three queries."""
    overdue = dict(Task.objects.filter(completed_at__isnull=True, due_at__lt=now)
                   .exclude(channel__in=[Channel.AUTO_EMAIL, Channel.AUTO_TEXT]).order_by()
                   .values("agent_id").annotate(n=Count("id")).values_list("agent_id", "n"))
    routed_touched = Q(inbound_lead_id__isnull=False, first_touch_at__isnull=False,
                       created_at__gte=now - WEEK)
    figures = {row["agent_id"]: row for row in leads_in_scope(agent_id=None)
               .filter(created_at__gte=now - DEPTH_WINDOW).values("agent_id").annotate(
        leads=Count("id"), average_touches=Avg("touch_count"),
        single=Count("id", filter=Q(touch_count__lte=1)),
        first_touch_p50=PercentileCont(_seconds("first_touch_at"), fraction=0.5,
                                       filter=routed_touched))}
    rows = []
    for seat in Seat.objects.filter(brokerage=brokerage, status=Seat.Status.ACTIVE).order_by(
            "name", "email", "pk"):
        row = figures.get(seat.pk, {})
        if seat.is_admin and not row and not overdue.get(seat.pk):
            continue  # an admin who takes no leads is no one to nudge
        rows.append({"agent_id": seat.pk, "name": seat.name or seat.email,
                     "overdue": overdue.get(seat.pk, 0), "leads": row.get("leads", 0),
                     "average_touches": row.get("average_touches"),
                     "at_most_one_touch": row.get("single", 0),
                     "first_touch_p50_seconds": row.get("first_touch_p50")})
    return rows


def _nudges(agents: list[dict]) -> list[dict]:
    """The agents who need a nudge, each once, for the worst of: most overdue tasks, the
    slowest first touch, the lowest depth."""
    picked: dict[int, dict] = {}

    def take(rows: list[dict], why) -> None:
        for row in rows[:NUDGES_SHOWN]:
            picked.setdefault(row["agent_id"], {**row, "why": []})["why"].append(why(row))

    take(sorted((r for r in agents if r["overdue"]), key=lambda r: -r["overdue"]),
         lambda r: ("overdue", r["overdue"]))
    take(sorted((r for r in agents if r["first_touch_p50_seconds"] is not None
                 and r["first_touch_p50_seconds"] > FAST_FIRST_TOUCH.total_seconds()),
                key=lambda r: -r["first_touch_p50_seconds"]),
         lambda r: ("slow", r["first_touch_p50_seconds"]))
    take(sorted((r for r in agents if r["leads"] and (r["average_touches"] or 0) < 2),
                key=lambda r: r["average_touches"] or 0),
         lambda r: ("shallow", r["average_touches"] or 0))
    return list(picked.values())


# --- audit and revive ------------------------------------------------------------------------
REVIVE_WINDOW = timedelta(days=183)  # six months


def contacted_once(*, agent_id: int | None, now: datetime) -> QuerySet[Lead]:
    """Open leads from the last six months touched only once and not already being
    re-engaged: the ones most agents let go. Oldest touch first."""
    return (leads_in_scope(agent_id=agent_id)
            .filter(created_at__gte=now - REVIVE_WINDOW, touch_count=1,
                    stage__in=Lead.OPEN_STAGES)
            .exclude(cadence__purpose=Cadence.Purpose.RE_ENGAGEMENT,
                     cadence_state=CadenceState.ACTIVE)
            .order_by("last_touch_at", "id"))


def being_revived(*, agent_id: int | None, now: datetime) -> int:
    """Of the same leads, how many run in a re-engagement cadence already."""
    return (leads_in_scope(agent_id=agent_id)
            .filter(created_at__gte=now - REVIVE_WINDOW, touch_count=1,
                    stage__in=Lead.OPEN_STAGES, cadence__purpose=Cadence.Purpose.RE_ENGAGEMENT,
                    cadence_state=CadenceState.ACTIVE).count())


def re_engagement_cadence() -> Cadence | None:
    """The brokerage's re-engagement cadence (seeded with the schema; the first if an admin
    added more), None if an admin archived them all."""
    return (Cadence.objects.filter(purpose=Cadence.Purpose.RE_ENGAGEMENT,
                                   archived_at__isnull=True).order_by("id").first())
