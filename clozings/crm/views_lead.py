"""The lead page: who the lead is and how to reach them (with their local time), the next
task with what to say, one-tap outcomes, the whole timeline, and the forms that change the
lead. Agents open their own leads; admins any lead of the brokerage (404 otherwise)."""

from __future__ import annotations

from django.contrib import messages
from django.core.exceptions import ValidationError
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import path
from django.utils import formats, timezone
from django.views.decorators.http import require_POST, require_safe

from clozings.crm import contact_rules, messaging, scripts, services
from clozings.crm import selectors_pages as pages
from clozings.crm.forms import (
    STAGE_CHOICES,
    TOUCH_KINDS,
    CadenceForm,
    ContactForm,
    OptOutForm,
    StageForm,
    TouchForm,
)
from clozings.crm.models import Lead
from clozings.platform.errors import DomainError
from clozings.tenants.decorators import seat_required
from clozings.tenants.forms import apply_service_error

COMPACT_TIMELINE = 8  # entries in the lead panel beside Today


def _script(request: HttpRequest, task, lead, now, agent_name: str,
            area: str) -> dict | None:
    """What to say for the open task: the step's script or message, merged."""
    if task is None:
        return None
    merge = {"agent_name": agent_name, "brokerage_name": request.brokerage.name, "now": now,
             "area": area}
    subject = (scripts.subject_for(task, lead, **merge)
               if task.channel in ("email", "auto_email") else "")
    return {"subject": subject, "body": scripts.script_for(task, lead, **merge)}


def _contact_initial(lead: Lead) -> dict:
    return {"first_name": lead.first_name, "last_name": lead.last_name, "phone": lead.phone,
            "email": lead.email, "zip_code": lead.zip_code}


