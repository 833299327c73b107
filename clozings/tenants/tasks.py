"""Thin Celery wrappers around tenants services."""

import smtplib

from celery import shared_task

from clozings.tenants import services


@shared_task(name="tenants.send_invitation", acks_late=True, time_limit=60, soft_time_limit=50,
             autoretry_for=(smtplib.SMTPException, OSError), retry_backoff=30,
             retry_backoff_max=3600, max_retries=12)
def send_invitation_task(seat_id: int) -> None:
    services.send_invitation(seat_id=seat_id)


@shared_task(name="tenants.send_signup_confirmation", acks_late=True, time_limit=60,
             soft_time_limit=50, autoretry_for=(smtplib.SMTPException, OSError),
             retry_backoff=30, retry_backoff_max=3600, max_retries=12)
def send_signup_confirmation_task(signup_id: int) -> None:
    services.send_signup_confirmation(signup_id=signup_id)


@shared_task(name="tenants.send_brokerage_list", acks_late=True, time_limit=60,
             soft_time_limit=50, autoretry_for=(smtplib.SMTPException, OSError),
             retry_backoff=30, retry_backoff_max=3600, max_retries=12)
def send_brokerage_list_task(email: str) -> None:
    services.send_brokerage_list(email=email)
