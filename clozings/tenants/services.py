"""Every write about brokerages, people and seats."""

from __future__ import annotations

import hashlib
import logging
import math
import re
import time

import phonenumbers
from django.conf import settings
from django.contrib.auth.hashers import make_password
from django.contrib.auth.password_validation import validate_password
from django.core import signing
from django.core.cache import cache
from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction
from django.template.loader import render_to_string
from django.utils import timezone
from django_tenants.utils import schema_context

from clozings.platform.errors import Conflict, Forbidden, Throttled
from clozings.platform.mail import queue_mail
from clozings.platform.tenancy import enqueue_on_commit
from clozings.tenants import throttling
from clozings.tenants.models import (
    Brokerage,
    Domain,
    PendingSignup,
    Seat,
    User,
    validate_time_zone,
)
from clozings.tenants.provisioning import create_brokerage_schema
from clozings.tenants.signals import seat_deactivated
from clozings.tenants.validators import validate_name_characters

logger = logging.getLogger(__name__)

SLUG_RE = re.compile(r"^[a-z0-9](?:[a-z0-9-]{0,38}[a-z0-9])?$")
RESERVED_SLUGS = {"www", "api", "admin", "app", "static", "mail", "public", "staff",
                  "platform", "billing", "help", "support", "status", "localhost"}
INVITE_SALT = "clozings.invite"
SIGNUP_SALT = "clozings.signup"
INVITATION_MAIL = "tenants.invitation"  # the outbox's kind; its ref is the seat's id


def brokerage_host(brokerage: Brokerage) -> str:
    """The brokerage's host name (its Domain row; what requests are matched on)."""
    return f"{brokerage.slug}.{settings.CLOZINGS_DOMAIN}"


def brokerage_address(brokerage: Brokerage) -> str:
    """Where clients reach the brokerage: its host with the public port, as links in mail
    carry it (`acme.localhost:8000` under `clozings run`; no port behind a proxy)."""
    port = f":{settings.CLOZINGS_PUBLIC_PORT}" if settings.CLOZINGS_PUBLIC_PORT else ""
    return f"{brokerage_host(brokerage)}{port}"


def brokerage_url(brokerage: Brokerage, path: str = "/") -> str:
    scheme = "https" if settings.CLOZINGS_HTTPS else "http"
    return f"{scheme}://{brokerage_address(brokerage)}{path}"


# --- "find my brokerage": the addresses of a person's brokerages, by mail -----------------
FIND_BROKERAGE_PER_EMAIL = 3  # requests per hour for one email address
FIND_BROKERAGE_PER_ADDRESS = 10  # requests per hour from one client address
FIND_BROKERAGE_WINDOW_SECONDS = 3600


def _find_brokerage_allowed(*, email: str, ip: str) -> bool:
    """Count this request against the email and the address (fixed one-hour windows in
    the public schema's cache, as the login throttle keeps its counters)."""
    digest = hashlib.sha256(email.encode()).hexdigest()
    limits = {f"find-brokerage:email:{digest}": FIND_BROKERAGE_PER_EMAIL,
              f"find-brokerage:ip:{ip}": FIND_BROKERAGE_PER_ADDRESS}
    allowed = True
    with schema_context("public"):
        for key, limit in limits.items():
            cache.add(key, 0, timeout=FIND_BROKERAGE_WINDOW_SECONDS)
            try:
                count = cache.incr(key)
            except ValueError:  # the window closed between add() and incr()
                count = 1
                cache.set(key, count, timeout=FIND_BROKERAGE_WINDOW_SECONDS)
            allowed = allowed and count <= limit
    return allowed


def request_brokerage_list(*, email: str, ip: str) -> None:
    """Mail the person with this email the addresses of their brokerages, if there is such
    a person. The caller learns nothing either way: the lookup happens in the task, so the
    answer takes the same time too. Throttled once the email or the address has asked
    too often this hour."""
    email = (email or "").strip().lower()
    if not _find_brokerage_allowed(email=email, ip=ip):
        raise Throttled("Too many requests for brokerage addresses. Try again in an hour.",
                        wait=FIND_BROKERAGE_WINDOW_SECONDS)
    from clozings.tenants.tasks import send_brokerage_list_task  # tasks import services

    enqueue_on_commit(send_brokerage_list_task, email)


