"""The brokerage host's home page ("/"): an agent's is Today (crm), an admin's the
brokerage's home (tenants). Composition root: it is the one place that knows both apps."""

from __future__ import annotations

from django.http import HttpRequest, HttpResponse

from clozings.crm import views_today
from clozings.tenants import views as tenants_views
from clozings.tenants.decorators import seat_required


@seat_required
def home(request: HttpRequest) -> HttpResponse:
    if request.seat.is_admin:
        return tenants_views.dashboard(request)
    return views_today.today(request)
