"""Reads behind the agent's pages: Today (what to do now) and the lead page (everything
about one lead). Callers are in the brokerage's schema. Each read is a fixed number of
queries, whatever the number of leads (tests/crm/test_pages_today.py counts them)."""

from __future__ import annotations

import datetime as dt
import zoneinfo
from dataclasses import dataclass, field
from itertools import chain

from django.db.models import Count, Q, QuerySet
from django.utils import timezone

from clozings.crm.models import (
    Activity,
    Cadence,
    Channel,
    ConsentEvent,
    Lead,
    StageChange,
    Task,
)
from clozings.tenants.models import Seat
from clozings.territories.models import Territory

# Tasks a person carries out (Today lists them); automated steps go out by themselves.
PERSONAL_CHANNELS = (Channel.CALL, Channel.TEXT, Channel.EMAIL)
# Rows per Today section ("Show all N" opens the section's own pages) and per page of those.
# Rendering a row (its one-tap outcome form included) is most of Today's time: measured at
# 200,000 leads on a loaded 2-core machine, 20 rows a section (60 in all) took the page to
# 95 ms against 39 ms with ~30 rows; QUALITY.md's bar is 50 ms.
SECTION_LIMIT = 10
SECTION_PAGE_SIZE = 25
TIMELINE_LIMIT = 200
ALL_LEADS_LIMIT = 100


def day_bounds(now: dt.datetime, tz: dt.tzinfo) -> tuple[dt.datetime, dt.datetime]:
    """The viewer's local day containing `now`: [start, end) as aware datetimes."""
    local = now.astimezone(tz)
    start = dt.datetime.combine(local.date(), dt.time(), tzinfo=tz)
    end = dt.datetime.combine(local.date() + dt.timedelta(days=1), dt.time(), tzinfo=tz)
    return start, end


@dataclass
class TodayList:
    new: list[Task]
    due: list[Task]
    overdue: list[Task]
    counts: dict[str, int]
    upcoming: Task | None = None  # the next task after today, for the empty state
    areas: dict[str, str] = field(default_factory=dict)  # ZIP -> "City, ST"

    @property
    def total(self) -> int:
        return sum(self.counts.values())


@dataclass
class SectionPage:
    """One page of a Today section's full list (page numbers from 1)."""

    section: str
    tasks: list[Task]
    count: int  # rows in the whole section
    number: int
    pages: int
    now: dt.datetime
    areas: dict[str, str] = field(default_factory=dict)  # ZIP -> "City, ST"

    @property
    def past_end(self) -> bool:
        return self.number > self.pages

    @property
    def first_row(self) -> int:
        return (self.number - 1) * SECTION_PAGE_SIZE + 1 if self.tasks else 0

    @property
    def last_row(self) -> int:
        return self.first_row + len(self.tasks) - 1 if self.tasks else 0


def _personal_tasks_on_open_leads(agent: Seat) -> QuerySet[Task]:
    return (Task.objects.filter(completed_at__isnull=True, channel__in=PERSONAL_CHANNELS,
                                lead__agent_id=agent.pk, lead__stage__in=Lead.OPEN_STAGES)
            .select_related("lead"))


def _open_personal_tasks(agent: Seat) -> QuerySet[Task]:
    # The agent's tasks on the agent's leads: an open task follows its lead when the lead
    # changes hands (services.hand_over_leads, reassign_lead), and the lead's agent lets
    # PostgreSQL read only this agent's open leads (crm_lead_open_by_agent).
    return _personal_tasks_on_open_leads(agent).filter(agent_id=agent.pk)


_NEW = Q(lead__stage=Lead.Stage.NEW, lead__first_touch_at__isnull=True)
SECTIONS = ("new", "due", "overdue")


