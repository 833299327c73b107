"""Pages of the tenants app: sign-up, login, dashboard, seats, invitations.

Views parse a form, call one service and render or redirect; every rule lives in
services.py. Form errors come back beside the field with a 4xx status and change nothing.
"""

from __future__ import annotations

import logging
import math
import secrets
from datetime import date, datetime, time

from django.conf import settings
from django.contrib import messages
from django.contrib.auth import authenticate, login
from django.contrib.auth import views as auth_views
from django.contrib.auth.decorators import login_required
from django.core import signing
from django.core.cache import cache
from django.core.exceptions import ValidationError
from django.http import HttpRequest, HttpResponse
from django.http.request import split_domain_port
from django.shortcuts import redirect, render
from django.urls import path, reverse, reverse_lazy
from django.utils import timezone
from django.utils.formats import date_format
from django.utils.http import url_has_allowed_host_and_scheme
from django.views.decorators.cache import never_cache
from django.views.decorators.debug import sensitive_post_parameters
from django.views.decorators.http import require_http_methods, require_POST, require_safe
from django_tenants.utils import schema_context

from clozings.platform.errors import DomainError, Throttled, status_for
from clozings.platform.mail import latest_mail
from clozings.tenants import forms, selectors, services, throttling
from clozings.tenants.decorators import admin_required, seat_required
from clozings.tenants.models import Brokerage, Seat, User
from clozings.tenants.scoping import get_scoped_or_404, scoped

logger = logging.getLogger(__name__)

HANDOVER_SALT = "clozings.signup-handover"
# The sign-up hand-over link is followed by the browser right away; a minute is plenty.
HANDOVER_MAX_AGE_SECONDS = 60


# --- URLs on this request's scheme and port ------------------------------------------------
def _url_on_host(request: HttpRequest, host: str, path_: str) -> str:
    """An absolute URL on another host of the platform, keeping this request's scheme and
    port (sessions are per host, so the browser must be sent to the right one)."""
    _, port = split_domain_port(request.get_host())
    return f"{request.scheme}://{host}{':' + port if port else ''}{path_}"


def _host_suffix(request: HttpRequest) -> str:
    """What follows the slug in a brokerage's address, as this visitor will type it."""
    _, port = split_domain_port(request.get_host())
    return f".{settings.CLOZINGS_DOMAIN}{':' + port if port else ''}"


def _safe_next(request: HttpRequest, fallback: str) -> str:
    target = request.POST.get("next") or request.GET.get("next") or ""
    if url_has_allowed_host_and_scheme(target, allowed_hosts={request.get_host()},
                                       require_https=request.is_secure()):
        return target
    return fallback


def _posted(request: HttpRequest):
    """Form data for a POST (even an empty one, so it is validated), None otherwise."""
    return request.POST if request.method == "POST" else None


# --- platform host: landing and sign-up -------------------------------------------------
def handover_token(*, user: User, brokerage: Brokerage) -> str:
    return signing.dumps({"u": user.pk, "b": brokerage.pk, "n": secrets.token_urlsafe(16)},
                         salt=HANDOVER_SALT)


@sensitive_post_parameters("password")
@never_cache
def landing(request: HttpRequest) -> HttpResponse:
    """The platform's front page: what Clozings is, and sign-up for a new brokerage.

    A sign-up is kept and its confirmation link mailed; the answer is the same page
    whether or not the email already has an account."""
    form = forms.SignupForm(_posted(request))
    status = 200
    if request.method == "POST":
        status = 400
        if form.is_valid():
            data = form.cleaned_data
            try:
                signup = services.start_signup(
                    brokerage_name=data["brokerage_name"], slug=data["slug"],
                    admin_name=data["name"], email=data["email"],
                    password=data["password"], time_zone=data["time_zone"],
                    ip=throttling.client_ip(request))
            except ValidationError as exc:
                forms.apply_service_error(form, exc, forms.SignupForm.SERVICE_FIELDS)
            except Throttled as exc:
                form.add_error(None, exc.message)
                status = 429
            else:
                return render(request, "tenants/signup_sent.html", {
                    "signup": signup, "hours": settings.SIGNUP_CONFIRM_MAX_AGE_HOURS})
    return render(request, "tenants/landing.html",
                  {"form": form, "host_suffix": _host_suffix(request)}, status=status)


