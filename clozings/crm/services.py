"""Every write in a brokerage's CRM. Callers run these in the brokerage's schema.

Each service that changes a lead takes the lead's row lock first (`_locked`), so concurrent
writers (two taps, the worker's sender, an inbound text) never break "every open lead has
exactly one open task" (also a partial unique index), and ends by announcing
`followup_changed` (clozings.crm.signals) inside its transaction; distribution projects the
facts onto the public ledger in the same transaction. What comes next is the cadence
engine's (clozings.crm.cadence, whose docstring gives the rules).

`now` is passed explicitly by tests (a frozen clock); it defaults to the current time.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime, timedelta

import phonenumbers
from django.core.exceptions import ValidationError
from django.core.validators import validate_email
from django.db import transaction
from django.utils import timezone

from clozings.crm import cadence as engine
from clozings.crm import reminders
from clozings.crm.models import (
    AUTOMATED_CHANNELS,
    Activity,
    Cadence,
    CadenceState,
    CadenceStep,
    Channel,
    ConsentEvent,
    Lead,
    StageChange,
    Task,
)
from clozings.crm.selectors import RoutedContext
from clozings.crm.signals import followup_changed, lead_touched, stage_changed
from clozings.platform.errors import Conflict, NotFound
from clozings.tenants.models import Seat
from clozings.tenants.validators import CONTROL_CHARACTER_MESSAGE, has_control_characters
from clozings.territories.models import Territory

logger = logging.getLogger(__name__)

FIRST_TASK_TITLE = engine.FIRST_TASK_TITLE


# --- helpers --------------------------------------------------------------------------------
def _now(now: datetime | None) -> datetime:
    return now or timezone.now()


def _locked(lead: Lead | int) -> Lead:
    """The lead, re-read under its row lock (call inside a transaction)."""
    pk = lead.pk if isinstance(lead, Lead) else lead
    found = Lead.objects.select_for_update().filter(pk=pk).first()
    if found is None:
        raise NotFound("There is no such lead.")
    return found


_UNREAD = object()


def _announce(lead: Lead, task: Task | None | object = _UNREAD) -> Task | None:
    """Tell the other apps the lead's follow-up facts (inside the transaction); returns the
    open task (`task`: the one the caller just made, else read here)."""
    if task is _UNREAD:
        task = engine.open_task(lead)
    followup_changed.send(sender=Lead, lead=lead,
                          next_task_due_at=task.due_at if task is not None else None)
    return task


def _close_open_task(lead: Lead, now: datetime, *, reason: str = "") -> Task | None:
    task = engine.open_task(lead)
    if task is not None:
        task.completed_at = now
        task.skipped_reason = reason[:200]
        task.save(update_fields=["completed_at", "skipped_reason"])
    return task


def _record_stage(lead: Lead, *, by_id: int | None, stage: str, now: datetime,
                  reason: str = "", sale_price_cents: int | None = None,
                  commission_cents: int | None = None) -> StageChange:
    change = StageChange.objects.create(
        lead=lead, from_stage=lead.stage, to_stage=stage, by_id=by_id, reason=reason[:200],
        sale_price_cents=sale_price_cents, commission_cents=commission_cents, created_at=now)
    lead.stage = stage
    lead.stage_changed_at = now
    lead.save(update_fields=["stage", "stage_changed_at"])
    stage_changed.send(sender=Lead, lead=lead, change=change)
    return change


def _count_touch(lead: Lead, at: datetime) -> None:
    lead.touch_count += 1
    if lead.last_touch_at is None or at > lead.last_touch_at:
        lead.last_touch_at = at
    lead.save(update_fields=["touch_count", "last_touch_at"])


def default_cadence() -> Cadence | None:
    return Cadence.objects.filter(is_default=True, archived_at__isnull=True).first()


def default_enrolment() -> tuple[Cadence | None, list[CadenceStep]]:
    """The default cadence and its steps in position order: one query when it has steps."""
    steps = list(CadenceStep.objects.filter(cadence__is_default=True,
                                            cadence__archived_at__isnull=True)
                 .select_related("cadence").order_by("position"))
    if steps:
        return steps[0].cadence, steps
    return default_cadence(), []


def _time_zone_of(zip_code: str) -> str:
    if not zip_code:
        return ""
    return (Territory.objects.filter(zip_code=zip_code).values_list("time_zone", flat=True)
            .first()) or ""


# --- a routed lead arrives ------------------------------------------------------------------
@dataclass(frozen=True)
class RoutedLead:
    """What distribution hands over: the person, what they asked, and where it came from."""

    inbound_lead_id: int
    first_name: str
    last_name: str
    email: str
    phone: str
    zip_code: str
    intent: str
    price_min_cents: int | None
    price_max_cents: int | None
    timeframe: str
    message: str
    campaign: str
    consent: dict | None
    source_name: str
    received_at: datetime
    reservation_id: int | None = None  # the public reservation it came through (ROI)
    cost_cents: int | None = None  # what the source charged for it (ROI per source)
    routing_note: str = ""  # why this agent, for the lead's timeline
    time_zone: str | None = None  # the ZIP's, from the catalogue (None: looked up here)


def receive_routed_lead(*, routed: RoutedLead, agent: Seat,
                        repeat_of_inbound_lead_id: int | None = None,
                        now: datetime | None = None, savepoint: bool = True,
                        context: RoutedContext | None = None) -> Lead:
    """Put a routed lead in the agent's CRM, enrolled in the brokerage's default cadence
    with a first task "Call now" due at once; its time zone from the ZIP catalogue; the
    consent that came with it recorded as a ConsentEvent (given, via intake).

    Exactly once: the inbound lead id is unique on leads (and on inquiries), so a retried
    delivery finds what the first one made. `repeat_of_inbound_lead_id` names the inbound
    lead that made the CRM lead this person already has: the new inquiry is recorded on it
    instead of a second lead.

    `savepoint=False`: the caller wraps this call in a savepoint of its own (a batch of
    deliveries, one savepoint per lead), so no second one is taken here; a failure then
    rolls back the caller's savepoint. `context`: what a batch read for this brokerage
    (`selectors.routed_lead_context`, in this transaction, the inbound leads locked): a lead
    it does not list as received is not looked for again, and its default cadence is used.
    """
    with transaction.atomic(savepoint=savepoint):
        if context is None or routed.inbound_lead_id in context.received:
            existing = Lead.objects.filter(inbound_lead_id=routed.inbound_lead_id).first()
            if existing is not None:
                return existing
        if repeat_of_inbound_lead_id is not None:
            lead = _lead_of_inbound(repeat_of_inbound_lead_id)
            if lead is not None:
                return _record_inquiry(lead=lead, routed=routed, now=_now(now))
        now = _now(now)
        cadence, steps = (default_enrolment() if context is None
                          else (context.cadence, list(context.steps)))
        time_zone = (routed.time_zone if routed.time_zone is not None
                     else _time_zone_of(routed.zip_code))
        lead = Lead(
            inbound_lead_id=routed.inbound_lead_id, agent_id=agent.pk,
            first_name=routed.first_name, last_name=routed.last_name, email=routed.email,
            phone=routed.phone, zip_code=routed.zip_code, intent=routed.intent,
            price_min_cents=routed.price_min_cents, price_max_cents=routed.price_max_cents,
            timeframe=routed.timeframe, message=routed.message,
            source_name=routed.source_name, campaign=routed.campaign, consent=routed.consent,
            reservation_id=routed.reservation_id, cost_cents=routed.cost_cents,
            routing_note=routed.routing_note, created_at=now, last_inquiry_at=now,
            stage_changed_at=now, time_zone=time_zone)
        # enrolled in the default cadence as it is written (one INSERT, no UPDATE after)
        engine.begin_run(lead, cadence, steps, now)
        lead.save(force_insert=True)
        if routed.consent:
            ConsentEvent.objects.create(lead=lead, kind=ConsentEvent.Kind.GIVEN, via="intake",
                                        channels=["call", "text", "email"],
                                        evidence=routed.consent, created_at=now)
        _announce(lead, engine.first_task(lead, steps, now))
    logger.info("crm.lead_received", extra={"lead": lead.pk, "agent": agent.pk,
                                            "inbound_lead": routed.inbound_lead_id})
    return lead


def receiving_together():
    """A context manager for a batch of `receive_routed_lead` calls in one transaction
    (across brokerages): their tasks' reminder wake-ups are written once at its end."""
    return reminders.wakes_together()


