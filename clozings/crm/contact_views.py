"""Contact-rule pages on the brokerage host: the lead's unsubscribe page (its private
token is the authority) and the admins' do-not-contact list."""

from __future__ import annotations

from django import forms
from django.contrib import messages
from django.core.exceptions import ValidationError
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import path
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_http_methods, require_POST

from clozings.crm import messaging
from clozings.crm.models import DoNotContact
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
def do_not_contact_remove(request: HttpRequest, entry_id: int) -> HttpResponse:
    try:
        messaging.remove_do_not_contact(entry_id=entry_id)
    except NotFound as exc:
        raise Http404(str(exc)) from exc
    messages.success(request, "Taken off the do-not-contact list.")
    return redirect("do_not_contact")


urls = [
    path("unsubscribe/<str:token>", unsubscribe, name="unsubscribe"),
    path("settings/do-not-contact/", do_not_contact, name="do_not_contact"),
    path("settings/do-not-contact/<int:entry_id>/remove/", do_not_contact_remove,
         name="do_not_contact_remove"),
]