def send_brokerage_list(*, email: str) -> None:
    """Queue the mail of an account's brokerages, each with its link (a no-op when there is
    no account)."""
    user = User.objects.filter(email__iexact=email, is_active=True).first()
    if user is None:
        return
    seats = Seat.objects.filter(user=user, status=Seat.Status.ACTIVE).select_related(
        "brokerage").order_by("brokerage__name")
    context = {"user": user, "links": [(seat.brokerage, brokerage_url(seat.brokerage))
                                       for seat in seats],
               "start_url": platform_url("/")}
    queue_mail(
        to=user.email,
        subject="Your brokerages on Clozings",
        text=render_to_string("tenants/email/brokerage_list.txt", context),
        html=render_to_string("tenants/email/brokerage_list.html", context),
        kind="tenants.brokerage_list", ref=str(user.pk),
    )
    logger.info("brokerage_list.queued", extra={"user": user.pk})


def platform_url(path: str = "/") -> str:
    scheme = "https" if settings.CLOZINGS_HTTPS else "http"
    port = f":{settings.CLOZINGS_PUBLIC_PORT}" if settings.CLOZINGS_PUBLIC_PORT else ""
    return f"{scheme}://{settings.CLOZINGS_DOMAIN}{port}{path}"


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


def clean_name(value: str, *, max_length: int, required: str = "") -> str:
    """A typed name, trimmed. ValidationError when it is empty (and `required` gives the
    message), longer than max_length, or holds control characters (validators.py)."""
    value = (value or "").strip()
    if not value:
        if required:
            raise ValidationError(required)
        return ""
    validate_name_characters(value)
    if len(value) > max_length:
        raise ValidationError(f"Keep the name to {max_length} characters or fewer.")
    return value


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


def _brokerage_fields(*, name: str, slug: str, time_zone: str, admin_email: str,
                      admin_name: str, admin_password: str | None) -> dict:
    """Everything a new brokerage needs, checked; ValidationError with every problem at
    once, under the keys name, slug, time_zone, admin_email, admin_name, admin_password.
    `admin_password=None` skips the password (an existing account keeps its own)."""
    errors: dict[str, list[str]] = {}
    cleaned: dict = {"time_zone": time_zone}
    checks = {
        "name": lambda: clean_name(name, max_length=120, required="Give the brokerage a name."),
        "slug": lambda: validate_slug(slug),
        "admin_name": lambda: clean_name(admin_name, max_length=150,
                                         required="Tell us your name."),
    }
    for key, check in checks.items():
        try:
            cleaned[key] = check()
        except ValidationError as exc:
            errors[key] = exc.message_dict["slug"] if key == "slug" else exc.messages
    try:
        validate_time_zone(time_zone)
    except ValidationError as exc:
        errors["time_zone"] = exc.messages
    try:
        cleaned["admin_email"] = _validate_person(
            email=admin_email, name=admin_name, password=admin_password)
    except ValidationError as exc:
        errors.update({f"admin_{k}": v for k, v in exc.message_dict.items()})
    if errors:
        raise ValidationError(errors)
    return cleaned


def check_password_throttled(*, account: User, email: str, password: str, ip: str) -> bool:
    """Whether `password` is the account's, counted by the login throttle like a sign-in.

    Every password check outside the login page and the token API (which go through
    Django's authenticate(), itself hashing a dummy password when no account matches)
    goes through here, so no form gives an attacker more guesses than signing in does.
    Raises Throttled while the email or the address has used up its failed attempts.
    """
    if not throttling.login_allowed(email=email, ip=ip):
        raise Throttled("Too many failed sign-ins.",
                        wait=throttling.seconds_until_login_allowed(email=email, ip=ip))
    right = account.is_active and account.check_password(password or "")
    if right:
        throttling.clear_login_failures(email=email, ip=ip)
    else:
        throttling.record_login_failure(email=email, ip=ip)
    return right


def _create_brokerage(*, name: str, slug: str, time_zone: str, admin: User) -> Brokerage:
    """The brokerage row, its domain, its schema and its first admin seat, in one
    transaction; an unsaved `admin` is a new account, saved with them."""
    with transaction.atomic():
        brokerage = Brokerage.objects.create(
            name=name, slug=slug, schema_name=schema_name_for(slug), time_zone=time_zone)
        Domain.objects.create(tenant=brokerage, domain=brokerage_host(brokerage),
                              is_primary=True)
        if admin.pk is None:
            admin.save()
        Seat.objects.create(
            brokerage=brokerage, user=admin, email=admin.email, name=admin.name,
            role=Seat.Role.ADMIN, status=Seat.Status.ACTIVE, activated_at=timezone.now())
        create_brokerage_schema(brokerage.schema_name)
    logger.info("brokerage.provisioned", extra={"brokerage": slug})
    return brokerage


