"""Contact-rule pages on the brokerage host: the lead's unsubscribe page (its private
token is the authority) and the admins' do-not-contact list."""

from __future__ import annotations

from django import forms
from django.contrib import messages
from django.core.exceptions import ValidationError
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import path
from django.utils import timezone
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_http_methods, require_POST

from clozings.crm import contact_rules, messaging
from clozings.crm.contact_rules_data import US_STATE_NAMES
from clozings.crm.models import DoNotContact, StateContactRule
from clozings.platform.errors import NotFound
from clozings.tenants.decorators import admin_required


# RFC 8058: the mail client POSTs "List-Unsubscribe=One-Click" with no cookie and no CSRF
# token; the worst a forged POST can do is unsubscribe the lead the token belongs to.
@csrf_exempt
@require_http_methods(["GET", "POST"])
def unsubscribe(request: HttpRequest, token: str) -> HttpResponse:
    lead = messaging.lead_of_unsubscribe_token(token)
    if lead is None:
        raise Http404("This unsubscribe link is not valid.")
    if request.method == "POST":
        lead = messaging.opt_out(lead, via="email_unsubscribe")
        return render(request, "crm/unsubscribed.html", {"lead": lead})
    return render(request, "crm/unsubscribe.html", {"lead": lead, "token": token})


class DoNotContactForm(forms.Form):
    value = forms.CharField(label="Phone number or email", max_length=254,
                            help_text="Nothing automated ever goes to it, and calls from "
                                      "the app are refused.")
    reason = forms.CharField(label="Why", max_length=200, required=False)


@admin_required
def do_not_contact(request: HttpRequest) -> HttpResponse:
    form = DoNotContactForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        try:
            entry = messaging.add_do_not_contact(value=form.cleaned_data["value"],
                                                 reason=form.cleaned_data["reason"],
                                                 by=request.seat)
        except ValidationError as exc:
            form.add_error("value", exc.message_dict.get("value", exc.messages))
        else:
            messages.success(request, f"{entry} is on the do-not-contact list.")
            return redirect("do_not_contact")
    entries = DoNotContact.objects.order_by("-created_at", "-id")[:500]
    return render(request, "crm/do_not_contact.html", {"form": form, "entries": entries})


@admin_required
@require_POST
def do_not_contact_remove(request: HttpRequest, dnc_id: int) -> HttpResponse:
    try:
        messaging.remove_do_not_contact(entry_id=dnc_id)
    except NotFound as exc:
        raise Http404(str(exc)) from exc
    messages.success(request, "Taken off the do-not-contact list.")
    return redirect("do_not_contact")


STATES = sorted(set(US_STATE_NAMES.values()))


class StateRuleForm(forms.Form):
    state = forms.ChoiceField(label="State", choices=[(s, s) for s in STATES])
    start = forms.TimeField(label="From", widget=forms.TimeInput(attrs={"type": "time"}))
    end = forms.TimeField(label="Until", widget=forms.TimeInput(attrs={"type": "time"}))
    sunday_start = forms.TimeField(label="Sunday from", required=False,
                                   widget=forms.TimeInput(attrs={"type": "time"}))
    sunday_end = forms.TimeField(label="Sunday until", required=False,
                                 widget=forms.TimeInput(attrs={"type": "time"}))
    no_sundays = forms.BooleanField(label="No calls or texts on Sundays", required=False)
    no_holidays = forms.BooleanField(label="No calls or texts on federal holidays",
                                     required=False)
    max_per_24h = forms.IntegerField(label="Calls and texts per 24 hours", initial=3,
                                     min_value=1, max_value=10)
    source = forms.CharField(label="Source", max_length=500, required=False,
                             help_text="The law or advice this follows.")


@admin_required
def contact_rules_page(request: HttpRequest) -> HttpResponse:
    form = StateRuleForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        try:
            rule = contact_rules.save_state_rule(**form.cleaned_data, by_id=request.seat.pk,
                                                 now=timezone.now())
        except ValidationError as exc:
            for field, errors in exc.message_dict.items():
                form.add_error(field if field in form.fields else None, errors)
        else:
            messages.success(request, f"{rule.state}: the brokerage's own rule is saved.")
            return redirect("contact_rules")
    own = list(StateContactRule.objects.all())
    return render(request, "crm/contact_rules.html", {
        "form": form, "own": own, "defaults": contact_rules.default_rules(),
        "federal": contact_rules.FEDERAL})


@admin_required
@require_POST
def contact_rule_delete(request: HttpRequest, state: str) -> HttpResponse:
    try:
        contact_rules.delete_state_rule(state=state)
    except NotFound as exc:
        raise Http404(str(exc)) from exc
    messages.success(request, f"{state.upper()[:2]}: back to the platform's default.")
    return redirect("contact_rules")


urls = [
    path("settings/contact-rules/", contact_rules_page, name="contact_rules"),
    path("settings/contact-rules/<str:state>/delete/", contact_rule_delete,
         name="contact_rule_delete"),
    path("unsubscribe/<str:token>", unsubscribe, name="unsubscribe"),
    path("settings/do-not-contact/", do_not_contact, name="do_not_contact"),
    path("settings/do-not-contact/<int:dnc_id>/remove/", do_not_contact_remove,
         name="do_not_contact_remove"),
]
