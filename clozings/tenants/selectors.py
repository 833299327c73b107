"""Reads about brokerages, people and seats that are worth a name."""

from __future__ import annotations

from django.db.models import QuerySet

from clozings.tenants.models import Brokerage, Seat, User


def memberships_for(*, user: User) -> QuerySet[Seat]:
    """The person's active seats, with their brokerages, oldest brokerage first."""
    return (
        Seat.objects.filter(user=user, status=Seat.Status.ACTIVE)
        .select_related("brokerage")
        .order_by("brokerage__created_at", "brokerage__slug")
    )


def seats_of(*, brokerage: Brokerage, status: str | None = None) -> QuerySet[Seat]:
    """The brokerage's seats (optionally of one status), admins first, then by email."""
    seats = Seat.objects.filter(brokerage=brokerage)
    if status:
        seats = seats.filter(status=status)
    return seats.order_by("role", "email")


def seat_of(*, brokerage: Brokerage, seat_id: int) -> Seat | None:
    """One seat of this brokerage; None for a seat that is not there (or belongs elsewhere)."""
    return Seat.objects.filter(brokerage=brokerage, pk=seat_id).first()


def has_account(email: str) -> bool:
    """Whether a person has an account under this email (any case). For pages that only
    the owner of the address can reach, such as a link mailed to it."""
    return User.objects.filter(email__iexact=(email or "").strip()).exists()
