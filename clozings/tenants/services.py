"""Every write about brokerages, people and seats."""

from __future__ import annotations

import logging
import re

from django.conf import settings
from django.contrib.auth.password_validation import validate_password
from django.core import signing
from django.core.exceptions import ValidationError
from django.db import transaction
from django.template.loader import render_to_string
from django.utils import timezone

from clozings.platform.errors import Conflict
from clozings.platform.mail import queue_mail
from clozings.tenants.models import Brokerage, Domain, Seat, User, validate_time_zone
from clozings.tenants.provisioning import create_brokerage_schema
from clozings.tenants.signals import seat_deactivated

logger = logging.getLogger(__name__)

SLUG_RE = re.compile(r"^[a-z0-9](?:[a-z0-9-]{0,38}[a-z0-9])?$")
RESERVED_SLUGS = {"www", "api", "admin", "app", "static", "mail", "public", "staff",
                  "platform", "billing", "help", "support", "status", "localhost"}
INVITE_SALT = "clozings.invite"
INVITATION_MAIL = "tenants.invitation"  # the outbox's kind; its ref is the seat's id


def brokerage_host(brokerage: Brokerage) -> str:
    return f"{brokerage.slug}.{settings.CLOZINGS_DOMAIN}"


def brokerage_url(brokerage: Brokerage, path: str = "/") -> str:
    scheme = "https" if settings.CLOZINGS_HTTPS else "http"
    port = f":{settings.CLOZINGS_PUBLIC_PORT}" if settings.CLOZINGS_PUBLIC_PORT else ""
    return f"{scheme}://{brokerage_host(brokerage)}{port}{path}"


def schema_name_for(slug: str) -> str:
    return "brk_" + slug.replace("-", "_")


def validate_slug(slug: str) -> str:
    slug = (slug or "").strip().lower()
    if not SLUG_RE.match(slug):
        raise ValidationError(
            {"slug": ["Use 1-40 lower-case letters, digits and hyphens, "
                      "starting and ending with a letter or digit."]})
    if slug in RESERVED_SLUGS:
        raise ValidationError({"slug": [f"'{slug}' is reserved; choose another."]})
    if Brokerage.objects.filter(slug=slug).exists():
        raise ValidationError({"slug": [f"'{slug}' is taken; choose another."]})
    return slug


def _validate_person(*, email: str, name: str, password: str | None) -> str:
    from django.core.validators import validate_email

    email = (email or "").strip().lower()
    errors: dict[str, list[str]] = {}
    try:
        validate_email(email)
    except ValidationError:
        errors["email"] = ["Enter a valid email address."]
    if password is not None:
        try:
            validate_password(password, User(email=email, name=name))
        except ValidationError as exc:
            errors["password"] = list(exc.messages)
    if errors:
        raise ValidationError(errors)
    return email


def provision_brokerage(
    *, name: str, slug: str, admin_email: str, admin_name: str, admin_password: str,
    time_zone: str = "America/New_York",
) -> Brokerage:
    """Create a brokerage: its schema, its domain and its first admin seat.

    A person who already has an account keeps it (and their password); a new person's
    account is made with the password given.
    """
    name = (name or "").strip()
    errors: dict[str, list[str]] = {}
    if not name:
        errors["name"] = ["Give the brokerage a name."]
    elif len(name) > 120:
        errors["name"] = ["Keep the name under 120 characters."]
    try:
        slug = validate_slug(slug)
    except ValidationError as exc:
        errors.update(exc.message_dict)
    try:
        validate_time_zone(time_zone)
    except ValidationError as exc:
        errors["time_zone"] = exc.messages
    existing = User.objects.filter(email__iexact=(admin_email or "").strip()).first()
    try:
        admin_email = _validate_person(
            email=admin_email, name=admin_name,
            password=None if existing else admin_password,
        )
    except ValidationError as exc:
        errors.update({f"admin_{k}": v for k, v in exc.message_dict.items()})
    if existing is not None and not existing.check_password(admin_password or ""):
        errors["admin_password"] = [
            "An account with this email exists; enter its password to add this brokerage."]
    if errors:
        raise ValidationError(errors)

    with transaction.atomic():
        brokerage = Brokerage.objects.create(
            name=name, slug=slug, schema_name=schema_name_for(slug), time_zone=time_zone)
        Domain.objects.create(tenant=brokerage, domain=brokerage_host(brokerage),
                              is_primary=True)
        user = existing or User.objects.create_user(
            admin_email, admin_password, name=(admin_name or "").strip(), time_zone=time_zone)
        Seat.objects.create(
            brokerage=brokerage, user=user, email=user.email, name=user.name,
            role=Seat.Role.ADMIN, status=Seat.Status.ACTIVE, activated_at=timezone.now())
        create_brokerage_schema(brokerage.schema_name)
    logger.info("brokerage.provisioned", extra={"brokerage": slug})
    return brokerage


