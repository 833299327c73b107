"""Events other apps listen to.

reservation_released(reservation): sent inside the transaction that frees a reservation's
slot (owner's release at period end, unpaid, seat deactivated). Billing listens and removes
the Stripe subscription item on commit.
"""

from django.dispatch import Signal

reservation_released = Signal()