def lead_context(request: HttpRequest, lead, *, now=None, compact: bool = False,
                 areas: dict[str, str] | None = None,
                 touch_form: TouchForm | None = None, stage_form: StageForm | None = None,
                 contact_form: ContactForm | None = None,
                 cadence_form: CadenceForm | None = None,
                 optout_form: OptOutForm | None = None) -> dict:
    """The lead page's context (the panel beside Today with `compact`); `areas`: "City, ST"
    per ZIP read with the lead's ZIP among them (Today's rows), so it is not read again."""
    now = now or timezone.now()
    task = pages.open_task_of(lead)
    names: dict[int, str] = {}
    timeline = pages.timeline_of(lead, names=names)
    call = contact_rules.call_status(lead, now)
    agent_name = names.get(lead.agent_id, "")
    if areas is None:
        areas = pages.areas_of({lead.zip_code})
    lead_area = areas.get(lead.zip_code, "")
    forms = {}
    if not compact:
        cadences = pages.cadences()
        forms = {
            "stage_form": stage_form or StageForm(initial={"stage": lead.stage}),
            "contact_form": contact_form or ContactForm(initial=_contact_initial(lead)),
            "cadence_form": cadence_form or CadenceForm(
                cadences=cadences, initial={"cadence": lead.cadence_id}),
            "optout_form": optout_form or OptOutForm(),
        }
    return {
        **forms, "script": _script(request, task, lead, now, agent_name, lead_area),
        "lead": lead, "task": task, "now": now,
        "timeline": timeline[:COMPACT_TIMELINE] if compact else timeline,
        "timeline_more": len(timeline) - COMPACT_TIMELINE if compact else 0,
        "call": call, "lead_area": lead_area,
        # whose lead it is, for an admin looking at a colleague's
        "agent_name": agent_name if lead.agent_id != request.seat.pk else "",
        "kinds": TOUCH_KINDS, "stages": STAGE_CHOICES,
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


def next_step_text(task, now=None) -> str:
    """ "Next: Call on Dec 5, 2026." for the flash message after a logged touch."""
    if task is None:
        return ""
    now = now or timezone.now()
    due = timezone.localtime(task.due_at)
    what = task.title or task.get_channel_display()
    if task.due_at <= now:
        return f" Next: {what}, due now."
    today = timezone.localtime(now).date()
    if due.date() == today:
        return f" Next: {what} today at {formats.time_format(due, 'TIME_FORMAT')}."
    if (due.date() - today).days == 1:
        return f" Next: {what} tomorrow ({formats.date_format(due, 'DATE_FORMAT')})."
    return f" Next: {what} on {formats.date_format(due, 'DATE_FORMAT')}."


def _refused(form, exc: Exception) -> None:
    if isinstance(exc, ValidationError | DomainError):
        apply_service_error(form, exc, {"sale_price_cents": "sale_price",
                                        "commission_cents": "commission",
                                        "cadence_id": "cadence"})
    else:
        raise exc


@seat_required
@require_POST
def lead_stage(request: HttpRequest, lead_id: int) -> HttpResponse:
    """Move the lead to another stage; closed asks the sale price and commission (dollars,
    kept in cents), lost a reason."""
    lead = _lead_or_404(request, lead_id)
    form = StageForm(request.POST)
    if form.is_valid():
        data = form.cleaned_data
        try:
            services.change_stage(lead=lead, by=request.seat, stage=data["stage"],
                                  sale_price_cents=data.get("sale_price_cents"),
                                  commission_cents=data.get("commission_cents"),
                                  reason=data.get("reason", ""))
        except (ValidationError, DomainError) as exc:
            _refused(form, exc)
        else:
            lead.refresh_from_db()
            messages.success(request, f"{lead.name or 'The lead'} moved to "
                                      f"{lead.get_stage_display()}.")
            return redirect("lead_detail", lead.pk)
    return lead_page(request, lead, stage_form=form, status=400)


@seat_required
@require_POST
def lead_contact(request: HttpRequest, lead_id: int) -> HttpResponse:
    lead = _lead_or_404(request, lead_id)
    form = ContactForm(request.POST)
    if form.is_valid():
        try:
            services.update_contact(lead=lead, by=request.seat, **form.cleaned_data)
        except (ValidationError, DomainError) as exc:
            _refused(form, exc)
        else:
            messages.success(request, "Contact details saved.")
            return redirect("lead_detail", lead.pk)
    return lead_page(request, lead, contact_form=form, status=400)


@seat_required
@require_POST
def lead_cadence(request: HttpRequest, lead_id: int) -> HttpResponse:
    lead = _lead_or_404(request, lead_id)
    cadences = pages.cadences()
    form = CadenceForm(request.POST, cadences=cadences)
    if form.is_valid():
        cadence = next(c for c in cadences if c.pk == form.cleaned_data["cadence"])
        try:
            task = services.switch_cadence(lead=lead, by=request.seat, cadence=cadence)
        except (ValidationError, DomainError) as exc:
            _refused(form, exc)
        else:
            messages.success(request, f"Now on {cadence.name}." + next_step_text(task))
            return redirect("lead_detail", lead.pk)
    return lead_page(request, lead, cadence_form=form, status=400)


@seat_required
@require_POST
def lead_opt_out(request: HttpRequest, lead_id: int) -> HttpResponse:
    """The lead asked not to be contacted (told the agent): every automated message stops."""
    lead = _lead_or_404(request, lead_id)
    form = OptOutForm(request.POST)
    if form.is_valid():
        messaging.opt_out(lead, by=request.seat, via="agent", note=form.cleaned_data["note"])
        messages.success(request, f"{lead.name or 'The lead'} is opted out: no automatic "
                                  "texts or emails from now on.")
        return redirect("lead_detail", lead.pk)
    return lead_page(request, lead, optout_form=form, status=400)


urls: list = [
    path("leads/<int:lead_id>/stage/", lead_stage, name="lead_stage"),
    path("leads/<int:lead_id>/contact/", lead_contact, name="lead_contact"),
    path("leads/<int:lead_id>/cadence/", lead_cadence, name="lead_cadence"),
    path("leads/<int:lead_id>/opt-out/", lead_opt_out, name="lead_opt_out"),
]
