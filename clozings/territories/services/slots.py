"""A ZIP's places: its lock, which places are free, who holds one, and what one costs.

Locking order, everywhere: the territory row first (SELECT ... FOR UPDATE), then its
reservations and waitlist entries. Taking or freeing a slot happens only under that lock,
so a ZIP never has more holders than slots; the slot table's unique (territory, number)
constraint makes it impossible in the database as well.
"""

from __future__ import annotations

import re

from django.core.exceptions import ValidationError

from clozings.platform.errors import NotFound
from clozings.tenants.models import Seat
from clozings.territories.models import Reservation, Slot, Territory, TierPrice, WaitlistEntry

ZIP_RE = re.compile(r"^[0-9]{5}$")
RESERVATION = Reservation.Status
WAITLIST = WaitlistEntry.Status


def clean_zip_code(zip_code, *, field: str = "zip_code") -> str:
    """A 5-digit ZIP as a string, or ValidationError on `field`."""
    value = str(zip_code if zip_code is not None else "").strip()
    if not ZIP_RE.match(value):
        raise ValidationError({field: ["Enter a 5-digit ZIP code, like 10001."]})
    return value


def _not_found(zip_code: str) -> NotFound:
    return NotFound(f"There is no territory for ZIP {zip_code}.")


def _lock_territory(territory_id: int) -> Territory:
    return Territory.objects.select_for_update().get(pk=territory_id)


def _require_active_seat(seat: Seat) -> Seat:
    fresh = Seat.objects.filter(pk=seat.pk).first()
    if fresh is None or fresh.status != Seat.Status.ACTIVE:
        raise ValidationError({"agent_id": ["This agent's seat is not active."]})
    return fresh


def _holds(*, territory_id: int, seat_id: int) -> bool:
    return Reservation.objects.filter(territory_id=territory_id, seat_id=seat_id).exclude(
        status=RESERVATION.RELEASED).exists()


def _free_numbers(territory: Territory) -> list[int]:
    """Free slot numbers (lowest first), at most slots - taken of them."""
    taken = set(Slot.objects.filter(territory=territory).values_list("number", flat=True))
    room = territory.slots - len(taken)
    if room <= 0:
        return []
    free = (n for n in range(1, territory.slots + len(taken) + 1) if n not in taken)
    return [next(free) for _ in range(room)]


def price_for(*, territory: Territory) -> int:
    """The monthly price of a ZIP in cents: its own price, else its tier's."""
    if territory.price_cents is not None:
        return territory.price_cents
    return TierPrice.objects.get(tier=territory.tier).price_cents