def _link_refused(request: HttpRequest, token: str, message: str, *, salt: str,
                  template: str) -> HttpResponse:
    """400 for a link that was never ours, 410 for one that was but is spent or expired."""
    try:
        signing.loads(token, salt=salt)
        status = 410
    except signing.BadSignature:
        status = 400
    return render(request, template, {"message": message}, status=status)


def _signup_refused(request: HttpRequest, token: str, message: str) -> HttpResponse:
    return _link_refused(request, token, message, salt=services.SIGNUP_SALT,
                         template="tenants/signup_invalid.html")


@sensitive_post_parameters("password")
@never_cache
def signup_confirm(request: HttpRequest, token: str) -> HttpResponse:
    """The mailed link of a sign-up: builds the brokerage (after that account's password
    when the email already has one) and sends the person on to it, signed in."""
    try:
        signup = services.pending_signup_for(token)
    except ValidationError as exc:
        return _signup_refused(request, token, " ".join(exc.messages))
    has_account = selectors.has_account(signup.email)
    form = forms.SignupConfirmForm(_posted(request), has_account=has_account,
                                   initial={"slug": signup.slug})
    status = 200
    if request.method == "POST":
        status = 400
        if form.is_valid():
            try:
                brokerage, admin = services.confirm_signup(
                    token=token, slug=form.cleaned_data["slug"],
                    password=form.cleaned_data.get("password", ""),
                    ip=throttling.client_ip(request))
            except ValidationError as exc:
                forms.apply_service_error(form, exc)
            except Throttled as exc:
                form.add_error(None, _wait_message(exc.wait or 0))
                status = 429
            else:
                return _signup_ready(request, brokerage=brokerage, admin=admin)
    return render(request, "tenants/signup_confirm.html", {
        "signup": signup, "form": form, "has_account": has_account,
        "host_suffix": _host_suffix(request)}, status=status)


def _signup_ready(request: HttpRequest, *, brokerage: Brokerage, admin: User) -> HttpResponse:
    token = handover_token(user=admin, brokerage=brokerage)
    # A page that moves on by itself rather than a redirect: the CSP's `form-action 'self'`
    # stops a form post from being redirected to another host.
    return render(request, "tenants/signup_ready.html", {
        "new_brokerage": brokerage,
        "continue_url": _url_on_host(
            request, services.brokerage_host(brokerage),
            reverse("login_continue", urlconf=settings.ROOT_URLCONF,
                    kwargs={"token": token}))}, status=201)


@never_cache
def login_continue(request: HttpRequest, token: str) -> HttpResponse:
    """Sign in on a brokerage host with the single-use link made at sign-up."""
    try:
        payload = signing.loads(token, salt=HANDOVER_SALT, max_age=HANDOVER_MAX_AGE_SECONDS)
    except signing.BadSignature:
        payload = None
    user = None
    if isinstance(payload, dict) and payload.get("b") == request.brokerage.pk:
        # add() succeeds once per nonce: a second use of the same link is refused.
        with schema_context("public"):
            first_use = cache.add(f"signup-handover:{payload.get('n')}", 1,
                                  timeout=HANDOVER_MAX_AGE_SECONDS * 2)
        if first_use:
            user = User.objects.filter(
                pk=payload.get("u"), is_active=True, seats__brokerage=request.brokerage,
                seats__status=Seat.Status.ACTIVE).first()
    if user is None:
        return render(request, "tenants/handover_invalid.html", status=400)
    login(request, user, backend="django.contrib.auth.backends.ModelBackend")
    messages.success(request, f"Welcome to Clozings, {user.get_short_name()}.")
    return redirect("home")


# --- login (both hosts) -------------------------------------------------------------------
def _wait_message(seconds: int) -> str:
    minutes = max(1, math.ceil(seconds / 60))
    return (f"Too many failed sign-ins. Try again in {minutes} "
            f"minute{'s' if minutes != 1 else ''}, or reset your password.")


