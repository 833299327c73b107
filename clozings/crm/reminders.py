"""Reminders: each agent's daily digest of today's follow-ups at their own local hour, and
overdue personal tasks (the agent once, then past the brokerage's threshold its admins
once). Every mail goes through the outbox (queue_mail) in the transaction that marks it
sent, so none is lost or sent twice.

Cheap when nothing is due: the digest scan is one query on public tables (seats whose
local hour has come and whose local date has no digest yet, computed in SQL); overdue
reminders wake a brokerage through `Brokerage.next_reminder_due_at` (lowered when a task
is written, recomputed after each run), so the sweeper never looks into a schema with
nothing to announce. The recomputed wake-up is never more than RECHECK_HOURS away, which
bounds what a write racing a recomputation could delay.
"""

from __future__ import annotations

import logging
import zoneinfo
from collections import defaultdict
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from datetime import date, datetime, timedelta

from django.conf import settings
from django.db import connection, transaction
from django.db.models import Min, Q
from django.db.models.signals import post_save
from django.dispatch import receiver
from django.urls import reverse
from django.utils import timezone

from clozings.crm.models import AUTOMATED_CHANNELS, Task
from clozings.platform.mail import queue_mail
from clozings.platform.tenancy import in_schema
from clozings.tenants.models import Brokerage, Seat
from clozings.tenants.services import brokerage_url

logger = logging.getLogger(__name__)

DIGEST = "crm.digest"  # mail kinds; refs name the seat and day, or the schema and task
OVERDUE = "crm.overdue"
ESCALATION = "crm.overdue_escalation"
RECHECK_HOURS = 6
DIGEST_LIMIT = 50  # tasks listed in one digest


def overdue_after() -> timedelta:
    """How long past its due time a task counts as overdue (CRM_OVERDUE_AFTER_MINUTES)."""
    return timedelta(minutes=settings.CRM_OVERDUE_AFTER_MINUTES)


def _personal_open():
    return Task.objects.filter(completed_at__isnull=True).exclude(
        channel__in=AUTOMATED_CHANNELS)


def _lead_link(brokerage: Brokerage, lead_id: int) -> str:
    return brokerage_url(brokerage, reverse("lead_detail", args=[lead_id]))


# --- the daily digest ---------------------------------------------------------------------
_DUE_DIGESTS = """
    SELECT s.id, (%s::timestamptz AT TIME ZONE u.time_zone)::date
    FROM tenants_seat s JOIN tenants_user u ON u.id = s.user_id
    WHERE s.status = 'active' AND s.digest_hour IS NOT NULL AND u.is_active
      AND s.digest_hour <= extract(hour FROM (%s::timestamptz AT TIME ZONE u.time_zone))
      AND (s.digest_sent_on IS NULL
           OR s.digest_sent_on < (%s::timestamptz AT TIME ZONE u.time_zone)::date)
"""


def due_digests(*, now: datetime) -> list[tuple[int, date]]:
    """(seat id, the agent's local date) for every digest due now: one query."""
    with connection.cursor() as cursor:
        cursor.execute(_DUE_DIGESTS, [now, now, now])
        return [(seat_id, day) for seat_id, day in cursor.fetchall()]


def _digest_text(seat: Seat, brokerage: Brokerage, day: date, tasks: list[Task],
                 zone: zoneinfo.ZoneInfo) -> str:
    lines = [f"Good morning {seat.name or seat.email},", "",
             f"Your follow-ups for {day:%A, %B} {day.day} at {brokerage.name}:", ""]
    for task in tasks:
        when = task.due_at.astimezone(zone)
        late = " (overdue)" if when.date() < day else ""
        name = task.lead.name or task.lead.phone or task.lead.email or "A lead"
        lines.append(f"- {when:%H:%M}{late} {task.title}: {name} "
                     f"{_lead_link(brokerage, task.lead_id)}")
    lines += ["", f"Open Today: {brokerage_url(brokerage, '/')}", ""]
    return "\n".join(lines)