def _enrol_new(lead: Lead, now: datetime) -> Task | None:
    """A new lead's first task: the default cadence's first step, titled "Call now"
    when it is a call due at once (what the agent is told to do with a new lead)."""
    task = engine.enrol(lead, default_cadence(), now)
    return task


def _lead_of_inbound(inbound_lead_id: int) -> Lead | None:
    """The CRM lead an inbound lead made, or the one it was recorded on as an inquiry."""
    lead = Lead.objects.select_for_update().filter(inbound_lead_id=inbound_lead_id).first()
    if lead is None:
        activity = Activity.objects.filter(inbound_lead_id=inbound_lead_id).first()
        if activity is not None:
            lead = Lead.objects.select_for_update().get(pk=activity.lead_id)
    return lead


def _record_inquiry(*, lead: Lead, routed: RoutedLead, now: datetime) -> Lead:
    """A person the agent already has asked again: on the timeline; an open lead's next task
    is brought forward to now (they are interested right now)."""
    if Activity.objects.filter(inbound_lead_id=routed.inbound_lead_id).exists():
        return lead
    Activity.objects.create(lead=lead, kind=Activity.Kind.INQUIRY, note=routed.message,
                            inbound_lead_id=routed.inbound_lead_id, created_at=now)
    lead.last_inquiry_at = now
    lead.save(update_fields=["last_inquiry_at"])
    if lead.is_open:
        task = engine.open_task(lead)
        if task is None:
            engine.schedule_next(lead, now, after_position=engine.last_done_position(lead))
        elif task.due_at > now and not task.is_automated:
            task.due_at = now
            task.save(update_fields=["due_at"])
        _announce(lead)
    logger.info("crm.inquiry_received", extra={"lead": lead.pk,
                                               "inbound_lead": routed.inbound_lead_id})
    return lead


