"""Pick the schema from the host, and keep people without a seat out of a brokerage."""

from __future__ import annotations

from django.conf import settings
from django.core.exceptions import DisallowedHost
from django.db import connection
from django.http.request import split_domain_port
from django.shortcuts import render
from django.urls import set_urlconf
from django_tenants.middleware.main import TenantMainMiddleware
from django_tenants.utils import get_public_schema_name, remove_www

from clozings.platform.errors import is_api_request, json_error
from clozings.platform.middleware import with_security_headers
from clozings.tenants.models import Domain, Seat

UNKNOWN_HOST_URLCONF = "clozings.platform.urls_unknown_host"


def platform_hosts() -> set[str]:
    hosts = {settings.CLOZINGS_DOMAIN, "127.0.0.1"}
    if "testserver" in settings.ALLOWED_HOSTS:  # only where Django's test set-up put it
        hosts.add("testserver")
    return hosts


class BrokerageMiddleware(TenantMainMiddleware):
    """The platform's own domain is the public schema; `<slug>.<domain>` is a brokerage;
    any other host is a 404 (never the platform, so a typo can't land on the wrong site).

    The host is compared as browsers and DNS treat it: lower case, without a trailing dot
    or a port. An unknown host (or one outside ALLOWED_HOSTS, 400) goes on through the
    middleware with a URL conf that has no pages, so its answer is the styled error page
    with the usual security headers, and its CSS (a static file) loads on that host too.
    """

    @staticmethod
    def hostname_from_request(request):
        domain, _ = split_domain_port(request.get_host())  # lower case, trailing dot off
        return remove_www(domain)

    def process_request(self, request):
        # Only when the connection is elsewhere: set_schema_to_public() makes the next
        # query send `SET search_path` again, one round trip more for every platform request
        # on a connection already in the public schema.
        if connection.schema_name != get_public_schema_name() \
                or not connection.include_public_schema:
            connection.set_schema_to_public()
        request.brokerage = request.tenant = None
        try:
            hostname = self.hostname_from_request(request)
        except DisallowedHost:
            return self._unknown_host(request, status=400)
        if hostname in platform_hosts():
            request.urlconf = settings.PUBLIC_SCHEMA_URLCONF
            set_urlconf(request.urlconf)
            return None
        # [:1] and not first(): the domain is unique, and ordering costs CPU per request
        domain = next(iter(Domain.objects.select_related("tenant").filter(domain=hostname)[:1]),
                      None)
        if domain is None:
            return self._unknown_host(request, status=404)
        request.tenant = request.brokerage = domain.tenant
        request.tenant.domain_url = hostname
        connection.set_tenant(request.tenant)
        request.urlconf = settings.ROOT_URLCONF
        set_urlconf(request.urlconf)
        return None

    @staticmethod
    def _unknown_host(request, *, status: int):
        request.unknown_host_status = status
        request.urlconf = UNKNOWN_HOST_URLCONF
        set_urlconf(request.urlconf)
        return None

    def process_response(self, request, response):
        # An inner middleware that asks for the host of a host outside ALLOWED_HOSTS raises
        # DisallowedHost, and its answer skips the middleware outside that one: the error
        # page still carries the headers every page does.
        if getattr(request, "unknown_host_status", None):
            with_security_headers(request, response)
        return response


# Paths on a brokerage host that a signed-in person without a seat may still reach.
OPEN_PATH_PREFIXES = ("/login", "/logout", "/password-reset", "/invite/", "/static/",
                      "/healthz", "/api/v1/auth/token", "/api/schema")


class SeatRequiredMiddleware:
    """On a brokerage host, a signed-in person needs an active seat there (else 403).

    Sets request.seat. Bearer-token API calls are checked by tenants.permissions.HasSeat,
    since DRF authenticates them after the middleware has run.
    """

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        request.seat = None
        brokerage = getattr(request, "brokerage", None)
        user = getattr(request, "user", None)
        if brokerage is not None and user is not None and user.is_authenticated:
            request.seat = (
                Seat.objects.filter(brokerage=brokerage, user=user, status=Seat.Status.ACTIVE)
                .select_related("user")
                .first()
            )
            if request.seat is not None:
                # the row it was looked up by: seat.brokerage costs no query later
                request.seat.brokerage = brokerage
            if request.seat is None and not request.path.startswith(OPEN_PATH_PREFIXES):
                message = "You have no active seat in this brokerage."
                if is_api_request(request):
                    return json_error(request, "permission_denied", message, 403)
                return render(request, "403.html", {"message": message}, status=403)
        return self.get_response(request)
