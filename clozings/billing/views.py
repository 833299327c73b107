"""Billing pages on brokerage hosts: the admin's billing page, the card form, and the
reserve / release / accept-offer form posts behind the territory pages."""

from __future__ import annotations

from django.conf import settings
from django.contrib import messages
from django.core.exceptions import ValidationError
from django.shortcuts import redirect, render
from django.template.defaultfilters import date as date_filter
from django.utils import timezone
from django.utils.http import url_has_allowed_host_and_scheme
from django.views.decorators.http import require_http_methods, require_POST

from clozings.billing import selectors, services
from clozings.billing.stripe_client import StripeRefused, StripeUnavailable
from clozings.platform.errors import DomainError
from clozings.platform.money import format_cents
from clozings.tenants.decorators import admin_required, seat_required
from clozings.tenants.scoping import scoped
from clozings.territories import selectors as territory_selectors
from clozings.territories.models import Reservation
from clozings.territories.services import ZIP_RE

MINE_URL = "/territories/mine/"
DATE = "M j, Y"  # the one way billing and territory pages write a date


def _day(value) -> str:
    """A date in a message, in the viewer's time zone, as the pages write it."""
    return date_filter(timezone.localtime(value), DATE)


def _error_text(exc: Exception) -> str:
    if isinstance(exc, ValidationError):
        if hasattr(exc, "error_dict"):
            return " ".join(m for messages_ in exc.message_dict.values() for m in messages_)
        return " ".join(exc.messages)
    if isinstance(exc, DomainError):
        return exc.message
    return str(exc)


def _back(request):
    target = request.POST.get("next") or request.headers.get("Referer", "")
    if target and url_has_allowed_host_and_scheme(target, allowed_hosts={request.get_host()}):
        return redirect(target)
    return redirect("/territories/")


def stripe_js_url() -> str:
    if settings.STRIPE_API_BASE:
        return settings.STRIPE_API_BASE.rstrip("/") + "/js.stripe.com/v3/"
    return "https://js.stripe.com/v3/"


@admin_required(message="Only an admin of this brokerage can see its billing.")
def billing_page(request):
    overview = selectors.billing_overview(brokerage=request.brokerage)
    return render(request, "billing/overview.html", {"overview": overview})


@admin_required(message="Only an admin of this brokerage can pay its bill.")
@require_POST
def retry_payment(request):
    """Charge the open bill again with the card on file."""
    account = selectors.account_of(brokerage=request.brokerage)
    try:
        status = services.retry_open_invoice(account_id=account.pk) if account else None
    except (StripeRefused, StripeUnavailable):
        messages.error(request, "The payment service did not answer. Nothing was charged; "
                                "try again in a few minutes.")
        return redirect("/billing/")
    if status == "paid":
        messages.success(request, "Paid. Thank you: your territories are in good standing "
                                  "again in a moment.")
    elif status == "open":
        messages.error(request, "The card was declined again. Replace the card: the bill "
                                "is charged to the new one at once.")
    else:
        messages.info(request, "There is no unpaid bill to charge.")
    return redirect("/billing/")


@admin_required(message="Only an admin of this brokerage can change its card.")
@require_http_methods(["GET", "POST"])
def card_page(request):
    error = ""
    if request.method == "POST":
        try:
            services.attach_payment_method(
                brokerage=request.brokerage,
                payment_method_id=request.POST.get("payment_method_id", ""))
        except (ValidationError, DomainError) as exc:
            error = _error_text(exc)
        else:
            messages.success(request, "Card saved. It pays for your territories and seats.")
            return redirect("/billing/")
    client_secret, setup_error = "", ""
    try:
        client_secret = services.create_setup_intent(brokerage=request.brokerage)
    except DomainError as exc:
        setup_error = exc.message
    return render(request, "billing/card.html", {
        "client_secret": client_secret, "setup_error": setup_error, "error": error,
        "publishable_key": settings.STRIPE_PUBLISHABLE_KEY, "stripe_js_url": stripe_js_url(),
        "account": selectors.account_of(brokerage=request.brokerage),
    }, status=400 if error else 200)


