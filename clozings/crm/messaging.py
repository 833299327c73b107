"""Automated follow-up messages, opt-out and inbound replies, in a brokerage's schema.

Sending an automated step exactly once:
- The brokerage's run (`run_automated`, a task per brokerage) claims one due automated
  task at a time (its lead's row with SELECT ... FOR UPDATE SKIP LOCKED, then the task's),
  checks the contact rules (crm.contact_rules.check) and, in that same transaction, either
  holds it (`not_before`, `hold_reason`: checked again when it is due again), skips it
  (opted out, no consent, do-not-contact: crmcore's `skip_step`), or records the Activity
  (automated, with the subject and body) together with the message's outbox row and
  completes the step (crmcore's `complete_automated_step`). A retried task or a second
  worker finds the step completed; a killed worker rolls the whole claim back.
- Emails: the platform's mail outbox (queue_mail) in that transaction.
- Texts: the brokerage's own outbox (LeadText, so a lead's number never leaves its schema)
  in that transaction; sent after commit by a task, and by the next run when the task was
  lost or the provider failed; sending holds the row's lock. Twilio takes no idempotency
  key, so the one window for a duplicate is a worker killed between the provider's answer
  and the commit (as for every outbox here). Before sending, the row's lead is checked for
  an opt-out or the do-not-contact list again, so nothing goes after a STOP.
- Waking up: `Brokerage.next_automated_due_at` (public) holds the earliest moment work may
  be due in the schema; writing an open automated task or a lead text lowers it (in the
  writer's transaction, holding the brokerage row's lock), each run recomputes it under
  that lock, and the beat sweeper reads only that column: no query per schema when
  nothing is due.
"""

from __future__ import annotations

import logging
import re
import secrets
import time as monotonic_time
from datetime import datetime, timedelta

from django.db import connection, transaction
from django.db.models import Min, Q
from django.db.models.signals import post_save
from django.dispatch import receiver
from django.utils import timezone

from clozings.crm import contact_rules
from clozings.crm.models import (
    AUTOMATED_CHANNELS,
    Activity,
    Channel,
    ConsentEvent,
    DoNotContact,
    Lead,
    LeadText,
    Task,
)
from clozings.platform import sms
from clozings.platform.errors import NotFound
from clozings.platform.mail import queue_mail, retry_delay
from clozings.platform.tenancy import enqueue_on_commit
from clozings.tenants.models import Brokerage, Seat
from clozings.tenants.services import brokerage_url

logger = logging.getLogger(__name__)

AUTOMATED_MAIL = "crm.automated_email"  # kind of the outbox mail; ref "<schema>:<activity>"
MAX_TEXT_ATTEMPTS = 30
RUN_SECONDS = 20.0  # one run stops after this long; the next one goes on
NO_ADDRESS_RETRY = timedelta(hours=6)  # an email held for the brokerage's postal address
ALL_CHANNELS = ["call", "text", "email"]


# --- the wake-up column -------------------------------------------------------------------
def _brokerage_here() -> Brokerage:
    return Brokerage.objects.get(schema_name=connection.schema_name)


def wake_brokerage(at: datetime) -> None:
    """Lower this schema's brokerage wake-up to `at` (in the caller's transaction: the row
    lock orders it against a run recomputing it)."""
    with connection.cursor() as cursor:
        cursor.execute(
            "UPDATE public.tenants_brokerage SET next_automated_due_at = "
            "LEAST(COALESCE(next_automated_due_at, %s), %s) WHERE schema_name = %s",
            [at, at, connection.schema_name])


@receiver(post_save, sender=Task, dispatch_uid="crm.messaging.wake_on_task")
def _wake_on_automated_task(sender, instance: Task, **kwargs) -> None:
    if instance.is_automated and instance.completed_at is None:
        wake_brokerage(instance.not_before or instance.due_at)


def _due_tasks(now: datetime):
    return Task.objects.filter(channel__in=AUTOMATED_CHANNELS, completed_at__isnull=True).filter(
        Q(not_before__isnull=True, due_at__lte=now) | Q(not_before__lte=now))


