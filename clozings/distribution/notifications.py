"""Telling an agent a lead arrived: a mail through the outbox and a text through the text
outbox (OutboundText), both written in the delivery's transaction and keyed on the inbound
lead and the seat, so a retried delivery never queues either twice.

Texts go out through the kernel's SMS backend (clozings.platform.sms: SMS_BACKEND
"console" prints them, "twilio" sends them with Twilio's official client). Like mail, a
text is sent by a task after commit, and by the text sweeper (beat, every 15 s) when that
task is lost or the send failed; sending holds the row's lock, so the task and the sweeper
never both send one text.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from datetime import datetime

from django.db import transaction
from django.db.models import QuerySet
from django.utils import timezone

from clozings.distribution.models import InboundLead, OutboundText
from clozings.platform import sms
from clozings.platform.mail import queue_mail, retry_delay, send_in_turn, sent_together
from clozings.platform.models import OutboundMail
from clozings.platform.money import format_cents
from clozings.platform.tenancy import enqueue_on_commit, gathered_then_sent
from clozings.tenants.models import Seat
from clozings.tenants.services import brokerage_url

logger = logging.getLogger(__name__)

NEW_LEAD = "distribution.new_lead"  # kind of the mail and the text; ref "<lead>:<seat>"
MAX_ATTEMPTS = 30
SWEEP_SECONDS = 20.0


def _ref(lead: InboundLead, seat: Seat) -> str:
    return f"{lead.pk}:{seat.pk}"


def _price(lead: InboundLead) -> str:
    low, high = lead.price_min_cents, lead.price_max_cents
    if low is not None and high is not None:
        return f"{format_cents(low)} to {format_cents(high)}"
    if low is not None or high is not None:
        return f"from {format_cents(low)}" if low is not None else f"up to {format_cents(high)}"
    return ""


def _mail_text(lead: InboundLead, seat: Seat, link: str) -> str:
    name = " ".join(p for p in (lead.first_name, lead.last_name) if p) or "A new lead"
    lines = [f"Hello {seat.name or seat.email},", "",
             f"{name} is waiting for your call: a lead in {lead.zip_code} from "
             f"{lead.source.name}.", ""]
    details = [("Phone", lead.phone), ("Call", f"tel:{lead.phone}" if lead.phone else ""),
               ("Email", lead.email), ("Wants to", lead.get_intent_display() if lead.intent
                                       else ""),
               ("Price", _price(lead)), ("Timeframe", lead.timeframe),
               ("Message", lead.message)]
    lines += [f"{label}: {value}" for label, value in details if value]
    lines += ["", f"Open the lead: {link}", "",
              "A lead called within five minutes is far likelier to answer. Log your call "
              "on the lead so the clock stops."]
    return "\n".join(lines) + "\n"


def _text_body(lead: InboundLead, link: str) -> str:
    name = " ".join(p for p in (lead.first_name, lead.last_name) if p) or "New lead"
    contact = lead.phone or lead.email
    return f"New lead: {name}, ZIP {lead.zip_code}. Call {contact} now. {link}"


def announced(pairs: list[tuple[InboundLead, Seat]]) -> tuple[set[str], set[str]]:
    """(refs mailed, refs texted) among these leads and seats: what a batch of deliveries
    need not queue again, read in two queries for the lot."""
    refs = [_ref(lead, seat) for lead, seat in pairs]
    return (set(OutboundMail.objects.filter(kind=NEW_LEAD, ref__in=refs)
                .values_list("ref", flat=True)),
            set(OutboundText.objects.filter(kind=NEW_LEAD, ref__in=refs)
                .values_list("ref", flat=True)))


def notify_delivery(*, lead: InboundLead, seat: Seat, crm_lead_id: int,
                    known: tuple[set[str], set[str]] | None = None) -> None:
    """Queue the agent's new-lead mail and text (inside the delivery's transaction, the
    inbound lead locked): nothing when this lead was already announced to this seat.
    `known`: announced(...) of a batch these deliveries are in (else read here)."""
    ref = _ref(lead, seat)
    link = brokerage_url(seat.brokerage, f"/leads/#lead-{crm_lead_id}")
    to = seat.user.email if seat.user_id else seat.email
    mailed = (ref in known[0] if known is not None
              else OutboundMail.objects.filter(kind=NEW_LEAD, ref=ref).exists())
    texted = (ref in known[1] if known is not None
              else OutboundText.objects.filter(kind=NEW_LEAD, ref=ref).exists())
    if not mailed:
        name = " ".join(p for p in (lead.first_name, lead.last_name) if p) or "A new lead"
        queue_mail(to=to, subject=f"New lead: {name} in {lead.zip_code}, call now",
                   text=_mail_text(lead, seat, link), kind=NEW_LEAD, ref=ref)
    if seat.phone and not texted:
        text = OutboundText.objects.create(to=seat.phone, body=_text_body(lead, link),
                                           kind=NEW_LEAD, ref=ref,
                                           next_attempt_at=timezone.now())
        together = _texts_together.get()
        if together is not None:
            together.append(text.pk)
        else:
            from clozings.distribution.tasks import send_text  # tasks import this module

            enqueue_on_commit(send_text, text_id=text.pk)
    logger.info("lead.notification_queued", extra={
        "inbound_lead": lead.pk, "seat": seat.pk, "text": bool(seat.phone)})


_texts_together: ContextVar[list[int] | None] = ContextVar("texts_sent_together",
                                                          default=None)


@contextmanager
def announced_together() -> Iterator[None]:
    """The mail and the texts `notify_delivery` queues inside the block (a batch of
    deliveries, in its transaction) are sent by one task each after commit, not one task
    per lead. A notification rolled back with its lead's savepoint is not found by those
    tasks; a lost task is the sweepers' (mail and texts), as ever."""
    from clozings.distribution.tasks import send_texts  # tasks import this module

    with gathered_then_sent(_texts_together,
                            lambda ids: enqueue_on_commit(send_texts, text_ids=ids)), \
            sent_together():
        yield


