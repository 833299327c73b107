"""Error pages: JSON in the API's format under /api/, a page everywhere else."""

from django.shortcuts import render

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
