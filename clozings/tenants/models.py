"""The tenant (Brokerage), its domain, people and their seats. All in the public schema."""

from __future__ import annotations

import zoneinfo

from django.contrib.auth.models import AbstractBaseUser, BaseUserManager, PermissionsMixin
from django.core.exceptions import ValidationError
from django.db import models
from django.db.models.functions import Lower
from django.utils import timezone
from django_tenants.models import DomainMixin, TenantMixin

TIME_ZONE_CHOICES = sorted(
    (name, name) for name in zoneinfo.available_timezones() if "/" in name
    and not name.startswith(("Etc/", "SystemV/"))
)


def validate_time_zone(value: str) -> None:
    if value not in zoneinfo.available_timezones():
        raise ValidationError(f"'{value}' is not a known time zone.")


class UserManager(BaseUserManager):
    use_in_migrations = True

    def _create_user(self, email: str, password: str | None, **fields) -> User:
        if not email:
            raise ValueError("An email address is required.")
        user = self.model(email=self.normalize_email(email).lower(), **fields)
        user.set_password(password)
        user.save(using=self._db)
        return user

    def create_user(self, email: str, password: str | None = None, **fields) -> User:
        fields.setdefault("is_staff", False)
        fields.setdefault("is_superuser", False)
        return self._create_user(email, password, **fields)

    def create_superuser(self, email: str, password: str | None = None, **fields) -> User:
        fields["is_staff"] = True
        fields["is_superuser"] = True
        return self._create_user(email, password, **fields)

    def get_by_natural_key(self, username: str) -> User:
        return self.get(email__iexact=username)


class User(AbstractBaseUser, PermissionsMixin):
    """One global account per person; the email is the login. `is_staff` is platform staff."""

    email = models.EmailField(max_length=254, unique=True)  # stored lower-case (save())
    name = models.CharField(max_length=150, blank=True)
    time_zone = models.CharField(max_length=64, default="America/New_York",
                                 validators=[validate_time_zone])
    is_staff = models.BooleanField(default=False)
    is_active = models.BooleanField(default=True)
    date_joined = models.DateTimeField(default=timezone.now)

    objects = UserManager()

    USERNAME_FIELD = "email"
    EMAIL_FIELD = "email"
    REQUIRED_FIELDS: list[str] = []

    def __str__(self) -> str:
        return self.email

    def save(self, *args, **kwargs) -> None:
        self.email = self.email.strip().lower()
        super().save(*args, **kwargs)

    def get_full_name(self) -> str:
        return self.name or self.email

    def get_short_name(self) -> str:
        return (self.name or self.email).split()[0]


class Brokerage(TenantMixin):
    """A brokerage: one PostgreSQL schema (its CRM) and a host `<slug>.<platform domain>`."""

    name = models.CharField(max_length=120)
    slug = models.SlugField(max_length=40, unique=True)
    time_zone = models.CharField(max_length=64, default="America/New_York",
                                 validators=[validate_time_zone])
    created_at = models.DateTimeField(default=timezone.now)
    # First-touch SLA: a delivered lead nobody touched within this many minutes is re-routed
    # (shared ZIP) or its agent and the admins alerted (exclusive ZIP).
    first_touch_sla_minutes = models.PositiveSmallIntegerField(default=5, db_default=5)
    # Follow-up: an overdue task reminds its agent at once and, after this many hours, the
    # admins. The postal address goes at the foot of every automated email (CAN-SPAM).
    overdue_escalation_hours = models.PositiveSmallIntegerField(default=24, db_default=24)
    postal_address = models.CharField(max_length=300, blank=True, default="", db_default="")
    # The earliest moment an automated follow-up step or lead text in this brokerage's
    # schema may be due (NULL: none): the sender's sweeper reads this public column instead
    # of looking into every schema. Lowered when such work is written, recomputed after
    # each run (crm.messaging).
    next_automated_due_at = models.DateTimeField(null=True, blank=True)
    # The same for overdue-task reminders and escalations (crm.reminders).
    next_reminder_due_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        indexes = [models.Index(fields=["next_automated_due_at"],
                                name="brokerage_automated_due",
                                condition=models.Q(next_automated_due_at__isnull=False)),
                   models.Index(fields=["next_reminder_due_at"],
                                name="brokerage_reminder_due",
                                condition=models.Q(next_reminder_due_at__isnull=False))]

    # Schemas are provisioned by tenants.services.provision_brokerage, not on save().
    auto_create_schema = False
    auto_drop_schema = False

    def __str__(self) -> str:
        return self.name


