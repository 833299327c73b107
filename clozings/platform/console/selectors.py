"""What the staff console reads across apps, each figure from the app that owns it."""

from __future__ import annotations

from django.db.models import Count, Q, QuerySet

from clozings.distribution import selectors as distribution_selectors
from clozings.tenants.models import Brokerage, Seat
from clozings.territories.models import Reservation


def brokerages_with_counts() -> QuerySet[Brokerage]:
    """Every brokerage with its seat counts, its territory reservations by status and its
    delivery SLA summary, in one query (DISTINCT keeps the two joins from multiplying; the
    SLA figures are correlated subqueries)."""

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
            **distribution_selectors.brokerage_sla_annotations(),
        )
        .order_by("slug")
    )



def active_seats() -> QuerySet[Seat]:
    """Every active seat with its brokerage, for staff picking an agent (one query)."""
    return (Seat.objects.filter(status=Seat.Status.ACTIVE).select_related("brokerage")
            .order_by("brokerage__name", "name", "email", "pk"))


def seat(*, seat_id: int) -> Seat | None:
    return Seat.objects.filter(pk=seat_id).first()