def _next_due() -> datetime | None:
    open_steps = Task.objects.filter(channel__in=AUTOMATED_CHANNELS, completed_at__isnull=True)
    candidates = [
        open_steps.filter(not_before__isnull=True).aggregate(m=Min("due_at"))["m"],
        open_steps.filter(not_before__isnull=False).aggregate(m=Min("not_before"))["m"],
        LeadText.objects.filter(next_attempt_at__isnull=False).aggregate(
            m=Min("next_attempt_at"))["m"],
    ]
    return min((c for c in candidates if c is not None), default=None)


def refresh_wake_up() -> datetime | None:
    """Recompute this schema's wake-up under the brokerage row's lock (writers of due work
    hold that lock until they commit, so none is missed)."""
    with transaction.atomic():
        with connection.cursor() as cursor:
            cursor.execute("SELECT id FROM public.tenants_brokerage WHERE schema_name = %s "
                           "FOR UPDATE", [connection.schema_name])
        due = _next_due()
        with connection.cursor() as cursor:
            cursor.execute("UPDATE public.tenants_brokerage SET next_automated_due_at = %s "
                           "WHERE schema_name = %s", [due, connection.schema_name])
    return due


def brokerages_with_due_work(*, now: datetime) -> list[str]:
    """Schemas whose automated work may be due (one query on the public table)."""
    return list(Brokerage.objects.filter(next_automated_due_at__lte=now)
                .values_list("schema_name", flat=True))


# --- composing ----------------------------------------------------------------------------
def _render(task: Task, lead: Lead, agent: Seat | None, brokerage: Brokerage,
            now: datetime) -> tuple[str, str]:
    """The step's subject and message with the lead's details merged in (crmcore's
    scripts: the step's template, else the stage's default, never blank)."""
    from clozings.crm import scripts

    names = {"agent_name": (agent.name or agent.email) if agent is not None else "",
             "brokerage_name": brokerage.name, "now": now}
    subject = scripts.subject_for(task, lead, **names).strip() or task.title
    return subject, scripts.script_for(task, lead, **names).strip()


def unsubscribe_url(brokerage: Brokerage, lead: Lead) -> str:
    if not lead.unsubscribe_token:
        lead.unsubscribe_token = secrets.token_urlsafe(32)
        lead.save(update_fields=["unsubscribe_token"])
    return brokerage_url(brokerage, f"/unsubscribe/{lead.unsubscribe_token}")


def _sender_name(agent: Seat | None, brokerage: Brokerage) -> str:
    name = (agent.name or agent.email) if agent is not None else ""
    return f"{name} via {brokerage.name}" if name else brokerage.name


def _email_text(body: str, *, agent: Seat | None, brokerage: Brokerage, link: str) -> str:
    signature = [agent.name or agent.email] if agent is not None else []
    return "\n".join([
        body, "", "--", *signature, brokerage.name, brokerage.postal_address, "",
        "You get this email because you asked about a home with us. To stop these emails,",
        f"unsubscribe here: {link}", ""])


def _send_email_step(task: Task, lead: Lead, brokerage: Brokerage, now: datetime) -> Activity:
    agent = Seat.objects.filter(pk=lead.agent_id).select_related("user").first()
    subject, body = _render(task, lead, agent, brokerage, now)
    link = unsubscribe_url(brokerage, lead)
    activity = Activity.objects.create(
        lead=lead, kind=Activity.Kind.EMAIL, automated=True, task=task, subject=subject[:200],
        body=body, created_at=now)
    headers = {"List-Unsubscribe": f"<{link}>",
               "List-Unsubscribe-Post": "List-Unsubscribe=One-Click"}
    if agent is not None:
        headers["Reply-To"] = agent.user.email if agent.user_id else agent.email
    queue_mail(to=lead.email, subject=subject,
               text=_email_text(body, agent=agent, brokerage=brokerage, link=link),
               headers=headers, kind=AUTOMATED_MAIL, private=True,
               ref=f"{connection.schema_name}:{activity.pk}",
               from_name=_sender_name(agent, brokerage))
    return activity


def _queue_text(lead: Lead, body: str, kind: str, now: datetime,
                activity: Activity | None = None) -> LeadText:
    text = LeadText.objects.create(lead=lead, activity=activity, kind=kind, to=lead.phone,
                                   body=body, created_at=now, next_attempt_at=now)
    wake_brokerage(now)
    from clozings.crm.tasks import send_lead_text  # tasks import this module

    enqueue_on_commit(send_lead_text, schema_name=connection.schema_name, text_id=text.pk)
    return text


