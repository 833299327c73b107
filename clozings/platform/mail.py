"""The mail outbox: every mail the product sends goes through `queue_mail`.

The mail is a row written in the caller's transaction, so it exists exactly when what it
announces does. After commit a task sends it; the outbox sweeper (beat, every 15 s) sends
whatever is due and not being sent: a task lost with a dead worker or a broker outage, or
a send that failed and is due again after its back-off. Sending holds the row's lock, so
the task and the sweeper never both send one mail. Kernel rule: this imports no app.
"""

from __future__ import annotations

import logging
import re
import smtplib
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from datetime import datetime, timedelta
from email.utils import formataddr, parseaddr

from django.conf import settings
from django.core.exceptions import ValidationError
from django.core.mail import EmailMultiAlternatives, get_connection
from django.core.mail.backends.base import BaseEmailBackend
from django.core.validators import validate_email
from django.db import transaction
from django.db.models import QuerySet
from django.utils import timezone

from clozings.platform.models import OutboundMail
from clozings.platform.tenancy import enqueue_on_commit, gathered_then_sent

logger = logging.getLogger(__name__)

# Back-off after each failed attempt: 30 s doubling to an hour; given up after the last
# attempt (about a day of trying), and shown to staff.
FIRST_RETRY_SECONDS = 30
LONGEST_RETRY_SECONDS = 3600
MAX_ATTEMPTS = 30
# One sweep stops after this long, so overlapping sweeps stay few (the next one goes on).
SWEEP_SECONDS = 20.0
# "Keeps failing": unsent after this many attempts (the staff home lists them).
FAILING_AFTER_ATTEMPTS = 3

# Control characters (C0, DEL, C1) and the Unicode line and paragraph separators: any of
# them in a header could fold or break it (Django raises BadHeaderError on CR/LF at send).
_UNSAFE_IN_HEADER = re.compile(r"[\x00-\x1f\x7f-\x9f\u2028\u2029]")
_HEADER_NAME = re.compile(r"^[!-9;-~]+$")  # RFC 5322 field name: printable, no colon
_OWN_HEADERS = {"to", "cc", "bcc", "from", "subject", "date", "message-id"}


def clean_header(value: str) -> str:
    """A header value on one line: control characters become spaces, runs of spaces one."""
    return " ".join(_UNSAFE_IN_HEADER.sub(" ", str(value)).split())


def _clean_headers(headers: dict[str, str] | None) -> dict[str, str]:
    cleaned = {}
    for name, value in (headers or {}).items():
        if not _HEADER_NAME.match(name) or name.lower() in _OWN_HEADERS:
            raise ValueError(f"{name!r} cannot be an extra mail header.")
        cleaned[name] = clean_header(value)
    return cleaned


def queue_mail(*, to: str, subject: str, text: str, html: str = "",
               headers: dict[str, str] | None = None, kind: str, ref: str = "",
               from_name: str = "", private: bool = False) -> OutboundMail:
    """Record a mail to send and send it after the caller's transaction commits.

    `private`: a mail to a brokerage's contact (a lead): its address, subject, body and
    headers are wiped from this public outbox once it is sent or given up, so the contact's
    details live on only in the brokerage's own schema (DESIGN: contacts never leave it).

    `from_name` is the sender's display name (an agent's "Dana Lee via Acme Realty"); the
    address stays DEFAULT_FROM_EMAIL's, the one the domain's SPF and DKIM cover.

    ValueError for an address that is not one, or an extra header that cannot be one;
    the subject and header values are put on one line here, so sending never refuses them.
    """
    to = (to or "").strip()
    try:
        validate_email(to)
    except ValidationError as exc:
        raise ValueError(f"{to!r} is not an email address.") from exc
    if len(to) > OutboundMail._meta.get_field("to").max_length:
        raise ValueError(f"{to!r} is longer than an email address may be.")
    headers = _clean_headers(headers)
    if from_name:
        address = parseaddr(settings.DEFAULT_FROM_EMAIL)[1]
        headers["From"] = formataddr((clean_header(from_name)[:120], address))
    mail = OutboundMail.objects.create(
        to=to, subject=clean_header(subject)[:255], text=text, html=html,
        headers=headers, kind=kind, ref=str(ref)[:60], private=private,
        next_attempt_at=timezone.now())
    from clozings.platform.tasks import send_mail_task  # tasks import this module

    together = _together.get()
    if together is not None:
        together.append(mail.pk)
    else:
        # A broker outage is logged, never a failure: the mail is in the database and the
        # sweeper sends it.
        enqueue_on_commit(send_mail_task, mail.pk)
    return mail


# The mail queued inside `sent_together()`, sent by one task after commit.
_together: ContextVar[list[int] | None] = ContextVar("mail_sent_together", default=None)


def sent_together():
    """A context manager: mail queued inside it (in a transaction) is sent by one task after
    commit instead of one task each: a batch of work queues one message. A mail rolled back
    with its savepoint is not found by that task (nothing to send); a lost task is the
    outbox sweeper's, as ever. Nested blocks share the outer one's task."""
    from clozings.platform.tasks import send_mails_task  # tasks import this module

    return gathered_then_sent(_together, lambda ids: enqueue_on_commit(send_mails_task, ids))


def retry_delay(attempts: int) -> timedelta:
    seconds = FIRST_RETRY_SECONDS * 2 ** min(attempts - 1, 20)
    return timedelta(seconds=min(seconds, LONGEST_RETRY_SECONDS))


