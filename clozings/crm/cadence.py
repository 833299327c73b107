"""The cadence engine: which task a lead has next. Called by clozings.crm.services only,
inside a transaction that holds the lead's row lock (`Lead.objects.select_for_update()`),
so two writers never give a lead two open tasks.

The rules (every open lead has exactly one open task; closed, lost and reassigned leads
have none):

- Enrolment starts a run: `cadence_run` + 1, `cadence_started_at` = now, state active, and
  the first step's task (its offset counted from now; "Call now" at offset 0 is due at once).
- A step is due at `cadence_started_at + offset`, never before now.
- When a step is done (a touch, an automated send, a skip, a task completed by hand) the next
  step is the one after it. **Catching up**: when the agent is late and several later steps
  have come due meanwhile, the engine goes to the LATEST of the steps already due (due now)
  and passes over the earlier ones (no task is made for them): an agent three days late
  faces one task, not a pile. A step is carried out at most once per run (a unique index on
  lead, step, run), so a retried send never repeats it.
- After the last step the cadence is finished and an open lead gets a personal call task
  "Check in with {first_name}" every `CHECK_IN_DAYS` days, one at a time.
- Paused (a reply, an admin's or agent's pause, a move to appointment or later): no step is
  scheduled; the open task becomes a personal task in place (its step given back, so
  resuming can still carry it out); once done, the next is a personal "Follow up with
  {first_name}" call `FOLLOW_UP_DAYS` days later. Resuming goes on after the last step done
  (catching up as above).
"""

from __future__ import annotations

from datetime import datetime, timedelta

from django.db.models import Max

from clozings.crm.models import Cadence, CadenceState, CadenceStep, Channel, Lead, Task

CHECK_IN_DAYS = 30
FOLLOW_UP_DAYS = 2
FIRST_TASK_TITLE = "Call now"
PERSONAL_CHANNELS = (Channel.CALL, Channel.TEXT, Channel.EMAIL)


def named(title: str, lead: Lead) -> str:
    """A task title with the lead's first name in it (titles hold only names)."""
    first = lead.first_name or lead.name or "the lead"
    return (title.replace("{first_name}", first).replace("{full_name}", lead.name or first)
            [:200])


def open_task(lead: Lead) -> Task | None:
    return (Task.objects.filter(lead=lead, completed_at__isnull=True).select_related("step")
            .first())


def steps_of(cadence: Cadence | None) -> list[CadenceStep]:
    if cadence is None:
        return []
    return list(CadenceStep.objects.filter(cadence=cadence).order_by("position"))


def step_due(lead: Lead, step: CadenceStep) -> datetime:
    return lead.cadence_started_at + timedelta(minutes=step.offset_minutes)


def last_done_position(lead: Lead) -> int | None:
    """The position of the furthest step of the lead's cadence done in this run."""
    return (Task.objects.filter(lead=lead, cadence_run=lead.cadence_run,
                                step__cadence_id=lead.cadence_id,
                                completed_at__isnull=False)
            .aggregate(last=Max("step__position"))["last"])


def next_step(lead: Lead, now: datetime, *, after_position: int | None) -> CadenceStep | None:
    """The step the lead goes to after `after_position` (None: from the start), catching
    up: the latest step already due, else the first still to come."""
    if lead.cadence_id is None or lead.cadence_started_at is None:
        return None
    used = set(Task.objects.filter(lead=lead, cadence_run=lead.cadence_run,
                                   step__isnull=False).values_list("step_id", flat=True))
    remaining = [step for step in steps_of(lead.cadence)
                 if (after_position is None or step.position > after_position)
                 and step.pk not in used]
    if not remaining:
        return None
    passed = [step for step in remaining if step_due(lead, step) <= now]
    return passed[-1] if passed else remaining[0]


def _create(lead: Lead, *, title: str, channel: str, due_at: datetime, now: datetime,
            step: CadenceStep | None = None) -> Task:
    return Task.objects.create(lead=lead, agent_id=lead.agent_id, title=named(title, lead),
                               channel=channel, step=step, cadence_run=lead.cadence_run,
                               due_at=due_at, created_at=now)


