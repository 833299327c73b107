"""A brokerage's CRM (its own schema): leads, the touches logged on them, their tasks.

Agents are public-schema seats, named by id (`agent_id`, `by_id`): no foreign key across
schemas, so a brokerage's schema never blocks public-schema maintenance, and the CRM's
migrations depend on no public app's (a brokerage schema is migrated on its own).
"""

from __future__ import annotations

from django.db import models
from django.db.models import Q
from django.utils import timezone


class Channel(models.TextChoices):
    """How a cadence step reaches the lead: by the agent (a task on Today) or by the worker."""

    CALL = "call", "Call"
    TEXT = "text", "Text"
    EMAIL = "email", "Email"
    AUTO_EMAIL = "auto_email", "Automatic email"
    AUTO_TEXT = "auto_text", "Automatic text"


AUTOMATED_CHANNELS = (Channel.AUTO_EMAIL, Channel.AUTO_TEXT)


class Cadence(models.Model):
    """A brokerage's follow-up plan: steps at offsets from enrolment. Every brokerage starts
    with one default cadence (seeded by a data migration, so the template schema carries it)
    and a re-engagement cadence; an admin edits them or adds others."""

    class Purpose(models.TextChoices):
        FOLLOW_UP = "follow_up", "Follow-up of new leads"
        RE_ENGAGEMENT = "re_engagement", "Re-engagement of quiet leads"

    name = models.CharField(max_length=100)
    description = models.TextField(blank=True)
    purpose = models.CharField(max_length=20, choices=Purpose.choices,
                               default=Purpose.FOLLOW_UP)
    is_default = models.BooleanField(default=False)  # new routed leads are enrolled here
    archived_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(default=timezone.now)
    updated_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["-is_default", "name", "id"]
        constraints = [
            models.UniqueConstraint(fields=["is_default"], condition=Q(is_default=True),
                                    name="crm_cadence_one_default"),
        ]

    def __str__(self) -> str:
        return self.name


class CadenceStep(models.Model):
    """One step: `offset_minutes` after enrolment, on a channel, with a message or call
    script whose merge fields (the lead's name, area, price range, time since the last
    touch) are filled in when the step is shown or sent."""

    cadence = models.ForeignKey(Cadence, on_delete=models.CASCADE, related_name="steps")
    position = models.PositiveSmallIntegerField()
    offset_minutes = models.PositiveIntegerField()
    channel = models.CharField(max_length=10, choices=Channel.choices)
    title = models.CharField(max_length=200)
    subject = models.CharField(max_length=200, blank=True)  # emails
    template = models.TextField(blank=True)

    class Meta:
        ordering = ["cadence", "position"]
        constraints = [
            models.UniqueConstraint(fields=["cadence", "position"],
                                    name="crm_cadence_step_position"),
        ]

    def __str__(self) -> str:
        return f"{self.cadence_id}#{self.position} {self.channel}"

    @property
    def is_automated(self) -> bool:
        return self.channel in AUTOMATED_CHANNELS


