"""New brokerage provisioning, and `migrate_schemas` with nothing to apply, at 1 and at
BENCH_BROKERAGES brokerages (default 1,000; QUALITY.md's run is BENCH_BROKERAGES=10000:
a new brokerage under 250 ms at the median, and nothing to apply under 10 s, with every
tenant app's tables, the CRM's among them, in each schema). Each figure carries
`load_avg`, the 1-minute load average as it was measured.

provision_brokerage is the staff and demo path (rows, domain, admin seat, the new admin's
password hashed with Argon2 while they wait, schema); signup_confirm is a customer's: the
confirmation link of a sign-up followed (confirm_signup: rows, domain, admin seat with the
password hashed when they signed up, schema), the brokerage usable when it answers;
brokerage_schema_copy is the schema alone.
Their baselines make the schema the way it was made before the template: CREATE SCHEMA and
every migration. BENCH_DJANGO_TENANTS=0 leaves out the last figure, django-tenants' own
`migrate_schemas` at BENCH_BROKERAGES (a `migrate` per schema: minutes at a few thousand).
"""

from __future__ import annotations

import itertools
import os

from django.contrib.auth.hashers import make_password
from django.core.management import call_command
from django.db import connection, transaction
from django.utils import timezone
from django_tenants.management.commands.migrate_schemas import (
    MigrateSchemasCommand as DjangoTenantsMigrateSchemas,
)

from clozings.tenants import provisioning, services
from clozings.tenants.models import Brokerage, Domain, PendingSignup, Seat, User
from tests.perf.harness import BenchContext, figure, time_runs

PASSWORD = "bench-password-not-secret-1"
WITH_DJANGO_TENANTS = os.environ.get("BENCH_DJANGO_TENANTS", "1") != "0"
_probe = itertools.count(1)


def add_brokerages(context: BenchContext, *, count: int, admin: User) -> None:
    """Brokerages as sign-up makes them (rows, domain, admin seat, copied schema), made
    quickly: one admin account for all, so no password is hashed per brokerage."""
    existing = Brokerage.objects.count()
    for number in range(existing + 1, existing + count + 1):
        slug = f"bench-{number:05d}"
        with transaction.atomic():
            brokerage = Brokerage.objects.create(
                name=slug, slug=slug, schema_name=services.schema_name_for(slug))
            Domain.objects.create(tenant=brokerage, domain=services.brokerage_host(brokerage),
                                  is_primary=True)
            Seat.objects.create(brokerage=brokerage, user=admin, email=admin.email,
                                role=Seat.Role.ADMIN, status=Seat.Status.ACTIVE,
                                activated_at=timezone.now())
            provisioning.create_brokerage_schema(brokerage.schema_name)
        if number % 100 == 0 or number == existing + count:
            context.progress(f"{number} brokerages present")


def _remove_probes() -> None:
    """Take away the brokerages the timed runs made, so the number present stays put."""
    for brokerage in Brokerage.objects.filter(slug__startswith="probe-"):
        with connection.cursor() as cursor:
            cursor.execute(f'DROP SCHEMA IF EXISTS "{brokerage.schema_name}" CASCADE')
        brokerage.delete()
    User.objects.filter(email__endswith="@probe.bench").delete()


def _provision() -> None:
    number = next(_probe)
    services.provision_brokerage(
        name=f"Probe {number}", slug=f"probe-{number}", admin_email=f"admin{number}@probe.bench",
        admin_name="Probe Admin", admin_password=PASSWORD)


_signups: list[str] = []


def _pending_signup(password_hash: str) -> None:
    """A sign-up as start_signup keeps it (its password hashed then), its link unfollowed."""
    number = next(_probe)
    signup = PendingSignup.objects.create(
        email=f"admin{number}@probe.bench", brokerage_name=f"Probe {number}",
        slug=f"probe-{number}", admin_name="Probe Admin", password_hash=password_hash,
        time_zone="America/New_York")
    _signups.append(services.signup_token(signup))


def _confirm_signup() -> None:
    services.confirm_signup(token=_signups.pop(), slug="", password="", ip="bench")


def _create_schema_by_migrating(schema_name: str) -> None:
    """How schemas were made before the template: CREATE SCHEMA and every migration."""
    with connection.cursor() as cursor:
        cursor.execute(f'CREATE SCHEMA "{schema_name}"')
    call_command("migrate_schemas", schema_name=schema_name, interactive=False, verbosity=0)


def _provision_by_migrating() -> None:
    copy = services.create_brokerage_schema
    services.create_brokerage_schema = _create_schema_by_migrating
    try:
        _provision()
    finally:
        services.create_brokerage_schema = copy