@sensitive_post_parameters("password")
@never_cache
def login_page(request: HttpRequest) -> HttpResponse:
    """Sign in. On a brokerage host the person needs an active seat there; on the
    platform host anyone with an account signs in: staff to the staff pages, everyone
    else to the list of their brokerages."""
    brokerage = getattr(request, "brokerage", None)
    if request.method == "GET" and request.user.is_authenticated and (
            request.seat is not None or brokerage is None):
        return redirect(_safe_next(request, _home_after_login(request, request.user)))
    form = forms.LoginForm(_posted(request))
    status = 200
    if request.method == "POST":
        status = 400
        if form.is_valid():
            email, password = form.cleaned_data["email"], form.cleaned_data["password"]
            ip = throttling.client_ip(request)
            if not throttling.login_allowed(email=email, ip=ip):
                seconds = throttling.seconds_until_login_allowed(email=email, ip=ip)
                form.add_error(None, _wait_message(seconds))
                status = 429
            else:
                user = authenticate(request, email=email, password=password)
                if user is None:
                    throttling.record_login_failure(email=email, ip=ip)
                    form.add_error("password", "The email or password is not right.")
                elif brokerage is not None and not Seat.objects.filter(
                        brokerage=brokerage, user=user, status=Seat.Status.ACTIVE).exists():
                    throttling.clear_login_failures(email=email, ip=ip)
                    form.add_error("email", f"{user.email} has no active seat at "
                                            f"{brokerage.name}. Ask its admin to invite you.")
                    status = 403
                else:
                    throttling.clear_login_failures(email=email, ip=ip)
                    login(request, user)
                    return redirect(_safe_next(request, _home_after_login(request, user)))
    return render(request, "tenants/login.html", {
        "form": form, "next": _safe_next(request, ""),
        "platform_login": brokerage is None}, status=status)


def _home_after_login(request: HttpRequest, user: User) -> str:
    if getattr(request, "brokerage", None) is not None:
        return reverse("home")
    return reverse("staff_home") if user.is_staff else reverse("my_brokerages")


class LogoutView(auth_views.LogoutView):
    """POST signs out, then back to the sign-in page of the same host. GET (a typed or
    bookmarked /logout/) shows a page with the sign-out button rather than an error."""

    http_method_names = ["get", "post", "options"]

    def get(self, request, *args, **kwargs):
        return render(request, "tenants/logout.html")


# --- platform host: an agent's brokerages ------------------------------------------------
@require_safe
@login_required
def my_brokerages(request: HttpRequest) -> HttpResponse:
    """Where a person who signed in on the platform host goes on: each brokerage they
    have a seat at, linked on its own host (sessions are per host)."""
    seats = selectors.memberships_for(user=request.user)
    return render(request, "tenants/my_brokerages.html", {"memberships": [
        (seat, _url_on_host(request, services.brokerage_host(seat.brokerage), "/"))
        for seat in seats]})


@require_http_methods(["GET", "POST"])
@never_cache
def find_brokerage(request: HttpRequest) -> HttpResponse:
    """Find my brokerage: the addresses go by mail to the account's email, so the page
    answers the same whether or not there is an account (it tells nothing)."""
    form = forms.FindBrokerageForm(_posted(request))
    if request.method != "POST":
        return render(request, "tenants/find_brokerage.html", {"form": form})
    if not form.is_valid():
        return render(request, "tenants/find_brokerage.html", {"form": form}, status=400)
    email = form.cleaned_data["email"]
    ip = throttling.client_ip(request)
    try:
        services.request_brokerage_list(email=email, ip=ip)
    except DomainError as exc:
        form.add_error(None, exc.message)
        return render(request, "tenants/find_brokerage.html", {"form": form},
                      status=status_for(exc))
    return render(request, "tenants/find_brokerage_sent.html", {"email": email})


# --- brokerage host: dashboard ----------------------------------------------------------
@seat_required
def dashboard(request: HttpRequest) -> HttpResponse:
    return render(request, "tenants/dashboard.html", {"seat": request.seat})


# --- brokerage host: lead alerts (own phone for texts; admins: the first-touch time) ----
def _lead_alerts_page(request: HttpRequest, *, phone_form=None, sla_form=None,
                      pause_form=None, status: int = 200) -> HttpResponse:
    return render(request, "tenants/lead_alerts.html", {
        "pause": pause_state(request.seat),
        "pause_form": pause_form or forms.PauseForm(initial=_pause_initial(request.seat)),
        "phone_form": phone_form or forms.PhoneForm(initial={"phone": request.seat.phone}),
        "sla_form": sla_form or forms.FirstTouchForm(initial={
            "first_touch_sla_minutes": request.brokerage.first_touch_sla_minutes}),
    }, status=status)


