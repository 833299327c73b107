"""Reads of a brokerage's CRM (callers are in the brokerage's schema)."""

from __future__ import annotations

import zoneinfo
from datetime import UTC, datetime, timedelta

from django.db.models import Q, QuerySet
from django.utils import timezone

from clozings.crm.models import AUTOMATED_CHANNELS, Activity, Cadence, Lead, StageChange, Task
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
