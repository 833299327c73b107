"""Events other apps listen to.

seat_deactivated(seat, reassign_to, by): sent inside the transaction that deactivates a
seat; territories release or hand over the seat's reservations, crm hands over its leads.
"""

from django.dispatch import Signal

seat_deactivated = Signal()
