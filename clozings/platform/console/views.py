"""Pages of the staff console (platform host, platform staff only): the brokerages with
their seats and territories, mail that keeps failing, Stripe events left for staff, the
territory inventory with price, tier and slot settings, the orphan queue and the delivery
figures."""

from __future__ import annotations

from datetime import timedelta

from django import forms
from django.conf import settings
from django.contrib import messages
from django.core.exceptions import ValidationError
from django.core.paginator import Paginator
from django.http import Http404, HttpRequest, HttpResponse
from django.http.request import split_domain_port
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils import timezone
from django.views.decorators.http import require_POST

from clozings.billing import selectors as billing_selectors
from clozings.distribution import routing
from clozings.distribution import selectors as distribution_selectors
from clozings.platform.console import charts, selectors
from clozings.platform.console.forms import (
    InventoryForm,
    OrphanAssignForm,
    TerritorySettingsForm,
    TierPriceForm,
)
from clozings.platform.errors import DomainError, NotFound
from clozings.platform.mail import failing_mail
from clozings.tenants.decorators import staff_required
from clozings.territories import selectors as territory_selectors
from clozings.territories import services as territory_services
from clozings.territories.models import TierPrice

BROKERAGES_PER_PAGE = 50
TERRITORIES_PER_PAGE = 25


# --- staff home -------------------------------------------------------------------------
@staff_required
def staff_home(request: HttpRequest) -> HttpResponse:
    brokerages = selectors.brokerages_with_counts().order_by("name", "pk")
    page = Paginator(brokerages, BROKERAGES_PER_PAGE).get_page(request.GET.get("page"))
    _, port = split_domain_port(request.get_host())
    return render(request, "console/staff_home.html", {
        "page": page, "host_suffix": f".{settings.CLOZINGS_DOMAIN}{':' + port if port else ''}",
        "failing_mail": failing_mail(),
        "stuck_events": billing_selectors.stuck_webhook_events()})


# --- territories --------------------------------------------------------------------------
def _field_errors(form: forms.Form, exc: ValidationError,
                  rename: dict[str, str] | None = None) -> None:
    """Put a service's field errors beside the form's fields (`rename`: the service's
    name of a field -> the form's)."""
    for field, errors in (exc.message_dict if hasattr(exc, "error_dict") else
                          {None: exc.messages}).items():
        field = (rename or {}).get(field, field)
        for error in errors:
            form.add_error(field if field in form.fields else None, error)


