"""CRM pages on the brokerage host: the agent's "My leads" (phone first, newest on top)
and logging a touch on one of them."""

from __future__ import annotations

from django import forms
from django.contrib import messages
from django.core.exceptions import ValidationError
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import path
from django.views.decorators.http import require_POST

from clozings.crm import selectors, services
from clozings.crm.models import Activity
from clozings.tenants.decorators import seat_required

TOUCH_KINDS = [(kind, label) for kind, label in Activity.Kind.choices
               if kind in (Activity.Kind.CALL, Activity.Kind.TEXT, Activity.Kind.EMAIL)]


class TouchForm(forms.Form):
    kind = forms.ChoiceField(label="What you did", choices=TOUCH_KINDS,
                             initial=Activity.Kind.CALL)
    outcome = forms.ChoiceField(label="How it went", required=False,
                                choices=[("", "—"), *Activity.Outcome.choices])
    note = forms.CharField(label="Note", required=False, max_length=2000,
                           widget=forms.Textarea(attrs={"rows": 2}))


@seat_required
def my_leads(request: HttpRequest) -> HttpResponse:
    leads = list(selectors.leads_of(agent=request.seat)[:selectors.MY_LEADS_LIMIT])
    return render(request, "crm/my_leads.html", {"leads": leads, "form": TouchForm()})


@seat_required
@require_POST
def log_touch(request: HttpRequest, lead_id: int) -> HttpResponse:
    lead = selectors.lead_of(agent=request.seat, lead_id=lead_id)
    if lead is None:
        raise Http404("No such lead among yours.")
    form = TouchForm(request.POST)
    if form.is_valid():
        try:
            activity = services.log_activity(lead=lead, by=request.seat, **form.cleaned_data)
        except ValidationError as exc:
            for field, errors in exc.message_dict.items():
                for error in errors:
                    form.add_error(field if field in form.fields else None, error)
        else:
            how = f" ({activity.get_outcome_display().lower()})" if activity.outcome else ""
            messages.success(request, f"Logged a {activity.get_kind_display().lower()}{how} "
                                      f"with {lead.name or lead.phone or lead.email}.")
            return redirect("my_leads")
    leads = list(selectors.leads_of(agent=request.seat)[:selectors.MY_LEADS_LIMIT])
    return render(request, "crm/my_leads.html",
                  {"leads": leads, "form": TouchForm(), "failed": form, "failed_lead": lead.pk},
                  status=400)


brokerage_urls = [
    path("leads/", my_leads, name="my_leads"),
    path("leads/<int:lead_id>/touch/", log_touch, name="lead_log_touch"),
]