def _send_text_step(task: Task, lead: Lead, brokerage: Brokerage, now: datetime) -> Activity:
    agent = Seat.objects.filter(pk=lead.agent_id).first()
    _, body = _render(task, lead, agent, brokerage, now)
    body = f"{body}\n{brokerage.name}. Reply STOP to opt out."
    activity = Activity.objects.create(lead=lead, kind=Activity.Kind.TEXT, automated=True,
                                       task=task, body=body, created_at=now)
    _queue_text(lead, body, LeadText.Kind.STEP, now, activity)
    return activity


# --- the automated sender -----------------------------------------------------------------
def process_next_step(*, now: datetime, rules: contact_rules.RuleBook | None = None,
                      brokerage: Brokerage | None = None) -> Task | None:
    """Claim one due automated step and send, hold or skip it (see the module's doc);
    the task, or None when nothing is due and free."""
    from clozings.crm import services  # crmcore's engine

    with transaction.atomic():
        # The lead's row first, then the task's: the order crmcore's services lock in, so
        # a sender and an agent logging a touch never deadlock. A lead another worker
        # holds is skipped (SKIP LOCKED); its step goes on the next run.
        lead = (Lead.objects.select_for_update(skip_locked=True)
                .filter(pk__in=_due_tasks(now).values("lead_id")).order_by().first())
        if lead is None:
            return None
        task = (_due_tasks(now).filter(lead=lead).select_for_update(of=("self",))
                .select_related("step").order_by("due_at", "id").first())
        if task is None:  # done meanwhile by someone else: look again
            return process_next_step(now=now, rules=rules, brokerage=brokerage)
        task.lead = lead
        brokerage = brokerage or _brokerage_here()
        verdict = contact_rules.check(lead, task.channel, now, rules=rules)
        task.attempts += 1
        if verdict.permanent:
            task.save(update_fields=["attempts"])
            services.skip_step(task=task, reason=verdict.reason_text[:200], now=now)
            logger.info("crm.step_skipped", extra={"task": task.pk, "reasons": verdict.reasons})
            return task
        if task.channel == Channel.AUTO_EMAIL and not brokerage.postal_address.strip():
            verdict.allowed, verdict.not_before = False, now + NO_ADDRESS_RETRY
            verdict.messages.append("The brokerage has no postal address for its emails.")
        if not verdict.allowed:
            task.not_before = verdict.not_before or now + timedelta(days=1)
            task.hold_reason = verdict.reason_text[:200]
            task.save(update_fields=["attempts", "not_before", "hold_reason"])
            logger.info("crm.step_held", extra={"task": task.pk, "until": task.not_before,
                                                "reasons": verdict.reasons})
            return task
        task.save(update_fields=["attempts"])
        send = _send_email_step if task.channel == Channel.AUTO_EMAIL else _send_text_step
        activity = send(task, lead, brokerage, now)
        services.complete_automated_step(task=task, activity=activity, now=now)
        logger.info("crm.step_sent", extra={"task": task.pk, "channel": task.channel,
                                            "activity": activity.pk})
        return task


def _send_claimed_text(candidates) -> LeadText | None:
    with transaction.atomic():
        text = (candidates.select_for_update(skip_locked=True, of=("self",))
                .select_related("lead").order_by("next_attempt_at", "pk").first())
        if text is None:
            return None
        now = timezone.now()
        lead = text.lead
        if text.kind == LeadText.Kind.STEP and (
                lead.opted_out_at is not None or contact_rules.on_do_not_contact(lead, "text")):
            text.next_attempt_at = None
            text.cancelled_reason = "The lead opted out or is on the do-not-contact list."
            text.save(update_fields=["next_attempt_at", "cancelled_reason"])
            return text
        text.attempts += 1
        text.last_attempt_at = now
        try:
            text.provider_id = sms.send_text(to=text.to, body=text.body)
        except Exception as exc:  # noqa: BLE001 (every failure is recorded and retried)
            text.last_error = f"{type(exc).__name__}: {exc}"[:1000]
            text.next_attempt_at = (now + retry_delay(text.attempts)
                                    if text.attempts < MAX_TEXT_ATTEMPTS else None)
            logger.warning("lead_text.failed", exc_info=True, extra={
                "text": text.pk, "attempts": text.attempts})
        else:
            text.sent_at = now
            text.next_attempt_at = None
            if text.activity_id:
                Activity.objects.filter(pk=text.activity_id).update(provider_id=text.provider_id)
            logger.info("lead_text.sent", extra={"text": text.pk, "kind": text.kind})
        text.save(update_fields=["attempts", "last_attempt_at", "last_error",
                                 "next_attempt_at", "sent_at", "provider_id"])
    return text


