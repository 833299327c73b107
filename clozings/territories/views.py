"""Territory pages on brokerage hosts: search with Reserve / Join waitlist buttons, "My
territories", a waitlist offer (the staff inventory is the console's,
clozings.platform.console). Reserving, releasing and accepting an offer post to billing's
pages, which take payment; everything else posts here and calls a territories service."""

from __future__ import annotations

from django import forms
from django.contrib import messages
from django.core.exceptions import ValidationError
from django.core.paginator import Paginator
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import path, reverse
from django.utils.http import url_has_allowed_host_and_scheme, urlencode
from django.views.decorators.http import require_POST

from clozings.platform.errors import DomainError
from clozings.tenants.decorators import seat_required
from clozings.tenants.scoping import acting_seat, seat_scope
from clozings.territories import selectors, services
from clozings.territories.forms import TerritorySearchForm, search_data
from clozings.territories.models import Reservation

PAGE_SIZE = 25
ZIP_VALIDATORS = {"regex": r"^[0-9]{5}$", "max_length": 5,
                  "error_messages": {"invalid": "Enter a 5-digit ZIP code, like 10001."}}


def _error_text(exc: Exception) -> str:
    if isinstance(exc, ValidationError):
        return " ".join(exc.messages)
    if isinstance(exc, DomainError) and exc.fields:
        return " ".join(m for errors in exc.fields.values() for m in errors)
    return str(getattr(exc, "detail", exc))


def _back(request: HttpRequest, fallback: str) -> HttpResponse:
    target = request.POST.get("next", "")
    if target and url_has_allowed_host_and_scheme(target, allowed_hosts={request.get_host()}):
        return redirect(target)
    return redirect(fallback)


# --- search (brokerage host) --------------------------------------------------------------
@seat_required
def territory_search(request: HttpRequest) -> HttpResponse:
    """One box (ZIP, "City, ST", city or state) and a radius; results as cards, each with
    the one thing the agent can do. No search asked (a first visit, stray parameters):
    just the box, never an error."""
    data = search_data(request.GET)
    form = TerritorySearchForm(data) if data is not None else TerritorySearchForm()
    context = {"form": form, "page": None, "here": request.get_full_path()}
    if form.is_bound and form.is_valid() and form.cleaned_data["query"] is not None:
        rows = selectors.territory_rows(**form.cleaned_data["query"])
        page = Paginator(rows, PAGE_SIZE).get_page(request.GET.get("page"))
        seat = request.seat
        context.update({
            "page": page, "count": f"{page.paginator.count:,}",
            "summary": form.cleaned_data["summary"], "notes": form.cleaned_data["notes"],
            # pages of the same search, spelled the new way (old links paginate too)
            "query": urlencode({k: form.data[k].strip() for k in ("q", "within")
                                if form.data.get(k, "").strip()}),
            "held": set(Reservation.objects.filter(seat=seat).exclude(
                status=Reservation.Status.RELEASED).values_list(
                    "territory__zip_code", flat=True)),
            "waiting": {e.territory.zip_code: e for e in selectors.waitlist_for(
                brokerage=request.brokerage, seat=seat)},
        })
    return render(request, "territories/search.html", context,
                  status=400 if form.is_bound and form.errors else 200)


# --- my territories (brokerage host) ------------------------------------------------------
@seat_required
def my_territories(request: HttpRequest) -> HttpResponse:
    team = seat_scope(request) is None and request.GET.get("who") != "me"
    scope = None if team else request.seat
    offers, waiting = selectors.open_offers_and_places_in_line(brokerage=request.brokerage,
                                                               seat=scope)
    return render(request, "territories/mine.html", {
        "reservations": selectors.reservations_for(brokerage=request.brokerage, seat=scope),
        "offers": offers, "waiting": waiting, "team": team,
    })


class WaitlistForm(forms.Form):
    zip_code = forms.RegexField(label="ZIP code", **ZIP_VALIDATORS)
    agent_id = forms.IntegerField(required=False, min_value=1, max_value=2**63 - 1)


@seat_required
@require_POST
def join_waitlist(request: HttpRequest) -> HttpResponse:
    form = WaitlistForm(request.POST)
    if not form.is_valid():
        messages.error(request, " ".join(e for errors in form.errors.values() for e in errors))
        return _back(request, reverse("territory_search"))
    try:
        agent = acting_seat(request, form.cleaned_data.get("agent_id"))
        entry = services.join_waitlist(seat=agent, zip_code=form.cleaned_data["zip_code"])
    except (ValidationError, DomainError) as exc:
        messages.error(request, f"{form.cleaned_data['zip_code']}: {_error_text(exc)}")
        return _back(request, reverse("territory_search"))
    position = selectors.waitlist_position(entry=entry)
    messages.success(request, f"You are number {position} on the waitlist for "
                              f"{entry.territory.zip_code}." if position else
                     f"A place in {entry.territory.zip_code} is on offer to you.")
    return redirect("my_territories")


@seat_required
@require_POST
def cancel_waitlist(request: HttpRequest, entry_id: int) -> HttpResponse:
    try:
        entry = services.cancel_waitlist_entry(entry_id=entry_id, seat=request.seat)
    except DomainError:
        raise Http404("No such waitlist entry.") from None
    messages.success(request, f"You left the waitlist for {entry.territory.zip_code}.")
    return redirect("my_territories")


# --- a waitlist offer (brokerage host) ----------------------------------------------------
@seat_required
def offer_page(request: HttpRequest, entry_id: int) -> HttpResponse:
    entry = selectors.open_offer(entry_id=entry_id, brokerage=request.brokerage,
                                 seat=request.seat) if entry_id < 2**63 else None
    if entry is None:
        raise Http404("No such offer.")
    territory = selectors.territory_rows(zip_code=entry.territory.zip_code,
                                         include_inactive=True).get()
    return render(request, "territories/offer.html", {
        "entry": entry, "territory": territory, "offer": selectors.offer_state(entry=entry),
    })


brokerage_urls: list = [
    path("territories/", territory_search, name="territory_search"),
    path("territories/mine/", my_territories, name="my_territories"),
    path("territories/waitlist/", join_waitlist, name="territory_waitlist_join"),
    path("territories/waitlist/<int:entry_id>/cancel/", cancel_waitlist,
         name="territory_waitlist_cancel"),
    path("territories/offers/<int:entry_id>/", offer_page, name="territory_offer"),
]
