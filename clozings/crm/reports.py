"""The follow-up reports (reads): how deep agents follow up, how fast they first touch a
lead, how far leads get through the stages, and what the territories and sources return.

An agent's report covers their own leads; an admin's the team's (`agent_id=None`), with a
row per agent. Every figure is aggregated in PostgreSQL in one pass over the leads of the
window (`_report_sql`: depth, speed, funnel, per agent, and the money per reservation and
per source), so a report is a handful of queries whatever the number of leads: that pass,
the reservations (for what a territory cost) and, per agent, the seats. The lead row
carries the facts (touch count, first touch, stage, closing, cost); of the stage history,
only the changes that moved a lead back are read (a partial index of migration 0007).
Runs inside the brokerage's schema (the request's), plus public reads of the territories'
reservations.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from django.db import connection, transaction
from django.db.models import (
    Aggregate,
    Count,
    F,
    FloatField,
    Func,
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


# --- one pass over the leads ----------------------------------------------------------------
# The funnel in SQL: a stage's rank (1 for contacted ... 5 for closed; 0 for new, lost and
# reassigned). A lead reached every stage up to its furthest rank: the greater of its current
# stage's and of the stages in its history. Migration 0007's partial index
# crm_stage_change_down holds the same CASE text, so that PostgreSQL uses it for `_DOWNWARD`.
def _rank_sql(column: str) -> str:
    whens = " ".join(f"WHEN '{stage}' THEN {rank}" for rank, stage in
                     enumerate(FUNNEL_STAGES, start=1))
    return f"(CASE {column} {whens} ELSE 0 END)"


# A stage change that moved a lead back (e.g. agreement -> contacted, or to lost). The
# services record every change with the stage the lead left (`from_stage`), so a lead's
# furthest stage is the greater of its stage and of the stages it moved back from. A lead
# made lost without a change (no such lead is written by the services, but data can be)
# reads its whole history instead.
_DOWNWARD = f"{_rank_sql('from_stage')} > {_rank_sql('to_stage')}"
# What adds up over the leads: the lead figures (of the leads that arrived in the window)
# and the money (their cost; the commission of the leads closed in the window).
_COUNTS = ("total", *(f"depth_{bucket}" for bucket in DEPTH_BUCKETS), "touches", "routed",
           "touched", "fast", *(f"reached_{stage}" for stage in FUNNEL_STAGES))
_MONEY = ("leads", "lead_cost_cents", "closings", "commission_cents")
# Both percentiles of the first-touch seconds, from one sort.
_PERCENTILES = "percentile_cont(ARRAY[0.5, 0.9]) WITHIN GROUP (ORDER BY s)"


def _report_sql(*, agent_id: int | None, since: datetime, per_agent: bool) -> tuple[str, list]:
    """One pass over the leads of the window (arrived or closed since `since`), hashed into
    cells of (agent, reservation, source) that add up to every row of the report. A cell
    carries its first-touch seconds in an array; the percentiles are taken from the arrays
    (the agent's, with `per_agent`, and everyone's), so they are PostgreSQL's percentile_cont
    over the leads, without sorting the leads. A lead's furthest stage is its stage, or
    the furthest it moved back from (`_DOWNWARD`); only a lead made lost without a change
    reads its whole history (one index probe)."""
    lead, change = Lead._meta.db_table, StageChange._meta.db_table
    depth = ", ".join(
        f"count(*) FILTER (WHERE arrived AND touch_count >= 5) AS \"depth_{bucket}\""
        if bucket == "5+" else
        f"count(*) FILTER (WHERE arrived AND touch_count = {int(bucket)}) AS \"depth_{bucket}\""
        for bucket in DEPTH_BUCKETS)
    funnel = ", ".join(f"count(*) FILTER (WHERE furthest >= {rank}) AS \"reached_{stage}\""
                       for rank, stage in enumerate(FUNNEL_STAGES, start=1))
    scope = "l.stage <> %s AND (l.created_at >= %s OR l.closed_at >= %s)"
    scope_params: list = [Lead.Stage.REASSIGNED, since, since]
    if agent_id is not None:
        scope, scope_params = scope + " AND l.agent_id = %s", [*scope_params, agent_id]
    own = (f"(SELECT {_PERCENTILES} FROM cells c, unnest(c.seconds) s "
           f"WHERE c.agent_id = agents.agent_id)" if per_agent else "NULL")
    sql = f"""
        WITH cells AS MATERIALIZED (
            SELECT agent_id, reservation_id, source_name,
                   count(*) FILTER (WHERE arrived) AS total, {depth},
                   coalesce(sum(touch_count) FILTER (WHERE arrived), 0) AS touches,
                   count(*) FILTER (WHERE arrived AND routed) AS routed,
                   count(*) FILTER (WHERE arrived AND routed AND first_touch_at IS NOT NULL)
                       AS touched,
                   count(*) FILTER (WHERE arrived AND routed
                                    AND first_touch_at <= created_at + %s) AS fast,
                   {funnel},
                   array_agg(EXTRACT(EPOCH FROM first_touch_at - created_at)::float8)
                       FILTER (WHERE arrived AND routed AND first_touch_at IS NOT NULL)
                       AS seconds,
                   coalesce(sum(cost_cents) FILTER (WHERE arrived), 0)::bigint
                       AS lead_cost_cents,
                   count(*) FILTER (WHERE closed) AS closings,
                   coalesce(sum(commission_cents) FILTER (WHERE closed), 0)::bigint
                       AS commission_cents
            FROM (SELECT l.agent_id, l.reservation_id, l.source_name, l.touch_count,
                         l.first_touch_at, l.created_at, l.cost_cents, l.commission_cents,
                         l.created_at >= %s AS arrived,
                         l.stage = %s AND l.closed_at >= %s AS closed,
                         l.inbound_lead_id IS NOT NULL AS routed,
                         CASE WHEN l.created_at < %s THEN 0 ELSE GREATEST(
                             {_rank_sql("l.stage")}, back.reached, CASE
                             WHEN l.stage = %s AND l.id NOT IN (
                                 SELECT lead_id FROM {change} WHERE to_stage = %s)
                             THEN (SELECT max({_rank_sql("c.to_stage")}) FROM {change} c
                                   WHERE c.lead_id = l.id)
                             END) END AS furthest
                  FROM {lead} l LEFT JOIN (
                      SELECT lead_id, max({_rank_sql("from_stage")}) AS reached
                      FROM {change} WHERE {_DOWNWARD} GROUP BY lead_id
                  ) back ON back.lead_id = l.id
                  WHERE {scope}
                  OFFSET 0) leads  -- `furthest` once per lead, not once per stage
            GROUP BY agent_id, reservation_id, source_name)
        SELECT cells.*, agents.percentiles,
               (SELECT {_PERCENTILES} FROM cells c, unnest(c.seconds) s) AS team_percentiles
        FROM cells JOIN (SELECT agent_id, {own} AS percentiles
                         FROM (SELECT DISTINCT agent_id FROM cells) agents
                         OFFSET 0) agents  -- an agent's percentiles once, not once per cell
             USING (agent_id)"""
    params = [FAST_FIRST_TOUCH, since, Lead.Stage.CLOSED, since, since, Lead.Stage.LOST,
              Lead.Stage.LOST, *scope_params]
    return sql, params


class _Rows:
    """The report's rows, added up from the cells of `_report_sql`: everyone's lead
    figures (`total`), per agent (`agents`, with `per_agent`), and the money per
    reservation (`reservations`, {reservation id or None: row}) and per source."""

    def __init__(self, *, agent_id: int | None, since: datetime, per_agent: bool = False):
        sql, params = _report_sql(agent_id=agent_id, since=since, per_agent=per_agent)
        with transaction.atomic(), connection.cursor() as cursor:
            # No JIT: the history probe (costed per lead, run for almost none) makes the
            # planner's estimate large enough for it, and compiling costs more (about half a
            # second) than the query. Memory to hash the cells (the planner reckons on many;
            # they are a few hundred), not to sort the leads. Both for this transaction only.
            cursor.execute("SELECT set_config('jit', 'off', true), "
                           "set_config('work_mem', '256MB', true)")
            cursor.execute(sql, params)
            names = [column.name for column in cursor.description]
            cells = [dict(zip(names, values, strict=True)) for values in cursor.fetchall()]
        self.total = _empty_lead_row()
        self.agents: dict[int, dict] = {}
        self.reservations: dict[int | None, dict] = {}
        self.sources: dict[str, dict] = {}
        for cell in cells:
            cell["leads"] = cell["total"]
            _add(self.total, cell, _COUNTS)
            self.total["first_touch_p50"], self.total["first_touch_p90"] = (
                cell["team_percentiles"] or (None, None))
            if per_agent:
                agent = self.agents.setdefault(cell["agent_id"], _empty_lead_row())
                _add(agent, cell, _COUNTS)
                agent["first_touch_p50"], agent["first_touch_p90"] = (
                    cell["percentiles"] or (None, None))
            _add(self.reservations.setdefault(cell["reservation_id"], dict.fromkeys(_MONEY, 0)),
                 cell, _MONEY)
            _add(self.sources.setdefault(cell["source_name"] or "", dict.fromkeys(_MONEY, 0)),
                 cell, _MONEY)
        # an agent whose only leads here closed in the window but arrived before it
        self.agents = {pk: row for pk, row in self.agents.items() if row["total"]}


def _add(into: dict, cell: dict, names: tuple[str, ...]) -> None:
    for name in names:
        into[name] += cell[name]


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
    return _shape_leads(_Rows(agent_id=agent_id, since=since).total)


# --- ROI -----------------------------------------------------------------------------------
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
    hand) make a row of their own. Best return first. The report's pass over the leads,
    then the reservations."""
    rows = _Rows(agent_id=agent_id, since=since).reservations
    return _territory_rows(brokerage=brokerage, agent_id=agent_id, rows=rows, since=since,
                           now=now)