def step_task(lead: Lead, step: CadenceStep, now: datetime) -> Task:
    return _create(lead, title=step.title, channel=step.channel, step=step,
                   due_at=max(step_due(lead, step), now), now=now)


def check_in_task(lead: Lead, now: datetime) -> Task:
    return _create(lead, title="Check in with {first_name}", channel=Channel.CALL,
                   due_at=now + timedelta(days=CHECK_IN_DAYS), now=now)


def follow_up_task(lead: Lead, now: datetime, *, due_at: datetime | None = None) -> Task:
    return _create(lead, title="Follow up with {first_name}", channel=Channel.CALL,
                   due_at=due_at or now + timedelta(days=FOLLOW_UP_DAYS), now=now)


def schedule_next(lead: Lead, now: datetime, *, after_position: int | None) -> Task | None:
    """Give the lead its next task (it has none open now): the next step of a running
    cadence, a paused lead's personal follow-up, or the monthly check-in once the cadence
    is over. None for a lead that is not open."""
    if not lead.is_open:
        return None
    if lead.cadence_state == CadenceState.ACTIVE:
        step = next_step(lead, now, after_position=after_position)
        if step is not None:
            return step_task(lead, step, now)
        lead.cadence_state = CadenceState.FINISHED
        lead.save(update_fields=["cadence_state"])
    if lead.cadence_state == CadenceState.PAUSED:
        return follow_up_task(lead, now)
    return check_in_task(lead, now)


def advance(lead: Lead, done: Task | None, now: datetime) -> Task | None:
    """After `done` was completed: the next task (see `schedule_next`)."""
    if done is not None and done.step_id is not None and done.cadence_run == lead.cadence_run:
        after = done.step.position
    else:
        after = last_done_position(lead)
    return schedule_next(lead, now, after_position=after)


def begin_run(lead: Lead, cadence: Cadence | None, steps: list[CadenceStep],
              now: datetime) -> None:
    """Start a new run of `cadence` (whose `steps` are given) on the lead, in memory: the
    caller saves it (`enrol`), or sets this before a new lead's INSERT."""
    lead.cadence = cadence
    lead.cadence_run += 1
    lead.cadence_started_at = now
    lead.cadence_state = CadenceState.ACTIVE if steps else CadenceState.FINISHED


def first_task(lead: Lead, steps: list[CadenceStep], now: datetime) -> Task | None:
    """The task a run begun now starts with: its first step's, or without steps a personal
    "Call now" (None for a lead that is not open)."""
    if not lead.is_open:
        return None
    if not steps:
        return _create(lead, title=FIRST_TASK_TITLE, channel=Channel.CALL, due_at=now, now=now)
    return step_task(lead, steps[0], now)


def enrol(lead: Lead, cadence: Cadence | None, now: datetime) -> Task | None:
    """Start a new run of `cadence` (the lead has no open task now) and make its first
    step's task. Without a cadence (or one without steps): a personal "Call now"."""
    steps = steps_of(cadence)
    begin_run(lead, cadence, steps, now)
    lead.save(update_fields=["cadence", "cadence_run", "cadence_started_at", "cadence_state"])
    return first_task(lead, steps, now)


def make_personal(task: Task, lead: Lead, *, title: str, channel: str,
                  due_at: datetime) -> Task:
    """Turn the open task into a personal one in place (a reply, a pause): its step is given
    back, so a resumed cadence can still carry it out."""
    task.step = None
    task.title = named(title, lead)
    task.channel = channel if channel in PERSONAL_CHANNELS else Channel.CALL
    task.due_at = due_at
    task.not_before = None
    task.hold_reason = ""
    task.attempts = 0
    task.reminded_at = None
    task.escalated_at = None
    task.save(update_fields=["step", "title", "channel", "due_at", "not_before",
                             "hold_reason", "attempts", "reminded_at", "escalated_at"])
    return task
