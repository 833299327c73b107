"""Stripe customers, subscriptions and the webhook ledger (public schema)."""

from __future__ import annotations

import uuid

from django.db import models
from django.utils import timezone

from clozings.tenants.models import Brokerage


class BillingAccount(models.Model):
    """A brokerage's Stripe customer, its one subscription and the card on file."""

    class Status(models.TextChoices):
        NEW = "new", "No subscription yet"
        ACTIVE = "active", "Active"
        PAST_DUE = "past_due", "Past due"
        CANCELED = "canceled", "Canceled"

    brokerage = models.OneToOneField(Brokerage, on_delete=models.CASCADE,
                                     related_name="billing_account")
    # Every idempotency key of this account starts with this, so keys never collide with
    # another account's (or with a previous database's) in Stripe's 24-hour key store.
    key_prefix = models.UUIDField(default=uuid.uuid4, editable=False)
    stripe_customer_id = models.CharField(max_length=64, blank=True, db_index=True)
    stripe_subscription_id = models.CharField(max_length=64, blank=True)
    seats_item_id = models.CharField(max_length=64, blank=True)
    seats_quantity = models.PositiveIntegerField(default=0)
    # Bumped by each seats write that Stripe answered: part of the next write's
    # idempotency key, so a retry repeats its request and a later change is a new one.
    seats_version = models.PositiveIntegerField(default=0)
    # A seat sync in progress holds this lease (compare-and-set, no row lock during the
    # Stripe call); a worker that dies lets it lapse and the sweeper takes over.
    seats_claimed_until = models.DateTimeField(null=True, blank=True)
    default_payment_method_id = models.CharField(max_length=64, blank=True)
    card_brand = models.CharField(max_length=20, blank=True)
    card_last4 = models.CharField(max_length=4, blank=True)
    card_exp_month = models.PositiveSmallIntegerField(null=True, blank=True)
    card_exp_year = models.PositiveSmallIntegerField(null=True, blank=True)
    status = models.CharField(max_length=12, choices=Status.choices, default=Status.NEW)
    current_period_end = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(default=timezone.now)
    updated_at = models.DateTimeField(auto_now=True)

    def __str__(self) -> str:
        return f"billing of {self.brokerage_id} ({self.status})"

    @property
    def has_card(self) -> bool:
        return bool(self.default_payment_method_id)

    def idempotency_key(self, *parts: object) -> str:
        return ":".join([str(self.key_prefix), *(str(part) for part in parts)])


class WebhookEvent(models.Model):
    """Each Stripe event, stored once by its id; a task processes it."""

    stripe_event_id = models.CharField(max_length=255, unique=True)
    type = models.CharField(max_length=100)
    payload = models.JSONField()
    received_at = models.DateTimeField(default=timezone.now)
    processed_at = models.DateTimeField(null=True, blank=True)
    attempts = models.PositiveIntegerField(default=0)
    error = models.TextField(blank=True)
    # Last time a task was sent for it; the sweeper sends another when nothing came of it.
    enqueued_at = models.DateTimeField(null=True, blank=True)
    # Validly signed but unusable (a NUL, too deep): kept as sent for staff, never processed.
    rejected = models.BooleanField(default=False)
    raw_body = models.BinaryField(null=True, blank=True)

    class Meta:
        indexes = [models.Index(fields=["processed_at", "received_at"])]

    def __str__(self) -> str:
        return f"{self.type} {self.stripe_event_id}"


class ItemRemoval(models.Model):
    """A released territory's Stripe item, to be taken off the subscription. Recorded in
    the release's transaction, so a lost task is finished by the sweeper."""

    brokerage = models.ForeignKey(Brokerage, on_delete=models.CASCADE,
                                  related_name="item_removals")
    stripe_item_id = models.CharField(max_length=255, unique=True)
    created_at = models.DateTimeField(default=timezone.now)
    done_at = models.DateTimeField(null=True, blank=True)
    claimed_until = models.DateTimeField(null=True, blank=True)
    attempts = models.PositiveIntegerField(default=0)
    error = models.TextField(blank=True)

    class Meta:
        indexes = [models.Index(fields=["done_at", "created_at"],
                                name="item_removal_pending")]

    def __str__(self) -> str:
        return f"removal of {self.stripe_item_id} ({'done' if self.done_at else 'pending'})"
