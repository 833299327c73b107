"""`clozings demo`: the demo brokerage and its logins, made once; running it again changes
nothing (existing accounts keep whatever password their owner has set since)."""

from __future__ import annotations

from dataclasses import dataclass

from django.core.management.base import BaseCommand
from django.db import transaction

from clozings.tenants import services
from clozings.tenants.models import Brokerage, Seat, User


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
    return made


class Command(BaseCommand):
    help = "Create the demo brokerage (slug 'demo') and its logins; safe to run again."

    def handle(self, *args, **options) -> None:
        made = ensure_demo_data()
        if options["verbosity"] < 1:
            return
        for item in made or ["nothing: the demo data is already there"]:
            self.stdout.write(f"demo: made {item}")
        for login in LOGINS:
            self.stdout.write(f"  {login.who:<22} {login.email:<26} {login.password}")