@seat_required
def lead_alerts(request: HttpRequest) -> HttpResponse:
    """GET: the page; POST: the signed-in person's phone for new-lead texts."""
    if request.method != "POST":
        return _lead_alerts_page(request)
    form = forms.PhoneForm(request.POST)
    if form.is_valid():
        try:
            seat = services.set_seat_phone(seat=request.seat, **form.cleaned_data)
        except ValidationError as exc:
            forms.apply_service_error(form, exc)
        else:
            messages.success(request, f"New leads are texted to {seat.phone}." if seat.phone
                             else "New leads now come by email only.")
            return redirect("lead_alerts")
    return _lead_alerts_page(request, phone_form=form, status=400)


# --- pauses (vacations) and caps: an agent's own pause, an admin's for anyone ----------
def pause_state(seat: Seat, now=None) -> dict | None:
    """The seat's pause as a page shows it: None when there is none (or it is over);
    else whether it is on now, and its start and end (None: open)."""
    now = now or timezone.now()
    if seat.paused_from is None and seat.paused_until is None:
        return None
    if seat.paused_until is not None and seat.paused_until <= now:
        return None
    return {"on": seat.is_paused_at(now), "start": seat.paused_from, "end": seat.paused_until}


def _morning(day: date | None) -> datetime | None:
    """The start of `day` in the viewer's time zone (None stays None)."""
    if day is None:
        return None
    return timezone.make_aware(datetime.combine(day, time.min),
                               timezone.get_current_timezone())


def _pause_initial(seat: Seat) -> dict:
    if pause_state(seat) is None:
        return {}
    zone = timezone.get_current_timezone()
    return {name: value.astimezone(zone).date() for name, value in (
        ("away_from", seat.paused_from), ("back_on", seat.paused_until)) if value}


def _save_pause(request: HttpRequest, seat: Seat):
    """Apply the posted pause form (or end the pause) to `seat` as the caller; returns
    (the form, None) on success or (the form with its errors, status)."""
    form = forms.PauseForm(request.POST)
    if request.POST.get("action") == "end":
        changes = {"paused_from": None, "paused_until": None}
    elif form.is_valid():
        changes = {"paused_from": _morning(form.cleaned_data["away_from"]),
                   "paused_until": _morning(form.cleaned_data["back_on"])}
        if changes["paused_from"] is None:
            changes["paused_from"] = timezone.now()
    else:
        return form, 400
    try:
        services.update_seat(seat=seat, by=request.seat, **changes)
    except ValidationError as exc:
        forms.apply_service_error(form, exc, {"paused_from": "away_from",
                                              "paused_until": "back_on"})
        return form, 400
    except DomainError as exc:
        forms.apply_service_error(form, exc)
        return form, status_for(exc)
    return form, None


def _pause_message(seat: Seat, *, own: bool) -> str:
    state = pause_state(Seat.objects.get(pk=seat.pk))
    who = "You are" if own else f"{seat.name or seat.email} is"
    if state is None:
        return f"{who} taking new leads again."
    end = (f"until {date_format(timezone.localtime(state['end']))}" if state["end"]
           else "until the pause is ended")
    if state["on"]:
        return f"{who} paused: no new leads {end}."
    return (f"{who} paused from {date_format(timezone.localtime(state['start']))}: "
            f"no new leads {end}.")


@seat_required
@require_POST
def own_pause(request: HttpRequest) -> HttpResponse:
    """The signed-in agent's vacation: away from / back on (or end it now)."""
    form, status = _save_pause(request, request.seat)
    if status is not None:
        return _lead_alerts_page(request, pause_form=form, status=status)
    messages.success(request, _pause_message(request.seat, own=True))
    return redirect("lead_alerts")


@admin_required(message="Only an admin of this brokerage can change the first-touch time.")
@require_POST
def first_touch_sla(request: HttpRequest) -> HttpResponse:
    form = forms.FirstTouchForm(request.POST)
    if form.is_valid():
        try:
            services.set_first_touch_sla(brokerage=request.brokerage,
                                         minutes=form.cleaned_data["first_touch_sla_minutes"])
        except ValidationError as exc:
            forms.apply_service_error(form, exc)
        else:
            messages.success(request, "First-touch time saved: "
                             f"{request.brokerage.first_touch_sla_minutes} minutes.")
            return redirect("lead_alerts")
    return _lead_alerts_page(request, sla_form=form, status=400)