def _create_probe_schema(create) -> None:
    with transaction.atomic():
        create(f"probe_schema_{next(_probe)}")


def _drop_probe_schemas() -> None:
    with connection.cursor() as cursor:
        cursor.execute("SELECT nspname FROM pg_namespace WHERE nspname LIKE 'probe\\_schema\\_%'")
        for (schema,) in cursor.fetchall():
            cursor.execute(f'DROP SCHEMA "{schema}" CASCADE')


def _figure(*args, **extra) -> dict:
    """harness.figure with the 1-minute load average as the figure was measured."""
    return figure(*args, **extra, load_avg=round(os.getloadavg()[0], 2))


def _migrate_schemas(**options) -> None:
    call_command("migrate_schemas", interactive=False, verbosity=0, **options)
    connection.set_schema_to_public()


def _migrate_schemas_as_django_tenants() -> None:
    """The command this project replaces: a full `migrate` in every schema."""
    call_command(DjangoTenantsMigrateSchemas(), interactive=False, verbosity=0)
    connection.set_schema_to_public()


def run(context: BenchContext) -> list[dict]:
    runs, size = context.runs, context.brokerages
    admin = User.objects.create_user("admin@bench.bench", PASSWORD, name="Bench Admin")
    add_brokerages(context, count=1, admin=admin)
    one_schema = Brokerage.objects.get().schema_name

    def schema_figure(bench, create, brokerages, **extra):
        return _figure(bench, time_runs(lambda: _create_probe_schema(create), runs=runs,
                                        after=_drop_probe_schemas),
                       brokerages=brokerages, **extra)

    def provision_figure(bench, action, brokerages, **extra):
        return _figure(bench, time_runs(action, runs=runs, after=_remove_probes),
                       brokerages=brokerages, **extra)

    password_hash = make_password(PASSWORD)

    def signup_figure(brokerages, **extra):
        return _figure("signup_confirm", time_runs(
            _confirm_signup, runs=runs, before=lambda: _pending_signup(password_hash),
            after=_remove_probes), brokerages=brokerages, target_ms=250, **extra)

    context.progress("provisioning with 1 brokerage present")
    schema_by_migrating = schema_figure(
        "brokerage_schema_by_migrating", _create_schema_by_migrating, 1)
    schema_at_one = schema_figure("brokerage_schema_copy", provisioning.create_brokerage_schema,
                                  1, baseline=schema_by_migrating)
    by_migrating = provision_figure("provision_brokerage_by_migrating",
                                    _provision_by_migrating, 1)
    at_one = provision_figure("provision_brokerage", _provision, 1, baseline=by_migrating,
                              target_ms=250)
    signup_at_one = signup_figure(1, baseline=by_migrating)
    context.progress("migrate_schemas with 1 brokerage present")
    one_schema_migrate = _figure("migrate_schemas_one_schema", time_runs(
        lambda: _migrate_schemas(schema_name=one_schema), runs=runs), brokerages=1)
    noop_at_one = _figure("migrate_schemas_nothing_to_apply", time_runs(
        _migrate_schemas, runs=runs), brokerages=1, baseline=one_schema_migrate)

    context.progress(f"adding brokerages up to {size}")
    add_brokerages(context, count=size - 1, admin=admin)
    context.progress(f"provisioning with {size} brokerages present")
    schema_at_size = schema_figure("brokerage_schema_copy",
                                   provisioning.create_brokerage_schema, size,
                                   baseline=schema_at_one)
    at_size = provision_figure("provision_brokerage", _provision, size, baseline=at_one,
                               target_ms=250)
    signup_at_size = signup_figure(size, baseline=signup_at_one)
    context.progress(f"migrate_schemas with {size} brokerages present")
    noop_at_size = _figure("migrate_schemas_nothing_to_apply", time_runs(
        _migrate_schemas, runs=runs), brokerages=size, baseline=one_schema_migrate,
        target_ms=10000)
    results = [schema_by_migrating, schema_at_one, schema_at_size, by_migrating, at_one,
               at_size, signup_at_one, signup_at_size, one_schema_migrate, noop_at_one,
               noop_at_size]
    if WITH_DJANGO_TENANTS:
        context.progress(f"django-tenants' own migrate_schemas with {size} brokerages "
                         "(one run)")
        results.append(_figure("migrate_schemas_nothing_to_apply_django_tenants",
                               time_runs(_migrate_schemas_as_django_tenants, runs=1),
                               brokerages=size, baseline=noop_at_size))
    return results
