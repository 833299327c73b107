"""`clozings demo`: the demo brokerage and its logins, made once; running it again changes
nothing (existing accounts keep whatever password their owner has set since).

It also gives the demo agent a demo ZIP (an active reservation with a demo billing state:
no Stripe subscription item behind it) and makes one demo lead source per adapter (native,
Follow Up Boss events, Meta Lead Ads, Google Ads lead forms), whose keys and webhook
secrets are kept in CLOZINGS_HOME/demo-lead-sources.json for `clozings simulate` (the
native key also in CLOZINGS_HOME/demo-lead-source-key). A key that is gone from there gets
the source a new key (the old one stops working).
"""

from __future__ import annotations

import json
import os
import secrets
from dataclasses import dataclass
from pathlib import Path

from django.core.management.base import BaseCommand
from django.db import transaction

from clozings.distribution import services as distribution_services
from clozings.distribution.models import LeadSource
from clozings.platform import embedded
from clozings.tenants import services
from clozings.tenants.models import Brokerage, Seat, User
from clozings.territories import services as territory_services
from clozings.territories.models import Reservation


@dataclass(frozen=True)
class DemoLogin:
    who: str
    email: str
    password: str
    name: str


DEMO_SLUG = "demo"
DEMO_NAME = "Demo Realty"
ADMIN = DemoLogin("demo brokerage admin", "demo-admin@clozings.test", "open-house-sunday",
                  "Dana Admin")
AGENT = DemoLogin("demo agent", "demo-agent@clozings.test", "sixth-touch-closes",
                  "Alex Agent")
STAFF = DemoLogin("platform staff", "staff@clozings.test", "lead-desk-on-duty",
                  "Sam Staff")
LOGINS = (ADMIN, AGENT, STAFF)
DEMO_ZIP = "10001"
DEMO_SOURCE = "Demo lead source"
# The demo reservation's billing state: no Stripe subscription item stands behind it.
# Releasing it works like any release: the removal's DELETE gets Stripe's (localstripe's)
# 404 for this id, which counts as already removed (tests/billing/test_demo_release.py).
DEMO_STRIPE_ITEM = "si_demo"
# What each demo lead costs the platform (a portal's typical price), so that the demo's
# reports show a return on investment once the demo agent closes a lead.
DEMO_COST_PER_LEAD_CENTS = 3_000


# One demo lead source per adapter `clozings simulate` speaks: (simulate's name for it, the
# source's name, its adapter).
DEMO_SOURCES = (
    ("native", DEMO_SOURCE, LeadSource.Adapter.NATIVE),
    ("fub", "Demo IDX site (Follow Up Boss events)", LeadSource.Adapter.FOLLOW_UP_BOSS),
    ("meta", "Demo Meta Lead Ads", LeadSource.Adapter.META),
    ("google", "Demo Google Ads lead form", LeadSource.Adapter.GOOGLE),
)


def demo_key_path() -> Path:
    return embedded.clozings_home() / "demo-lead-source-key"


def demo_sources_path() -> Path:
    """The demo sources' ids, keys and webhook secrets, for `clozings simulate`:
    {"native": {"id", "key"}, "fub": {...}, "meta": {..., "app_secret",
    "page_access_token", "verify_token"}, "google": {..., "google_key"}}."""
    return embedded.clozings_home() / "demo-lead-sources.json"


def _write_private(path: Path, text: str) -> None:
    path.unlink(missing_ok=True)
    descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(descriptor, "w") as file:
        file.write(text)


def _store_key(key: str) -> None:
    _write_private(demo_key_path(), key + "\n")


def read_demo_sources(path: Path | None = None) -> dict:
    try:
        stored = json.loads((path or demo_sources_path()).read_text())
    except (OSError, ValueError):
        return {}
    return stored if isinstance(stored, dict) else {}


def _webhook_settings(adapter: str) -> dict:
    if adapter == LeadSource.Adapter.META:
        return {"app_secret": secrets.token_urlsafe(24), "verify_token": secrets.token_urlsafe(12),
                "page_access_token": "demo-" + secrets.token_urlsafe(24)}
    if adapter == LeadSource.Adapter.GOOGLE:
        return {"google_key": secrets.token_urlsafe(24)}
    return {}


