"""What billing does when other apps announce events: the seats item follows the
number of active seats, and a released territory leaves the subscription.

A seat's deactivation is one post_save with "status" among its fields: the seat sync is
queued from here only (the seat_deactivated signal is left to territories and crm)."""

from __future__ import annotations

from django.db.models.signals import post_save
from django.dispatch import receiver

from clozings.billing import tasks
from clozings.billing.models import BillingAccount
from clozings.billing.services import record_item_removal
from clozings.platform.tenancy import enqueue_on_commit
from clozings.tenants.models import Seat
from clozings.territories.signals import reservation_released


def _has_subscription(brokerage_id: int) -> bool:
    return BillingAccount.objects.filter(brokerage_id=brokerage_id).exclude(
        stripe_subscription_id="").exists()


@receiver(post_save, sender=Seat, dispatch_uid="billing.seat_saved")
def seat_saved(sender, instance: Seat, created: bool = False, update_fields=None,
               **kwargs) -> None:
    if created and instance.status != Seat.Status.ACTIVE:
        return  # an invitation: nobody is billed for it until it is accepted
    if not created and update_fields is not None and "status" not in update_fields:
        return  # a role or a name changed: the number of active seats did not
    if _has_subscription(instance.brokerage_id):
        enqueue_on_commit(tasks.sync_seat_quantity, instance.brokerage_id)


@receiver(reservation_released, dispatch_uid="billing.reservation_released")
def remove_item_on_release(sender, reservation, **kwargs) -> None:
    """Sent inside the release's transaction: the removal is recorded with it, then
    queued after commit (the sweeper finishes it if the task is lost)."""
    item_id, brokerage_id = reservation.stripe_item_id, reservation.brokerage_id
    if record_item_removal(stripe_item_id=item_id, brokerage_id=brokerage_id):
        enqueue_on_commit(tasks.remove_reservation_item, item_id, brokerage_id)