def invitation_token(seat: Seat) -> str:
    return signing.dumps({"s": seat.pk, "n": seat.invite_nonce}, salt=INVITE_SALT)


def seat_for_invitation(token: str) -> Seat:
    """The invited seat a link points to; ValidationError when expired, used or forged."""
    max_age = settings.INVITE_MAX_AGE_DAYS * 86400
    try:
        payload = signing.loads(token, salt=INVITE_SALT, max_age=max_age)
    except signing.SignatureExpired as exc:
        raise ValidationError("This invitation has expired; ask your admin for a new one.") \
            from exc
    except signing.BadSignature as exc:
        raise ValidationError("This invitation link is not valid.") from exc
    seat = Seat.objects.select_related("brokerage").filter(pk=payload.get("s")).first()
    if seat is None or seat.invite_nonce != payload.get("n") \
            or seat.status != Seat.Status.INVITED:
        raise ValidationError("This invitation has been used or withdrawn.")
    return seat


def send_invitation(*, seat_id: int) -> None:
    """Queue the invitation mail of a seat that is still invited (a no-op otherwise); it
    goes out through the outbox after commit, retried until the mail server takes it."""
    seat = Seat.objects.select_related("brokerage", "invited_by").filter(
        pk=seat_id, status=Seat.Status.INVITED).first()
    if seat is None:
        return
    link = brokerage_url(seat.brokerage, f"/invite/{invitation_token(seat)}/")
    context = {"seat": seat, "brokerage": seat.brokerage, "link": link,
               "days": settings.INVITE_MAX_AGE_DAYS}
    queue_mail(
        to=seat.email,
        subject=f"You're invited to {seat.brokerage.name} on Clozings",
        text=render_to_string("tenants/email/invitation.txt", context),
        html=render_to_string("tenants/email/invitation.html", context),
        kind=INVITATION_MAIL, ref=str(seat.pk),
    )
    logger.info("seat.invited", extra={"seat": seat.pk, "brokerage": seat.brokerage.slug})


def invite_seat(*, brokerage: Brokerage, email: str, name: str = "", role: str = Seat.Role.AGENT,
                invited_by: User | None = None, notify: bool = True) -> Seat:
    """Invite a person by email; a deactivated seat of the same email is invited again.

    `notify=False` mails nothing (the link is handed over some other way, as the demo does).
    """
    email = _validate_person(email=email, name=name, password=None)
    if role not in Seat.Role.values:
        raise ValidationError({"role": [f"Choose one of: {', '.join(Seat.Role.values)}."]})
    name = (name or "").strip()[:150]
    with transaction.atomic():
        seat = Seat.objects.select_for_update().filter(
            brokerage=brokerage, email__iexact=email).first()
        if seat is not None and seat.status == Seat.Status.ACTIVE:
            raise Conflict(f"{email} already has a seat in this brokerage.",
                           code="already_member")
        if seat is None:
            seat = Seat(brokerage=brokerage, email=email)
        seat.name = name or seat.name
        seat.role = role
        seat.status = Seat.Status.INVITED
        seat.invited_by = invited_by
        seat.invited_at = timezone.now()
        seat.invite_nonce += 1
        seat.deactivated_at = None
        seat.save()
        if notify:
            send_invitation(seat_id=seat.pk)
    return seat


