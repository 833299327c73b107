"""The agent's private calendar link: an iCalendar feed of their open follow-up tasks,
for the phone's calendar app to subscribe to.

Only the SHA-256 of the link's token is kept (Seat.calendar_token_hash): the link is shown
once, when it is made; making a new one (a reset) stops the old one at once. The feed
carries what the agent needs to make the call and nothing more: the person's name, the
step, the phone (an email step: the email), and a link to the lead.
"""

from __future__ import annotations

import hashlib
import re
import secrets
from datetime import datetime, timedelta

from django.db import transaction
from django.urls import reverse
from django.utils import timezone
from icalendar import Calendar, Event

from clozings.crm.models import AUTOMATED_CHANNELS, Channel, Task
from clozings.tenants.models import Brokerage, Seat
from clozings.tenants.services import brokerage_host, brokerage_url

TOKEN_BYTES = 32
_TOKEN_SHAPE = re.compile(r"[A-Za-z0-9_-]{40,64}")
FEED_LIMIT = 500  # open tasks in one feed, the soonest first
EVENT_MINUTES = 15
VERBS = {Channel.CALL: "Call", Channel.TEXT: "Text", Channel.EMAIL: "Email"}


def _digest(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def calendar_url(brokerage: Brokerage, token: str) -> str:
    return brokerage_url(brokerage, f"/calendar/{token}.ics")


def create_calendar_link(*, seat: Seat) -> str:
    """A new private link for the seat (any older one stops working); its URL is returned
    once and never stored."""
    token = secrets.token_urlsafe(TOKEN_BYTES)
    with transaction.atomic():
        Seat.objects.filter(pk=seat.pk).update(calendar_token_hash=_digest(token))
    seat.calendar_token_hash = _digest(token)
    return calendar_url(seat.brokerage, token)


def remove_calendar_link(*, seat: Seat) -> None:
    Seat.objects.filter(pk=seat.pk).update(calendar_token_hash="")
    seat.calendar_token_hash = ""


def seat_for_token(*, brokerage: Brokerage, token: str) -> Seat | None:
    """The active seat of `brokerage` whose link this is, or None. One indexed lookup by
    the token's hash: nothing about the token is compared byte by byte in Python."""
    if not _TOKEN_SHAPE.fullmatch(token):
        return None
    seat = Seat.objects.filter(brokerage=brokerage, status=Seat.Status.ACTIVE,
                               calendar_token_hash=_digest(token)).first()
    if seat is not None:
        seat.brokerage = brokerage
    return seat


def _lead_link(brokerage: Brokerage, lead_id: int) -> str:
    return brokerage_url(brokerage, reverse("lead_detail", args=[lead_id]))


def open_tasks(*, seat: Seat, limit: int = FEED_LIMIT) -> list[Task]:
    """The agent's own open steps (calls, texts, emails), soonest first; the worker's
    automated steps are not the agent's to do and stay out."""
    return list(Task.objects.filter(agent_id=seat.pk, completed_at__isnull=True)
                .exclude(channel__in=AUTOMATED_CHANNELS).select_related("lead")
                .order_by("due_at", "id")[:limit])


def feed(*, seat: Seat, now: datetime | None = None) -> bytes:
    """The iCalendar feed of the seat's open follow-up tasks (in the seat's schema)."""
    now = now or timezone.now()
    brokerage = seat.brokerage
    host = brokerage_host(brokerage)
    calendar = Calendar()
    calendar.add("prodid", "-//Clozings//Follow-up tasks//EN")
    calendar.add("version", "2.0")
    calendar.add("x-wr-calname", f"Follow-ups · {brokerage.name}")
    calendar.add("x-published-ttl", "PT15M")  # how often a subscribed calendar refreshes
    for task in open_tasks(seat=seat):
        lead = task.lead
        who = lead.name or lead.phone or lead.email or f"lead {lead.pk}"
        event = Event()
        event.add("uid", f"task-{task.pk}@{host}")
        event.add("dtstamp", now)
        event.add("dtstart", task.due_at)
        event.add("dtend", task.due_at + timedelta(minutes=EVENT_MINUTES))
        event.add("summary", f"{VERBS.get(task.channel, 'Follow up')} {who}")
        lines = [task.title]
        if lead.phone and task.channel != Channel.EMAIL:
            lines.append(f"Phone: {lead.phone}")
        if lead.email and (task.channel == Channel.EMAIL or not lead.phone):
            lines.append(f"Email: {lead.email}")
        link = _lead_link(brokerage, lead.pk)
        lines.append(f"Open the lead: {link}")
        event.add("description", "\n".join(lines))
        event.add("url", link)
        calendar.add_component(event)
    return calendar.to_ical()