def send_digest(*, seat_id: int, day: date, now: datetime) -> bool:
    """Queue one agent's digest for their local `day`, once (the seat row is claimed by its
    digest_sent_on). Nothing to follow up today: marked sent, no mail."""
    with transaction.atomic():
        claimed = Seat.objects.filter(pk=seat_id).filter(
            Q(digest_sent_on__isnull=True) | Q(digest_sent_on__lt=day)).update(
            digest_sent_on=day)
        if not claimed:
            return False
        seat = Seat.objects.select_related("brokerage", "user").get(pk=seat_id)
        zone = zoneinfo.ZoneInfo(seat.user.time_zone)
        end_of_day = datetime.combine(day + timedelta(days=1), datetime.min.time(), zone)
        with in_schema(seat.brokerage.schema_name):
            tasks = list(_personal_open().filter(agent_id=seat.pk, due_at__lt=end_of_day)
                         .select_related("lead").order_by("due_at", "id")[:DIGEST_LIMIT])
        if not tasks:
            return False
        queue_mail(to=seat.user.email,
                   subject=f"Today: {len(tasks)} follow-up{'s' if len(tasks) != 1 else ''}",
                   text=_digest_text(seat, seat.brokerage, day, tasks, zone),
                   kind=DIGEST, ref=f"{seat.pk}:{day.isoformat()}")
    return True


def send_due_digests(*, now: datetime | None = None) -> int:
    """The beat job: every digest due now; how many were mailed."""
    now = now or timezone.now()
    return sum(send_digest(seat_id=seat_id, day=day, now=now)
               for seat_id, day in due_digests(now=now))


# --- overdue tasks ------------------------------------------------------------------------
_WAKE = ("UPDATE public.tenants_brokerage SET next_reminder_due_at = %s "
         "WHERE schema_name = %s AND (next_reminder_due_at IS NULL "
         "OR next_reminder_due_at > %s)")
# Wake-ups gathered by `wakes_together` (schema: earliest), written when it ends.
_wakes: ContextVar[dict[str, datetime] | None] = ContextVar("reminder_wakes", default=None)


@contextmanager
def wakes_together() -> Iterator[None]:
    """Personal tasks written inside the block (in one transaction: a batch of routed
    leads across brokerages) lower their brokerages' wake-ups in one pipelined statement
    when it ends, in schema order, instead of one UPDATE per task. A task rolled back with
    its savepoint may leave its brokerage woken early: the run finds nothing and
    recomputes. Nested blocks share the outer one's."""
    if _wakes.get() is not None:
        yield
        return
    wakes: dict[str, datetime] = {}
    token = _wakes.set(wakes)
    try:
        yield
    finally:
        _wakes.reset(token)
    if wakes:
        with connection.cursor() as cursor:  # takes a row's lock only when lowering it
            cursor.executemany(_WAKE, [[at, schema, at] for schema, at in sorted(wakes.items())])


@receiver(post_save, sender=Task, dispatch_uid="crm.reminders.wake_on_task")
def _wake_on_personal_task(sender, instance: Task, **kwargs) -> None:
    if not instance.is_automated and instance.completed_at is None \
            and instance.reminded_at is None:
        at = instance.due_at + overdue_after()
        schema = connection.schema_name
        wakes = _wakes.get()
        if wakes is not None:
            if schema not in wakes or at < wakes[schema]:
                wakes[schema] = at
            return
        with connection.cursor() as cursor:  # takes the row's lock only when lowering it
            cursor.execute(_WAKE, [at, schema, at])


def brokerages_with_overdue_work(*, now: datetime) -> list[str]:
    return list(Brokerage.objects.filter(next_reminder_due_at__lte=now)
                .values_list("schema_name", flat=True))


def _admins(brokerage: Brokerage) -> list[Seat]:
    return list(Seat.objects.filter(brokerage=brokerage, role=Seat.Role.ADMIN,
                                    status=Seat.Status.ACTIVE).select_related("user"))


def _address(seat: Seat) -> str:
    return seat.user.email if seat.user_id else seat.email