def send_lead_text(*, text_id: int) -> LeadText | None:
    """Send one queued lead text if it is due and nobody is sending it (safe twice)."""
    return _send_claimed_text(LeadText.objects.filter(
        pk=text_id, next_attempt_at__lte=timezone.now()))


def run_automated(*, now: datetime | None = None) -> dict[str, int]:
    """This brokerage's automated follow-up: send due lead texts, then every due step;
    then recompute the wake-up. Safe to run twice and side by side."""
    started = monotonic_time.monotonic()
    texts = steps = 0
    while monotonic_time.monotonic() - started < RUN_SECONDS:
        moment = now or timezone.now()
        if _send_claimed_text(LeadText.objects.filter(next_attempt_at__lte=moment)) is None:
            break
        texts += 1
    rules = contact_rules.RuleBook()
    brokerage = _brokerage_here()
    while monotonic_time.monotonic() - started < RUN_SECONDS:
        if process_next_step(now=now or timezone.now(), rules=rules,
                             brokerage=brokerage) is None:
            break
        steps += 1
    refresh_wake_up()
    return {"texts": texts, "steps": steps}


# --- opt-out and opt-in -------------------------------------------------------------------
def _confirmation(kind: str, brokerage_name: str) -> str:
    if kind == LeadText.Kind.OPT_OUT_CONFIRMATION:
        return (f"{brokerage_name}: you are unsubscribed and will get no more automated "
                "messages from us. Reply START to opt back in.")
    return (f"{brokerage_name}: you are subscribed again to messages from your agent. "
            "Reply STOP to opt out.")


def opt_out(lead: Lead, by: Seat | None = None, via: str = "agent", note: str = "", *,
            now: datetime | None = None, evidence: dict | None = None) -> Lead:
    """Stop every automated message to `lead` at once: opted out (via a text reply, an
    email unsubscribe, an agent's note...), the revocation kept in the consent record,
    open automated steps held and queued step texts cancelled, and one confirmation text
    (none when the lead was already opted out, so a second STOP gets nothing, and none to
    a number on the do-not-contact list)."""
    now = now or timezone.now()
    with transaction.atomic():
        lead = Lead.objects.select_for_update().get(pk=lead.pk)
        if lead.opted_out_at is not None:
            return lead
        lead.opted_out_at = now
        lead.opted_out_via = via[:40]
        lead.save(update_fields=["opted_out_at", "opted_out_via"])
        ConsentEvent.objects.create(
            lead=lead, kind=ConsentEvent.Kind.REVOKED, via=via[:40], channels=ALL_CHANNELS,
            evidence={**(evidence or {}), **({"note": note} if note else {})},
            by_id=by.pk if by is not None else None, created_at=now)
        lead.tasks.filter(channel__in=AUTOMATED_CHANNELS, completed_at__isnull=True).update(
            hold_reason="The lead opted out.")
        LeadText.objects.filter(lead=lead, kind=LeadText.Kind.STEP,
                                next_attempt_at__isnull=False).update(
            next_attempt_at=None, cancelled_reason="The lead opted out.")
        Activity.objects.create(
            lead=lead, kind=Activity.Kind.NOTE, by_id=by.pk if by is not None else None,
            note=f"Opted out ({via.replace('_', ' ')}). {note}".strip(), created_at=now)
        if lead.phone and not contact_rules.on_do_not_contact(lead, "text"):
            _queue_text(lead, _confirmation(LeadText.Kind.OPT_OUT_CONFIRMATION,
                                            _brokerage_here().name),
                        LeadText.Kind.OPT_OUT_CONFIRMATION, now)
    logger.info("crm.lead_opted_out", extra={"lead": lead.pk, "via": via})
    return lead


