"""The brokerage host's home page, by role (composition root: it picks between apps'
pages, which may not import each other): an admin's home is the team this week (crm's
reports), anyone else's the tenants dashboard."""

from __future__ import annotations

from django.http import HttpRequest, HttpResponse

from clozings.crm import views_reports
from clozings.tenants import views as tenants_views


def brokerage_home(request: HttpRequest) -> HttpResponse:
    seat = getattr(request, "seat", None)
    if seat is not None and seat.is_admin:
        return views_reports.team_home(request)
    return tenants_views.dashboard(request)