def _section(agent: Seat, section: str, start: dt.datetime, end: dt.datetime
             ) -> QuerySet[Task]:
    """A Today section in its order, read a page at a time: new leads newest inquiry first
    (walking crm_lead_new_by_agent), the others oldest due first (crm_task_personal_open),
    so a page reads its own rows and a few more, however many the agent has."""
    if section == "new":
        # Not filtered on the task's agent, which is the lead's: with it, PostgreSQL expects
        # almost no match per lead and sorts all the agent's new leads instead.
        return (_personal_tasks_on_open_leads(agent).filter(_NEW)
                .order_by("-lead__last_inquiry_at", "-lead_id"))
    touched = _open_personal_tasks(agent).exclude(_NEW)
    if section == "due":
        return touched.filter(due_at__gte=start, due_at__lt=end).order_by("due_at", "pk")
    return touched.filter(due_at__lt=start).order_by("due_at", "pk")


def _section_counts(tasks: QuerySet[Task], start: dt.datetime,
                    end: dt.datetime) -> dict[str, int]:
    """Rows per section, in one query: index-only scans of the agent's open personal tasks
    and open leads (crm_task_personal_open, crm_lead_open_by_agent), hash-joined."""
    return tasks.aggregate(
        new=Count("pk", filter=_NEW),
        due=Count("pk", filter=~_NEW & Q(due_at__gte=start, due_at__lt=end)),
        overdue=Count("pk", filter=~_NEW & Q(due_at__lt=start)))


def today_for(*, agent: Seat, now: dt.datetime | None = None,
              tz: dt.tzinfo | None = None) -> TodayList:
    """The agent's personal tasks: leads nobody has touched yet (newest first), then tasks
    due today, then overdue ones (due before today, oldest first), SECTION_LIMIT of each
    with each section's full count. Six queries."""
    now = now or timezone.now()
    tz = tz or timezone.get_current_timezone()
    start, end = day_bounds(now, tz)
    tasks = _open_personal_tasks(agent)
    counts = _section_counts(tasks, start, end)
    new, due, overdue = (list(_section(agent, section, start, end)[:SECTION_LIMIT])
                         for section in SECTIONS)
    upcoming = tasks.exclude(_NEW).filter(due_at__gte=end).order_by("due_at", "pk").first()
    today = TodayList(new=new, due=due, overdue=overdue, counts=counts, upcoming=upcoming)
    today.areas = areas_of({task.lead.zip_code for task in chain(new, due, overdue)})
    return today