class Domain(DomainMixin):
    pass


class Seat(models.Model):
    """A person's place in a brokerage (a membership), with a role and a status.

    An invited seat has an email and no user yet; accepting the invitation links the user.
    Deactivating keeps the row and everything the agent did.
    """

    class Role(models.TextChoices):
        AGENT = "agent", "Agent"
        ADMIN = "admin", "Admin"

    class Status(models.TextChoices):
        INVITED = "invited", "Invited"
        ACTIVE = "active", "Active"
        DEACTIVATED = "deactivated", "Deactivated"

    brokerage = models.ForeignKey(Brokerage, on_delete=models.CASCADE, related_name="seats")
    user = models.ForeignKey(User, on_delete=models.PROTECT, null=True, blank=True,
                             related_name="seats")
    email = models.EmailField(max_length=254)
    name = models.CharField(max_length=150, blank=True)
    role = models.CharField(max_length=10, choices=Role.choices, default=Role.AGENT)
    status = models.CharField(max_length=12, choices=Status.choices, default=Status.INVITED)
    invited_by = models.ForeignKey(User, on_delete=models.SET_NULL, null=True, blank=True,
                                   related_name="+")
    # Bumped on every (re-)invitation, so an older link stops working.
    invite_nonce = models.PositiveIntegerField(default=0)
    invited_at = models.DateTimeField(default=timezone.now)
    activated_at = models.DateTimeField(null=True, blank=True)
    deactivated_at = models.DateTimeField(null=True, blank=True)
    # Lead routing: no leads from paused_from to paused_until (an open end pauses until
    # further notice), and at most daily_cap / monthly_cap leads (None: no cap).
    paused_from = models.DateTimeField(null=True, blank=True)
    paused_until = models.DateTimeField(null=True, blank=True)
    daily_cap = models.PositiveIntegerField(null=True, blank=True)
    monthly_cap = models.PositiveIntegerField(null=True, blank=True)
    # Where new leads are texted (E.164; blank: mail only).
    phone = models.CharField(max_length=20, blank=True, default="", db_default="")
    # The daily digest of today's follow-ups goes out at this hour of the agent's own time
    # zone (None: no digest).
    digest_hour = models.PositiveSmallIntegerField(null=True, blank=True, default=7,
                                                   db_default=7)
    digest_sent_on = models.DateField(null=True, blank=True)  # the agent's local date
    # The private calendar link (iCalendar feed of open tasks): only its SHA-256 is kept.
    calendar_token_hash = models.CharField(max_length=64, blank=True, default="",
                                           db_default="")

    class Meta:
        constraints = [
            models.UniqueConstraint(Lower("email"), "brokerage", name="seat_email_unique_ci"),
            models.UniqueConstraint(fields=["brokerage", "user"], name="seat_user_unique"),
        ]
        indexes = [models.Index(fields=["user", "status"])]

    def __str__(self) -> str:
        return f"{self.email} @ {self.brokerage_id} ({self.role}, {self.status})"

    @property
    def is_admin(self) -> bool:
        return self.role == self.Role.ADMIN

    def is_paused_at(self, moment) -> bool:
        if self.paused_from is None and self.paused_until is None:
            return False
        started = self.paused_from is None or self.paused_from <= moment
        ended = self.paused_until is not None and self.paused_until <= moment
        return started and not ended


class PendingSignup(models.Model):
    """A sign-up waiting for its email to be confirmed: no brokerage, schema or account yet.

    The password is kept hashed; the slug is not reserved (it is checked again when the
    link is followed). The row is deleted when the link is used, and rows older than the
    link's lifetime are deleted by later sign-ups.
    """

    email = models.EmailField(max_length=254)
    brokerage_name = models.CharField(max_length=120)
    slug = models.CharField(max_length=40)
    admin_name = models.CharField(max_length=150)
    password_hash = models.CharField(max_length=256)
    time_zone = models.CharField(max_length=64, validators=[validate_time_zone])
    created_at = models.DateTimeField(default=timezone.now, db_index=True)

    def __str__(self) -> str:
        return f"{self.slug} for {self.email} (pending)"


class ApiToken(models.Model):
    """One API token given at sign-in (clozings.platform.auth): the token is signed and
    names this row, and deleting the row revokes it."""

    user = models.ForeignKey(User, on_delete=models.CASCADE, related_name="api_tokens")
    created_at = models.DateTimeField(default=timezone.now)

    def __str__(self) -> str:
        return f"API token {self.pk} of {self.user_id}"