# --- contact details and leads entered by hand ---------------------------------------------
NAME_MAX = 100


def _clean_contact(*, first_name: str, last_name: str, email: str, phone: str,
                   zip_code: str, errors: dict | None = None) -> dict:
    """The contact details cleaned; problems go into `errors` when given (the caller
    raises), else raise a ValidationError here."""
    raise_here = errors is None
    errors = {} if errors is None else errors
    clean: dict[str, str] = {}
    for field, value in (("first_name", first_name), ("last_name", last_name)):
        value = (value or "").strip()
        if has_control_characters(value):
            errors[field] = [CONTROL_CHARACTER_MESSAGE]
        elif len(value) > NAME_MAX:
            errors[field] = [f"Keep it under {NAME_MAX} characters."]
        clean[field] = value
    email = (email or "").strip().lower()
    if email:
        try:
            validate_email(email)
        except ValidationError:
            errors["email"] = ["Enter an email address like name@example.com."]
        if len(email) > 254:
            errors["email"] = ["An email address has at most 254 characters."]
    clean["email"] = email
    raw = (phone or "").strip()
    clean["phone"] = ""
    if raw:
        try:
            number = phonenumbers.parse(raw[:40], "US")
        except phonenumbers.NumberParseException:
            number = None
        if number is None or not phonenumbers.is_valid_number(number):
            errors["phone"] = ["Enter a phone number we can call, like (212) 555-0100."]
        else:
            clean["phone"] = phonenumbers.format_number(number,
                                                        phonenumbers.PhoneNumberFormat.E164)
    zip_code = (zip_code or "").strip()
    if zip_code and not Territory.objects.filter(zip_code=zip_code).exists():
        errors["zip_code"] = ["Enter a 5-digit US ZIP code, like 10001."]
    clean["zip_code"] = zip_code
    if not errors and not (clean["email"] or clean["phone"]):
        errors["phone"] = ["Give a phone number or an email address."]
    if errors and raise_here:
        raise ValidationError(errors)
    return clean


def update_contact(*, lead: Lead, by: Seat | None, first_name: str, last_name: str,
                   email: str, phone: str, zip_code: str) -> Lead:
    """Correct the lead's name, email, phone (kept as E.164, US by default) and ZIP (one of
    the catalogue's, which also gives the lead's time zone). A note on the timeline says
    what changed."""
    clean = _clean_contact(first_name=first_name, last_name=last_name, email=email,
                           phone=phone, zip_code=zip_code)
    with transaction.atomic():
        lead = _locked(lead)
        changed = [field for field, value in clean.items() if getattr(lead, field) != value]
        if not changed:
            return lead
        for field in changed:
            setattr(lead, field, clean[field])
        fields = list(changed)
        if "zip_code" in changed:
            lead.time_zone = _time_zone_of(lead.zip_code)
            fields.append("time_zone")
        lead.save(update_fields=fields)
        labels = {"first_name": "first name", "last_name": "last name", "email": "email",
                  "phone": "phone", "zip_code": "ZIP"}
        Activity.objects.create(lead=lead, kind=Activity.Kind.NOTE,
                                by_id=by.pk if by else None,
                                note="Updated " + ", ".join(labels[f] for f in changed) + ".")
    logger.info("crm.contact_updated", extra={"lead": lead.pk, "fields": changed})
    return lead


LEAD_FIELDS = ("first_name", "last_name", "email", "phone", "zip_code", "intent",
               "price_min_cents", "price_max_cents", "timeframe", "message", "source_name")