class CadenceState(models.TextChoices):
    ACTIVE = "active", "Running"
    PAUSED = "paused", "Paused"
    FINISHED = "finished", "Finished"


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
    # Where it came from, for ROI: the public reservation it was routed through (no foreign
    # key across schemas) and what the lead cost the platform's source.
    reservation_id = models.BigIntegerField(null=True, blank=True)
    cost_cents = models.PositiveIntegerField(null=True, blank=True)
    routing_note = models.TextField(blank=True)  # "why you": from the routing log
    time_zone = models.CharField(max_length=64, blank=True)  # of the lead's ZIP
    # Follow-up: the cadence the lead is enrolled in, since when, and whether it runs.
    cadence = models.ForeignKey(Cadence, on_delete=models.SET_NULL, null=True, blank=True,
                                related_name="leads")
    cadence_started_at = models.DateTimeField(null=True, blank=True)
    cadence_run = models.PositiveIntegerField(default=0)  # +1 per enrolment
    cadence_state = models.CharField(max_length=10, choices=CadenceState.choices,
                                     blank=True)
    touch_count = models.PositiveIntegerField(default=0)  # calls, texts, emails, meetings
    last_touch_at = models.DateTimeField(null=True, blank=True)
    stage_changed_at = models.DateTimeField(default=timezone.now)
    lost_reason = models.CharField(max_length=200, blank=True)
    sale_price_cents = models.BigIntegerField(null=True, blank=True)
    commission_cents = models.BigIntegerField(null=True, blank=True)
    closed_at = models.DateTimeField(null=True, blank=True)
    # Contact rules: an opt-out stops every automated message until the lead opts back in.
    opted_out_at = models.DateTimeField(null=True, blank=True)
    opted_out_via = models.CharField(max_length=40, blank=True)
    # The private token in the lead's unsubscribe link (one-click List-Unsubscribe).
    unsubscribe_token = models.CharField(max_length=43, blank=True)

    class Meta:
        ordering = ["-last_inquiry_at", "-id"]
        indexes = [models.Index(fields=["agent_id", "-last_inquiry_at"],
                                name="crm_lead_agent"),
                   models.Index(fields=["stage", "created_at"], name="crm_lead_stage"),
                   models.Index(fields=["phone"], name="crm_lead_phone"),
                   models.Index(fields=["email"], name="crm_lead_email"),
                   # Today's "New leads", newest inquiry first (selectors_pages.today_for)
                   models.Index(fields=["agent_id", "-last_inquiry_at", "-id"],
                                condition=Q(stage="new", first_touch_at__isnull=True),
                                name="crm_lead_new_by_agent"),
                   # Today's counts: an agent's open leads (the stages of OPEN_STAGES),
                   # read from the index alone. The condition is spelled with OR, not IN:
                   # PostgreSQL prints an IN over varchar differently from how it parses it
                   # again, so a copied schema's index would not read as the migrated one's
                   # (tests/tenants/test_provisioning.py); queries with IN still use it.
                   models.Index(fields=["agent_id", "id"], include=["stage", "first_touch_at"],
                                condition=(Q(stage="new") | Q(stage="contacted")
                                           | Q(stage="appointment") | Q(stage="agreement")
                                           | Q(stage="under_contract")),
                                name="crm_lead_open_by_agent"),
                   # the reports' windows: leads that arrived, or closed, since a date
                   models.Index(fields=["created_at"], name="crm_lead_created"),
                   models.Index(fields=["agent_id", "created_at"],
                                name="crm_lead_agent_created"),
                   models.Index(fields=["closed_at"], name="crm_lead_closed",
                                condition=Q(closed_at__isnull=False))]

    def __str__(self) -> str:
        return f"lead {self.pk}"

    @property
    def name(self) -> str:
        return " ".join(part for part in (self.first_name, self.last_name) if part)

    @property
    def is_open(self) -> bool:
        return self.stage in self.OPEN_STAGES


class StageChange(models.Model):
    """Every stage change, timestamped (the funnel and the timeline read these)."""

    lead = models.ForeignKey(Lead, on_delete=models.CASCADE, related_name="stage_changes")
    from_stage = models.CharField(max_length=20, blank=True)
    to_stage = models.CharField(max_length=20)
    by_id = models.BigIntegerField(null=True, blank=True)  # the seat; None for the system
    reason = models.CharField(max_length=200, blank=True)  # why lost
    sale_price_cents = models.BigIntegerField(null=True, blank=True)
    commission_cents = models.BigIntegerField(null=True, blank=True)
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["-created_at", "-id"]
        indexes = [models.Index(fields=["to_stage", "created_at"],
                                name="crm_stage_change_to")]

    def __str__(self) -> str:
        return f"lead {self.lead_id}: {self.from_stage} -> {self.to_stage}"


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
    # Sent by the worker for a cadence step (an automatic email or text), not by a person.
    automated = models.BooleanField(default=False)
    # A message the lead sent us (a text or email reply through a channel webhook).
    inbound = models.BooleanField(default=False)
    subject = models.CharField(max_length=200, blank=True)
    body = models.TextField(blank=True)  # the message as sent or received
    task = models.ForeignKey("Task", on_delete=models.SET_NULL, null=True, blank=True,
                             related_name="activities")  # the step it carried out
    provider_id = models.CharField(max_length=64, blank=True)  # the SMS/mail provider's id
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["-created_at", "-id"]
        verbose_name_plural = "activities"
        indexes = [models.Index(fields=["lead", "-created_at"], name="crm_activity_lead"),
                   models.Index(fields=["created_at"], name="crm_activity_created")]

    def __str__(self) -> str:
        return f"{self.kind} on lead {self.lead_id}"


