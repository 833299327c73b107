"""Error pages: JSON in the API's format under /api/, a page everywhere else."""

from django.conf import settings
from django.http.request import split_domain_port
from django.shortcuts import render
from django.urls import reverse

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
    message = "This form has expired."
    if is_api_request(request):
        return json_error(request, "csrf_failed",
                          "The CSRF token is missing or wrong; send the session's token.", 403)
    return render(request, "403_csrf.html", {"message": message, "retry_url": request.path},
                  status=403)


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
