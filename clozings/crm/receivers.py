"""What the CRM does when other apps announce events."""

from __future__ import annotations

from django.dispatch import receiver

from clozings.crm.services import hand_over_leads
from clozings.platform.tenancy import in_schema
from clozings.tenants.signals import seat_deactivated


@receiver(seat_deactivated, dispatch_uid="crm.seat_deactivated")
def seat_left(sender, seat, reassign_to=None, **kwargs) -> None:
    """A deactivated agent's open leads go to the seat named to take them over, inside the
    deactivation's transaction (their brokerage's schema)."""
    if reassign_to is None:
        return
    with in_schema(seat.brokerage.schema_name):
        hand_over_leads(from_agent_id=seat.pk, to_agent=reassign_to)
