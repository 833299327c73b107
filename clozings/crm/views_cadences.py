"""The cadences page on a brokerage host: every seat sees the brokerage's cadences and
their steps; an admin edits them (steps as rows: offset in days and hours, channel, title,
subject, message), adds a cadence and chooses the default for new leads."""

from __future__ import annotations

import re

from django import forms
from django.contrib import messages
from django.core.exceptions import ValidationError
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import path
from django.views.decorators.http import require_POST

from clozings.crm import scripts, selectors, services
from clozings.crm.models import Cadence, Channel
from clozings.tenants.decorators import admin_required, seat_required
from clozings.tenants.validators import validate_name_characters

NOT_ADMIN = "Only an admin of this brokerage can change cadences."
STEP_ERROR = re.compile(r"^steps\[(\d+)\]$")


class CadenceForm(forms.Form):
    name = forms.CharField(label="Name", max_length=100, validators=[validate_name_characters])
    description = forms.CharField(label="What it is for", max_length=2000, required=False,
                                  widget=forms.Textarea(attrs={"rows": 2}))
    purpose = forms.ChoiceField(label="Purpose", choices=Cadence.Purpose.choices)


class StepForm(forms.Form):
    days = forms.IntegerField(label="Day", min_value=0, max_value=5 * 365, initial=0,
                              widget=forms.NumberInput(attrs={"inputmode": "numeric"}))
    hours = forms.IntegerField(label="Hour", min_value=0, max_value=23, initial=0,
                               required=False,
                               widget=forms.NumberInput(attrs={"inputmode": "numeric"}))
    channel = forms.ChoiceField(label="How", choices=Channel.choices)
    title = forms.CharField(label="Title", max_length=200, required=False,
                            validators=[validate_name_characters])
    subject = forms.CharField(label="Email subject", max_length=200, required=False,
                              validators=[validate_name_characters])
    template = forms.CharField(
        label="Script or message", max_length=services.TEMPLATE_MAX, required=False,
        widget=forms.Textarea(attrs={"rows": 4}))

    def step(self) -> dict:
        data = self.cleaned_data
        return {"offset_minutes": data["days"] * 1440 + (data.get("hours") or 0) * 60,
                "channel": data["channel"], "title": data.get("title", ""),
                "subject": data.get("subject", ""), "template": data.get("template", "")}


StepFormSet = forms.formset_factory(StepForm, extra=1, can_delete=True,
                                    max_num=services.MAX_STEPS, validate_max=True)


def _initial_steps(cadence: Cadence) -> list[dict]:
    return [{"days": step.offset_minutes // 1440, "hours": step.offset_minutes % 1440 // 60,
             "channel": step.channel, "title": step.title, "subject": step.subject,
             "template": step.template} for step in cadence.steps.all()]


def _cadence_or_404(cadence_id: int) -> Cadence:
    cadence = selectors.cadence_of(cadence_id=cadence_id)
    if cadence is None:
        raise Http404("No such cadence.")
    return cadence


@seat_required
def cadence_list(request: HttpRequest) -> HttpResponse:
    cadences = list(selectors.cadences())
    return render(request, "crm/cadences.html", {
        "cadences": cadences, "can_edit": request.seat.is_admin,
        "merge_fields": scripts.FIELDS})


def _save(request: HttpRequest, cadence: Cadence | None) -> HttpResponse:
    form = CadenceForm(request.POST)
    steps = StepFormSet(request.POST, prefix="steps")
    if form.is_valid() and steps.is_valid():
        # a row left blank (the empty one at the end) is no step; a ticked one is removed
        kept = [(f, f.step()) for f in steps.forms
                if f.cleaned_data and not f.cleaned_data.get("DELETE")
                and any(f.cleaned_data.get(name) for name in ("title", "subject", "template"))]
        try:
            saved = services.save_cadence(by=request.seat, cadence=cadence,
                                          steps=[step for _, step in kept],
                                          **form.cleaned_data)
        except ValidationError as exc:
            for field, errors in exc.message_dict.items():
                match = STEP_ERROR.match(field)
                if match and int(match[1]) < len(kept):
                    for error in errors:
                        kept[int(match[1])][0].add_error(None, error)
                elif field in form.fields:
                    for error in errors:
                        form.add_error(field, error)
                else:
                    for error in errors:
                        form.add_error(None, error)
        else:
            messages.success(request, f"Saved “{saved.name}” ({len(kept)} steps).")
            return redirect("cadence_edit", cadence_id=saved.pk)
    return render(request, "crm/cadence_edit.html", {
        "cadence": cadence, "form": form, "steps": steps, "can_edit": True,
        "merge_fields": scripts.FIELDS}, status=400)


@seat_required
def cadence_edit(request: HttpRequest, cadence_id: int) -> HttpResponse:
    cadence = _cadence_or_404(cadence_id)
    if request.method == "POST":
        if not request.seat.is_admin:
            return render(request, "403.html", {"message": NOT_ADMIN}, status=403)
        return _save(request, cadence)
    form = CadenceForm(initial={"name": cadence.name, "description": cadence.description,
                                "purpose": cadence.purpose})
    steps = StepFormSet(prefix="steps", initial=_initial_steps(cadence))
    return render(request, "crm/cadence_edit.html", {
        "cadence": cadence, "form": form, "steps": steps, "can_edit": request.seat.is_admin,
        "merge_fields": scripts.FIELDS})


@admin_required(message=NOT_ADMIN)
def cadence_new(request: HttpRequest) -> HttpResponse:
    if request.method == "POST":
        return _save(request, None)
    form = CadenceForm(initial={"purpose": Cadence.Purpose.FOLLOW_UP})
    steps = StepFormSet(prefix="steps", initial=[{"days": 0, "channel": Channel.CALL,
                                                  "title": "Call now"}])
    return render(request, "crm/cadence_edit.html", {
        "cadence": None, "form": form, "steps": steps, "can_edit": True,
        "merge_fields": scripts.FIELDS})


@admin_required(message=NOT_ADMIN)
@require_POST
def cadence_make_default(request: HttpRequest, cadence_id: int) -> HttpResponse:
    cadence = _cadence_or_404(cadence_id)
    services.set_default_cadence(cadence=cadence, by=request.seat)
    messages.success(request, f"New leads now follow “{cadence.name}”.")
    return redirect("cadence_list")


brokerage_urls = [
    path("cadences/", cadence_list, name="cadence_list"),
    path("cadences/new/", cadence_new, name="cadence_new"),
    path("cadences/<int:cadence_id>/", cadence_edit, name="cadence_edit"),
    path("cadences/<int:cadence_id>/default/", cadence_make_default,
         name="cadence_make_default"),
]
