"""What the staff console reads across apps, each figure from the app that owns it."""

from __future__ import annotations

from django.db.models import Count, Q, QuerySet

from clozings.tenants.models import Brokerage, Seat
from clozings.territories.models import Reservation


def brokerages_with_counts() -> QuerySet[Brokerage]:
    """Every brokerage with its seat counts and its territory reservations by status, in
    one query (DISTINCT keeps the two joins from multiplying)."""

    def seats(status: str) -> Count:
        return Count("seats", filter=Q(seats__status=status), distinct=True)

    def reservations(status: str) -> Count:
        return Count("reservations", filter=Q(reservations__status=status), distinct=True)

    return (
        Brokerage.objects.exclude(schema_name="public")
        .annotate(
            active_seats=seats(Seat.Status.ACTIVE),
            invited_seats=seats(Seat.Status.INVITED),
            active_reservations=reservations(Reservation.Status.ACTIVE),
            past_due_reservations=reservations(Reservation.Status.PAST_DUE),
            suspended_reservations=reservations(Reservation.Status.SUSPENDED),
        )
        .order_by("slug")
    )