def _staff_page(request: HttpRequest, *, edit_zip: str = "", settings_form=None,
                tier_forms=None, status: int = 200) -> HttpResponse:
    form = InventoryForm(request.GET or None)
    rows = territory_selectors.territory_rows(include_inactive=True)
    if form.is_bound and form.is_valid():
        query = {k: v for k, v in form.cleaned_data.items() if v}
        rows = territory_selectors.territory_rows(include_inactive=True, **query)
    page = Paginator(rows, TERRITORIES_PER_PAGE).get_page(request.GET.get("page"))
    edit = None
    zip_code = edit_zip or request.GET.get("edit", "")
    if territory_services.ZIP_RE.match(zip_code):
        edit = territory_selectors.territory_rows(zip_code=zip_code, include_inactive=True).first()
        if edit is not None and settings_form is None:
            settings_form = TerritorySettingsForm(initial={
                "price": edit.price_cents, "tier": edit.tier, "slots": edit.slots,
                "is_active": edit.is_active}, prefix="zip")
    tiers = list(territory_selectors.tier_prices())
    tier_forms = tier_forms or {}
    tier_rows = [(tier, tier_forms.get(tier.tier) or TierPriceForm(
        initial={"price": tier.price_cents}, tier=tier.tier)) for tier in tiers]
    params = request.GET.copy()
    params.pop("page", None)
    return render(request, "console/territories.html", {
        "form": form, "page": page, "summary": territory_selectors.inventory_summary(),
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
            territory_services.update_territory(zip_code=zip_code,
                                                price_cents=data.pop("price"), **data)
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
            territory_services.set_tier_price(tier=tier, price_cents=form.cleaned_data["price"])
        except ValidationError as exc:
            _field_errors(form, exc, rename={"price_cents": "price"})
        else:
            messages.success(request, f"The {tier} tier's price is saved.")
            return redirect("staff_territories")
    return _staff_page(request, tier_forms={tier: form}, status=400)


# --- the orphan queue -----------------------------------------------------------------------
ORPHANS_PER_PAGE = 25


def _orphans_page(request: HttpRequest, *, bound: OrphanAssignForm | None = None,
                  bound_lead: int | None = None, status: int = 200) -> HttpResponse:
    page = Paginator(distribution_selectors.orphaned_leads(), ORPHANS_PER_PAGE).get_page(
        request.GET.get("page"))
    rows = [(lead, lead.routing_log[-1].get("why", "") if lead.routing_log else "",
             bound if lead.pk == bound_lead else OrphanAssignForm(
        prefix=f"lead-{lead.pk}", initial={"nearest_within_miles": 10}))
        for lead in page.object_list]
    return render(request, "console/orphans.html", {
        "page": page, "rows": rows, "seats": selectors.active_seats()}, status=status)


@staff_required
def staff_orphans(request: HttpRequest) -> HttpResponse:
    return _orphans_page(request)


@staff_required
@require_POST
def staff_orphan_assign(request: HttpRequest, lead_id: int) -> HttpResponse:
    form = OrphanAssignForm(request.POST, prefix=f"lead-{lead_id}")
    if form.is_valid():
        data = form.cleaned_data
        seat = None
        if data["agent_id"] is not None:
            seat = selectors.seat(seat_id=data["agent_id"])
            if seat is None:
                form.add_error("agent_id", "No agent seat has this number.")
        if not form.errors:
            try:
                lead = routing.assign_orphan(inbound_lead_id=lead_id, by=request.user,
                                             seat=seat,
                                             within_miles=data["nearest_within_miles"])
            except NotFound:
                raise Http404("No such lead.") from None
            except ValidationError as exc:
                _field_errors(form, exc)
            except DomainError as exc:
                if exc.code != "no_holder_nearby":
                    messages.error(request, exc.message)
                    return redirect("staff_orphans")
                form.add_error("nearest_within_miles", exc.message)
            else:
                messages.success(request, (
                    f"Lead {lead.pk} (ZIP {lead.zip_code}) delivered to "
                    f"{lead.seat.name or lead.seat.email} at {lead.brokerage.name}."))
                return redirect("staff_orphans")
    return _orphans_page(request, bound=form, bound_lead=lead_id, status=400)


# --- delivery figures -----------------------------------------------------------------------
WINDOWS = {"24h": ("24 hours", timedelta(hours=24)), "7d": ("7 days", timedelta(days=7)),
           "30d": ("30 days", timedelta(days=30))}


def _with_medians(rows: list[dict]) -> list[dict]:
    """Rows with their median latencies written for people."""
    return [{**row, "delivery_p50": charts.duration(row["delivery_seconds"]["p50"]),
             "first_touch_p50": charts.duration(row["first_touch_seconds"]["p50"])}
            for row in rows]


@staff_required
def staff_delivery(request: HttpRequest) -> HttpResponse:
    window = request.GET.get("window", "24h")
    if window not in WINDOWS:
        window = "24h"
    since = timezone.now() - WINDOWS[window][1]
    totals = distribution_selectors.delivery_totals(since=since)
    days = distribution_selectors.delivery_by_day(since=since)
    sources = _with_medians(distribution_selectors.delivery_by_source(since=since))
    brokerages = _with_medians(distribution_selectors.delivery_by_brokerage(since=since))
    breaches = distribution_selectors.sla_breaches_by_brokerage(since=since)
    latency = [(f"{name} p{p}", kind, totals[key][f"p{p}"])
               for name, kind, key in (("Delivery", "delivered", "delivery_seconds"),
                                       ("First touch", "routed", "first_touch_seconds"))
               for p in distribution_selectors.PERCENTILES]
    return render(request, "console/delivery.html", {
        "window": window, "windows": [(key, label) for key, (label, _) in WINDOWS.items()],
        "window_label": WINDOWS[window][0], "since": since, "totals": totals,
        "statuses": charts.STATUS_ORDER, "days": days,
        "day_chart": charts.status_by_day(days),
        "latency": [(label, charts.duration(value)) for label, _, value in latency],
        "latency_chart": charts.hbars(latency),
        "sources": sources, "source_chart": charts.hbars(
            [(row["name"], "delivered", row["total"]) for row in sources], fmt=str),
        "brokerages": brokerages, "brokerage_chart": charts.hbars(
            [(row["name"] or "Nobody", "orphaned" if row["slug"] is None else "delivered",
              row["total"]) for row in brokerages], fmt=str),
        "breaches": breaches, "breach_chart": charts.stacked_hbars(
            [(row["name"], [("rerouted", row["rerouted"]), ("alerted", row["alerted"])])
             for row in breaches]),
    })
