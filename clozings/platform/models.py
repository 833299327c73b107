"""Kernel tables in the public schema. Kernel rule: nothing here imports an app."""

from __future__ import annotations

from django.db import models
from django.db.models import Q


class OutboundMail(models.Model):
    """A mail that must go out. Written in the caller's transaction, sent by a task after
    commit, and re-sent by the outbox sweeper when the task never ran or the send failed,
    so a broker or mail-server outage delays a mail but never loses it."""

    to = models.EmailField(max_length=254)
    subject = models.CharField(max_length=255)
    text = models.TextField()
    html = models.TextField(blank=True)
    headers = models.JSONField(default=dict, blank=True)
    # What the mail is about, e.g. kind "tenants.invitation" with the seat's id as ref.
    kind = models.CharField(max_length=60)
    ref = models.CharField(max_length=60, blank=True)
    # A mail to a brokerage's contact: wiped (address, subject, body, headers) once sent or
    # given up, so the contact's details stay only in the brokerage's schema.
    private = models.BooleanField(default=False, db_default=False)
    created_at = models.DateTimeField(auto_now_add=True)
    attempts = models.PositiveIntegerField(default=0)
    last_error = models.TextField(blank=True)
    last_attempt_at = models.DateTimeField(null=True, blank=True)
    # NULL once sent, or once given up after the last attempt.
    next_attempt_at = models.DateTimeField(null=True, blank=True)
    sent_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        indexes = [
            # The sweeper's scan: only mail still to send is in it.
            models.Index(fields=["next_attempt_at"], name="platform_mail_due",
                         condition=Q(next_attempt_at__isnull=False)),
            models.Index(fields=["kind", "ref"], name="platform_mail_kind_ref"),
        ]

    def __str__(self) -> str:
        return f"{self.kind} to {self.to}"

    @property
    def state(self) -> str:
        """sent, queued (not tried yet, or tried and due again), failing, or failed
        (given up)."""
        if self.sent_at is not None:
            return "sent"
        if self.next_attempt_at is None:
            return "failed"
        return "failing" if self.attempts else "queued"
