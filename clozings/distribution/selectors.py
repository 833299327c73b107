"""Reads about lead sources and inbound leads."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from django.db.models import (
    Aggregate,
    Count,
    F,
    FloatField,
    Func,
    IntegerField,
    OuterRef,
    Q,
    QuerySet,
    Subquery,
    Value,
)
from django.db.models.functions import Coalesce, TruncDate
from django.utils import timezone

from clozings.distribution.models import InboundLead, LeadSource, SlaBreach

SWEEP_BATCH = 1000


def waiting_lead_ids(*, older_than_seconds: float) -> list[int]:
    """Leads received more than `older_than_seconds` ago and still not routed, oldest first."""
    cutoff = timezone.now() - timedelta(seconds=older_than_seconds)
    return list(InboundLead.objects.filter(status=InboundLead.Status.RECEIVED,
                                           received_at__lt=cutoff)
                .order_by("received_at").values_list("pk", flat=True)[:SWEEP_BATCH])


def lead_source(*, source_id: int) -> LeadSource | None:
    return LeadSource.objects.filter(pk=source_id).first()


def inbound_lead_for(*, lead_id: int, source: LeadSource | None) -> InboundLead | None:
    """A lead as its source (or, with source None, staff) may see it."""
    leads = InboundLead.objects.select_related("brokerage")
    if source is not None:
        leads = leads.filter(source=source)
    return leads.filter(pk=lead_id).first()


# --- the orphan queue and the delivery figures (staff) -------------------------------------
ORPHANS_SHOWN = 500


def orphaned_leads() -> QuerySet[InboundLead]:
    """Leads nobody could take, oldest first, with their source."""
    return (InboundLead.objects.filter(status=InboundLead.Status.ORPHANED)
            .select_related("source").order_by("received_at", "id"))[:ORPHANS_SHOWN]


class PercentileCont(Aggregate):
    """PostgreSQL's continuous percentile of an expression, e.g. the median at 0.5."""

    function = "percentile_cont"
    template = "%(function)s(%(fraction)s) WITHIN GROUP (ORDER BY %(expressions)s)"
    output_field = FloatField()

    def __init__(self, expression, *, fraction: float, **extra):
        super().__init__(expression, fraction=float(fraction), **extra)


def _seconds(later: str, earlier: str = "received_at") -> Func:
    return Func(F(later) - F(earlier), template="EXTRACT(EPOCH FROM %(expressions)s)",
                output_field=FloatField())


PERCENTILES = (50, 90, 99)
STATUSES = [status.value for status in InboundLead.Status]


BREACH_ACTIONS = [action.value for action in SlaBreach.Action]


def _figures(*, breaches: bool = True) -> dict:
    """Aggregates of the delivery figures: counts by status, re-routes, first-touch SLA
    breaches by what was done (a one-to-one join: no row is counted twice) and the
    intake-to-delivery and intake-to-first-touch percentiles (seconds)."""
    figures = {f"n_{status}": Count("id", filter=Q(status=status)) for status in STATUSES}
    if breaches:
        figures |= {f"sla_{action}": Count("sla_breach", filter=Q(sla_breach__action=action))
                    for action in BREACH_ACTIONS}
    for p in PERCENTILES:
        figures[f"delivery_p{p}"] = PercentileCont(
            _seconds("delivered_at"), fraction=p / 100, filter=Q(delivered_at__isnull=False))
        figures[f"first_touch_p{p}"] = PercentileCont(
            _seconds("first_touch_at"), fraction=p / 100, filter=Q(first_touch_at__isnull=False))
    return figures


def _breaches(row: dict) -> dict:
    counts = {action: row[f"sla_{action}"] for action in BREACH_ACTIONS}
    return {**counts, "total": sum(counts.values())}


def _shaped(row: dict) -> dict:
    shaped = {
        "counts": {status: row[f"n_{status}"] for status in STATUSES},
        "orphans": row["n_orphaned"], "reroutes": row["n_rerouted"],
        "delivery_seconds": {f"p{p}": row[f"delivery_p{p}"] for p in PERCENTILES},
        "first_touch_seconds": {f"p{p}": row[f"first_touch_p{p}"] for p in PERCENTILES},
    }
    if "sla_rerouted" in row:
        shaped["sla_breaches"] = _breaches(row)
    return shaped


