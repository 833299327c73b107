"""Forms of the tenants pages. They check the shape of input; services check the rules."""

from __future__ import annotations

from django import forms
from django.contrib.auth import forms as auth_forms
from django.core.exceptions import ValidationError
from django.template.loader import render_to_string

from clozings.platform.errors import DomainError
from clozings.platform.mail import queue_mail
from clozings.tenants.models import TIME_ZONE_CHOICES, Seat
from clozings.tenants.validators import validate_name_characters

# The zones most brokerages pick, offered first; every other zone follows.
COMMON_TIME_ZONES = [
    ("America/New_York", "Eastern (New York)"),
    ("America/Chicago", "Central (Chicago)"),
    ("America/Denver", "Mountain (Denver)"),
    ("America/Phoenix", "Arizona (Phoenix)"),
    ("America/Los_Angeles", "Pacific (Los Angeles)"),
    ("America/Anchorage", "Alaska (Anchorage)"),
    ("Pacific/Honolulu", "Hawaii (Honolulu)"),
]
COMMON_ZONE_NAMES = {name for name, _ in COMMON_TIME_ZONES}
TIME_ZONE_GROUPS = [
    ("United States", COMMON_TIME_ZONES),
    ("All time zones",
     [(name, label) for name, label in TIME_ZONE_CHOICES if name not in COMMON_ZONE_NAMES]),
]


def apply_service_error(form: forms.Form, exc: Exception, field_map: dict | None = None) -> None:
    """Put a service's refusal on the form, beside the field it concerns.

    Services raise ValidationError({"field": [...]}) or a DomainError (Conflict, ...); their
    field names may differ from the form's (`admin_email` -> `email`), hence field_map.
    """
    field_map = field_map or {}
    if isinstance(exc, ValidationError) and hasattr(exc, "error_dict"):
        for key, messages in exc.message_dict.items():
            field = field_map.get(key, key)
            form.add_error(field if field in form.fields else None, messages)
    elif isinstance(exc, ValidationError):
        form.add_error(None, exc.messages)
    elif isinstance(exc, DomainError):
        field = field_map.get(exc.code)
        form.add_error(field if field in form.fields else None, exc.message)
    else:
        raise exc


class SignupForm(forms.Form):
    brokerage_name = forms.CharField(
        label="Brokerage name", max_length=120, validators=[validate_name_characters],
        widget=forms.TextInput(attrs={"autocomplete": "organization"}))
    slug = forms.CharField(
        label="Web address", max_length=40,
        help_text="Lower-case letters, digits and hyphens.",
        widget=forms.TextInput(attrs={
            "autocapitalize": "none", "autocorrect": "off", "spellcheck": "false",
            "inputmode": "url"}))
    name = forms.CharField(
        label="Your name", max_length=150, validators=[validate_name_characters],
        widget=forms.TextInput(attrs={"autocomplete": "name"}))
    email = forms.EmailField(
        label="Your email", max_length=254,
        help_text="We email you a link to confirm it before the brokerage is made.",
        widget=forms.EmailInput(attrs={"autocomplete": "email"}))
    password = forms.CharField(
        label="Password", strip=False,
        help_text="At least 8 characters; not only digits, not a common password.",
        widget=forms.PasswordInput(attrs={"autocomplete": "new-password"}))
    time_zone = forms.ChoiceField(
        label="Time zone", choices=TIME_ZONE_GROUPS, initial="America/New_York",
        help_text="Follow-up times are shown in this zone.")

    # Service error keys -> fields of this form.
    SERVICE_FIELDS = {"name": "brokerage_name", "admin_email": "email",
                      "admin_name": "name", "admin_password": "password"}

    def clean_slug(self) -> str:
        return self.cleaned_data["slug"].strip().lower()


class SignupConfirmForm(forms.Form):
    """Following a sign-up's confirmation link. The web address is shown only when it
    was taken since (to choose another); the password only when the email has an
    account (it is that account's)."""

    slug = forms.CharField(
        label="Web address", max_length=40,
        help_text="Lower-case letters, digits and hyphens.",
        widget=forms.TextInput(attrs={
            "autocapitalize": "none", "autocorrect": "off", "spellcheck": "false",
            "inputmode": "url"}))
    password = forms.CharField(
        label="Your Clozings password", strip=False,
        widget=forms.PasswordInput(attrs={"autocomplete": "current-password"}))

    def __init__(self, *args, has_account: bool, **kwargs):
        super().__init__(*args, **kwargs)
        if not has_account:
            del self.fields["password"]

    def clean_slug(self) -> str:
        return self.cleaned_data["slug"].strip().lower()


class LoginForm(forms.Form):
    email = forms.EmailField(
        label="Email", max_length=254,
        widget=forms.EmailInput(attrs={"autocomplete": "username", "autofocus": True}))
    password = forms.CharField(
        label="Password", strip=False,
        widget=forms.PasswordInput(attrs={"autocomplete": "current-password"}))