def provision_brokerage(
    *, name: str, slug: str, admin_email: str, admin_name: str, admin_password: str,
    time_zone: str = "America/New_York", ip: str = "internal",
) -> Brokerage:
    """Create a brokerage at once (platform staff, the demo): schema, domain, admin seat.

    A person who already has an account keeps it; its password must be given, and a
    wrong one counts against the login throttle of `ip` (the caller's address). A new
    person's account is made with the password given.
    """
    existing = User.objects.filter(email__iexact=(admin_email or "").strip()).first()
    fields = _brokerage_fields(
        name=name, slug=slug, time_zone=time_zone, admin_email=admin_email,
        admin_name=admin_name, admin_password=None if existing else admin_password)
    if existing is not None and not check_password_throttled(
            account=existing, email=existing.email, password=admin_password, ip=ip):
        raise ValidationError({"admin_password": [
            "An account with this email exists; enter its password to add this brokerage."]})
    admin = existing or User(email=fields["admin_email"], name=fields["admin_name"],
                             time_zone=time_zone, password=make_password(admin_password))
    return _create_brokerage(name=fields["name"], slug=fields["slug"], time_zone=time_zone,
                             admin=admin)


# --- sign-up: confirmed by email before anything is built --------------------------------
def _minutes(seconds: float) -> str:
    minutes = max(1, math.ceil(seconds / 60))
    return f"{minutes} minute{'s' if minutes != 1 else ''}"