def _territory_rows(*, brokerage: Brokerage, agent_id: int | None, rows: dict,
                    since: datetime, now: datetime) -> list[dict]:
    held = Reservation.objects.filter(brokerage=brokerage).filter(
        Q(activated_at__isnull=False) & (Q(released_at__isnull=True) | Q(released_at__gt=since)))
    if agent_id is not None:
        held = held.filter(seat_id=agent_id)
    reservations = {r.pk: r for r in Reservation.objects.filter(
        Q(pk__in=[pk for pk in rows if pk is not None]) | Q(pk__in=held.values("pk")))
        .select_related("territory")}
    empty = dict.fromkeys(_MONEY, 0)
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
            **{key: row[key] for key in _MONEY},
            **_returns(row, territory_cost + row["lead_cost_cents"]),
        })
    out.sort(key=lambda r: (r["zip_code"] is None, -(r["net_cents"])))
    return out


def roi_by_source(*, agent_id: int | None, since: datetime) -> list[dict]:
    """Per lead source: commission closed since `since` against what its leads cost, best
    return first (the report's pass over the leads)."""
    return _source_rows(_Rows(agent_id=agent_id, since=since).sources)


def _source_rows(rows: dict[str, dict]) -> list[dict]:
    out = [{"source": source, **{k: row[k] for k in _MONEY},
            **_returns(row, row["lead_cost_cents"])} for source, row in rows.items()]
    out.sort(key=lambda r: (-r["net_cents"], r["source"]))
    return out


