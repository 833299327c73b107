"""Who may open a page: a seat in this brokerage, an admin of it, or platform staff.

The same rule as the API's permissions (clozings.tenants.permissions) and, for acting for
another seat or reaching an object of the brokerage, clozings.tenants.scoping. A person who
is not signed in goes to the sign-in page; one who is, but may not open the page, gets the
403 page with the decorator's message.
"""

from __future__ import annotations

from collections.abc import Callable
from functools import wraps

from django.contrib.auth.decorators import login_required
from django.shortcuts import render

NO_SEAT = "You have no active seat in this brokerage."
NOT_ADMIN = "Only an admin of this brokerage can manage seats."
NOT_STAFF = "Only platform staff can see this."


def forbidden(request, message: str):
    return render(request, "403.html", {"message": message}, status=403)


def _guard(allowed: Callable, default_message: str):
    """A decorator (usable bare or with `message=`) letting through the signed-in people
    for whom `allowed(request)` holds."""

    def decorator(view=None, *, message: str = default_message):
        def wrap(view):
            @login_required
            @wraps(view)
            def wrapped(request, *args, **kwargs):
                if not allowed(request):
                    return forbidden(request, message)
                return view(request, *args, **kwargs)

            return wrapped

        return wrap(view) if view is not None else wrap

    return decorator


def _has_seat(request) -> bool:
    return getattr(request, "seat", None) is not None


seat_required = _guard(_has_seat, NO_SEAT)
admin_required = _guard(lambda request: _has_seat(request) and request.seat.is_admin, NOT_ADMIN)
staff_required = _guard(lambda request: request.user.is_staff, NOT_STAFF)
