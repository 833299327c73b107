"""The private calendar feed (`/calendar/<token>.ics`, no sign-in: the token is the key)
and the agent's Settings page: daily digest hour, time zone, the calendar link."""

from __future__ import annotations

from django import forms
from django.contrib import messages
from django.core.cache import cache
from django.core.exceptions import ValidationError
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import path
from django.views.decorators.http import require_GET, require_POST

from clozings.crm import calendar, preferences
from clozings.platform.tenancy import in_schema
from clozings.tenants.decorators import seat_required
from clozings.tenants.models import TIME_ZONE_CHOICES
from clozings.tenants.throttling import client_ip

# Guessing tokens: an address that misses this many times in the window is refused for
# the rest of it (a calendar app that holds a good link polls a few times an hour).
CALENDAR_MISSES = 20
CALENDAR_WINDOW_SECONDS = 600
_ONCE_KEY = "calendar_url_once"


def _misses_key(request: HttpRequest) -> str:
    return f"calendar-misses:{client_ip(request)}"


@require_GET
def calendar_feed(request: HttpRequest, token: str) -> HttpResponse:
    key = _misses_key(request)
    if (cache.get(key) or 0) >= CALENDAR_MISSES:
        response = HttpResponse("Too many attempts. Try again later.", status=429,
                                content_type="text/plain")
        response["Retry-After"] = str(CALENDAR_WINDOW_SECONDS)
        return response
    seat = calendar.seat_for_token(brokerage=request.brokerage, token=token)
    if seat is None:
        cache.add(key, 0, CALENDAR_WINDOW_SECONDS)
        cache.incr(key)
        raise Http404("No such calendar.")
    with in_schema(request.brokerage.schema_name):
        body = calendar.feed(seat=seat)
    response = HttpResponse(body, content_type="text/calendar; charset=utf-8")
    response["Cache-Control"] = "private, max-age=300"
    response["X-Robots-Tag"] = "noindex"
    return response


DIGEST_CHOICES = [("", "No digest"), *[(str(h), f"{h:02d}:00") for h in range(24)]]


class PreferencesForm(forms.Form):
    digest_hour = forms.TypedChoiceField(
        label="Daily digest", choices=DIGEST_CHOICES, coerce=int, empty_value=None,
        required=False, help_text="Today's follow-ups by email at this hour of your day.")
    time_zone = forms.ChoiceField(label="Your time zone", choices=TIME_ZONE_CHOICES,
                                  help_text="Times on your pages and the digest's hour.")


def _render_settings(request: HttpRequest, form: PreferencesForm, status: int = 200):
    seat = request.seat
    return render(request, "crm/settings.html", {
        "form": form, "calendar_active": bool(seat.calendar_token_hash),
        "calendar_url": request.session.pop(_ONCE_KEY, None)}, status=status)


def _initial(request: HttpRequest) -> dict:
    seat = request.seat
    return {"digest_hour": "" if seat.digest_hour is None else str(seat.digest_hour),
            "time_zone": request.user.time_zone}


@seat_required
def agent_settings(request: HttpRequest) -> HttpResponse:
    if request.method == "POST":
        form = PreferencesForm(request.POST)
        if form.is_valid():
            try:
                preferences.update_preferences(seat=request.seat, **form.cleaned_data)
            except ValidationError as exc:
                for field, errors in exc.message_dict.items():
                    for error in errors:
                        form.add_error(field if field in form.fields else None, error)
            else:
                messages.success(request, "Settings saved.")
                return redirect("agent_settings")
        return _render_settings(request, form, status=400)
    return _render_settings(request, PreferencesForm(initial=_initial(request)))


@seat_required
@require_POST
def calendar_link_create(request: HttpRequest) -> HttpResponse:
    request.session[_ONCE_KEY] = calendar.create_calendar_link(seat=request.seat)
    return redirect("agent_settings")


@seat_required
@require_POST
def calendar_link_remove(request: HttpRequest) -> HttpResponse:
    calendar.remove_calendar_link(seat=request.seat)
    messages.success(request, "The calendar link is ended; calendars that held it stop "
                              "showing your follow-ups.")
    return redirect("agent_settings")


brokerage_urls = [
    path("calendar/<str:token>.ics", calendar_feed, name="calendar_feed"),
    path("settings/", agent_settings, name="agent_settings"),
    path("settings/calendar-link/", calendar_link_create,
         name="calendar_link_create"),
    path("settings/calendar-link/remove/", calendar_link_remove,
         name="calendar_link_remove"),
]