def create_lead(*, by: Seat | None, agent: Seat, fields: dict,
                now: datetime | None = None) -> Lead:
    """A lead entered by hand (or imported): validated like `update_contact`, enrolled in
    the default cadence. `fields` may hold LEAD_FIELDS; others are refused."""
    unknown = sorted(set(fields) - set(LEAD_FIELDS))
    if unknown:
        raise ValidationError({name: ["Not a field of a lead."] for name in unknown})
    errors: dict[str, list[str]] = {}
    clean = _clean_contact(first_name=fields.get("first_name", ""),
                           last_name=fields.get("last_name", ""),
                           email=fields.get("email", ""), phone=fields.get("phone", ""),
                           zip_code=fields.get("zip_code", ""), errors=errors)
    prices = {}
    for name in ("price_min_cents", "price_max_cents"):
        value = fields.get(name)
        if value is not None and (not isinstance(value, int) or isinstance(value, bool)
                                  or not 0 <= value <= 10**13):
            errors[name] = ["A price in cents, from 0 to 100 billion dollars."]
        prices[name] = value
    if ("price_min_cents" not in errors and "price_max_cents" not in errors
            and prices["price_min_cents"] is not None
            and prices["price_max_cents"] is not None
            and prices["price_min_cents"] > prices["price_max_cents"]):
        errors["price_max_cents"] = ["The top of the range is below its bottom."]
    text = {}
    for name, limit in (("intent", 4), ("timeframe", 100), ("message", 5000),
                        ("source_name", 120)):
        value = str(fields.get(name) or "").strip()
        if len(value) > limit:
            errors[name] = [f"Keep it under {limit} characters."]
        elif name != "message" and has_control_characters(value):
            errors[name] = [CONTROL_CHARACTER_MESSAGE]
        text[name] = value
    if text["intent"] and text["intent"] not in ("buy", "sell", "both"):
        errors["intent"] = ["Choose buy, sell or both."]
    if errors:
        raise ValidationError(errors)
    now = _now(now)
    with transaction.atomic():
        lead = Lead.objects.create(
            agent_id=agent.pk, **clean, **prices, **text, created_at=now, last_inquiry_at=now,
            stage_changed_at=now, time_zone=_time_zone_of(clean["zip_code"]))
        Activity.objects.create(lead=lead, kind=Activity.Kind.NOTE, created_at=now,
                                by_id=by.pk if by else None, note="Lead entered by hand.")
        _enrol_new(lead, now)
        _announce(lead)
    logger.info("crm.lead_created", extra={"lead": lead.pk, "agent": agent.pk})
    return lead


# --- touches --------------------------------------------------------------------------------
def log_activity(*, lead: Lead, by: Seat, kind: str, outcome: str = "", note: str = "",
                 now: datetime | None = None) -> Activity:
    """Record a touch (call, text, email, meeting) or a note on a lead.

    A touch counts (`touch_count`, `last_touch_at`), stops the first-touch clock here and in
    the public ledger (`lead_touched`), completes the open personal task (not an automated
    step, which still goes out) and schedules the next step. "connected" or "replied" moves
    a new lead to contacted; "replied" also pauses the cadence (the lead is talking: no
    automated step until resumed). "bad_number" is recorded like any outcome and the
    cadence goes on (emails and texts may still reach them; fix the number on the lead).
    The returned activity carries `next_task` (the lead's open task afterwards, or None).
    """
    if kind not in Activity.Kind.values or kind == Activity.Kind.INQUIRY:
        raise ValidationError({"kind": ["Choose call, text, email, meeting or note."]})
    if outcome and outcome not in Activity.Outcome.values:
        raise ValidationError({"outcome": ["Choose one of the outcomes offered."]})
    if kind == Activity.Kind.NOTE and outcome:
        raise ValidationError({"outcome": ["A note has no outcome."]})
    note = (note or "").strip()
    if len(note) > 5000:
        raise ValidationError({"note": ["Keep the note under 5000 characters."]})
    now = _now(now)
    with transaction.atomic():
        lead = _locked(lead)
        activity = Activity.objects.create(lead=lead, kind=kind, outcome=outcome, note=note,
                                           by_id=by.pk, created_at=now)
        if kind in Activity.TOUCHES:
            _count_touch(lead, now)
            if lead.first_touch_at is None:
                lead.first_touch_at = now
                lead.save(update_fields=["first_touch_at"])
            lead_touched.send(sender=Lead, lead=lead, activity=activity)
            if (outcome in (Activity.Outcome.CONNECTED, Activity.Outcome.REPLIED)
                    and lead.stage == Lead.Stage.NEW):
                _record_stage(lead, by_id=by.pk, stage=Lead.Stage.CONTACTED, now=now)
            if lead.is_open:
                _after_touch(lead, activity, replied=outcome == Activity.Outcome.REPLIED,
                             now=now)
        activity.next_task = _announce(lead)
    logger.info("crm.activity_logged", extra={"lead": lead.pk, "kind": kind,
                                              "outcome": outcome, "seat": by.pk})
    return activity


def _after_touch(lead: Lead, activity: Activity, *, replied: bool, now: datetime) -> None:
    task = engine.open_task(lead)
    if replied and lead.cadence_state == CadenceState.ACTIVE:
        lead.cadence_state = CadenceState.PAUSED
        lead.save(update_fields=["cadence_state"])
    if task is None:
        engine.schedule_next(lead, now, after_position=engine.last_done_position(lead))
        return
    if task.is_automated:
        if not replied:
            return  # the automated step still goes out; the agent's touch is on top
        # the lead is talking: the automated step does not go out; it is given back
        engine.make_personal(task, lead, title="Follow up with {first_name}",
                             channel=Channel.CALL,
                             due_at=now + timedelta(days=engine.FOLLOW_UP_DAYS))
        return
    task.completed_at = now
    task.save(update_fields=["completed_at"])
    activity.task = task
    activity.save(update_fields=["task"])
    engine.advance(lead, task, now)