def _due(now: datetime) -> QuerySet[OutboundMail]:
    return OutboundMail.objects.filter(next_attempt_at__lte=now)


@contextmanager
def _one_server_session() -> Iterator[BaseEmailBackend]:
    """One connection to the mail server for several sends (opened at the first, closed at
    the end); a failed send closes it, so the next one opens a new one."""
    backend = get_connection()
    try:
        yield backend
    finally:
        _close_quietly(backend)


def _close_quietly(backend: BaseEmailBackend) -> None:
    try:
        backend.close()
    except Exception:  # noqa: BLE001 - a server already gone; the next send reconnects
        logger.warning("mail.close_failed", exc_info=True)


def _send(message: EmailMultiAlternatives, backend: BaseEmailBackend | None) -> None:
    if backend is None:
        message.send()  # a connection of its own, closed after
        return
    # opened here (kept open: the backend closes only a connection its send opened)
    kept = not backend.open()
    try:
        message.send()
    except smtplib.SMTPServerDisconnected:
        if not kept:
            raise
        # the server dropped a connection kept from an earlier send: once more, afresh
        _close_quietly(backend)
        backend.open()
        message.send()


def _send_claimed(candidates: QuerySet[OutboundMail],
                  backend: BaseEmailBackend | None = None) -> OutboundMail | None:
    """Lock the first candidate nobody is sending (SKIP LOCKED), send it and record the
    outcome in the same transaction. A worker that dies mid-send releases the lock with
    its connection, and the mail is due again at once. `backend`: a connection to the
    mail server shared by several sends (`_one_server_session`); else one of its own."""
    with transaction.atomic():
        mail = candidates.select_for_update(skip_locked=True).order_by(
            "next_attempt_at", "pk").first()
        if mail is None:
            return None
        message = EmailMultiAlternatives(subject=mail.subject, body=mail.text, to=[mail.to],
                                         headers=mail.headers or None, connection=backend)
        if mail.html:
            message.attach_alternative(mail.html, "text/html")
        now = timezone.now()
        mail.attempts += 1
        mail.last_attempt_at = now
        try:
            _send(message, backend)
        except Exception as exc:  # noqa: BLE001 (every failure is recorded and retried)
            if backend is not None:
                _close_quietly(backend)
            mail.last_error = f"{type(exc).__name__}: {exc}"[:1000]
            mail.next_attempt_at = (now + retry_delay(mail.attempts)
                                    if mail.attempts < MAX_ATTEMPTS else None)
            logger.warning("mail.failed", exc_info=True, extra={
                "mail": mail.pk, "kind": mail.kind, "attempts": mail.attempts,
                "gave_up": mail.next_attempt_at is None})
        else:
            mail.sent_at = now
            mail.next_attempt_at = None
            logger.info("mail.sent", extra={"mail": mail.pk, "kind": mail.kind,
                                            "attempts": mail.attempts})
        fields = ["attempts", "last_attempt_at", "last_error", "next_attempt_at", "sent_at"]
        if mail.private and mail.next_attempt_at is None:
            mail.to = mail.subject = mail.text = mail.html = ""
            mail.headers = {}
            fields += ["to", "subject", "text", "html", "headers"]
        mail.save(update_fields=fields)
    return mail


def send_queued_mail(*, mail_id: int) -> OutboundMail | None:
    """Send one mail if it is due and nobody is sending it (safe to run twice)."""
    return _send_claimed(_due(timezone.now()).filter(pk=mail_id))


def send_in_turn(ids: list[int], send_one: Callable[[int], object], *,
                 seconds: float = SWEEP_SECONDS) -> list[int]:
    """Call `send_one(id)` for each id in turn, for at most about `seconds`; returns the ids
    not tried yet (the caller sends them on). Every outbox's batch task sends this way."""
    deadline = time.monotonic() + seconds
    for index, pk in enumerate(ids):
        if time.monotonic() >= deadline:
            return list(ids[index:])
        send_one(pk)
    return []


def send_queued_mails(*, mail_ids: list[int], seconds: float = SWEEP_SECONDS) -> list[int]:
    """Send these mails one by one as `send_queued_mail` does, over one connection to the
    mail server, for at most about `seconds`; returns the ids not tried yet (the caller
    sends them on)."""
    with _one_server_session() as backend:
        return send_in_turn(mail_ids, lambda pk: _send_claimed(
            _due(timezone.now()).filter(pk=pk), backend), seconds=seconds)


def send_due_mail(*, now: datetime | None = None) -> int:
    """The sweeper: send every mail that is due and not being sent, over one connection to
    the mail server; how many were tried."""
    tried = 0
    deadline = time.monotonic() + SWEEP_SECONDS
    with _one_server_session() as backend:
        while time.monotonic() < deadline:
            if _send_claimed(_due(now or timezone.now()), backend) is None:
                break
            tried += 1
    return tried


def latest_mail(*, kind: str, refs: list[str]) -> dict[str, OutboundMail]:
    """The newest mail of this kind for each ref that has one."""
    mails = OutboundMail.objects.filter(kind=kind, ref__in=[str(r) for r in refs]).order_by(
        "ref", "-created_at", "-pk").distinct("ref")
    return {mail.ref: mail for mail in mails}


def failing_mail(*, limit: int = 50) -> QuerySet[OutboundMail]:
    """Mail not sent after several attempts, or given up: newest first."""
    return OutboundMail.objects.filter(
        sent_at__isnull=True, attempts__gte=FAILING_AFTER_ATTEMPTS,
    ).order_by("-created_at", "-pk")[:limit]
