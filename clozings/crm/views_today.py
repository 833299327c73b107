"""Today: the agent's home on the brokerage host. New leads first (how long they have
waited), then follow-ups due today, then overdue ones, each with one-tap call and text and
one-tap outcomes. Each section shows its first rows and its full count; "Show all" opens
the section's own pages (today_section), so no row is out of reach. On a wide screen the
selected lead stands beside the list."""

from __future__ import annotations

from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.utils import timezone
from django.views.decorators.http import require_safe

from clozings.crm import selectors_pages as pages
from clozings.crm import views_lead
from clozings.crm.forms import TOUCH_KINDS, TouchForm
from clozings.tenants.decorators import seat_required

# section -> (heading, hint under it)
SECTIONS = {
    "new": ("New leads", "Call them now: the first five minutes count most."),
    "due": ("Due today", ""),
    "overdue": ("Overdue", "Oldest first."),
}
MAX_PAGE_DIGITS = 9  # a page number past any list's end, kept short of a huge integer


def today_page(request: HttpRequest, *, failed: TouchForm | None = None,
               failed_lead: int | None = None, status: int = 200) -> HttpResponse:
    now = timezone.now()
    today = pages.today_for(agent=request.seat, now=now)
    rows = {"new": today.new, "due": today.due, "overdue": today.overdue}
    sections = [(key, title, hint, rows[key], today.counts[key])
                for key, (title, hint) in SECTIONS.items()]
    # The lead beside the list on a wide screen: the one asked for, else the first row
    # (whose area today.areas holds already).
    selected, areas = None, None
    wanted = request.GET.get("lead", "")
    if wanted.isdigit():
        selected = pages.lead_for(seat=request.seat, lead_id=int(wanted))
    if selected is None:
        first = next((section[3][0] for section in sections if section[3]), None)
        selected, areas = (first.lead, today.areas) if first is not None else (None, None)
    context = {
        "today": today, "sections": sections, "now": now, "areas": today.areas,
        "kinds": TOUCH_KINDS,
        "failed": failed, "failed_lead": failed_lead, "selected": selected,
    }
    if selected is not None:
        context.update(views_lead.lead_context(request, selected, now=now, compact=True,
                                               areas=areas))
    return render(request, "crm/today.html", context, status=status)


@seat_required
def today(request: HttpRequest) -> HttpResponse:
    return today_page(request)


@seat_required
@require_safe
def today_section(request: HttpRequest, section: str) -> HttpResponse:
    """All of one Today section, SECTION_PAGE_SIZE rows a page (`?page=2`), in Today's
    order; the agent's own tasks only, like Today."""
    if section not in SECTIONS:
        return render(request, "404.html", {"message": "Today has no such list."},
                      status=404)
    digits = request.GET.get("page", "1")
    if not (digits.isascii() and digits.isdigit() and digits.lstrip("0")):
        return render(request, "400.html", {
            "message": "The page must be a whole number from 1, like ?page=2."}, status=400)
    digits = digits.lstrip("0")
    number = int(digits) if len(digits) <= MAX_PAGE_DIGITS else 10**MAX_PAGE_DIGITS
    page = pages.today_section(agent=request.seat, section=section, page=number,
                               now=timezone.now())
    if page.past_end:
        return render(request, "404.html", {
            "message": f"{SECTIONS[section][0]} has {page.pages} "
                       f"page{'s' if page.pages != 1 else ''}; there is no page {number}."},
            status=404)
    title, hint = SECTIONS[section]
    return render(request, "crm/today_section.html", {
        "page": page, "section": section, "title": title, "hint": hint, "now": page.now,
        "areas": page.areas, "kinds": TOUCH_KINDS,
    })
