"""Factories for people, brokerages and seats."""

from __future__ import annotations

from dataclasses import dataclass

import factory
from django.db import connection
from django.utils import timezone

from clozings.tenants import services
from clozings.tenants.models import Brokerage, Domain, Seat, User

PASSWORD = "correct-horse-battery"


class UserFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = User
        skip_postgeneration_save = True

    email = factory.Sequence(lambda n: f"person{n}@example.test")
    name = factory.Faker("name")
    password = factory.PostGenerationMethodCall("set_password", PASSWORD)

    @classmethod
    def _after_postgeneration(cls, instance, create, results=None):
        if create:
            instance.save()


class SeatFactory(factory.django.DjangoModelFactory):
    """An active seat of an existing brokerage (pass brokerage=...)."""

    class Meta:
        model = Seat

    user = factory.SubFactory(UserFactory)
    email = factory.LazyAttribute(lambda seat: seat.user.email if seat.user else "x@example.test")
    name = factory.LazyAttribute(lambda seat: seat.user.name if seat.user else "")
    role = Seat.Role.AGENT
    status = Seat.Status.ACTIVE
    activated_at = factory.LazyFunction(timezone.now)


@dataclass
class BrokerageSetup:
    brokerage: Brokerage
    admin: User
    admin_seat: Seat

    @property
    def host(self) -> str:
        return services.brokerage_host(self.brokerage)

    @property
    def schema_name(self) -> str:
        return self.brokerage.schema_name


def ensure_brokerage(slug: str) -> BrokerageSetup:
    """A brokerage with its admin; made once, then found again.

    If a transactional test flushed the public tables, the rows are made again over the
    schema that is still there, instead of building a schema anew.
    """
    admin_email = f"admin@{slug}.test"
    brokerage = Brokerage.objects.filter(slug=slug).first()
    if brokerage is None:
        schema = services.schema_name_for(slug)
        with connection.cursor() as cursor:
            cursor.execute("SELECT 1 FROM pg_namespace WHERE nspname = %s", [schema])
            schema_exists = cursor.fetchone() is not None
        if schema_exists:
            brokerage = Brokerage.objects.create(name=slug.title(), slug=slug, schema_name=schema)
            Domain.objects.create(tenant=brokerage, domain=services.brokerage_host(brokerage),
                                  is_primary=True)
            admin = User.objects.filter(email=admin_email).first() or \
                User.objects.create_user(admin_email, PASSWORD, name=f"{slug.title()} Admin")
            Seat.objects.create(brokerage=brokerage, user=admin, email=admin_email,
                                name=admin.name, role=Seat.Role.ADMIN,
                                status=Seat.Status.ACTIVE, activated_at=timezone.now())
        else:
            brokerage = services.provision_brokerage(
                name=slug.title(), slug=slug, admin_email=admin_email,
                admin_name=f"{slug.title()} Admin", admin_password=PASSWORD)
    seat = Seat.objects.select_related("user").get(
        brokerage=brokerage, email=admin_email)
    return BrokerageSetup(brokerage=brokerage, admin=seat.user, admin_seat=seat)
