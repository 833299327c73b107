"""Error pages: JSON in the API's format under /api/, a page everywhere else."""

from urllib.parse import urlsplit

from django.conf import settings
from django.http.request import split_domain_port
from django.shortcuts import render
from django.urls import reverse
from django.utils.http import url_has_allowed_host_and_scheme

from clozings.platform.errors import is_api_request, json_error

_PAGES = {
    400: ("bad_request", "The request was not understood."),
    403: ("permission_denied", "You do not have permission to see this."),
    404: ("not_found", "Not found."),
    500: ("server_error", "Something went wrong on our side. We have been told."),
}


def _error(request, status: int):
    code, message = _PAGES[status]
    if is_api_request(request):
        return json_error(request, code, message, status)
    return render(request, f"{status}.html", {"message": message}, status=status)


def bad_request(request, exception=None):
    return _error(request, 400)


def permission_denied(request, exception=None):
    return _error(request, 403)


def not_found(request, exception=None):
    return _error(request, 404)


def server_error(request):
    return _error(request, 500)


def csrf_failure(request, reason: str = ""):
    """settings.CSRF_FAILURE_VIEW: a form sent from a page that has gone stale (or with
    cookies blocked). Says what to do next; never Django's page for developers."""
    if is_api_request(request):
        return json_error(request, "csrf_failed",
                          "The CSRF token is missing or wrong; send the session's token.", 403)
    return render(request, "403_csrf.html", {
        "message": "This form has expired.", "retry_url": _form_page(request)}, status=403)


def _form_page(request) -> str:
    """The page the form was on (the Referer, when it is this host's), else the address it
    was sent to: a form that posts to a POST-only address is reloaded from its own page."""
    referer = urlsplit(request.META.get("HTTP_REFERER", ""))
    if referer.path and url_has_allowed_host_and_scheme(
            referer.geturl(), allowed_hosts={request.get_host()}):
        return referer.path + (f"?{referer.query}" if referer.query else "")
    return request.path


# --- hosts that are no brokerage ----------------------------------------------------------
def platform_url(request, path: str = "/") -> str:
    """An absolute URL on the platform host, on this request's scheme and port (read from
    the Host header without trusting its name, which may be any host at all)."""
    _, port = split_domain_port(request.META.get("HTTP_HOST", ""))
    return f"{request.scheme}://{settings.CLOZINGS_DOMAIN}{':' + port if port else ''}{path}"


def unknown_host(request, exception=None):
    """Every answer on a host that is no brokerage: 404 for a well-formed name that no
    brokerage has, 400 for one outside ALLOWED_HOSTS. Its links go to the platform host."""
    status = getattr(request, "unknown_host_status", None) or 404
    if status == 400:
        code, message = "bad_request", "This address is not one of ours."
    else:
        host, _ = split_domain_port(request.get_host())
        code, message = "not_found", f"There is no brokerage at {host}."
    if is_api_request(request):
        return json_error(request, code, message, status)
    public = settings.PUBLIC_SCHEMA_URLCONF
    return render(request, "unknown_host.html", {
        "message": message, "status": status,
        "home_url": platform_url(request, reverse("home", urlconf=public)),
        "find_url": platform_url(request, reverse("find_brokerage", urlconf=public)),
    }, status=status)


def unknown_host_bad_request(request, exception=None):
    request.unknown_host_status = 400
    return unknown_host(request)
