"""The lead page: who the lead is and how to reach them (with their local time), the next
task with what to say, one-tap outcomes, the whole timeline, and the forms that change the
lead. Agents open their own leads; admins any lead of the brokerage (404 otherwise)."""

from __future__ import annotations

from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import render
from django.utils import timezone
from django.views.decorators.http import require_safe

from clozings.crm import contact_rules
from clozings.crm import selectors_pages as pages
from clozings.crm.forms import OUTCOME_BUTTONS, STAGE_CHOICES, TOUCH_KINDS, TouchForm
from clozings.tenants.decorators import seat_required

COMPACT_TIMELINE = 8  # entries in the lead panel beside Today


def lead_context(request: HttpRequest, lead, *, now=None, compact: bool = False,
                 touch_form: TouchForm | None = None) -> dict:
    now = now or timezone.now()
    task = pages.open_task_of(lead)
    timeline = pages.timeline_of(lead)
    call = contact_rules.call_status(lead, now)
    return {
        "lead": lead, "task": task, "now": now,
        "timeline": timeline[:COMPACT_TIMELINE] if compact else timeline,
        "timeline_more": len(timeline) - COMPACT_TIMELINE if compact else 0,
        "call": call, "lead_area": pages.areas_of({lead.zip_code}).get(lead.zip_code, ""),
        "agent_name": (pages.seat_names({lead.agent_id}).get(lead.agent_id, "")
                       if lead.agent_id != request.seat.pk else ""),
        "outcomes": OUTCOME_BUTTONS, "kinds": TOUCH_KINDS, "stages": STAGE_CHOICES,
        "touch_form": touch_form, "touch_form_lead": lead.pk if touch_form else None,
        "compact": compact,
    }


def lead_page(request: HttpRequest, lead, *, status: int = 200, **forms) -> HttpResponse:
    return render(request, "crm/lead.html", lead_context(request, lead, **forms),
                  status=status)


def _lead_or_404(request: HttpRequest, lead_id: int):
    lead = pages.lead_for(seat=request.seat, lead_id=lead_id)
    if lead is None:
        raise Http404("No such lead among yours.")
    return lead


@seat_required
@require_safe
def lead_detail(request: HttpRequest, lead_id: int) -> HttpResponse:
    return lead_page(request, _lead_or_404(request, lead_id))


urls: list = []