def _window(since: datetime) -> QuerySet[InboundLead]:
    return InboundLead.objects.filter(received_at__gte=since).order_by()


def delivery_totals(*, since: datetime) -> dict:
    """The window's figures, in one query."""
    return _shaped(_window(since).aggregate(**_figures()))


def delivery_by_day(*, since: datetime) -> list[dict]:
    """Leads received per UTC day and status, in one query: [{"day", "counts"}], oldest
    day first, every day of the window present."""
    rows = (_window(since).annotate(day=TruncDate("received_at", tzinfo=UTC))
            .values("day", "status").annotate(n=Count("id")))
    days: dict = {}
    today = timezone.now().astimezone(UTC).date()
    day = since.astimezone(UTC).date()
    while day <= today:
        days[day] = dict.fromkeys(STATUSES, 0)
        day += timedelta(days=1)
    for row in rows:
        days.setdefault(row["day"], dict.fromkeys(STATUSES, 0))[row["status"]] = row["n"]
    return [{"day": day, "counts": counts} for day, counts in sorted(days.items())]


def delivery_by_source(*, since: datetime) -> list[dict]:
    """The figures per lead source, in one query, busiest first."""
    rows = (_window(since).values("source_id", "source__name").annotate(**_figures())
            .annotate(total=Count("id")).order_by("-total", "source__name"))
    return [{"id": row["source_id"], "name": row["source__name"], "total": row["total"],
             **_shaped(row)} for row in rows]


def delivery_by_brokerage(*, since: datetime) -> list[dict]:
    """The figures per brokerage a lead went to, in one query, busiest first (leads that
    went nowhere, orphans and rejections, under slug None)."""
    rows = (_window(since).values("brokerage_id", "brokerage__slug", "brokerage__name")
            .annotate(**_figures(breaches=False)).annotate(total=Count("id"))
            .order_by("-total", "brokerage__slug"))
    return [{"slug": row["brokerage__slug"], "name": row["brokerage__name"],
             "total": row["total"], **_shaped(row)} for row in rows]


def sla_breaches_by_brokerage(*, since: datetime) -> list[dict]:
    """First-touch SLA breaches of the window's leads per brokerage whose agent missed the
    first touch (a re-routed lead has moved on to another agent's brokerage since), by
    what was done, in one query, most first."""
    rows = (SlaBreach.objects.filter(inbound_lead__received_at__gte=since).order_by()
            .values("brokerage_id", "brokerage__slug", "brokerage__name")
            .annotate(**{f"sla_{action}": Count("id", filter=Q(action=action))
                         for action in BREACH_ACTIONS})
            .annotate(n=Count("id")).order_by("-n", "brokerage__slug"))
    return [{"slug": row["brokerage__slug"], "name": row["brokerage__name"],
             **_breaches(row)} for row in rows]


SLA_DAYS = 30


def brokerage_sla_annotations() -> dict:
    """Annotations for a Brokerage queryset: the leads delivered to each over the last
    30 days and their median time to first touch (seconds; None without a touch), as
    correlated subqueries, so a list of brokerages stays one query."""
    recent = InboundLead.objects.filter(
        brokerage=OuterRef("pk"), delivered_at__gte=timezone.now() - timedelta(days=SLA_DAYS)
    ).order_by().values("brokerage")
    return {
        "sla_delivered": Coalesce(Subquery(recent.annotate(n=Count("id")).values("n"),
                                           output_field=IntegerField()), Value(0)),
        "sla_first_touch_p50": Subquery(recent.annotate(p=PercentileCont(
            _seconds("first_touch_at"), fraction=0.5,
            filter=Q(first_touch_at__isnull=False))).values("p"), output_field=FloatField()),
    }


def inbound_lead_ids(*, source_id: int, external_ids: list[str]) -> dict[str, int]:
    """{external id: lead id} of a source's leads among `external_ids` (those taken in)."""
    return dict(InboundLead.objects.filter(source_id=source_id, external_id__in=external_ids)
                .values_list("external_id", "id"))
