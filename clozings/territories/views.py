"""Territory pages. Brokerage host: search with Reserve / Join waitlist buttons, "My
territories", a waitlist offer. Platform host: the staff inventory with price, tier and
slot settings. Reserving, releasing and accepting an offer post to billing's pages, which
take payment; everything else posts here and calls a territories service."""

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
from clozings.tenants.decorators import seat_required, staff_required
from clozings.tenants.scoping import acting_seat, seat_scope
from clozings.territories import selectors, services
from clozings.territories.forms import DollarsField, TerritorySearchForm, search_data
from clozings.territories.models import Reservation, Tier, TierPrice

PAGE_SIZE = 25
ZIP_VALIDATORS = {"regex": r"^[0-9]{5}$", "max_length": 5,
                  "error_messages": {"invalid": "Enter a 5-digit ZIP code, like 10001."}}


def _error_text(exc: Exception) -> str:
    if isinstance(exc, ValidationError):
        return " ".join(exc.messages)
    if isinstance(exc, DomainError) and exc.fields:
        return " ".join(m for errors in exc.fields.values() for m in errors)
    return str(getattr(exc, "detail", exc))


def _field_errors(form: forms.Form, exc: ValidationError,
                  rename: dict[str, str] | None = None) -> None:
    """Put a service's field errors beside the form's fields (`rename`: the service's
    name of a field -> the form's)."""
    for field, errors in (exc.message_dict if hasattr(exc, "error_dict") else
                          {None: exc.messages}).items():
        field = (rename or {}).get(field, field)
        for error in errors:
            form.add_error(field if field in form.fields else None, error)


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


# --- staff (platform host) ----------------------------------------------------------------
class InventoryForm(forms.Form):
    zip_code = forms.RegexField(label="ZIP code", required=False, **ZIP_VALIDATORS)
    state = forms.RegexField(label="State", required=False, regex=r"^[A-Za-z]{2}$",
                             max_length=2,
                             error_messages={"invalid": "Enter a two-letter state, like NY."})
    city = forms.CharField(label="City", required=False, max_length=64)
    tier = forms.ChoiceField(label="Tier", required=False,
                             choices=[("", "Any tier"), *Tier.choices])
    availability = forms.ChoiceField(label="Availability", required=False, choices=[
        ("", "Any"), ("free", "Has a free place"), ("full", "Full"),
        ("waitlisted", "Has a waitlist")])


class TerritorySettingsForm(forms.Form):
    price = DollarsField(label="Own price (dollars a month)", required=False,
                         help_text="Like 49 or 49.00. Leave empty to use the tier's price.")
    tier = forms.ChoiceField(label="Tier", choices=Tier.choices)
    slots = forms.IntegerField(label="Slots", min_value=1, max_value=services.MAX_SLOTS,
                               help_text="1 = exclusive. Never below the places taken now.")
    is_active = forms.BooleanField(label="Offered in the catalogue", required=False)


class TierPriceForm(forms.Form):
    price = DollarsField(label="Price (dollars a month)", help_text="Like 49 or 49.00.")

    def __init__(self, *args, tier: str, **kwargs):
        kwargs.setdefault("prefix", f"tier-{tier}")
        super().__init__(*args, **kwargs)
        self.fields["price"].label = f"{Tier(tier).label} price (dollars a month)"


def _staff_page(request: HttpRequest, *, edit_zip: str = "", settings_form=None,
                tier_forms=None, status: int = 200) -> HttpResponse:
    form = InventoryForm(request.GET or None)
    rows = selectors.territory_rows(include_inactive=True)
    if form.is_bound and form.is_valid():
        query = {k: v for k, v in form.cleaned_data.items() if v}
        rows = selectors.territory_rows(include_inactive=True, **query)
    page = Paginator(rows, PAGE_SIZE).get_page(request.GET.get("page"))
    edit = None
    zip_code = edit_zip or request.GET.get("edit", "")
    if services.ZIP_RE.match(zip_code):
        edit = selectors.territory_rows(zip_code=zip_code, include_inactive=True).first()
        if edit is not None and settings_form is None:
            settings_form = TerritorySettingsForm(initial={
                "price": edit.price_cents, "tier": edit.tier, "slots": edit.slots,
                "is_active": edit.is_active}, prefix="zip")
    tiers = list(selectors.tier_prices())
    tier_forms = tier_forms or {}
    tier_rows = [(tier, tier_forms.get(tier.tier) or TierPriceForm(
        initial={"price": tier.price_cents}, tier=tier.tier)) for tier in tiers]
    params = request.GET.copy()
    params.pop("page", None)
    return render(request, "territories/staff.html", {
        "form": form, "page": page, "summary": selectors.inventory_summary(),
        "edit": edit, "settings_form": settings_form, "tier_rows": tier_rows,
        "query": params.urlencode(),
    }, status=status)


@staff_required
def staff_territories(request: HttpRequest) -> HttpResponse:
    return _staff_page(request)


@staff_required
@require_POST
def staff_territory_update(request: HttpRequest, zip_code: str) -> HttpResponse:
    form = TerritorySettingsForm(request.POST, prefix="zip")
    if form.is_valid():
        data = dict(form.cleaned_data)
        try:
            services.update_territory(zip_code=zip_code, price_cents=data.pop("price"), **data)
        except ValidationError as exc:
            _field_errors(form, exc, rename={"price_cents": "price"})
        except DomainError:
            raise Http404("No such ZIP.") from None
        else:
            messages.success(request, f"ZIP {zip_code} saved.")
            return redirect(f"{reverse('staff_territories')}?edit={zip_code}")
    return _staff_page(request, edit_zip=zip_code, settings_form=form, status=400)


@staff_required
@require_POST
def staff_tier_update(request: HttpRequest, tier: str) -> HttpResponse:
    if not TierPrice.objects.filter(tier=tier).exists():
        raise Http404("No such tier.")
    form = TierPriceForm(request.POST, tier=tier)
    if form.is_valid():
        try:
            services.set_tier_price(tier=tier, price_cents=form.cleaned_data["price"])
        except ValidationError as exc:
            _field_errors(form, exc, rename={"price_cents": "price"})
        else:
            messages.success(request, f"The {tier} tier's price is saved.")
            return redirect("staff_territories")
    return _staff_page(request, tier_forms={tier: form}, status=400)


public_urls: list = [
    path("staff/territories/", staff_territories, name="staff_territories"),
    path("staff/territories/<str:zip_code>/", staff_territory_update,
         name="staff_territory_update"),
    path("staff/tiers/<str:tier>/", staff_tier_update, name="staff_tier_update"),
]
brokerage_urls: list = [
    path("territories/", territory_search, name="territory_search"),
    path("territories/mine/", my_territories, name="my_territories"),
    path("territories/waitlist/", join_waitlist, name="territory_waitlist_join"),
    path("territories/waitlist/<int:entry_id>/cancel/", cancel_waitlist,
         name="territory_waitlist_cancel"),
    path("territories/offers/<int:entry_id>/", offer_page, name="territory_offer"),
]