def _overdue_text(task: Task, brokerage: Brokerage, *, for_admin: Seat | None,
                  agent: Seat | None) -> str:
    name = task.lead.name or task.lead.phone or task.lead.email or "a lead"
    who = (agent.name or agent.email) if agent is not None else "the agent"
    opening = (f"{who}'s follow-up is overdue:" if for_admin is not None
               else "This follow-up is overdue:")
    reader = for_admin or agent
    zone = zoneinfo.ZoneInfo(reader.user.time_zone if reader is not None and reader.user_id
                             else brokerage.time_zone)
    due = task.due_at.astimezone(zone)
    return "\n".join([opening, "", f"{task.title}: {name}, due {due:%b} {due.day}, "
                      f"{due:%H:%M} ({zone.key})", _lead_link(brokerage, task.lead_id), ""])


def remind_overdue(*, now: datetime | None = None) -> int:
    """In this brokerage's schema: remind each agent once of each overdue personal task, and
    the admins once past the brokerage's threshold; then recompute the wake-up. The number
    of mails queued."""
    now = now or timezone.now()
    brokerage = Brokerage.objects.get(schema_name=connection.schema_name)
    escalate_after = timedelta(hours=brokerage.overdue_escalation_hours)
    queued = 0
    with transaction.atomic():
        due = (_personal_open().filter(
            Q(reminded_at__isnull=True, due_at__lte=now - overdue_after())
            | Q(escalated_at__isnull=True, due_at__lte=now - escalate_after))
            .select_for_update(skip_locked=True, of=("self",)).select_related("lead")
            .order_by("due_at", "id")[:500])
        tasks = list(due)
        seats = {s.pk: s for s in Seat.objects.filter(
            pk__in={t.agent_id for t in tasks}).select_related("user")}
        admins = _admins(brokerage) if tasks else []
        by_agent: dict[int, list[Task]] = defaultdict(list)
        for task in tasks:
            agent = seats.get(task.agent_id)
            if task.reminded_at is None and task.due_at <= now - overdue_after():
                task.reminded_at = now
                if agent is not None and agent.status == Seat.Status.ACTIVE:
                    queue_mail(to=_address(agent), subject=f"Overdue: {task.title}",
                               text=_overdue_text(task, brokerage, for_admin=None,
                                                  agent=agent),
                               kind=OVERDUE, ref=f"{connection.schema_name}:{task.pk}")
                    queued += 1
                by_agent[task.agent_id].append(task)
            if task.escalated_at is None and task.due_at <= now - escalate_after:
                task.escalated_at = now
                for admin in admins:
                    queue_mail(to=_address(admin),
                               subject=f"Overdue for {escalate_after.total_seconds() / 3600:g} h:"
                                       f" {task.title}",
                               text=_overdue_text(task, brokerage, for_admin=admin,
                                                  agent=agent),
                               kind=ESCALATION,
                               ref=f"{connection.schema_name}:{task.pk}:{admin.pk}")
                    queued += 1
            Task.objects.filter(pk=task.pk).update(reminded_at=task.reminded_at,
                                                   escalated_at=task.escalated_at)
    _refresh_reminder_wake_up(now, escalate_after)
    if queued:
        logger.info("crm.overdue_reminders", extra={"mails": queued, "tasks": len(tasks)})
    return queued


def _refresh_reminder_wake_up(now: datetime, escalate_after: timedelta) -> None:
    open_tasks = _personal_open()
    remind = open_tasks.filter(reminded_at__isnull=True).aggregate(m=Min("due_at"))["m"]
    escalate = open_tasks.filter(escalated_at__isnull=True).aggregate(m=Min("due_at"))["m"]
    candidates = [now + timedelta(hours=RECHECK_HOURS)]
    if remind is not None:
        candidates.append(remind + overdue_after())
    if escalate is not None:
        candidates.append(escalate + escalate_after)
    Brokerage.objects.filter(schema_name=connection.schema_name).update(
        next_reminder_due_at=max(min(candidates), now))