def accept_invitation(*, token: str, name: str = "", password: str = "",
                      user: User | None = None) -> Seat:
    """Activate an invited seat. A signed-in `user` whose email matches takes it; otherwise
    an account is made for the invited email with the name and password given (or, when
    that email already has an account, its password must be given)."""
    with transaction.atomic():
        seat = seat_for_invitation(token)
        seat = Seat.objects.select_for_update().get(pk=seat.pk)
        if seat.status != Seat.Status.INVITED:
            raise ValidationError("This invitation has been used or withdrawn.")
        account = User.objects.filter(email__iexact=seat.email).first()
        if user is not None and user.is_authenticated:
            if user.email.lower() != seat.email.lower():
                raise ValidationError(
                    f"This invitation is for {seat.email}; sign out and open it again.")
            account = user
        elif account is not None:
            if not account.check_password(password or ""):
                raise ValidationError({"password": [
                    "You already have a Clozings account; enter its password."]})
        else:
            name = (name or "").strip()
            if not name:
                raise ValidationError({"name": ["Tell us your name."]})
            _validate_person(email=seat.email, name=name, password=password)
            account = User.objects.create_user(
                seat.email, password, name=name, time_zone=seat.brokerage.time_zone)
        if Seat.objects.filter(brokerage=seat.brokerage, user=account).exclude(
                pk=seat.pk).exists():
            raise ValidationError("You already have a seat in this brokerage.")
        seat.user = account
        seat.name = account.name or seat.name
        seat.status = Seat.Status.ACTIVE
        seat.activated_at = timezone.now()
        seat.save()
    logger.info("seat.activated", extra={"seat": seat.pk, "brokerage": seat.brokerage.slug})
    return seat


def _ensure_an_admin_remains(seat: Seat) -> None:
    others = Seat.objects.filter(
        brokerage_id=seat.brokerage_id, role=Seat.Role.ADMIN, status=Seat.Status.ACTIVE
    ).exclude(pk=seat.pk)
    if seat.role == Seat.Role.ADMIN and seat.status == Seat.Status.ACTIVE and not others.exists():
        raise Conflict("A brokerage needs at least one active admin.", code="last_admin")


def change_seat_role(*, seat: Seat, role: str, by: User) -> Seat:
    if role not in Seat.Role.values:
        raise ValidationError({"role": [f"Choose one of: {', '.join(Seat.Role.values)}."]})
    with transaction.atomic():
        seat = Seat.objects.select_for_update().get(pk=seat.pk)
        if role != seat.role:
            if role == Seat.Role.AGENT:
                _ensure_an_admin_remains(seat)
            seat.role = role
            seat.save(update_fields=["role"])
    logger.info("seat.role_changed", extra={"seat": seat.pk, "role": role, "by": by.pk})
    return seat


def deactivate_seat(*, seat: Seat, by: User, reassign_to: Seat | None = None) -> Seat:
    """Take a seat away; nothing is deleted. The brokerage keeps at least one admin."""
    if reassign_to is not None and (
        reassign_to.brokerage_id != seat.brokerage_id
        or reassign_to.status != Seat.Status.ACTIVE or reassign_to.pk == seat.pk
    ):
        raise ValidationError(
            {"reassign_to": ["Choose another active seat of this brokerage."]})
    with transaction.atomic():
        seat = Seat.objects.select_for_update().get(pk=seat.pk)
        if seat.status == Seat.Status.DEACTIVATED:
            return seat
        _ensure_an_admin_remains(seat)
        seat.status = Seat.Status.DEACTIVATED
        seat.deactivated_at = timezone.now()
        seat.save(update_fields=["status", "deactivated_at"])
        seat_deactivated.send(sender=Seat, seat=seat, reassign_to=reassign_to, by=by)
    logger.info("seat.deactivated", extra={"seat": seat.pk, "by": by.pk})
    return seat