def record_inbound_message(*, lead: Lead, channel: str, body: str, now: datetime | None = None,
                           subject: str = "", provider_id: str = "") -> Activity:
    """A message the lead sent (a text or email through a channel webhook): an inbound
    activity on the timeline, and the cadence PAUSED: no automated step goes out, and the
    open task becomes a personal "Reply to {first_name}" due now, on the channel they used.
    Not a touch (the lead reached us). The same `provider_id` twice records it once.
    Opt-out words are the caller's business (clozings.crm contact rules), done in the same
    transaction as this if it wants."""
    if channel not in (Channel.TEXT, Channel.EMAIL):
        raise ValidationError({"channel": ["An inbound message is a text or an email."]})
    now = _now(now)
    with transaction.atomic():
        lead = _locked(lead)
        if provider_id:
            seen = Activity.objects.filter(lead=lead, inbound=True,
                                           provider_id=provider_id[:64]).first()
            if seen is not None:
                seen.next_task = engine.open_task(lead)
                return seen
        activity = Activity.objects.create(
            lead=lead, kind=channel, inbound=True, body=body, subject=subject[:200],
            provider_id=provider_id[:64], created_at=now)
        if lead.cadence_state == CadenceState.ACTIVE:
            lead.cadence_state = CadenceState.PAUSED
            lead.save(update_fields=["cadence_state"])
        if lead.is_open:
            task = engine.open_task(lead)
            if task is None:
                engine.follow_up_task(lead, now, due_at=now)
                task = engine.open_task(lead)
            engine.make_personal(task, lead, title="Reply to {first_name}", channel=channel,
                                 due_at=now)
        activity.next_task = _announce(lead)
    logger.info("crm.inbound_message", extra={"lead": lead.pk, "channel": channel})
    return activity


# --- tasks ----------------------------------------------------------------------------------
def _finish_task(task: Task, now: datetime, *, reason: str = "",
                 activity: Activity | None = None) -> tuple[Lead, Task | None, bool]:
    """Complete `task` (under the lead's lock) and advance; (lead, next task, done now).
    A task already completed is left alone: (lead, the open task, False)."""
    lead = _locked(task.lead_id)
    task = Task.objects.select_related("step").get(pk=task.pk)
    if task.completed_at is not None:
        return lead, engine.open_task(lead), False
    task.completed_at = now
    task.skipped_reason = reason[:200]
    task.save(update_fields=["completed_at", "skipped_reason"])
    if activity is not None:
        Activity.objects.filter(pk=activity.pk, task__isnull=True).update(task=task)
        if activity.kind in Activity.TOUCHES and not activity.inbound:
            _count_touch(lead, activity.created_at)
    engine.advance(lead, task, now)
    return lead, _announce(lead), True


def complete_task(*, task: Task, by: Seat | None, now: datetime | None = None) -> Task | None:
    """Mark a task done without logging a touch (POST /tasks/<id>/complete): the cadence
    goes on as if the step were done (no touch is counted). An automated step completed by
    hand is skipped ("skipped by hand": it is not sent). Returns the lead's next task."""
    now = _now(now)
    with transaction.atomic():
        reason = "skipped by hand" if task.is_automated else ""
        lead, next_task, done = _finish_task(task, now, reason=reason)
    if done:
        logger.info("crm.task_completed", extra={"lead": lead.pk, "task": task.pk,
                                                 "seat": by.pk if by else None})
    return next_task


def complete_automated_step(*, task: Task, activity: Activity,
                            now: datetime | None = None) -> Task | None:
    """The sender sent `task`'s automatic email or text and recorded `activity`
    (automated=True; it counts as a touch): the step is done, the next one scheduled.
    Call it in the same transaction as the send's record. Idempotent: a task already done
    is left alone. Returns the lead's next task."""
    now = _now(now)
    with transaction.atomic():
        lead, next_task, done = _finish_task(task, now, activity=activity)
    if done:
        logger.info("crm.automated_step_done", extra={"lead": lead.pk, "task": task.pk})
    return next_task


def skip_step(*, task: Task, reason: str, now: datetime | None = None) -> Task | None:
    """Do not carry out `task` ("opted out", "no consent", ...): completed with the reason,
    the next step scheduled. Idempotent. Returns the lead's next task."""
    now = _now(now)
    with transaction.atomic():
        lead, next_task, done = _finish_task(task, now, reason=reason or "skipped")
    if done:
        logger.info("crm.step_skipped", extra={"lead": lead.pk, "task": task.pk,
                                               "reason": reason})
    return next_task


# --- stages ---------------------------------------------------------------------------------
MAX_CENTS = 10**13
CHOOSABLE_STAGES = (*Lead.OPEN_STAGES, Lead.Stage.CLOSED, Lead.Stage.LOST)
LATER_STAGES = (Lead.Stage.APPOINTMENT, Lead.Stage.AGREEMENT, Lead.Stage.UNDER_CONTRACT)


def _cents(value, field: str, errors: dict) -> int | None:
    if value is None:
        errors[field] = ["Required to close a lead (integer cents)."]
        return None
    if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value <= MAX_CENTS:
        errors[field] = ["Integer cents, from 0 to 100 billion dollars."]
        return None
    return value


