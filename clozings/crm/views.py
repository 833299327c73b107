"""CRM pages on the brokerage host: "All leads" (newest on top, by stage, searchable) and
logging a touch on a lead (from Today, the lead page or the list). Today is in
views_today.py, the lead page in views_lead.py; the routes of all three are here."""

from __future__ import annotations

from django.contrib import messages
from django.core.exceptions import ValidationError
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import path
from django.views.decorators.http import require_POST

from clozings.crm import selectors_pages as pages
from clozings.crm import services, views_lead, views_today
from clozings.crm.forms import STAGE_CHOICES, TouchForm
from clozings.crm.models import Lead
from clozings.crm.views_lead import next_step_text
from clozings.tenants.decorators import seat_required


def _leads_page(request: HttpRequest, *, failed=None, failed_lead=None,
                status: int = 200) -> HttpResponse:
    stage = request.GET.get("stage", "")
    if stage not in Lead.Stage.values:
        stage = ""
    query = request.GET.get("q", "")[:100].strip()
    leads = pages.all_leads_of(seat=request.seat, stage=stage, query=query)
    return render(request, "crm/my_leads.html", {
        "leads": leads, "form": TouchForm(), "failed": failed, "failed_lead": failed_lead,
        "stage": stage, "q": query, "stages": STAGE_CHOICES,
        "areas": pages.areas_of({lead.zip_code for lead in leads}),
    }, status=status)


@seat_required
def my_leads(request: HttpRequest) -> HttpResponse:
    return _leads_page(request)


@seat_required
@require_POST
def log_touch(request: HttpRequest, lead_id: int) -> HttpResponse:
    lead = pages.lead_for(seat=request.seat, lead_id=lead_id)
    if lead is None:
        raise Http404("No such lead among yours.")
    form = TouchForm(request.POST)
    if form.is_valid():
        data = dict(form.cleaned_data)
        back = data.pop("back") or "leads"
        try:
            activity = services.log_activity(lead=lead, by=request.seat, **data)
        except ValidationError as exc:
            for field, errors in exc.message_dict.items():
                for error in errors:
                    form.add_error(field if field in form.fields else None, error)
        else:
            how = f" ({activity.get_outcome_display().lower()})" if activity.outcome else ""
            messages.success(
                request, f"Logged a {activity.get_kind_display().lower()}{how} with "
                         f"{lead.name or lead.phone or lead.email}."
                         + next_step_text(activity.next_task))
            if back == "today":
                return redirect("today")
            if back == "lead":
                return redirect("lead_detail", lead.pk)
            return redirect("my_leads")
    back = request.POST.get("back")
    if back == "today":
        return views_today.today_page(request, failed=form, failed_lead=lead.pk, status=400)
    if back == "lead":
        return views_lead.lead_page(request, lead, touch_form=form, status=400)
    return _leads_page(request, failed=form, failed_lead=lead.pk, status=400)


brokerage_urls = [
    path("today/", views_today.today, name="today"),
    path("today/<slug:section>/", views_today.today_section, name="today_section"),
    path("leads/", my_leads, name="my_leads"),
    path("leads/<int:lead_id>/", views_lead.lead_detail, name="lead_detail"),
    path("leads/<int:lead_id>/touch/", log_touch, name="lead_log_touch"),
    *views_lead.urls,
]
