"""Kernel tasks: the mail outbox."""

from __future__ import annotations

from celery import shared_task

from clozings.platform import mail
from clozings.platform.tenancy import enqueue_now


@shared_task(name="platform.send_mail", acks_late=True, time_limit=60, soft_time_limit=50,
             ignore_result=True)
def send_mail_task(mail_id: int) -> None:
    """Send one queued mail now; a failure is recorded on the row and the sweeper retries."""
    mail.send_queued_mail(mail_id=mail_id)


@shared_task(name="platform.send_mails", acks_late=True, time_limit=60, soft_time_limit=50,
             ignore_result=True)
def send_mails_task(mail_ids: list[int]) -> None:
    """Send queued mails now (those of one batch, `mail.sent_together`); what is left when
    the time is up goes on in a task of its own; a failure is recorded on its row and the
    sweeper retries."""
    left = mail.send_queued_mails(mail_ids=mail_ids)
    if left:
        enqueue_now(send_mails_task, left)


@shared_task(name="platform.sweep_outbox", acks_late=True, time_limit=90, soft_time_limit=60,
             ignore_result=True)
def sweep_outbox() -> int:
    return mail.send_due_mail()