# --- brokerage host: seats ----------------------------------------------------------------
def _seat_of_this_brokerage(request: HttpRequest, seat_id: int) -> Seat:
    return get_scoped_or_404(Seat.objects.select_related("user"), request, seat_id)


_STATUS_ORDER = {Seat.Status.ACTIVE: 0, Seat.Status.INVITED: 1, Seat.Status.DEACTIVATED: 2}


def _with_invitation_mail(seats: list[Seat]) -> None:
    """Each invited seat's latest invitation mail (sent, queued, failing or failed)."""
    mails = latest_mail(kind=services.INVITATION_MAIL,
                        refs=[s.pk for s in seats if s.status == Seat.Status.INVITED])
    for seat in seats:
        seat.invitation_mail = mails.get(str(seat.pk))


def _seat_list_page(request: HttpRequest, form: forms.InviteForm, status: int = 200):
    seats = sorted(
        scoped(Seat.objects.select_related("user"), request),
        key=lambda s: (_STATUS_ORDER[s.status], (s.name or s.email).lower()))
    _with_invitation_mail(seats)
    now = timezone.now()
    for seat in seats:
        seat.pause = pause_state(seat, now) if seat.status == Seat.Status.ACTIVE else None
    return render(request, "tenants/seats/list.html",
                  {"seats": seats, "form": form}, status=status)


@admin_required
def seat_list(request: HttpRequest) -> HttpResponse:
    """Everyone with a seat, and the invitation form (POST here invites)."""
    if request.method != "POST":
        return _seat_list_page(request, forms.InviteForm())
    form = forms.InviteForm(request.POST)
    if form.is_valid():
        try:
            seat = services.invite_seat(brokerage=request.brokerage, invited_by=request.user,
                                        **form.cleaned_data)
        except (ValidationError, DomainError) as exc:
            forms.apply_service_error(form, exc, forms.InviteForm.SERVICE_FIELDS)
            status = status_for(exc) if isinstance(exc, DomainError) else 400
            return _seat_list_page(request, form, status=status)
        messages.success(request, f"Invitation sent to {seat.email}.")
        return redirect("seat_list")
    return _seat_list_page(request, form, status=400)


def _seat_page(request: HttpRequest, seat: Seat, *, role_form=None, action_error: str = "",
               pause_form=None, caps_form=None, status: int = 200) -> HttpResponse:
    _with_invitation_mail([seat])
    return render(request, "tenants/seats/detail.html", {
        "subject": seat,
        "pause": pause_state(seat),
        "pause_form": pause_form or forms.PauseForm(initial=_pause_initial(seat),
                                                    auto_id="id_pause_%s"),
        "caps_form": caps_form or forms.CapsForm(
            initial={"daily_cap": seat.daily_cap, "monthly_cap": seat.monthly_cap},
            auto_id="id_caps_%s"),
        "role_form": role_form or forms.RoleForm(initial={"role": seat.role},
                                                 auto_id="id_role_%s"),
        "action_error": action_error,
        "is_self": seat.user_id == request.user.pk,
    }, status=status)


@admin_required
def seat_detail(request: HttpRequest, seat_id: int) -> HttpResponse:
    return _seat_page(request, _seat_of_this_brokerage(request, seat_id))


@admin_required
@require_POST
def seat_role(request: HttpRequest, seat_id: int) -> HttpResponse:
    seat = _seat_of_this_brokerage(request, seat_id)
    form = forms.RoleForm(request.POST, auto_id="id_role_%s")
    status = 400
    if form.is_valid():
        try:
            seat = services.change_seat_role(seat=seat, role=form.cleaned_data["role"],
                                             by=request.user)
        except (ValidationError, DomainError) as exc:
            forms.apply_service_error(form, exc, forms.RoleForm.SERVICE_FIELDS)
            status = status_for(exc) if isinstance(exc, DomainError) else 400
        else:
            messages.success(request, f"{seat.name or seat.email} is now "
                                      f"{seat.get_role_display().lower()}.")
            return redirect("seat_detail", seat_id=seat.pk)
    return _seat_page(request, seat, role_form=form, status=status)


