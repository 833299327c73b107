"""Reads of a brokerage's CRM (callers are in the brokerage's schema)."""

from __future__ import annotations

import zoneinfo
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from django.db import connection
from django.db.models import Q, QuerySet
from django.utils import timezone

from clozings.crm.models import (
    AUTOMATED_CHANNELS,
    Activity,
    Cadence,
    CadenceStep,
    Lead,
    StageChange,
    Task,
)
from clozings.tenants.models import Seat

MY_LEADS_LIMIT = 100
MAX_ID = 2**63 - 1


def leads_of(*, agent: Seat) -> QuerySet[Lead]:
    """An agent's leads, the newest inquiry first (not those reassigned to another
    brokerage after the first-touch SLA passed)."""
    return (Lead.objects.filter(agent_id=agent.pk).exclude(stage=Lead.Stage.REASSIGNED)
            .order_by("-last_inquiry_at", "-id"))


def lead_of(*, agent: Seat, lead_id: int) -> Lead | None:
    """One of the agent's leads (another agent's is answered like one that is not there)."""
    if lead_id > 2**63 - 1:
        return None
    return Lead.objects.filter(agent_id=agent.pk, pk=lead_id).first()


def lead_id_of_inbound(*, inbound_lead_id: int) -> int | None:
    """The id of the CRM lead a public-ledger inbound lead made here, if any."""
    return (Lead.objects.filter(inbound_lead_id=inbound_lead_id)
            .values_list("pk", flat=True).first())


# --- a batch of routed leads, read for many brokerages at once -------------------------------
@dataclass(frozen=True)
class RoutedContext:
    """What one brokerage's CRM holds for a batch of routed leads: which of their inbound
    lead ids it has already (as a lead or an inquiry), and its default cadence with its
    steps in position order (what `services.receive_routed_lead` reads for each)."""

    received: frozenset[int]
    cadence: Cadence | None
    steps: tuple[CadenceStep, ...]


def routed_lead_context(*, inbound_lead_ids: dict[str, list[int]]) -> dict[str, RoutedContext]:
    """`RoutedContext` of each brokerage schema named (with its batch's inbound lead ids):
    two queries for them all, from whichever schema the connection is in. Read inside the
    delivering transaction, the inbound leads locked, it stays true while they are."""
    if not inbound_lead_ids:
        return {}
    quote = connection.ops.quote_name
    received: dict[str, set[int]] = {schema: set() for schema in inbound_lead_ids}
    parts, params = [], []
    for schema, ids in inbound_lead_ids.items():
        for model in (Lead, Activity):
            parts.append(f"SELECT %s, inbound_lead_id FROM {quote(schema)}."
                         f"{quote(model._meta.db_table)} WHERE inbound_lead_id = ANY(%s)")
            params += [schema, list(ids)]
    cadence_fields = Cadence._meta.concrete_fields
    step_fields = CadenceStep._meta.concrete_fields
    columns = ", ".join([f"c.{quote(f.column)}" for f in cadence_fields]
                        + [f"s.{quote(f.column)}" for f in step_fields])
    defaults, default_params = [], []
    for schema in inbound_lead_ids:
        defaults.append(
            f"SELECT %s, {columns} FROM {quote(schema)}.{quote(Cadence._meta.db_table)} c "
            f"LEFT JOIN {quote(schema)}.{quote(CadenceStep._meta.db_table)} s "
            "ON s.cadence_id = c.id WHERE c.is_default AND c.archived_at IS NULL")
        default_params.append(schema)
    cadences: dict[str, Cadence] = {}
    steps: dict[str, list[CadenceStep]] = {schema: [] for schema in inbound_lead_ids}
    with connection.cursor() as cursor:
        cursor.execute(" UNION ALL ".join(parts), params)
        for schema, inbound_lead_id in cursor.fetchall():
            received[schema].add(inbound_lead_id)
        cursor.execute(" UNION ALL ".join(defaults), default_params)
        split = 1 + len(cadence_fields)
        for row in cursor.fetchall():
            schema = row[0]
            if schema not in cadences:
                cadences[schema] = Cadence.from_db(
                    connection.alias, [f.attname for f in cadence_fields], row[1:split])
            if row[split] is not None:
                steps[schema].append(CadenceStep.from_db(
                    connection.alias, [f.attname for f in step_fields], row[split:]))
    return {schema: RoutedContext(
        received=frozenset(received[schema]), cadence=cadences.get(schema),
        steps=tuple(sorted(steps[schema], key=lambda step: step.position)))
        for schema in inbound_lead_ids}