def _ensure_demo_sources() -> list[str]:
    """A live demo source per adapter, each key known (a lost key gets a new one)."""
    made: list[str] = []
    stored = read_demo_sources()
    for name, label, adapter in DEMO_SOURCES:
        source = LeadSource.objects.filter(name=label, adapter=adapter,
                                           revoked_at__isnull=True).first()
        entry = stored.get(name) if isinstance(stored.get(name), dict) else {}
        lost = entry.get("id") != getattr(source, "pk", None) or not entry.get("key") or (
            name == "native" and not demo_key_path().exists())
        if source is None:
            issued = distribution_services.create_lead_source(
                name=label, cost_per_lead_cents=DEMO_COST_PER_LEAD_CENTS, adapter=adapter,
                settings=_webhook_settings(adapter))
        elif lost:
            issued = distribution_services.rotate_lead_source_key(source=source)
        else:
            continue
        stored[name] = {"id": issued.source.pk, "key": issued.key, **issued.source.settings}
        if name == "native":
            _store_key(issued.key)
        made.append(f"lead source '{label}' ({adapter})")
    if made:
        _write_private(demo_sources_path(), json.dumps(stored, indent=2) + "\n")
        made.append(f"the demo sources' keys in {demo_sources_path()} (the native one also "
                    f"in {demo_key_path()})")
    return made


def _ensure_demo_leads(brokerage: Brokerage) -> list[str]:
    """The demo agent's demo ZIP and the demo lead sources with their keys stored."""
    made: list[str] = []
    seat = Seat.objects.filter(brokerage=brokerage, email__iexact=AGENT.email).first()
    if seat is not None and not Reservation.objects.filter(
            seat=seat, territory__zip_code=DEMO_ZIP).exclude(
            status=Reservation.Status.RELEASED).exists():
        reservation = territory_services.hold_slot(seat=seat, zip_code=DEMO_ZIP)
        territory_services.activate_reservation(reservation_id=reservation.pk,
                                                stripe_item_id=DEMO_STRIPE_ITEM)
        made.append(f"ZIP {DEMO_ZIP} reserved for {AGENT.email}")
    return made + _ensure_demo_sources()


def ensure_demo_data() -> list[str]:
    """Make whatever part of the demo data is missing; return what was made."""
    made: list[str] = []
    brokerage = Brokerage.objects.filter(slug=DEMO_SLUG).first()
    if brokerage is None:
        brokerage = services.provision_brokerage(
            name=DEMO_NAME, slug=DEMO_SLUG, admin_email=ADMIN.email, admin_name=ADMIN.name,
            admin_password=ADMIN.password)
        made.append(f"brokerage {DEMO_NAME} with admin {ADMIN.email}")

    if not Seat.objects.filter(brokerage=brokerage, email__iexact=AGENT.email).exists():
        admin = Seat.objects.filter(brokerage=brokerage, role=Seat.Role.ADMIN,
                                    status=Seat.Status.ACTIVE).select_related("user").first()
        # The agent's seat goes through the real invitation flow, accepted on the spot; the
        # invitation email would have no reader, so none is sent.
        with transaction.atomic():
            seat = services.invite_seat(
                brokerage=brokerage, email=AGENT.email, name=AGENT.name,
                role=Seat.Role.AGENT, invited_by=admin.user if admin else None, notify=False)
            services.accept_invitation(token=services.invitation_token(seat), name=AGENT.name,
                                       password=AGENT.password)
        made.append(f"agent seat for {AGENT.email}")

    if not User.objects.filter(email__iexact=STAFF.email).exists():
        User.objects.create_user(STAFF.email, STAFF.password, name=STAFF.name, is_staff=True)
        made.append(f"platform staff account {STAFF.email}")
    made += _ensure_demo_leads(brokerage)
    return made


class Command(BaseCommand):
    help = ("Create the demo brokerage (slug 'demo'), its logins, the demo agent's ZIP and a "
            "demo lead source per adapter; safe to run again.")

    def handle(self, *args, **options) -> None:
        made = ensure_demo_data()
        if options["verbosity"] < 1:
            return
        for item in made or ["nothing: the demo data is already there"]:
            self.stdout.write(f"demo: made {item}")
        for login in LOGINS:
            self.stdout.write(f"  {login.who:<22} {login.email:<26} {login.password}")
