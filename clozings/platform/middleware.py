"""Kernel middleware: Content-Security-Policy and the viewer's time zone."""

import zoneinfo

from django.conf import settings
from django.utils import timezone


class ContentSecurityPolicyMiddleware:
    def __init__(self, get_response):
        self.get_response = get_response
        stripe_origin = ""
        if settings.STRIPE_API_BASE:
            stripe_origin = settings.STRIPE_API_BASE.rstrip("/")
        else:
            stripe_origin = "https://js.stripe.com https://api.stripe.com"
        self.policy = settings.CONTENT_SECURITY_POLICY.format(stripe=stripe_origin)

    def __call__(self, request):
        response = self.get_response(request)
        response.setdefault("Content-Security-Policy", self.policy)
        return response


class UserTimezoneMiddleware:
    """Show times in the viewer's time zone: the person's own, else the brokerage's."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        name = None
        user = getattr(request, "user", None)
        if user is not None and user.is_authenticated:
            name = getattr(user, "time_zone", None)
        if not name:
            name = getattr(getattr(request, "tenant", None), "time_zone", None)
        timezone.deactivate()
        if name:
            try:
                timezone.activate(zoneinfo.ZoneInfo(name))
            except (zoneinfo.ZoneInfoNotFoundError, ValueError):
                pass  # an unknown zone name shows UTC rather than failing the page
        return self.get_response(request)
