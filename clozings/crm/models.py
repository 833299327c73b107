"""A brokerage's CRM (its own schema): leads, the touches logged on them, their tasks.

Agents are public-schema seats, named by id (`agent_id`, `by_id`): no foreign key across
schemas, so a brokerage's schema never blocks public-schema maintenance, and the CRM's
migrations depend on no public app's (a brokerage schema is migrated on its own).
"""

from __future__ import annotations

from django.db import models
from django.db.models import Q
from django.utils import timezone


class Lead(models.Model):
    class Stage(models.TextChoices):
        NEW = "new", "New"
        CONTACTED = "contacted", "Contacted"
        APPOINTMENT = "appointment", "Appointment"
        AGREEMENT = "agreement", "Agreement signed"
        UNDER_CONTRACT = "under_contract", "Under contract"
        CLOSED = "closed", "Closed"
        LOST = "lost", "Lost"
        # Taken away after the first-touch SLA passed untouched; the lead went to another
        # agent (in another brokerage, or this lead itself moved to another agent here).
        REASSIGNED = "reassigned", "Reassigned"

    OPEN_STAGES = (Stage.NEW, Stage.CONTACTED, Stage.APPOINTMENT, Stage.AGREEMENT,
                   Stage.UNDER_CONTRACT)

    # The public ledger's inbound lead this came from: delivered exactly once.
    inbound_lead_id = models.BigIntegerField(null=True, blank=True, unique=True)
    agent_id = models.BigIntegerField()  # the seat the lead is assigned to
    first_name = models.CharField(max_length=100, blank=True)
    last_name = models.CharField(max_length=100, blank=True)
    email = models.EmailField(max_length=254, blank=True)
    phone = models.CharField(max_length=20, blank=True)
    zip_code = models.CharField(max_length=5, blank=True)
    intent = models.CharField(max_length=4, blank=True)
    price_min_cents = models.BigIntegerField(null=True, blank=True)
    price_max_cents = models.BigIntegerField(null=True, blank=True)
    timeframe = models.CharField(max_length=100, blank=True)
    message = models.TextField(blank=True)
    source_name = models.CharField(max_length=120, blank=True)
    campaign = models.CharField(max_length=200, blank=True)
    consent = models.JSONField(null=True, blank=True)
    stage = models.CharField(max_length=20, choices=Stage.choices, default=Stage.NEW)
    created_at = models.DateTimeField(default=timezone.now)
    last_inquiry_at = models.DateTimeField(default=timezone.now)
    first_touch_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-last_inquiry_at", "-id"]
        indexes = [models.Index(fields=["agent_id", "-last_inquiry_at"],
                                name="crm_lead_agent")]

    def __str__(self) -> str:
        return f"lead {self.pk}"

    @property
    def name(self) -> str:
        return " ".join(part for part in (self.first_name, self.last_name) if part)


class Activity(models.Model):
    """Something that happened on a lead: a touch an agent logged, or a new inquiry."""

    class Kind(models.TextChoices):
        CALL = "call", "Call"
        TEXT = "text", "Text"
        EMAIL = "email", "Email"
        MEETING = "meeting", "Meeting"
        NOTE = "note", "Note"
        INQUIRY = "inquiry", "New inquiry"

    # Kinds that are a person reaching the lead (they stop the first-touch clock).
    TOUCHES = (Kind.CALL, Kind.TEXT, Kind.EMAIL, Kind.MEETING)

    class Outcome(models.TextChoices):
        CONNECTED = "connected", "Connected"
        VOICEMAIL = "voicemail", "Left a voicemail"
        NO_ANSWER = "no_answer", "No answer"
        REPLIED = "replied", "Replied"
        BAD_NUMBER = "bad_number", "Bad number"

    lead = models.ForeignKey(Lead, on_delete=models.CASCADE, related_name="activities")
    kind = models.CharField(max_length=10, choices=Kind.choices)
    outcome = models.CharField(max_length=12, choices=Outcome.choices, blank=True)
    note = models.TextField(blank=True)
    by_id = models.BigIntegerField(null=True, blank=True)  # the seat that logged it
    # For an inquiry: the inbound lead it came with (recorded once, however often retried).
    inbound_lead_id = models.BigIntegerField(null=True, blank=True, unique=True)
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["-created_at", "-id"]
        verbose_name_plural = "activities"

    def __str__(self) -> str:
        return f"{self.kind} on lead {self.lead_id}"


class Task(models.Model):
    lead = models.ForeignKey(Lead, on_delete=models.CASCADE, related_name="tasks")
    agent_id = models.BigIntegerField()
    title = models.CharField(max_length=200)
    due_at = models.DateTimeField()
    created_at = models.DateTimeField(default=timezone.now)
    completed_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["due_at", "id"]
        constraints = [
            # an open lead has exactly one open next task
            models.UniqueConstraint(fields=["lead"], condition=Q(completed_at__isnull=True),
                                    name="crm_task_one_open_per_lead"),
        ]
        indexes = [models.Index(fields=["agent_id", "due_at"],
                                condition=Q(completed_at__isnull=True),
                                name="crm_task_open_by_agent")]

    def __str__(self) -> str:
        return f"task {self.pk} on lead {self.lead_id}"
