"""Today: the agent's home on the brokerage host. New leads first (how long they have
waited), then follow-ups due today, then overdue ones, each with one-tap call and text and
one-tap outcomes. On a wide screen the selected lead stands beside the list."""

from __future__ import annotations

from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.utils import timezone

from clozings.crm import selectors_pages as pages
from clozings.crm import views_lead
from clozings.crm.forms import OUTCOME_BUTTONS, TOUCH_KINDS, TouchForm
from clozings.tenants.decorators import seat_required


def today_page(request: HttpRequest, *, failed: TouchForm | None = None,
               failed_lead: int | None = None, status: int = 200) -> HttpResponse:
    now = timezone.now()
    today = pages.today_for(agent=request.seat, now=now)
    sections = [
        ("new", "New leads", "Call them now: the first five minutes count most.", today.new),
        ("due", "Due today", "", today.due),
        ("overdue", "Overdue", "Oldest first.", today.overdue),
    ]
    # The lead beside the list on a wide screen: the one asked for, else the first row.
    selected = None
    wanted = request.GET.get("lead", "")
    if wanted.isdigit():
        selected = pages.lead_for(seat=request.seat, lead_id=int(wanted))
    if selected is None:
        first = next((rows[0] for *_, rows in sections if rows), None)
        selected = first.lead if first is not None else None
    context = {
        "today": today, "sections": sections, "now": now,
        "outcomes": OUTCOME_BUTTONS, "kinds": TOUCH_KINDS,
        "failed": failed, "failed_lead": failed_lead, "selected": selected,
    }
    if selected is not None:
        context.update(views_lead.lead_context(request, selected, now=now, compact=True))
    return render(request, "crm/today.html", context, status=status)


@seat_required
def today(request: HttpRequest) -> HttpResponse:
    return today_page(request)