def change_stage(*, lead: Lead, by: Seat | None, stage: str,
                 sale_price_cents: int | None = None, commission_cents: int | None = None,
                 reason: str = "", now: datetime | None = None) -> StageChange:
    """Move the lead to `stage` (a timestamped StageChange row).

    "closed" needs the sale price and the commission (integer cents, commission <= price);
    "lost" needs a reason. Closing or losing ends the cadence and completes the open task
    ("lead closed"/"lead lost"). Appointment, agreement and under contract pause the
    cadence (the agent works the lead in person; no automated value emails). A closed or
    lost lead moved back to an open stage gets a personal "Follow up" task due at once
    (and its sale facts cleared)."""
    if stage not in CHOOSABLE_STAGES:
        raise ValidationError({"stage": ["Choose one of the stages offered."]})
    reason = (reason or "").strip()
    errors: dict[str, list[str]] = {}
    if stage == Lead.Stage.CLOSED:
        price = _cents(sale_price_cents, "sale_price_cents", errors)
        commission = _cents(commission_cents, "commission_cents", errors)
        if price is not None and commission is not None and commission > price:
            errors["commission_cents"] = ["The commission is more than the sale price."]
    else:
        sale_price_cents = commission_cents = None
    if stage == Lead.Stage.LOST and not reason:
        errors["reason"] = ["Say why the lead was lost."]
    if len(reason) > 200:
        errors["reason"] = ["Keep the reason under 200 characters."]
    elif has_control_characters(reason):
        errors["reason"] = [CONTROL_CHARACTER_MESSAGE]
    if errors:
        raise ValidationError(errors)
    now = _now(now)
    with transaction.atomic():
        lead = _locked(lead)
        if lead.stage == Lead.Stage.REASSIGNED:
            raise Conflict("This lead went to another agent.", code="lead_reassigned")
        if lead.stage == stage and stage != Lead.Stage.CLOSED:
            raise Conflict(f"The lead is already {lead.get_stage_display().lower()}.",
                           code="same_stage")
        was_open = lead.is_open
        change = _record_stage(lead, by_id=by.pk if by else None, stage=stage, now=now,
                               reason=reason, sale_price_cents=sale_price_cents,
                               commission_cents=commission_cents)
        if stage in (Lead.Stage.CLOSED, Lead.Stage.LOST):
            _close_open_task(lead, now, reason=f"lead {stage}")
            lead.cadence_state = CadenceState.FINISHED
            lead.closed_at = now
            lead.lost_reason = reason if stage == Lead.Stage.LOST else ""
            lead.sale_price_cents = sale_price_cents
            lead.commission_cents = commission_cents
            lead.save(update_fields=["cadence_state", "closed_at", "lost_reason",
                                     "sale_price_cents", "commission_cents"])
        elif not was_open:
            lead.closed_at = None
            lead.lost_reason = ""
            lead.sale_price_cents = lead.commission_cents = None
            lead.save(update_fields=["closed_at", "lost_reason", "sale_price_cents",
                                     "commission_cents"])
            if engine.open_task(lead) is None:
                engine.follow_up_task(lead, now, due_at=now)
        elif stage in LATER_STAGES and lead.cadence_state == CadenceState.ACTIVE:
            _pause(lead, now)
        _announce(lead)
    logger.info("crm.stage_changed", extra={"lead": lead.pk, "stage": stage,
                                            "seat": by.pk if by else None})
    return change


# --- cadences on a lead ---------------------------------------------------------------------
def _pause(lead: Lead, now: datetime) -> None:
    lead.cadence_state = CadenceState.PAUSED
    lead.save(update_fields=["cadence_state"])
    task = engine.open_task(lead)
    if task is not None and task.step_id is not None:
        engine.make_personal(task, lead, title="Follow up with {first_name}",
                             channel=task.channel, due_at=max(task.due_at, now))


def enrol(*, lead: Lead, cadence: Cadence, by: Seat | None = None,
          now: datetime | None = None) -> Task | None:
    """Enrol an open lead in `cadence` from now (a new run from its first step); its open
    task is completed ("moved to <cadence>"). Used to switch cadence and for the bulk
    re-engagement of quiet leads. Returns the new open task."""
    if cadence.archived_at is not None:
        raise ValidationError({"cadence_id": ["This cadence is archived."]})
    now = _now(now)
    with transaction.atomic():
        lead = _locked(lead)
        if not lead.is_open:
            raise Conflict("Only an open lead follows a cadence.", code="lead_not_open")
        _close_open_task(lead, now, reason=f"moved to {cadence.name}")
        engine.enrol(lead, cadence, now)
        task = _announce(lead)
    logger.info("crm.enrolled", extra={"lead": lead.pk, "cadence": cadence.pk,
                                       "seat": by.pk if by else None})
    return task


def switch_cadence(*, lead: Lead, by: Seat | None, cadence: Cadence,
                   now: datetime | None = None) -> Task | None:
    """Move the lead to another cadence, from its first step (see `enrol`)."""
    return enrol(lead=lead, cadence=cadence, by=by, now=now)