def today_section(*, agent: Seat, section: str, page: int, now: dt.datetime | None = None,
                  tz: dt.tzinfo | None = None) -> SectionPage:
    """Page `page` (from 1) of one Today section ("new", "due", "overdue"),
    SECTION_PAGE_SIZE rows in Today's order; a section with no rows has one empty page,
    and a page past the last is `past_end` with no rows. Three queries (one past the end)."""
    if section not in SECTIONS or page < 1:
        raise ValueError(f"no Today section {section!r} page {page}")
    now = now or timezone.now()
    tz = tz or timezone.get_current_timezone()
    start, end = day_bounds(now, tz)
    tasks = _open_personal_tasks(agent)
    count = _section_counts(tasks, start, end)[section]
    result = SectionPage(section=section, tasks=[], count=count, number=page,
                         pages=max(1, -(-count // SECTION_PAGE_SIZE)), now=now)
    if result.past_end:
        return result
    offset = (page - 1) * SECTION_PAGE_SIZE
    result.tasks = list(_section(agent, section, start, end)[offset:offset + SECTION_PAGE_SIZE])
    result.areas = areas_of({task.lead.zip_code for task in result.tasks})
    return result


def areas_of(zip_codes: set[str]) -> dict[str, str]:
    """"City, ST" per ZIP code, from the platform's ZIP catalogue (one query)."""
    zip_codes = {code for code in zip_codes if code}
    if not zip_codes:
        return {}
    return {zip_code: f"{city}, {state}" for zip_code, city, state in
            Territory.objects.filter(zip_code__in=zip_codes)
            .values_list("zip_code", "city", "state")}


def lead_for(*, seat: Seat, lead_id: int) -> Lead | None:
    """A lead the seat may open: an agent's own, any of the brokerage's for an admin.
    Anything else (a colleague's, none) is None, so the page answers 404 alike."""
    if not 0 < lead_id <= 2**63 - 1:
        return None
    leads = Lead.objects.select_related("cadence")
    if not seat.is_admin:
        leads = leads.filter(agent_id=seat.pk)
    return leads.filter(pk=lead_id).first()


def open_task_of(lead: Lead) -> Task | None:
    return (Task.objects.filter(lead=lead, completed_at__isnull=True)
            .select_related("step").first())


@dataclass(frozen=True)
class TimelineEntry:
    at: dt.datetime
    kind: str  # "activity", "stage", "consent", "routed"
    item: object
    by: str = ""  # who did it (a seat's name), empty for the system or the lead


def timeline_of(lead: Lead, *, names: dict[int, str] | None = None) -> list[TimelineEntry]:
    """Everything that happened on the lead, newest first: activities (touches, notes,
    inquiries, automated messages, replies), stage changes, consent records, and how it was
    routed here. Four queries. `names`, when given, also receives the lead's agent's name
    (read in the same query as the timeline's people)."""
    activities = list(Activity.objects.filter(lead=lead)
                      .order_by("-created_at", "-id")[:TIMELINE_LIMIT])
    stages = list(StageChange.objects.filter(lead=lead)
                  .order_by("-created_at", "-id")[:TIMELINE_LIMIT])
    consents = list(ConsentEvent.objects.filter(lead=lead)
                    .order_by("-created_at", "-id")[:TIMELINE_LIMIT])
    seat_ids = {x.by_id for x in chain(activities, stages, consents) if x.by_id}
    if names is None:
        names = seat_names(seat_ids)
    else:
        names.update(seat_names(seat_ids | {lead.agent_id}))
    entries = [TimelineEntry(a.created_at, "activity", a, names.get(a.by_id, ""))
               for a in activities]
    entries += [TimelineEntry(s.created_at, "stage", s, names.get(s.by_id, "")) for s in stages]
    entries += [TimelineEntry(c.created_at, "consent", c, names.get(c.by_id, ""))
                for c in consents]
    entries.append(TimelineEntry(lead.created_at, "routed", lead))
    entries.sort(key=lambda entry: entry.at, reverse=True)
    return entries


def seat_names(seat_ids: set[int]) -> dict[int, str]:
    """A display name per seat id (one query; none when there are no ids)."""
    if not seat_ids:
        return {}
    return {seat.pk: seat.name or (seat.user.name if seat.user else "") or seat.email
            for seat in Seat.objects.filter(pk__in=seat_ids).select_related("user")}


def cadences() -> list[Cadence]:
    """The brokerage's cadences a lead can be switched to (not archived)."""
    return list(Cadence.objects.filter(archived_at__isnull=True))


def all_leads_of(*, seat: Seat, stage: str = "", query: str = "") -> list[Lead]:
    """"All leads": the agent's (an admin's own too), newest inquiry first, optionally of
    one stage and matching a search over name, email, phone and ZIP."""
    leads = (Lead.objects.filter(agent_id=seat.pk).exclude(stage=Lead.Stage.REASSIGNED)
             .order_by("-last_inquiry_at", "-id"))
    if stage:
        leads = leads.filter(stage=stage)
    for word in query.split()[:5]:
        digits = "".join(ch for ch in word if ch.isdigit())
        match = (Q(first_name__icontains=word) | Q(last_name__icontains=word)
                 | Q(email__icontains=word))
        if digits:
            match |= Q(phone__contains=digits) | Q(zip_code__startswith=digits)
        leads = leads.filter(match)
    return list(leads[:ALL_LEADS_LIMIT])


def local_zone(name: str) -> dt.tzinfo | None:
    try:
        return zoneinfo.ZoneInfo(name) if name else None
    except (zoneinfo.ZoneInfoNotFoundError, ValueError):
        return None