def opt_in(lead: Lead, *, via: str, now: datetime | None = None,
           evidence: dict | None = None, confirm: bool = True) -> Lead:
    """The lead opted back in (START, UNSTOP, a new consent): automated messages may go
    again, with the consent they cover (texts at least, since they texted us)."""
    now = now or timezone.now()
    with transaction.atomic():
        lead = Lead.objects.select_for_update().get(pk=lead.pk)
        if lead.opted_out_at is None:
            return lead
        lead.opted_out_at = None
        lead.opted_out_via = ""
        lead.save(update_fields=["opted_out_at", "opted_out_via"])
        channels = sorted(set(contact_rules._intake_channels(lead)) | {"text"})
        ConsentEvent.objects.create(lead=lead, kind=ConsentEvent.Kind.RESTORED, via=via[:40],
                                    channels=channels, evidence=evidence or {},
                                    created_at=now)
        lead.tasks.filter(channel__in=AUTOMATED_CHANNELS, completed_at__isnull=True,
                          hold_reason="The lead opted out.").update(hold_reason="")
        Activity.objects.create(lead=lead, kind=Activity.Kind.NOTE,
                                note=f"Opted back in ({via.replace('_', ' ')}).",
                                created_at=now)
        if confirm and lead.phone:
            _queue_text(lead, _confirmation(LeadText.Kind.OPT_IN_CONFIRMATION,
                                            _brokerage_here().name),
                        LeadText.Kind.OPT_IN_CONFIRMATION, now)
    logger.info("crm.lead_opted_in", extra={"lead": lead.pk, "via": via})
    return lead


# --- what a reply means -------------------------------------------------------------------
_STOP_WORDS = {
    "stop", "stopall", "stop all", "unsubscribe", "cancel", "end", "quit", "revoke",
    "opt out", "optout", "opt-out", "remove", "remove me", "unsub",
    # common misspellings and slips
    "stpo", "sotp", "stopp", "stoo", "sop", "st0p", "spot", "stop stop", "stopa",
    "unsubscibe", "unsubcribe", "unsuscribe", "unsubscrib", "unsubscribe me", "unsubsribe",
    "cancle", "cancell", "quite", "qiut", "revok", "optout please",
}
_STOP_PHRASES = re.compile(
    r"^(please )?(stop|stp|stpo|stopp)( it| now| please| pls| plz| thanks| thank you)*$"
    r"|\b(stop|quit|no more)( \w+)? (texting|texts|messaging|messages|calling|calls|"
    r"contacting|emailing|emails|sending)\b"
    r"|\b(do not|dont|don't|never) (text|call|message|contact|email)\b"
    r"|\b(remove|delete|take) (me|my number|this number)\b"
    r"|\b(unsubscribe|opt me out|opt out|lose my number|leave me alone)\b")
_START_WORDS = {"start", "unstop", "opt in", "optin", "subscribe", "resume"}


def _normalise(message: str) -> str:
    text = message.lower().replace("\u2019", "'")
    text = re.sub(r"[^a-z0-9' -]+", " ", text)
    return " ".join(text.split())


def is_opt_out(message: str) -> bool:
    """STOP and its kin, plain-language requests and common misspellings."""
    text = _normalise(message)
    return text in _STOP_WORDS or bool(_STOP_PHRASES.search(text))


def is_opt_in(message: str) -> bool:
    return _normalise(message) in _START_WORDS


# --- inbound ------------------------------------------------------------------------------
def _record_inbound(lead: Lead, channel: str, body: str, now: datetime, *,
                    subject: str = "", provider_id: str = "") -> None:
    from clozings.crm import services  # crmcore's engine

    services.record_inbound_message(lead=lead, channel=channel, body=body, now=now,
                                    subject=subject, provider_id=provider_id)