class Task(models.Model):
    """A lead's next step. An open lead has exactly one open task (a partial unique index):
    a step for the agent (call, text, email: on Today) or for the worker (an automatic email
    or text, sent in the lead's local window and then completed)."""

    lead = models.ForeignKey(Lead, on_delete=models.CASCADE, related_name="tasks")
    agent_id = models.BigIntegerField()
    title = models.CharField(max_length=200)
    channel = models.CharField(max_length=10, choices=Channel.choices, default=Channel.CALL)
    # The cadence step it carries out, in which enrolment (`Lead.cadence_run`): a step is
    # done at most once per enrolment.
    step = models.ForeignKey(CadenceStep, on_delete=models.SET_NULL, null=True, blank=True,
                             related_name="tasks")
    cadence_run = models.PositiveIntegerField(default=0)
    due_at = models.DateTimeField()
    created_at = models.DateTimeField(default=timezone.now)
    completed_at = models.DateTimeField(null=True, blank=True)
    # Automated steps held back by the contact rules: not before this, and why.
    not_before = models.DateTimeField(null=True, blank=True)
    hold_reason = models.CharField(max_length=200, blank=True)
    attempts = models.PositiveSmallIntegerField(default=0)
    # Done without being carried out (opted out, no consent, cadence ended): why.
    skipped_reason = models.CharField(max_length=200, blank=True)
    # Overdue reminders: the agent's, then (past the brokerage's threshold) the admins'.
    reminded_at = models.DateTimeField(null=True, blank=True)
    escalated_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["due_at", "id"]
        constraints = [
            # an open lead has exactly one open next task
            models.UniqueConstraint(fields=["lead"], condition=Q(completed_at__isnull=True),
                                    name="crm_task_one_open_per_lead"),
            # a cadence step is carried out once per enrolment, however often retried
            models.UniqueConstraint(fields=["lead", "step", "cadence_run"],
                                    condition=Q(step__isnull=False),
                                    name="crm_task_step_once_per_run"),
        ]
        indexes = [models.Index(fields=["agent_id", "due_at"],
                                condition=Q(completed_at__isnull=True),
                                name="crm_task_open_by_agent"),
                   # Today: an agent's open personal tasks (call, text, email) in due
                   # order, with the lead's id for the join, read from the index alone
                   # (OR, not IN: see crm_lead_open_by_agent)
                   models.Index(fields=["agent_id", "due_at", "id"], include=["lead"],
                                condition=Q(completed_at__isnull=True)
                                & (Q(channel="call") | Q(channel="text") | Q(channel="email")),
                                name="crm_task_personal_open"),
                   # the automated-step sender: open steps by channel and due time
                   models.Index(fields=["channel", "due_at"],
                                condition=Q(completed_at__isnull=True),
                                name="crm_task_open_by_channel"),
                   # the admin's home: the agents' overdue tasks (the worker's steps aside;
                   # spelled as reports._nudge_rows asks, so that PostgreSQL matches them)
                   models.Index(fields=["due_at"], include=["agent_id"],
                                condition=Q(completed_at__isnull=True)
                                & ~Q(channel=Channel.AUTO_EMAIL) & ~Q(channel=Channel.AUTO_TEXT),
                                name="crm_task_overdue")]

    def __str__(self) -> str:
        return f"task {self.pk} on lead {self.lead_id}"

    @property
    def is_automated(self) -> bool:
        return self.channel in AUTOMATED_CHANNELS


class ConsentEvent(models.Model):
    """The lead's consent record, append-only (kept 5 years): consent given at intake or on
    an opt-in form, revoked (STOP, unsubscribe, an agent's note), given again (START)."""

    class Kind(models.TextChoices):
        GIVEN = "given", "Consent given"
        REVOKED = "revoked", "Opted out"
        RESTORED = "restored", "Opted back in"

    lead = models.ForeignKey(Lead, on_delete=models.CASCADE, related_name="consent_events")
    kind = models.CharField(max_length=10, choices=Kind.choices)
    via = models.CharField(max_length=40)  # intake, text_reply, email_unsubscribe, agent...
    channels = models.JSONField(default=list, blank=True)  # call, text, email
    evidence = models.JSONField(default=dict, blank=True)  # wording, time, IP, page, cert
    by_id = models.BigIntegerField(null=True, blank=True)
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["-created_at", "-id"]

    def __str__(self) -> str:
        return f"{self.kind} for lead {self.lead_id}"