# --- sending texts (through the kernel's SMS backend, clozings.platform.sms) -----------
def _due(now: datetime) -> QuerySet[OutboundText]:
    return OutboundText.objects.filter(next_attempt_at__lte=now)


def _send_claimed(candidates: QuerySet[OutboundText]) -> OutboundText | None:
    """Lock the first text nobody is sending (SKIP LOCKED), send it and record the outcome
    in the same transaction (a dead worker releases the lock; the text is due again)."""
    with transaction.atomic():
        text = candidates.select_for_update(skip_locked=True).order_by(
            "next_attempt_at", "pk").first()
        if text is None:
            return None
        now = timezone.now()
        text.attempts += 1
        text.last_attempt_at = now
        try:
            text.provider_id = sms.send_text(to=text.to, body=text.body)
        except Exception as exc:  # noqa: BLE001 (every failure is recorded and retried)
            text.last_error = f"{type(exc).__name__}: {exc}"[:1000]
            text.next_attempt_at = (now + retry_delay(text.attempts)
                                    if text.attempts < MAX_ATTEMPTS else None)
            logger.warning("text.failed", exc_info=True, extra={
                "text": text.pk, "kind": text.kind, "attempts": text.attempts,
                "gave_up": text.next_attempt_at is None})
        else:
            text.sent_at = now
            text.next_attempt_at = None
            logger.info("text.sent", extra={"text": text.pk, "kind": text.kind,
                                            "attempts": text.attempts})
        text.save(update_fields=["attempts", "last_attempt_at", "last_error",
                                 "next_attempt_at", "sent_at", "provider_id"])
    return text


def send_queued_text(*, text_id: int) -> OutboundText | None:
    """Send one text if it is due and nobody is sending it (safe to run twice)."""
    return _send_claimed(_due(timezone.now()).filter(pk=text_id))


def send_queued_texts(*, text_ids: list[int], seconds: float = SWEEP_SECONDS) -> list[int]:
    """Send these texts one by one as `send_queued_text` does, for at most about `seconds`;
    returns the ids not tried yet (the caller sends them on)."""
    return send_in_turn(text_ids, lambda pk: send_queued_text(text_id=pk), seconds=seconds)


def send_due_texts(*, now: datetime | None = None) -> int:
    """The sweeper: send every text that is due and not being sent; how many were tried."""
    tried = 0
    deadline = time.monotonic() + SWEEP_SECONDS
    while time.monotonic() < deadline:
        if _send_claimed(_due(now or timezone.now())) is None:
            break
        tried += 1
    return tried