@admin_required
@require_POST
def seat_pause(request: HttpRequest, seat_id: int) -> HttpResponse:
    """An admin pauses a seat of the brokerage (or ends its pause)."""
    seat = _seat_of_this_brokerage(request, seat_id)
    form, status = _save_pause(request, seat)
    if status is not None:
        form.auto_id = "id_pause_%s"
        return _seat_page(request, seat, pause_form=form, status=status)
    messages.success(request, _pause_message(seat, own=seat.pk == request.seat.pk))
    return redirect("seat_detail", seat_id=seat.pk)


@admin_required
@require_POST
def seat_caps(request: HttpRequest, seat_id: int) -> HttpResponse:
    """An admin sets a seat's daily and monthly lead caps (empty: no cap)."""
    seat = _seat_of_this_brokerage(request, seat_id)
    form = forms.CapsForm(request.POST, auto_id="id_caps_%s")
    status = 400
    if form.is_valid():
        try:
            seat = services.update_seat(seat=seat, by=request.seat, **form.cleaned_data)
        except (ValidationError, DomainError) as exc:
            forms.apply_service_error(form, exc)
            status = status_for(exc) if isinstance(exc, DomainError) else 400
        else:
            caps = [f"{seat.daily_cap} a day" if seat.daily_cap is not None else "",
                    f"{seat.monthly_cap} a month" if seat.monthly_cap is not None else ""]
            caps = " and ".join(c for c in caps if c)
            messages.success(request, f"{seat.name or seat.email} gets at most {caps}."
                             if caps else f"{seat.name or seat.email} has no lead cap.")
            return redirect("seat_detail", seat_id=seat.pk)
    return _seat_page(request, seat, caps_form=form, status=status)


@admin_required
@require_POST
def seat_resend(request: HttpRequest, seat_id: int) -> HttpResponse:
    """Send the invitation again (a new link; the old one stops working)."""
    seat = _seat_of_this_brokerage(request, seat_id)
    try:
        seat = services.invite_seat(brokerage=request.brokerage, email=seat.email,
                                    name=seat.name, role=seat.role, invited_by=request.user)
    except (ValidationError, DomainError) as exc:
        message = exc.message if isinstance(exc, DomainError) else " ".join(exc.messages)
        status = status_for(exc) if isinstance(exc, DomainError) else 400
        return _seat_page(request, seat, action_error=message, status=status)
    messages.success(request, f"A new invitation is on its way to {seat.email}.")
    return redirect("seat_detail", seat_id=seat.pk)


@admin_required
def seat_deactivate(request: HttpRequest, seat_id: int) -> HttpResponse:
    """Confirm, then take the seat away (its work stays; leads may be handed over)."""
    seat = _seat_of_this_brokerage(request, seat_id)
    if seat.status == Seat.Status.DEACTIVATED:
        messages.info(request, f"{seat.name or seat.email} is already deactivated.")
        return redirect("seat_detail", seat_id=seat.pk)
    form = forms.DeactivateForm(_posted(request), seat=seat)
    status = 200
    if request.method == "POST":
        status = 400
        if form.is_valid() and seat.user_id == request.user.pk:
            form.add_error(None, "You cannot take away your own seat; ask another admin.")
            status = 409
        elif form.is_valid():
            try:
                services.deactivate_seat(seat=seat, by=request.user,
                                         reassign_to=form.cleaned_data["reassign_to"])
            except (ValidationError, DomainError) as exc:
                forms.apply_service_error(form, exc)
                status = status_for(exc) if isinstance(exc, DomainError) else 400
            else:
                messages.success(request, f"{seat.name or seat.email} no longer has a seat.")
                return redirect("seat_list")
    return render(request, "tenants/seats/deactivate.html",
                  {"subject": seat, "form": form}, status=status)


# --- brokerage host: accepting an invitation -----------------------------------------
def _invitation_refused(request: HttpRequest, token: str, message: str) -> HttpResponse:
    return _link_refused(request, token, message, salt=services.INVITE_SALT,
                         template="tenants/invite_invalid.html")


