"""Kernel tasks: the mail outbox."""

from __future__ import annotations

from celery import shared_task

from clozings.platform import mail


@shared_task(name="platform.send_mail", acks_late=True, time_limit=60, soft_time_limit=50,
             ignore_result=True)
def send_mail_task(mail_id: int) -> None:
    """Send one queued mail now; a failure is recorded on the row and the sweeper retries."""
    mail.send_queued_mail(mail_id=mail_id)


@shared_task(name="platform.sweep_outbox", acks_late=True, time_limit=90, soft_time_limit=60,
             ignore_result=True)
def sweep_outbox() -> int:
    return mail.send_due_mail()