def _confirmed(request) -> bool:
    return request.method == "POST" and request.POST.get("confirm") == "yes"


def _safe_next(request, fallback: str) -> str:
    target = request.POST.get("next") or request.GET.get("next") or ""
    if target and url_has_allowed_host_and_scheme(target, allowed_hosts={request.get_host()}):
        return target
    return fallback


@seat_required
@require_http_methods(["GET", "POST"])
def reserve(request):
    """Reserve and pay for a ZIP. The Reserve button lands on a confirmation (price,
    what is charged and when); only its "confirm" post reserves."""
    zip_code = (request.POST if request.method == "POST" else request.GET).get("zip_code", "")
    if not _confirmed(request):
        return _reserve_confirmation(request, zip_code)
    try:
        reservation = services.reserve_and_pay(seat=request.seat, zip_code=zip_code,
                                               by=request.user)
    except (ValidationError, DomainError) as exc:
        messages.error(request, f"{zip_code.strip()[:10]}: {_error_text(exc)}")
        return _back(request)
    messages.success(request, f"{reservation.territory.zip_code} is yours: "
                              f"{format_cents(reservation.price_cents)} a month.")
    return redirect(MINE_URL)


def _reserve_confirmation(request, zip_code: str):
    zip_code = zip_code.strip()
    territory = territory_selectors.territory_rows(zip_code=zip_code).first() \
        if ZIP_RE.match(zip_code) else None
    if territory is None:
        messages.error(request, "There is no territory for that ZIP code. Search again.")
        return _back(request)
    if Reservation.objects.filter(seat=request.seat, territory=territory).exclude(
            status=Reservation.Status.RELEASED).exists():
        messages.info(request, f"{zip_code} is already yours.")
        return redirect(MINE_URL)
    if territory.taken >= territory.slots:
        messages.error(request, f"{zip_code} has no free place now: join its waitlist "
                                "and it is offered to you when one opens.")
        return _back(request)
    return render(request, "billing/reserve_confirm.html", {
        "territory": territory, "terms": selectors.reserve_terms(brokerage=request.brokerage),
        "back": _safe_next(request, f"/territories/?q={zip_code}"),
    })


@seat_required
@require_http_methods(["GET", "POST"])
def release(request, reservation_id: int):
    """Release a ZIP at the end of the paid period, after a confirmation that says
    until when it stays the agent's."""
    reservations = scoped(Reservation.objects.all(), request, owner="seat")
    reservation = reservations.select_related("territory", "seat", "brokerage").filter(
        pk=reservation_id).exclude(status=Reservation.Status.RELEASED).first()
    if reservation is None:
        messages.error(request, "That territory is not one you can release.")
        return redirect(MINE_URL)
    if reservation.release_at is not None:
        messages.info(request, f"{reservation.territory.zip_code} is already being released "
                               f"on {_day(reservation.release_at)}.")
        return redirect(MINE_URL)
    if not _confirmed(request):
        return render(request, "billing/release_confirm.html", {
            "reservation": reservation,
            "terms": selectors.release_terms(reservation=reservation)})
    try:
        reservation = services.release_and_bill(reservation=reservation, by=request.user)
    except (ValidationError, DomainError) as exc:
        messages.error(request, _error_text(exc))
        return redirect(MINE_URL)
    messages.success(request, f"{reservation.territory.zip_code} stays yours until "
                              f"{_day(reservation.release_at)}, then it is "
                              "released and no longer billed.")
    return redirect(MINE_URL)


@seat_required
@require_POST
def accept_offer(request, entry_id: int):
    try:
        reservation = services.accept_offer(entry_id=entry_id, seat=request.seat,
                                            by=request.user)
    except (ValidationError, DomainError) as exc:
        messages.error(request, _error_text(exc))
        return _back(request)
    messages.success(request, f"{reservation.territory.zip_code} is yours: "
                              f"{format_cents(reservation.price_cents)} a month.")
    return redirect(MINE_URL)
