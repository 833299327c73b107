"""Thin Celery wrappers around tenants services."""

from celery import shared_task

from clozings.tenants import services


@shared_task(name="tenants.send_invitation", acks_late=True, time_limit=60, soft_time_limit=50)
def send_invitation_task(seat_id: int) -> None:
    """Invitations now go through the mail outbox; this drains messages queued under this
    name before it, by queueing their mail there."""
    services.send_invitation(seat_id=seat_id)


@shared_task(name="tenants.send_brokerage_list", acks_late=True, time_limit=60,
             soft_time_limit=50)
def send_brokerage_list_task(email: str) -> None:
    """The account look-up runs here, not in the request, so the answer's timing tells
    nothing; the mail itself goes through the outbox."""
    services.send_brokerage_list(email=email)
