"""Follow-up SLA figures for platform staff, read from the public delivery ledger only:
the CRM's follow-up facts are projected onto each inbound lead as they happen (touches,
last touch, stage, the open next task's due time), so one query answers for every
brokerage at once, whatever their number.

- overdue steps: open leads whose next task was due before now;
- touches per lead and time to first touch (from delivery), over leads delivered in the
  window;
- first-touch SLA breaches (SlaBreach) in the window.
"""

from __future__ import annotations

from datetime import datetime

from django.db.models import Avg, Count, F, FloatField, Func, Q, QuerySet, Sum
from django.db.models.functions import Coalesce

from clozings.distribution.models import InboundLead, SlaBreach
from clozings.distribution.selectors import PercentileCont

# Stages after which a lead has no next step (the CRM's closed-out stages).
CLOSED_STAGES = ("closed", "lost", "reassigned")
WORST_SHOWN = 25
BREACHES_SHOWN = 25


def _seconds(later: str, earlier: str) -> Func:
    return Func(F(later) - F(earlier), template="EXTRACT(EPOCH FROM %(expressions)s)",
                output_field=FloatField())


def _scope(*, since: datetime, now: datetime) -> QuerySet[InboundLead]:
    """Leads delivered in the window, and any lead with a step overdue now."""
    return (InboundLead.objects.filter(brokerage__isnull=False)
            .filter(Q(delivered_at__gte=since) | Q(next_task_due_at__lt=now)).order_by())


def _figures(*, since: datetime, now: datetime) -> dict:
    delivered = Q(delivered_at__gte=since)
    touched = delivered & Q(first_touch_at__isnull=False)
    first_touch = _seconds("first_touch_at", "delivered_at")
    return {
        "delivered": Count("id", filter=delivered),
        "overdue": Count("id", filter=Q(next_task_due_at__lt=now)
                         & ~Q(crm_stage__in=CLOSED_STAGES)),
        "touches_per_lead": Avg("touches", filter=delivered, output_field=FloatField()),
        "untouched": Count("id", filter=delivered & Q(first_touch_at__isnull=True)),
        "single_touch": Count("id", filter=delivered & Q(touches__lte=1)),
        "first_touch_p50": PercentileCont(first_touch, fraction=0.5, filter=touched),
        "first_touch_p90": PercentileCont(first_touch, fraction=0.9, filter=touched),
        "closed": Count("id", filter=delivered & Q(crm_stage="closed")),
        "commission_cents": Coalesce(
            Sum("commission_cents", filter=delivered & Q(crm_stage="closed")), 0),
    }


def _worst_first(row: dict) -> tuple:
    return (-row["overdue"], -(row["first_touch_p50"] or 0), row["touches_per_lead"] or 0)


def sla_totals(*, since: datetime, now: datetime) -> dict:
    """The platform's figures, one query."""
    return _scope(since=since, now=now).aggregate(**_figures(since=since, now=now))


def sla_by_brokerage(*, since: datetime, now: datetime) -> list[dict]:
    """One row per brokerage with delivered or overdue leads, worst first (most overdue
    steps, then the slowest median first touch, then the fewest touches): one query."""
    rows = (_scope(since=since, now=now)
            .values("brokerage_id", "brokerage__slug", "brokerage__name")
            .annotate(**_figures(since=since, now=now)))
    out = [{"slug": row["brokerage__slug"], "name": row["brokerage__name"],
            **{k: row[k] for k in _FIELDS}} for row in rows]
    return sorted(out, key=_worst_first)


def sla_by_agent(*, since: datetime, now: datetime, limit: int = WORST_SHOWN) -> list[dict]:
    """The worst agents across brokerages (as sla_by_brokerage), one query."""
    rows = (_scope(since=since, now=now).filter(seat__isnull=False)
            .values("seat_id", "seat__name", "seat__email", "brokerage__slug",
                    "brokerage__name")
            .annotate(**_figures(since=since, now=now)))
    out = [{"agent_id": row["seat_id"], "name": row["seat__name"] or row["seat__email"],
            "brokerage": row["brokerage__slug"], "brokerage_name": row["brokerage__name"],
            **{k: row[k] for k in _FIELDS}} for row in rows]
    return sorted(out, key=_worst_first)[:limit]


_FIELDS = ("delivered", "overdue", "touches_per_lead", "untouched", "single_touch",
           "first_touch_p50", "first_touch_p90", "closed", "commission_cents")


def breaches_by_brokerage(*, since: datetime) -> list[dict]:
    """First-touch SLA breaches in the window per brokerage, most first: one query."""
    rows = (SlaBreach.objects.filter(breached_at__gte=since).order_by()
            .values("brokerage__slug", "brokerage__name")
            .annotate(breaches=Count("id"),
                      rerouted=Count("id", filter=Q(action=SlaBreach.Action.REROUTED))))
    return sorted(({"slug": r["brokerage__slug"], "name": r["brokerage__name"],
                    "breaches": r["breaches"], "rerouted": r["rerouted"]} for r in rows),
                  key=lambda r: (-r["breaches"], r["slug"]))


def recent_breaches(*, since: datetime, limit: int = BREACHES_SHOWN) -> QuerySet[SlaBreach]:
    """The latest breaches with their brokerage and seats, one query."""
    return (SlaBreach.objects.filter(breached_at__gte=since)
            .select_related("brokerage", "seat", "rerouted_to")
            .order_by("-breached_at", "-id"))[:limit]