def receive_text(*, from_number: str, body: str, now: datetime | None = None,
                 provider_id: str = "") -> list[Lead]:
    """A text from a lead: on its timeline (the cadence pauses), then STOP opts it out and
    START back in. The leads with that number (none: nothing happens)."""
    now = now or timezone.now()
    number = _e164(from_number)
    leads = list(Lead.objects.filter(phone=number)) if number else []
    for lead in leads:
        with transaction.atomic():
            _record_inbound(lead, "text", body, now, provider_id=provider_id)
            if is_opt_out(body):
                opt_out(lead, via="text_reply", now=now, evidence={"message": body[:500]})
            elif is_opt_in(body):
                opt_in(lead, via="text_reply", now=now, evidence={"message": body[:500]})
    return leads


def receive_email(*, from_address: str, subject: str, body: str,
                  now: datetime | None = None) -> list[Lead]:
    """An email from a lead: on its timeline; "unsubscribe"/"stop" in the subject or the
    first line opts it out."""
    now = now or timezone.now()
    address = (from_address or "").strip().lower()
    leads = list(Lead.objects.filter(email__iexact=address)) if address else []
    first_line = next((line for line in body.splitlines() if line.strip()), "")
    for lead in leads:
        with transaction.atomic():
            _record_inbound(lead, "email", body, now, subject=subject)
            if is_opt_out(subject) or is_opt_out(first_line):
                opt_out(lead, via="email_reply", now=now, evidence={"subject": subject[:200]})
    return leads


def _e164(number: str) -> str:
    import phonenumbers

    try:
        parsed = phonenumbers.parse(number or "", "US")
    except phonenumbers.NumberParseException:
        return ""
    if not phonenumbers.is_possible_number(parsed):
        return ""
    return phonenumbers.format_number(parsed, phonenumbers.PhoneNumberFormat.E164)


def unsubscribe(*, token: str, now: datetime | None = None) -> Lead:
    """The lead behind an unsubscribe link opts out (NotFound for a token that is not one)."""
    lead = Lead.objects.filter(unsubscribe_token=token).first() if token else None
    if lead is None or len(token) < 20:
        raise NotFound("This unsubscribe link is not valid.")
    return opt_out(lead, via="email_unsubscribe", now=now)


def lead_of_unsubscribe_token(token: str) -> Lead | None:
    if not token or len(token) < 20 or len(token) > 64:
        return None
    return Lead.objects.filter(unsubscribe_token=token).first()


# --- the do-not-contact list --------------------------------------------------------------
def add_do_not_contact(*, value: str, reason: str = "", by: Seat | None = None,
                       now: datetime | None = None) -> DoNotContact:
    """Put a phone number or an email on the brokerage's list (ValidationError when it is
    neither; the existing row when it is there already)."""
    from django.core.exceptions import ValidationError
    from django.core.validators import validate_email

    value = (value or "").strip()
    now = now or timezone.now()
    if "@" in value:
        try:
            validate_email(value)
        except ValidationError:
            raise ValidationError({"value": ["Enter a valid email address."]}) from None
        fields = {"email": value.lower()}
    else:
        phone = _e164(value) if re.fullmatch(r"[0-9 +().-]{7,25}", value) else ""
        if not phone:
            raise ValidationError({"value": ["Enter a phone number or an email address."]})
        fields = {"phone": phone}
    with transaction.atomic():
        entry, created = DoNotContact.objects.get_or_create(
            **fields, defaults={"reason": reason.strip()[:200],
                                "added_by_id": by.pk if by is not None else None,
                                "created_at": now})
        if created:
            leads = Lead.objects.filter(**({"phone": fields["phone"]} if "phone" in fields
                                           else {"email__iexact": fields["email"]}))
            for lead in leads:
                lead.tasks.filter(channel__in=AUTOMATED_CHANNELS,
                                  completed_at__isnull=True).update(
                    hold_reason="On the do-not-contact list.")
                LeadText.objects.filter(lead=lead, kind=LeadText.Kind.STEP,
                                        next_attempt_at__isnull=False).update(
                    next_attempt_at=None, cancelled_reason="On the do-not-contact list.")
    logger.info("crm.do_not_contact_added", extra={"entry": entry.pk, "new": created})
    return entry


def remove_do_not_contact(*, entry_id: int) -> None:
    """Take an entry off the list (NotFound when there is no such entry)."""
    deleted, _ = DoNotContact.objects.filter(pk=entry_id).delete()
    if not deleted:
        raise NotFound("No such entry on the do-not-contact list.")
    logger.info("crm.do_not_contact_removed", extra={"entry": entry_id})
