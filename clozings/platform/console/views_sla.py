"""The staff follow-up SLA page (platform host, platform staff only): per brokerage and
per agent, worst first, the overdue steps, touches per lead and time to first touch, with
the first-touch SLA breaches; from the public ledger only, one query per chart."""

from __future__ import annotations

from datetime import timedelta

from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.utils import timezone

from clozings.distribution import followup_selectors as sla
from clozings.platform import charts
from clozings.tenants.decorators import staff_required

WINDOWS = {"24h": ("24 hours", timedelta(hours=24)), "7d": ("7 days", timedelta(days=7)),
           "30d": ("30 days", timedelta(days=30))}
DEFAULT_WINDOW = "7d"
CHART_ROWS = 10


def _touches(value: float | None) -> str:
    return "–" if value is None else f"{value:.1f}"


def _count(value: float | None) -> str:
    return "0" if not value else f"{value:.0f}"


def _rows(rows: list[dict]) -> list[dict]:
    return [{**row, "p50": charts.duration(row["first_touch_p50"]),
             "p90": charts.duration(row["first_touch_p90"]),
             "per_lead": _touches(row["touches_per_lead"])} for row in rows]


def _charts(rows: list[dict], label) -> dict:
    shown = rows[:CHART_ROWS]
    return {
        "overdue": charts.hbars([(label(r), "orphaned" if r["overdue"] else "delivered",
                                  r["overdue"]) for r in shown], _count),
        "touches": charts.hbars([(label(r), "routed", r["touches_per_lead"]) for r in shown],
                                _touches),
        "first_touch": charts.hbars([(label(r), "rerouted", r["first_touch_p50"])
                                     for r in shown]),
    }


@staff_required
def staff_sla(request: HttpRequest) -> HttpResponse:
    window = request.GET.get("window", DEFAULT_WINDOW)
    if window not in WINDOWS:
        window = DEFAULT_WINDOW
    now = timezone.now()
    since = now - WINDOWS[window][1]
    totals = sla.sla_totals(since=since, now=now)
    brokerages = _rows(sla.sla_by_brokerage(since=since, now=now))
    agents = _rows(sla.sla_by_agent(since=since, now=now))
    breaches = sla.breaches_by_brokerage(since=since)
    return render(request, "console/sla.html", {
        "window": window, "windows": [(key, label) for key, (label, _) in WINDOWS.items()],
        "window_label": WINDOWS[window][0], "since": since, "now": now,
        "totals": {**totals, "p50": charts.duration(totals["first_touch_p50"]),
                   "p90": charts.duration(totals["first_touch_p90"]),
                   "per_lead": _touches(totals["touches_per_lead"])},
        "brokerages": brokerages, "brokerage_charts": _charts(brokerages, lambda r: r["name"]),
        "agents": agents, "agent_charts": _charts(agents, lambda r: r["name"]),
        "breaches": breaches, "breach_chart": charts.hbars(
            [(r["name"], "orphaned", r["breaches"]) for r in breaches[:CHART_ROWS]], _count),
        "recent_breaches": sla.recent_breaches(since=since),
    })
