"""What territories do when other apps announce events."""

from __future__ import annotations

from django.dispatch import receiver

from clozings.tenants.signals import seat_deactivated
from clozings.territories.services import hand_over_reservations


@receiver(seat_deactivated, dispatch_uid="territories.seat_deactivated")
def seat_left(sender, seat, reassign_to=None, **kwargs) -> None:
    # Inside the deactivation's transaction: the seat goes and its territories move, or
    # neither happens. Never silently kept by a seat that is gone.
    hand_over_reservations(seat=seat, reassign_to=reassign_to)