def _take_signup_slot(*, ip: str) -> None:
    """Count one sign-up against the address and the platform in this clock hour; raise
    Throttled once either has had its settings.SIGNUP_LIMIT_* for the hour."""
    now = time.time()
    hour, wait = int(now // 3600), 3600 - int(now % 3600)
    limits = [
        (f"signups:ip:{ip}:{hour}", settings.SIGNUP_LIMIT_PER_ADDRESS_PER_HOUR,
         f"Too many sign-ups from your network this hour; try again in {_minutes(wait)}."),
        (f"signups:all:{hour}", settings.SIGNUP_LIMIT_PER_HOUR,
         f"Sign-ups are very busy right now; try again in {_minutes(wait)}."),
    ]
    with schema_context("public"):
        for key, limit, message in limits:
            cache.add(key, 0, timeout=wait + 60)
            try:
                count = cache.incr(key)
            except ValueError:  # the hour's key expired between add() and incr()
                count = 1
                cache.set(key, count, timeout=wait + 60)
            if count > limit:
                raise Throttled(message, wait=wait)


def signup_token(signup: PendingSignup) -> str:
    return signing.dumps({"p": signup.pk}, salt=SIGNUP_SALT)


def start_signup(*, brokerage_name: str, slug: str, admin_name: str, email: str,
                 password: str, time_zone: str, ip: str) -> PendingSignup:
    """Keep a sign-up and mail its confirmation link; nothing else is made until the link
    is followed. The same happens whether or not the email has an account (the mail,
    which only the mailbox's owner reads, is what differs), and the password is checked
    for strength and hashed either way, so neither the answer nor its timing tells."""
    fields = _brokerage_fields(
        name=brokerage_name, slug=slug, time_zone=time_zone, admin_email=email,
        admin_name=admin_name, admin_password=password)
    _take_signup_slot(ip=ip)
    max_age = settings.SIGNUP_CONFIRM_MAX_AGE_HOURS * 3600
    with transaction.atomic():
        PendingSignup.objects.filter(
            created_at__lt=timezone.now() - timezone.timedelta(seconds=max_age)).delete()
        signup = PendingSignup.objects.create(
            email=fields["admin_email"], brokerage_name=fields["name"], slug=fields["slug"],
            admin_name=fields["admin_name"], password_hash=make_password(password),
            time_zone=time_zone)
        send_signup_confirmation(signup_id=signup.pk)
    logger.info("signup.started", extra={"signup": signup.pk})
    return signup


def send_signup_confirmation(*, signup_id: int) -> None:
    """Queue the confirmation link of a sign-up that is still pending (a no-op otherwise);
    the outbox sends it after commit, retried until the mail server takes it."""
    signup = PendingSignup.objects.filter(pk=signup_id).first()
    if signup is None:
        return
    context = {
        "signup": signup, "link": platform_url(f"/signup/confirm/{signup_token(signup)}/"),
        "host": f"{signup.slug}.{settings.CLOZINGS_DOMAIN}",
        "hours": settings.SIGNUP_CONFIRM_MAX_AGE_HOURS,
        "has_account": User.objects.filter(email__iexact=signup.email).exists(),
    }
    queue_mail(
        to=signup.email,
        subject=f"Confirm {signup.brokerage_name} on Clozings",
        text=render_to_string("tenants/email/signup_confirm.txt", context),
        html=render_to_string("tenants/email/signup_confirm.html", context),
        kind="tenants.signup_confirmation", ref=str(signup.pk),
    )
    logger.info("signup.mail_queued", extra={"signup": signup.pk})


def pending_signup_for(token: str) -> PendingSignup:
    """The sign-up a confirmation link points to; ValidationError when it is forged,
    expired or already used."""
    max_age = settings.SIGNUP_CONFIRM_MAX_AGE_HOURS * 3600
    try:
        payload = signing.loads(token, salt=SIGNUP_SALT, max_age=max_age)
    except signing.SignatureExpired as exc:
        raise ValidationError("This confirmation link has expired; sign up again.") from exc
    except signing.BadSignature as exc:
        raise ValidationError("This confirmation link is not valid.") from exc
    signup = PendingSignup.objects.filter(pk=payload.get("p")).first()
    if signup is None:
        raise ValidationError("This confirmation link was already used.")
    return signup


def confirm_signup(*, token: str, slug: str, password: str, ip: str
                   ) -> tuple[Brokerage, User]:
    """Build the brokerage of a confirmed sign-up and return it with its admin.

    A new email's account is made with the password chosen at sign-up. An email that
    already has an account must give that account's password (through the login
    throttle). `slug` replaces the one asked for, for when it was taken in the meantime.
    """
    try:
        with transaction.atomic():
            signup = pending_signup_for(token)
            signup = PendingSignup.objects.select_for_update().filter(pk=signup.pk).first()
            if signup is None:  # confirmed by a concurrent request a moment ago
                raise ValidationError("This confirmation link was already used.")
            slug = validate_slug(slug or signup.slug)
            account = User.objects.filter(email__iexact=signup.email).first()
            if account is not None and not check_password_throttled(
                    account=account, email=signup.email, password=password, ip=ip):
                raise ValidationError({"password": [
                    "That is not the password of your Clozings account."]})
            admin = account or User(email=signup.email, name=signup.admin_name,
                                    time_zone=signup.time_zone, password=signup.password_hash)
            brokerage = _create_brokerage(name=signup.brokerage_name, slug=slug,
                                          time_zone=signup.time_zone, admin=admin)
            signup.delete()
    except IntegrityError:
        # A concurrent request took the slug (or made the account) after the checks.
        validate_slug(slug)
        raise ValidationError("Another request used this email a moment ago; "
                              "open the link again.") from None
    return brokerage, admin


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
    try:
        name = clean_name(name, max_length=150)
    except ValidationError as exc:
        raise ValidationError({"name": exc.messages}) from exc
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
                      user: User | None = None, ip: str = "internal") -> Seat:
    """Activate an invited seat. A signed-in `user` whose email matches takes it; otherwise
    an account is made for the invited email with the name and password given (or, when
    that email already has an account, its password must be given: checked through the
    login throttle of `ip`, the caller's address)."""
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
            if not check_password_throttled(account=account, email=seat.email,
                                            password=password, ip=ip):
                raise ValidationError({"password": [
                    "You already have a Clozings account; enter its password."]})
        else:
            try:
                name = clean_name(name, max_length=150, required="Tell us your name.")
            except ValidationError as exc:
                raise ValidationError({"name": exc.messages}) from exc
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


# --- lead routing of a seat: pause (vacation) and caps -------------------------------------
MAX_CAP = 10_000
PAUSE_FIELDS = ("paused_from", "paused_until")
ROUTING_FIELDS = (*PAUSE_FIELDS, "daily_cap", "monthly_cap")
UNCHANGED = object()