# --- per agent (admins) -----------------------------------------------------------------------
def by_agent(*, brokerage: Brokerage, since: datetime) -> list[dict]:
    """One row per agent of the team (active seats, and anyone else holding leads of the
    window): leads, depth, speed and closings; the least followed-up first. The report's
    pass over the leads, then the seats."""
    return _agent_rows(brokerage=brokerage,
                       rows=_Rows(agent_id=None, since=since, per_agent=True).agents)


def _agent_rows(*, brokerage: Brokerage, rows: dict[int, dict]) -> list[dict]:
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
    ROI per territory and per source, and (`per_agent`) a row per agent. One pass over the
    leads (`_Rows`: its settings, then the query), one query of the reservations and, per
    agent, one of the seats: four queries or three, whatever the number of leads."""
    rows = _Rows(agent_id=agent_id, since=since, per_agent=per_agent)
    report = {"since": since, "until": now, "agent_id": agent_id, **_shape_leads(rows.total),
              "roi": {"by_territory": _territory_rows(brokerage=brokerage, agent_id=agent_id,
                                                      rows=rows.reservations, since=since,
                                                      now=now),
                      "by_source": _source_rows(rows.sources)}}
    totals = {"commission_cents": 0, "cost_cents": 0, "closings": 0}
    for row in report["roi"]["by_territory"]:
        totals["commission_cents"] += row["commission_cents"]
        totals["cost_cents"] += row["cost_cents"]
        totals["closings"] += row["closings"]
    report["roi"]["total"] = {**totals, **_returns(totals, totals["cost_cents"])}
    report["agents"] = (_agent_rows(brokerage=brokerage, rows=rows.agents) if per_agent
                        else None)
    return report


# --- the admin's home: the team this week ------------------------------------------------------
WEEK = timedelta(days=7)
DEPTH_WINDOW = timedelta(days=30)
NUDGES_SHOWN = 3


def team_week(*, brokerage: Brokerage, now: datetime) -> dict:
    """The team's week for the admin's home: new leads, median time to first touch, depth
    (leads of the last 30 days), overdue tasks, closings, and the agents who need a nudge.
    Six queries, each on an index of its window."""
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
    figures = _recent_figures(now=now)
    depth = _empty_lead_row()
    for row in figures.values():
        _add(depth, row, ("total", "touches", *(f"depth_{b}" for b in DEPTH_BUCKETS)))
    agents = _nudge_rows(brokerage=brokerage, figures=figures, now=now)
    overdue = sum(row["overdue"] for row in agents)
    return {
        "since": week_ago, "now": now,
        "new_leads": week["new"], "untouched": week["untouched"],
        "first_touch_p50_seconds": week["first_touch_p50"],
        "within_5_minutes_share": _share(week["fast"], week["routed"]),
        "touches": touches,
        "depth": _shape_leads(depth)["depth"], "depth_since": now - DEPTH_WINDOW,
        "overdue_tasks": overdue,
        "closings": closings["n"], "commission_cents": closings["commission_cents"],
        "agents": agents,
        "nudges": _nudges(agents),
    }


def _recent_figures(*, now: datetime) -> dict[int, dict]:
    """Per agent holding leads of the last 30 days: their depth (which adds up to the
    team's), and the median first touch of the week's routed leads. One query."""
    routed_touched = Q(inbound_lead_id__isnull=False, first_touch_at__isnull=False,
                       created_at__gte=now - WEEK)
    depth = {f"depth_{bucket}": Count("id", filter=Q(touch_count__gte=5) if bucket == "5+"
                                      else Q(touch_count=int(bucket)))
             for bucket in DEPTH_BUCKETS}
    return {row["agent_id"]: row for row in leads_in_scope(agent_id=None)
            .filter(created_at__gte=now - DEPTH_WINDOW).values("agent_id").annotate(
        total=Count("id"), touches=Coalesce(Sum("touch_count"), 0), **depth,
        first_touch_p50=PercentileCont(_seconds("first_touch_at"), fraction=0.5,
                                       filter=routed_touched))}


def _nudge_rows(*, brokerage: Brokerage, figures: dict[int, dict], now: datetime
                ) -> list[dict]:
    """Per active seat: open overdue tasks now (the agent's, not the worker's), median first
    touch this week, average touches on leads of the last 30 days. Two queries."""
    overdue = dict(overdue_tasks(now=now).values("agent_id").annotate(n=Count("id"))
                   .values_list("agent_id", "n"))
    rows = []
    for seat in Seat.objects.filter(brokerage=brokerage, status=Seat.Status.ACTIVE).order_by(
            "name", "email", "pk"):
        row = figures.get(seat.pk, {})
        if seat.is_admin and not row and not overdue.get(seat.pk):
            continue  # an admin who takes no leads is no one to nudge
        rows.append({"agent_id": seat.pk, "name": seat.name or seat.email,
                     "overdue": overdue.get(seat.pk, 0), "leads": row.get("total", 0),
                     "average_touches": _share(row.get("touches", 0), row.get("total", 0)),
                     "at_most_one_touch": row.get("depth_0", 0) + row.get("depth_1", 0),
                     "first_touch_p50_seconds": row.get("first_touch_p50")})
    return rows


def overdue_tasks(*, now: datetime) -> QuerySet[Task]:
    """The agents' open tasks due before `now` (the worker's automated steps aside), as
    migration 0007's partial index crm_task_overdue spells them."""
    return (Task.objects.filter(completed_at__isnull=True, due_at__lt=now)
            .exclude(channel=Channel.AUTO_EMAIL).exclude(channel=Channel.AUTO_TEXT).order_by())


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