def pause_cadence(*, lead: Lead, by: Seat | None, now: datetime | None = None) -> Task | None:
    """Stop the cadence's steps for now: an automated step does not go out; the open step
    becomes a personal follow-up at the same time. Returns the open task."""
    now = _now(now)
    with transaction.atomic():
        lead = _locked(lead)
        if not lead.is_open or lead.cadence_state != CadenceState.ACTIVE:
            raise Conflict("The lead's cadence is not running.", code="cadence_not_running")
        _pause(lead, now)
        task = _announce(lead)
    logger.info("crm.cadence_paused", extra={"lead": lead.pk, "seat": by.pk if by else None})
    return task


def resume_cadence(*, lead: Lead, by: Seat | None, now: datetime | None = None) -> Task | None:
    """Run a paused cadence again after the last step done (catching up: see
    clozings.crm.cadence); the open personal task is replaced by that step. Returns the
    open task."""
    now = _now(now)
    with transaction.atomic():
        lead = _locked(lead)
        if not lead.is_open or lead.cadence_state != CadenceState.PAUSED:
            raise Conflict("The lead's cadence is not paused.", code="cadence_not_paused")
        lead.cadence_state = CadenceState.ACTIVE
        lead.save(update_fields=["cadence_state"])
        _close_open_task(lead, now, reason="cadence resumed")
        engine.schedule_next(lead, now, after_position=engine.last_done_position(lead))
        task = _announce(lead)
    logger.info("crm.cadence_resumed", extra={"lead": lead.pk, "seat": by.pk if by else None})
    return task


# --- cadences (admins) ----------------------------------------------------------------------
MAX_STEPS = 60
MAX_OFFSET_MINUTES = 5 * 365 * 24 * 60
TEMPLATE_MAX = 5000
TEXT_MAX = 1000  # a text message's template


def _clean_steps(steps: list[dict]) -> list[dict]:
    errors: dict[str, list[str]] = {}
    if not steps:
        raise ValidationError({"steps": ["A cadence has at least one step."]})
    if len(steps) > MAX_STEPS:
        raise ValidationError({"steps": [f"A cadence has at most {MAX_STEPS} steps."]})
    clean = []
    previous = -1
    for index, step in enumerate(steps):
        where = f"steps[{index}]"
        offset = step.get("offset_minutes")
        channel = step.get("channel")
        title = str(step.get("title") or "").strip()
        subject = str(step.get("subject") or "").strip()
        template = str(step.get("template") or "").strip()
        problems = []
        if isinstance(offset, bool) or not isinstance(offset, int) or not (
                0 <= offset <= MAX_OFFSET_MINUTES):
            problems.append(f"offset_minutes: from 0 to {MAX_OFFSET_MINUTES} minutes.")
        elif offset < previous:
            problems.append("offset_minutes: steps go in time order (each offset at least "
                            "the one before).")
        else:
            previous = offset
        if channel not in Channel.values:
            problems.append("channel: choose call, text, email, auto_email or auto_text.")
        if not title:
            title = dict(Channel.choices).get(channel, "Step")
        if len(title) > 200 or has_control_characters(title):
            problems.append("title: at most 200 characters, no control characters.")
        if len(subject) > 200 or has_control_characters(subject):
            problems.append("subject: at most 200 characters, no control characters.")
        limit = TEXT_MAX if channel in (Channel.TEXT, Channel.AUTO_TEXT) else TEMPLATE_MAX
        if len(template) > limit:
            problems.append(f"template: at most {limit} characters.")
        if any(has_control_characters(line) for line in template.splitlines()):
            problems.append("template: remove the tab or invisible control character.")
        if channel in AUTOMATED_CHANNELS and not template:
            problems.append("template: an automatic message needs its text.")
        if channel == Channel.AUTO_EMAIL and not subject:
            problems.append("subject: an automatic email needs a subject.")
        if problems:
            errors[where] = problems
        clean.append({"offset_minutes": offset, "channel": channel, "title": title,
                      "subject": subject, "template": template})
    if errors:
        raise ValidationError(errors)
    return clean


