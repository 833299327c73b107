"""What billing does when other apps announce events: the seats item follows the
number of active seats, and a released territory leaves the subscription."""

from __future__ import annotations

from django.db import transaction
from django.db.models.signals import post_save
from django.dispatch import receiver

from clozings.billing.models import BillingAccount
from clozings.billing.services import enqueue
from clozings.tenants.models import Seat
from clozings.tenants.signals import seat_deactivated
from clozings.territories.signals import reservation_released


def _has_subscription(brokerage_id: int) -> bool:
    return BillingAccount.objects.filter(brokerage_id=brokerage_id).exclude(
        stripe_subscription_id="").exists()


@receiver(post_save, sender=Seat, dispatch_uid="billing.seat_saved")
def seat_saved(sender, instance: Seat, **kwargs) -> None:
    if _has_subscription(instance.brokerage_id):
        brokerage_id = instance.brokerage_id
        transaction.on_commit(lambda: enqueue("billing.sync_seat_quantity", brokerage_id))


@receiver(seat_deactivated, dispatch_uid="billing.seat_deactivated")
def seat_left(sender, seat: Seat, **kwargs) -> None:
    seat_saved(sender, instance=seat)


@receiver(reservation_released, dispatch_uid="billing.reservation_released")
def remove_item_on_release(sender, reservation, **kwargs) -> None:
    item_id, brokerage_id = reservation.stripe_item_id, reservation.brokerage_id
    if item_id:
        transaction.on_commit(
            lambda: enqueue("billing.remove_reservation_item", item_id, brokerage_id))