class InviteForm(forms.Form):
    email = forms.EmailField(
        label="Email", max_length=254,
        widget=forms.EmailInput(attrs={"autocomplete": "off"}))
    name = forms.CharField(label="Name", max_length=150, required=False,
                           validators=[validate_name_characters],
                           help_text="They can change it when they join.")
    role = forms.ChoiceField(label="Role", choices=Seat.Role.choices, initial=Seat.Role.AGENT)

    SERVICE_FIELDS = {"already_member": "email"}


class RoleForm(forms.Form):
    role = forms.ChoiceField(label="Role", choices=Seat.Role.choices)

    SERVICE_FIELDS = {"last_admin": "role"}


class DeactivateForm(forms.Form):
    reassign_to = forms.ModelChoiceField(
        label="Hand their territories and leads to", queryset=Seat.objects.none(),
        required=False, empty_label="Nobody",
        help_text="With nobody, their territories are released at the end of the period "
                  "already paid for.")

    def __init__(self, *args, seat: Seat, **kwargs):
        super().__init__(*args, **kwargs)
        # Only active colleagues in the same brokerage can take the leads over.
        self.fields["reassign_to"].queryset = Seat.objects.filter(
            brokerage_id=seat.brokerage_id, status=Seat.Status.ACTIVE,
        ).exclude(pk=seat.pk).order_by("name", "email")
        self.fields["reassign_to"].label_from_instance = lambda s: s.name or s.email


class NewAccountForm(forms.Form):
    """Accepting an invitation as a person new to Clozings."""

    name = forms.CharField(label="Your name", max_length=150,
                           validators=[validate_name_characters],
                           widget=forms.TextInput(attrs={"autocomplete": "name"}))
    password = forms.CharField(
        label="Choose a password", strip=False,
        help_text="At least 8 characters; not only digits, not a common password.",
        widget=forms.PasswordInput(attrs={"autocomplete": "new-password"}))


class ExistingAccountForm(forms.Form):
    """Accepting an invitation with an account that already exists."""

    password = forms.CharField(
        label="Your Clozings password", strip=False,
        widget=forms.PasswordInput(attrs={"autocomplete": "current-password"}))


class JoinForm(forms.Form):
    """Accepting an invitation while signed in as the invited person: nothing to fill."""


class FindBrokerageForm(forms.Form):
    email = forms.EmailField(
        label="Email", max_length=254,
        help_text="The address you sign in with. We'll email you your brokerages' addresses.",
        widget=forms.EmailInput(attrs={"autocomplete": "email", "autocapitalize": "none"}))


class PasswordResetForm(auth_forms.PasswordResetForm):
    """Django's, with the link mailed through the outbox: Django's own send logs a failed
    send and drops the mail; the outbox retries it until the mail server takes it."""

    def send_mail(self, subject_template_name, email_template_name, context, from_email,
                  to_email, html_email_template_name=None) -> None:
        queue_mail(
            to=to_email,
            subject=render_to_string(subject_template_name, context),
            text=render_to_string(email_template_name, context),
            html=render_to_string(html_email_template_name, context)
            if html_email_template_name else "",
            kind="tenants.password_reset", ref=str(context["user"].pk),
        )


class PhoneForm(forms.Form):
    phone = forms.CharField(
        label="Mobile number for new-lead texts", max_length=30, required=False,
        help_text="Leave empty to get new leads by email only.",
        widget=forms.TextInput(attrs={"autocomplete": "tel", "inputmode": "tel",
                                      "type": "tel"}))


class FirstTouchForm(forms.Form):
    first_touch_sla_minutes = forms.IntegerField(
        label="Minutes to a first touch", min_value=1, max_value=240,
        help_text="A new lead nobody called, texted or emailed in this time goes to the "
                  "next agent of a shared ZIP; on an exclusive ZIP the agent and admins "
                  "are emailed.",
        widget=forms.NumberInput(attrs={"inputmode": "numeric"}))


class PauseForm(forms.Form):
    """A vacation, in whole days of the viewer's time zone: away from the morning of
    `away_from` (empty: today, at once) until the morning of `back_on` (empty: until the
    pause is ended by hand)."""

    away_from = forms.DateField(
        label="Away from", required=False,
        help_text="No new leads from the start of this day. Empty: from now.",
        widget=forms.DateInput(attrs={"type": "date"}))
    back_on = forms.DateField(
        label="Back on", required=False,
        help_text="Leads come again from the start of this day. Empty: until you end it.",
        widget=forms.DateInput(attrs={"type": "date"}))

    def clean(self):
        data = super().clean()
        start, end = data.get("away_from"), data.get("back_on")
        if not self.errors and start is None and end is None:
            raise ValidationError("Give the day you leave, the day you are back, or both.")
        if start is not None and end is not None and end <= start:
            self.add_error("back_on", "The day you are back must come after the day you leave.")
        return data


class CapsForm(forms.Form):
    daily_cap = forms.IntegerField(
        label="Most new leads a day", required=False, min_value=0, max_value=10_000,
        help_text="Empty: no daily cap.",
        widget=forms.NumberInput(attrs={"inputmode": "numeric"}))
    monthly_cap = forms.IntegerField(
        label="Most new leads a month", required=False, min_value=0, max_value=10_000,
        help_text="Empty: no monthly cap.",
        widget=forms.NumberInput(attrs={"inputmode": "numeric"}))