def save_cadence(*, by: Seat | None, name: str, steps: list[dict], description: str = "",
                 purpose: str = Cadence.Purpose.FOLLOW_UP, is_default: bool | None = None,
                 cadence: Cadence | None = None, now: datetime | None = None) -> Cadence:
    """Create a cadence, or replace `cadence`'s name and steps. Steps are
    [{"offset_minutes", "channel", "title", "subject", "template"}], in time order. Edited
    steps are updated in place by position, so leads on the cadence go on from where they
    are; is_default=True makes it the one new leads are enrolled in."""
    name = (name or "").strip()
    errors = {}
    if not name or len(name) > 100 or has_control_characters(name):
        errors["name"] = ["A name of 1 to 100 characters, without control characters."]
    if purpose not in Cadence.Purpose.values:
        errors["purpose"] = ["Choose follow_up or re_engagement."]
    if len(description or "") > 2000:
        errors["description"] = ["Keep it under 2000 characters."]
    if errors:
        raise ValidationError(errors)
    clean = _clean_steps(steps)
    now = _now(now)
    with transaction.atomic():
        if cadence is None:
            cadence = Cadence.objects.create(name=name, description=description or "",
                                             purpose=purpose, created_at=now, updated_at=now)
        else:
            cadence = Cadence.objects.select_for_update().get(pk=cadence.pk)
            cadence.name, cadence.description, cadence.purpose = name, description or "", purpose
            cadence.updated_at = now
            cadence.save(update_fields=["name", "description", "purpose", "updated_at"])
        existing = {step.position: step for step in cadence.steps.all()}
        for position, data in enumerate(clean):
            step = existing.pop(position, None)
            if step is None:
                CadenceStep.objects.create(cadence=cadence, position=position, **data)
            else:
                for field, value in data.items():
                    setattr(step, field, value)
                step.save()
        CadenceStep.objects.filter(pk__in=[s.pk for s in existing.values()]).delete()
        if is_default:
            _make_default(cadence)
    logger.info("crm.cadence_saved", extra={"cadence": cadence.pk,
                                            "seat": by.pk if by else None})
    return cadence


def _make_default(cadence: Cadence) -> None:
    Cadence.objects.filter(is_default=True).exclude(pk=cadence.pk).update(is_default=False)
    if not cadence.is_default:
        cadence.is_default = True
        cadence.save(update_fields=["is_default"])


def set_default_cadence(*, cadence: Cadence, by: Seat | None) -> Cadence:
    """New leads are enrolled in `cadence` from now on."""
    if cadence.archived_at is not None:
        raise ValidationError({"cadence_id": ["This cadence is archived."]})
    with transaction.atomic():
        list(Cadence.objects.select_for_update().filter(is_default=True))
        _make_default(cadence)
    logger.info("crm.cadence_default", extra={"cadence": cadence.pk,
                                              "seat": by.pk if by else None})
    return cadence


# --- a seat that leaves ----------------------------------------------------------------------
def hand_over_leads(*, from_agent_id: int, to_agent: Seat | None,
                    now: datetime | None = None) -> int:
    """A deactivated seat's open leads (and their open tasks) go to `to_agent`, each with a
    note on its timeline; None leaves them where they are (an admin still sees them).
    Returns how many moved."""
    if to_agent is None:
        return 0
    now = _now(now)
    with transaction.atomic():
        leads = list(Lead.objects.select_for_update()
                     .filter(agent_id=from_agent_id, stage__in=Lead.OPEN_STAGES)
                     .order_by("pk"))
        ids = [lead.pk for lead in leads]
        Lead.objects.filter(pk__in=ids).update(agent_id=to_agent.pk)
        Task.objects.filter(lead_id__in=ids, completed_at__isnull=True).update(
            agent_id=to_agent.pk)
        Activity.objects.bulk_create([
            Activity(lead_id=pk, kind=Activity.Kind.NOTE, created_at=now,
                     note=f"Handed over to {to_agent.name or to_agent.email}: the agent "
                          "who had this lead left.") for pk in ids])
    logger.info("crm.leads_handed_over", extra={"from": from_agent_id, "to": to_agent.pk,
                                                "leads": len(ids)})
    return len(ids)


# --- reassignment (first-touch SLA) --------------------------------------------------------
def reassign_lead(*, inbound_lead_id: int, to_agent: Seat | None, note: str,
                  now: datetime | None = None) -> Lead | None:
    """Take a lead away from its agent after the first-touch SLA passed untouched: to
    `to_agent` (another agent of this brokerage), with its open task due at once, or, with
    None, closed as reassigned (it went to another brokerage), its open task completed.
    The note says why, on the lead. None when this brokerage has no such lead."""
    now = _now(now)
    with transaction.atomic():
        lead = Lead.objects.select_for_update().filter(inbound_lead_id=inbound_lead_id).first()
        if lead is None:
            return None
        if to_agent is not None:
            lead.agent_id = to_agent.pk
            lead.save(update_fields=["agent_id"])
            task = engine.open_task(lead)
            if task is not None:
                task.agent_id = to_agent.pk
                task.due_at = now
                task.save(update_fields=["agent_id", "due_at"])
            elif lead.is_open:
                engine.follow_up_task(lead, now, due_at=now)
        else:
            _record_stage(lead, by_id=None, stage=Lead.Stage.REASSIGNED, now=now,
                          reason="went to another agent")
            _close_open_task(lead, now, reason="lead reassigned")
            lead.cadence_state = CadenceState.FINISHED
            lead.save(update_fields=["cadence_state"])
        Activity.objects.create(lead=lead, kind=Activity.Kind.NOTE, note=note, created_at=now)
        _announce(lead)
    logger.info("crm.lead_reassigned", extra={
        "lead": lead.pk, "inbound_lead": inbound_lead_id,
        "agent": to_agent.pk if to_agent is not None else None})
    return lead