# --- the CRM API's reads: what a seat may see (an agent their own, an admin all) ----------
TIMELINE_LIMIT = 200


def _visible(queryset: QuerySet, viewer: Seat, owner: str = "agent_id") -> QuerySet:
    return queryset if viewer.is_admin else queryset.filter(**{owner: viewer.pk})


def visible_leads(*, viewer: Seat, stage: str | None = None, q: str = "") -> QuerySet[Lead]:
    """Leads the viewer may see, newest inquiry first; `q` matches part of the name, the
    email or the phone (digits)."""
    leads = _visible(Lead.objects.exclude(stage=Lead.Stage.REASSIGNED), viewer)
    if stage:
        leads = leads.filter(stage=stage)
    q = (q or "").strip()
    if q:
        match = (Q(first_name__icontains=q) | Q(last_name__icontains=q)
                 | Q(email__icontains=q))
        digits = "".join(ch for ch in q if ch.isdigit())
        if len(digits) >= 3:
            match |= Q(phone__contains=digits)
        parts = q.split()
        if len(parts) >= 2:
            match |= Q(first_name__icontains=parts[0], last_name__icontains=parts[-1])
        leads = leads.filter(match)
    return leads.order_by("-last_inquiry_at", "-id")


def visible_lead(*, viewer: Seat, lead_id: int) -> Lead | None:
    if not 0 < lead_id <= MAX_ID:
        return None
    return (_visible(Lead.objects.exclude(stage=Lead.Stage.REASSIGNED), viewer)
            .select_related("cadence").filter(pk=lead_id).first())


def visible_task(*, viewer: Seat, task_id: int) -> Task | None:
    if not 0 < task_id <= MAX_ID:
        return None
    return _visible(Task.objects.select_related("step"), viewer).filter(pk=task_id).first()


def lead_timeline(*, lead: Lead) -> dict:
    """The lead's activities and stage changes (newest first) and its open task."""
    return {
        "activities": list(Activity.objects.filter(lead=lead)
                           .order_by("-created_at", "-id")[:TIMELINE_LIMIT]),
        "stage_changes": list(StageChange.objects.filter(lead=lead)
                              .order_by("-created_at", "-id")),
        "next_task": (Task.objects.filter(lead=lead, completed_at__isnull=True)
                      .select_related("step").first()),
    }


def local_day(now: datetime, time_zone: str) -> tuple[datetime, datetime]:
    """The start of today and of tomorrow in `time_zone`, as aware datetimes."""
    try:
        zone = zoneinfo.ZoneInfo(time_zone or "UTC")
    except (zoneinfo.ZoneInfoNotFoundError, ValueError):
        zone = zoneinfo.ZoneInfo("UTC")
    local = now.astimezone(zone)
    start = local.replace(hour=0, minute=0, second=0, microsecond=0)
    end = start + timedelta(days=1)  # wall-clock arithmetic: a DST day is 23 or 25 hours
    return start.astimezone(UTC), end.astimezone(UTC)


def open_tasks(*, viewer: Seat, due: str | None = None, time_zone: str = "UTC",
               now: datetime | None = None) -> QuerySet[Task]:
    """The open personal tasks the viewer may see, soonest first; `due`: "today" (due on
    the viewer's local date), "overdue" (due before it), "upcoming" (due after it)."""
    tasks = (_visible(Task.objects.filter(completed_at__isnull=True), viewer)
             .exclude(channel__in=AUTOMATED_CHANNELS).select_related("lead"))
    if due:
        start, end = local_day(now or timezone.now(), time_zone)
        tasks = {"today": tasks.filter(due_at__gte=start, due_at__lt=end),
                 "overdue": tasks.filter(due_at__lt=start),
                 "upcoming": tasks.filter(due_at__gte=end)}[due]
    return tasks.order_by("due_at", "id")


def cadences() -> QuerySet[Cadence]:
    return (Cadence.objects.filter(archived_at__isnull=True).prefetch_related("steps")
            .order_by("-is_default", "name", "id"))


def cadence_of(*, cadence_id: int) -> Cadence | None:
    if not 0 < cadence_id <= MAX_ID:
        return None
    return Cadence.objects.filter(pk=cadence_id, archived_at__isnull=True).first()