def update_seat(*, seat: Seat, by: Seat, paused_from=UNCHANGED, paused_until=UNCHANGED,
                daily_cap=UNCHANGED, monthly_cap=UNCHANGED, role=UNCHANGED) -> Seat:
    """Change a seat's pause, caps or role (only the arguments given).

    An admin (`by`, an active admin seat of the seat's brokerage) changes any of them for
    any seat of the brokerage; an agent only their own pause (Forbidden otherwise). A pause
    runs from `paused_from` (None: already) to `paused_until` (None: until further notice);
    both None: no pause. Caps are whole leads per day / per month of the brokerage's time
    zone, None for no cap. The brokerage keeps at least one active admin."""
    changes = {name: value for name, value in (
        ("paused_from", paused_from), ("paused_until", paused_until),
        ("daily_cap", daily_cap), ("monthly_cap", monthly_cap), ("role", role),
    ) if value is not UNCHANGED}
    if by.brokerage_id != seat.brokerage_id or by.status != Seat.Status.ACTIVE:
        raise Forbidden("You have no active seat in this brokerage.")
    if not by.is_admin:
        if by.pk != seat.pk:
            raise Forbidden("An agent changes their own pause only; an admin of the "
                            "brokerage changes other seats.")
        others = sorted(set(changes) - set(PAUSE_FIELDS))
        if others:
            raise Forbidden(f"Only an admin of the brokerage can change {', '.join(others)}; "
                            "an agent changes their own pause (paused_from, paused_until).")
    errors: dict[str, list[str]] = {}
    for name in ("daily_cap", "monthly_cap"):
        value = changes.get(name)
        if value is not None and (isinstance(value, bool) or not isinstance(value, int)
                                  or not 0 <= value <= MAX_CAP):
            errors[name] = [f"A cap is a whole number of leads from 0 to {MAX_CAP}, "
                            "or empty for no cap."]
    if "role" in changes and changes["role"] not in Seat.Role.values:
        errors["role"] = [f"Choose one of: {', '.join(Seat.Role.values)}."]
    for name in PAUSE_FIELDS:
        value = changes.get(name)
        if value is not None and timezone.is_naive(value):
            errors[name] = ["Give a time with its time zone."]
    if errors:
        raise ValidationError(errors)
    with transaction.atomic():
        seat = Seat.objects.select_for_update().get(pk=seat.pk)
        if seat.status == Seat.Status.DEACTIVATED:
            raise Conflict("This seat is deactivated; invite the person again first.",
                           code="conflict")
        start = changes.get("paused_from", seat.paused_from)
        end = changes.get("paused_until", seat.paused_until)
        if start is not None and end is not None and end <= start:
            raise ValidationError({"paused_until": [
                "The pause must end after it starts."]})
        if changes.get("role", seat.role) == Seat.Role.AGENT and seat.role == Seat.Role.ADMIN:
            _ensure_an_admin_remains(seat)
        for name, value in changes.items():
            setattr(seat, name, value)
        if changes:
            seat.save(update_fields=list(changes))
    logger.info("seat.updated", extra={"seat": seat.pk, "fields": sorted(changes),
                                       "by": by.pk})
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



# --- lead alerts: an agent's phone for texts, the brokerage's first-touch time ----------
FIRST_TOUCH_SLA_MAX_MINUTES = 240


def set_seat_phone(*, seat: Seat, phone: str) -> Seat:
    """The number new-lead texts go to (US numbers by default, kept as E.164); blank stops
    the texts."""
    raw = (phone or "").strip()
    e164 = ""
    if raw:
        try:
            number = phonenumbers.parse(raw, "US")
        except phonenumbers.NumberParseException:
            number = None
        if number is None or not phonenumbers.is_valid_number(number):
            raise ValidationError({"phone": [f"'{raw}' is not a phone number we can text."]})
        e164 = phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)
    Seat.objects.filter(pk=seat.pk).update(phone=e164)
    seat.phone = e164
    logger.info("seat.phone_set", extra={"seat": seat.pk, "texts": bool(e164)})
    return seat


def set_first_touch_sla(*, brokerage: Brokerage, minutes: int) -> Brokerage:
    """Minutes an agent has to log a first touch on a new lead before it is re-routed
    (shared ZIP) or the agent and admins are alerted (exclusive ZIP)."""
    if not 1 <= minutes <= FIRST_TOUCH_SLA_MAX_MINUTES:
        raise ValidationError({"first_touch_sla_minutes": [
            f"Choose between 1 and {FIRST_TOUCH_SLA_MAX_MINUTES} minutes."]})
    Brokerage.objects.filter(pk=brokerage.pk).update(first_touch_sla_minutes=minutes)
    brokerage.first_touch_sla_minutes = minutes
    logger.info("brokerage.first_touch_sla_set", extra={"brokerage": brokerage.pk,
                                                         "minutes": minutes})
    return brokerage