@sensitive_post_parameters("password")
@never_cache
def accept_invitation(request: HttpRequest, token: str) -> HttpResponse:
    try:
        seat = services.seat_for_invitation(token)
    except ValidationError as exc:
        return _invitation_refused(request, token, " ".join(exc.messages))
    if seat.brokerage_id != request.brokerage.pk:
        # A real link, but for another brokerage's host: not something to act on here.
        return render(request, "tenants/invite_invalid.html",
                      {"message": "This invitation link is not valid."}, status=400)

    signed_in = request.user if request.user.is_authenticated else None
    if signed_in is not None and signed_in.email.lower() != seat.email.lower():
        return render(request, "tenants/invite.html", {
            "invited": seat, "wrong_account": signed_in, "token": token}, status=409)
    if signed_in is not None:
        form_class = forms.JoinForm
    elif User.objects.filter(email__iexact=seat.email).exists():
        form_class = forms.ExistingAccountForm
    else:
        form_class = forms.NewAccountForm

    form = form_class(_posted(request))
    status = 200
    if request.method == "POST":
        status = 400
        if form.is_valid():
            try:
                seat = services.accept_invitation(
                    token=token, user=signed_in, name=form.cleaned_data.get("name", ""),
                    password=form.cleaned_data.get("password", ""),
                    ip=throttling.client_ip(request))
            except ValidationError as exc:
                forms.apply_service_error(form, exc)
            except Throttled as exc:
                form.add_error(None, _wait_message(exc.wait or 0))
                status = 429
            else:
                login(request, seat.user, backend="django.contrib.auth.backends.ModelBackend")
                messages.success(request, f"Welcome to {seat.brokerage.name}.")
                return redirect("home")
    return render(request, "tenants/invite.html", {
        "invited": seat, "form": form, "token": token,
        "existing_account": form_class is forms.ExistingAccountForm}, status=status)


# --- password reset on both hosts (Django's views, our templates) ---------------------
password_reset_views = [
    path("password-reset/", auth_views.PasswordResetView.as_view(
        form_class=forms.PasswordResetForm,
        template_name="tenants/password_reset_form.html",
        email_template_name="tenants/email/password_reset.txt",
        html_email_template_name="tenants/email/password_reset.html",
        subject_template_name="tenants/email/password_reset_subject.txt",
        success_url=reverse_lazy("password_reset_done"),
    ), name="password_reset"),
    path("password-reset/sent/", auth_views.PasswordResetDoneView.as_view(
        template_name="tenants/password_reset_done.html"), name="password_reset_done"),
    path("password-reset/<uidb64>/<token>/", auth_views.PasswordResetConfirmView.as_view(
        template_name="tenants/password_reset_confirm.html",
        success_url=reverse_lazy("password_reset_complete"),
    ), name="password_reset_confirm"),
    path("password-reset/done/", auth_views.PasswordResetCompleteView.as_view(
        template_name="tenants/password_reset_complete.html"), name="password_reset_complete"),
]


logout_view = LogoutView.as_view()

public_urls: list = [
    path("", landing, name="home"),
    path("signup/confirm/<str:token>/", signup_confirm, name="signup_confirm"),
    path("login/", login_page, name="login"),
    path("logout/", logout_view, name="logout"),
    *password_reset_views,
    path("brokerages/", my_brokerages, name="my_brokerages"),
    path("find-brokerage/", find_brokerage, name="find_brokerage"),
]
brokerage_urls: list = [
    path("", dashboard, name="home"),
    path("login/", login_page, name="login"),
    path("login/continue/<str:token>/", login_continue, name="login_continue"),
    path("logout/", logout_view, name="logout"),
    *password_reset_views,
    path("seats/", seat_list, name="seat_list"),
    path("seats/<int:seat_id>/", seat_detail, name="seat_detail"),
    path("seats/<int:seat_id>/role/", seat_role, name="seat_role"),
    path("seats/<int:seat_id>/pause/", seat_pause, name="seat_pause"),
    path("seats/<int:seat_id>/caps/", seat_caps, name="seat_caps"),
    path("seats/<int:seat_id>/resend/", seat_resend, name="seat_resend"),
    path("seats/<int:seat_id>/deactivate/", seat_deactivate, name="seat_deactivate"),
    path("invite/<str:token>/", accept_invitation, name="accept_invitation"),
    path("lead-alerts/", lead_alerts, name="lead_alerts"),
    path("lead-alerts/first-touch/", first_touch_sla, name="first_touch_sla"),
    path("lead-alerts/away/", own_pause, name="own_pause"),
]
