"""The brokerage host's home page ("/"), by role: an agent's is Today (crm), an admin's the
team this week (crm's reports); someone without a seat gets the tenants dashboard, which
signs them in or explains. Composition root: the one place that picks between apps' pages."""

from __future__ import annotations

from django.http import HttpRequest, HttpResponse

from clozings.crm import views_reports, views_today
from clozings.tenants import views as tenants_views


def home(request: HttpRequest) -> HttpResponse:
    seat = getattr(request, "seat", None)
    if seat is None:
        return tenants_views.dashboard(request)
    if seat.is_admin:
        return views_reports.team_home(request)
    return views_today.today(request)
