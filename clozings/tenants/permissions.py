"""DRF permissions for brokerage hosts: a seat is required, some actions need an admin."""

from rest_framework.permissions import BasePermission

from clozings.tenants.models import Seat


def seat_for(request) -> Seat | None:
    """The caller's active seat in the brokerage of the host (cached on the request)."""
    brokerage = getattr(request, "brokerage", None)
    if brokerage is None or not request.user or not request.user.is_authenticated:
        return None
    cached = getattr(request, "seat", None)
    if cached is not None and cached.user_id == request.user.pk:
        return cached
    # [:1] and not first(): (brokerage, user) is unique, and ordering costs CPU per request
    request.seat = next(iter(Seat.objects.filter(
        brokerage=brokerage, user=request.user, status=Seat.Status.ACTIVE)[:1]), None)
    if request.seat is not None:
        # the row it was looked up by: seat.brokerage costs no query later
        request.seat.brokerage = brokerage
    return request.seat


class HasSeat(BasePermission):
    message = "You have no active seat in this brokerage."

    def has_permission(self, request, view) -> bool:
        return seat_for(request) is not None


class IsBrokerageAdmin(BasePermission):
    message = "Only an admin of this brokerage can do this."

    def has_permission(self, request, view) -> bool:
        seat = seat_for(request)
        return seat is not None and seat.is_admin


class IsPlatformStaff(BasePermission):
    message = "Only platform staff can do this."

    def has_permission(self, request, view) -> bool:
        return bool(request.user and request.user.is_authenticated and request.user.is_staff)
