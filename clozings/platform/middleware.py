"""Kernel middleware: Content-Security-Policy, error pages for bare answers, and the
viewer's time zone."""

import zoneinfo

from django.conf import settings
from django.middleware.clickjacking import XFrameOptionsMiddleware
from django.middleware.security import SecurityMiddleware
from django.shortcuts import render
from django.utils import timezone

from clozings.platform.errors import is_api_request, json_error


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


def _no_view(request):
    raise AssertionError("only its process_response is used")


def with_security_headers(request, response):
    """Give a response the headers the middleware gives every page (CSP, nosniff,
    Referrer-Policy, HSTS on HTTPS, X-Frame-Options), for an answer that was made outside
    that middleware. Headers already there are kept."""
    response = SecurityMiddleware(_no_view).process_response(request, response)
    response = XFrameOptionsMiddleware(_no_view).process_response(request, response)
    response.setdefault("Content-Security-Policy",
                        ContentSecurityPolicyMiddleware(_no_view).policy)
    return response


class ErrorPageMiddleware:
    """A bare 405 (Django's require_POST and class-based views answer with no body, which
    a browser shows as "This page isn't working") becomes the app's page, or the API's
    JSON error under /api/. The Allow header stays."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        response = self.get_response(request)
        if response.status_code != 405 or response.streaming or response.content:
            return response
        allow = response.get("Allow", "")
        message = "This address does not answer that kind of request."
        if is_api_request(request):
            page = json_error(request, "method_not_allowed", message, 405)
        else:
            page = render(request, "405.html", {"message": message, "allow": allow}, status=405)
        if allow:
            page["Allow"] = allow
        return page


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