class DoNotContact(models.Model):
    """The brokerage's permanent internal do-not-contact list: a phone (E.164) or an email
    (lower case) that no automated message ever goes to."""

    phone = models.CharField(max_length=20, blank=True)
    email = models.EmailField(max_length=254, blank=True)
    reason = models.CharField(max_length=200, blank=True)
    added_by_id = models.BigIntegerField(null=True, blank=True)
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["-created_at", "-id"]
        constraints = [
            models.UniqueConstraint(fields=["phone"], condition=~Q(phone=""),
                                    name="crm_dnc_phone_once"),
            models.UniqueConstraint(fields=["email"], condition=~Q(email=""),
                                    name="crm_dnc_email_once"),
            models.CheckConstraint(condition=~Q(phone="", email=""),
                                   name="crm_dnc_phone_or_email"),
        ]

    def __str__(self) -> str:
        return self.phone or self.email


class StateContactRule(models.Model):
    """A brokerage's own setting for one state's calling/texting window, overriding the
    platform's defaults (crm.contact_rules, each with its source) where stricter."""

    state = models.CharField(max_length=2, unique=True)
    start = models.TimeField()
    end = models.TimeField()
    sunday_start = models.TimeField(null=True, blank=True)  # None: same as weekdays
    sunday_end = models.TimeField(null=True, blank=True)
    no_sundays = models.BooleanField(default=False)
    no_holidays = models.BooleanField(default=False)
    max_per_24h = models.PositiveSmallIntegerField(default=3)
    source = models.TextField(blank=True)  # where the rule comes from
    updated_at = models.DateTimeField(default=timezone.now)
    updated_by_id = models.BigIntegerField(null=True, blank=True)

    class Meta:
        ordering = ["state"]

    def __str__(self) -> str:
        return f"{self.state} {self.start}-{self.end}"


class ImportJob(models.Model):
    """A CSV of the agent's own leads: the column mapping, then a per-row report of what was
    imported and why a row was not, with progress while the worker goes through it."""

    class Status(models.TextChoices):
        MAPPING = "mapping", "Waiting for the column mapping"
        QUEUED = "queued", "Queued"
        RUNNING = "running", "Importing"
        DONE = "done", "Done"
        FAILED = "failed", "Failed"

    agent_id = models.BigIntegerField()  # whose leads they become
    by_id = models.BigIntegerField()  # who uploaded
    filename = models.CharField(max_length=200, blank=True)
    content = models.TextField()  # decoded to text at upload
    mapping = models.JSONField(default=dict, blank=True)  # lead field -> column header
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.MAPPING)
    total_rows = models.PositiveIntegerField(default=0)
    processed_rows = models.PositiveIntegerField(default=0)
    imported_rows = models.PositiveIntegerField(default=0)
    report = models.JSONField(default=list, blank=True)  # [{row, status, reasons, lead_id}]
    created_at = models.DateTimeField(default=timezone.now)
    started_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at", "-id"]

    def __str__(self) -> str:
        return f"import {self.pk} ({self.status})"


class LeadText(models.Model):
    """A text to a lead that must go out (an automated cadence step, an opt-out
    confirmation): the brokerage's own outbox, so a lead's number and words never leave its
    schema. Written in the transaction that decided to send it, sent by a task after commit
    and by the brokerage's automated-follow-up run when that task was lost or the send
    failed; sending holds the row's lock, so two workers never both send one text."""

    class Kind(models.TextChoices):
        STEP = "step", "Cadence step"
        OPT_OUT_CONFIRMATION = "opt_out", "Opt-out confirmation"
        OPT_IN_CONFIRMATION = "opt_in", "Opt-in confirmation"

    lead = models.ForeignKey(Lead, on_delete=models.CASCADE, related_name="texts")
    activity = models.OneToOneField(Activity, on_delete=models.SET_NULL, null=True,
                                    blank=True, related_name="text")
    kind = models.CharField(max_length=10, choices=Kind.choices)
    to = models.CharField(max_length=20)  # E.164
    body = models.TextField()
    created_at = models.DateTimeField(default=timezone.now)
    attempts = models.PositiveSmallIntegerField(default=0)
    last_error = models.TextField(blank=True)
    last_attempt_at = models.DateTimeField(null=True, blank=True)
    # NULL once sent, cancelled (the lead opted out first) or given up.
    next_attempt_at = models.DateTimeField(null=True, blank=True)
    sent_at = models.DateTimeField(null=True, blank=True)
    cancelled_reason = models.CharField(max_length=200, blank=True)
    provider_id = models.CharField(max_length=64, blank=True)

    class Meta:
        ordering = ["created_at", "id"]
        indexes = [models.Index(fields=["next_attempt_at"], name="crm_lead_text_due",
                                condition=Q(next_attempt_at__isnull=False))]

    def __str__(self) -> str:
        return f"{self.kind} text to lead {self.lead_id}"
