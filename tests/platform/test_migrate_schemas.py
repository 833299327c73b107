"""`migrate_schemas` migrates only the schemas that are behind, and all of those."""

from __future__ import annotations

import io
import re

import pytest
from django.core.management import call_command
from django.db import connection
from django.db.migrations.loader import MigrationLoader
from django_tenants.signals import schema_pre_migration

from clozings.platform.management.schemas import schemas_behind
from clozings.tenants import provisioning, services
from tests.tenants.factories import PASSWORD

CONTENTTYPES_0002 = ("contenttypes", "0002_remove_content_type_name")
SLUGS = ["ms-one", "ms-two", "ms-three"]


@pytest.fixture
def brokerages(transactional_db):
    """Three brokerages with committed schemas (migrate_schemas commits); dropped after."""
    made = [services.provision_brokerage(
        name=slug, slug=slug, admin_email=f"admin@{slug}.test", admin_name="Admin",
        admin_password=PASSWORD).schema_name for slug in SLUGS]
    yield made
    connection.set_schema_to_public()
    with connection.cursor() as cursor:
        for schema in made:
            cursor.execute(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE')


@pytest.fixture
def migrated_schemas():
    """Names of the schemas this process runs `migrate` in, in order."""
    seen: list[str] = []

    def record(sender, schema_name, **kwargs):
        seen.append(schema_name)

    schema_pre_migration.connect(record)
    yield seen
    schema_pre_migration.disconnect(record)


def put_behind(schema: str) -> None:
    """Take the schema back to before contenttypes' 0002: its rows and its effect."""
    undo = MigrationLoader(None).graph.backwards_plan(CONTENTTYPES_0002)
    with connection.cursor() as cursor:
        cursor.execute(f'DELETE FROM "{schema}".django_migrations '
                       "WHERE (app, name) IN (SELECT * FROM unnest(%s::text[], %s::text[]))",
                       [[app for app, _ in undo], [name for _, name in undo]])
        cursor.execute(f'ALTER TABLE "{schema}".django_content_type '
                       "ADD COLUMN name varchar(100) NULL")


def state_of(schema: str) -> tuple[bool, bool]:
    """(has contenttypes 0002 recorded, still has the column 0002 removes)"""
    with connection.cursor() as cursor:
        cursor.execute(f'SELECT EXISTS (SELECT 1 FROM "{schema}".django_migrations '
                       "WHERE app = %s AND name = %s)", list(CONTENTTYPES_0002))
        recorded = cursor.fetchone()[0]
        cursor.execute("SELECT EXISTS (SELECT 1 FROM information_schema.columns WHERE "
                       "table_schema = %s AND table_name = 'django_content_type' "
                       "AND column_name = 'name')", [schema])
        return recorded, cursor.fetchone()[0]


def migrate_schemas(*args: str) -> str:
    out = io.StringIO()
    call_command("migrate_schemas", *args, interactive=False, verbosity=1, stdout=out)
    connection.set_schema_to_public()
    return out.getvalue()


def test_a_schema_behind_is_found_in_one_pass(brokerages):
    put_behind(brokerages[1])

    assert schemas_behind([*brokerages, "brk_never_made"]) == [brokerages[1], "brk_never_made"]


def test_only_the_schema_behind_is_migrated(brokerages, migrated_schemas):
    put_behind(brokerages[1])

    output = migrate_schemas()

    assert migrated_schemas == ["public", brokerages[1]]
    assert state_of(brokerages[1]) == (True, False)
    assert re.search(r"1 of \d+ brokerage schemas to migrate; template current", output)
    assert f"1/1 {brokerages[1]} migrated" in output


def test_nothing_to_apply_runs_no_migrate_in_any_brokerage(brokerages, migrated_schemas):
    output = migrate_schemas("--tenant")

    assert migrated_schemas == []
    assert re.search(r"0 of \d+ brokerage schemas to migrate; template current", output)


def test_schemas_behind_are_migrated_in_parallel_with_progress(brokerages, migrated_schemas):
    put_behind(brokerages[0])
    put_behind(brokerages[2])

    output = migrate_schemas("--tenant", "--parallel", "2")

    assert [state_of(schema) for schema in brokerages] == [(True, False)] * 3
    progress = re.findall(r"migrate_schemas: (\d)/2 (\S+) migrated", output)
    assert sorted(name for _, name in progress) == sorted([brokerages[0], brokerages[2]])
    assert sorted(done for done, _ in progress) == ["1", "2"]
    assert migrated_schemas == []  # the work happened in the worker processes


def test_a_template_behind_is_migrated_with_the_brokerages(brokerages, migrated_schemas):
    put_behind(provisioning.TEMPLATE_SCHEMA)

    output = migrate_schemas("--tenant")

    assert migrated_schemas == [provisioning.TEMPLATE_SCHEMA]
    assert state_of(provisioning.TEMPLATE_SCHEMA) == (True, False)
    assert re.search(r"0 of \d+ brokerage schemas to migrate; template to migrate", output)


def test_check_names_the_schemas_behind_and_changes_nothing(brokerages, migrated_schemas):
    put_behind(brokerages[2])
    errors = io.StringIO()

    with pytest.raises(SystemExit) as exited:
        call_command("migrate_schemas", "--tenant", "--check", interactive=False,
                     verbosity=1, stdout=io.StringIO(), stderr=errors)

    assert exited.value.code == 1
    assert brokerages[2] in errors.getvalue()
    assert state_of(brokerages[2]) == (False, True)
    assert migrated_schemas == []


def test_schema_option_migrates_that_schema_as_django_tenants_does(brokerages,
                                                                   migrated_schemas):
    migrate_schemas("--schema", brokerages[0])

    assert migrated_schemas == [brokerages[0]]


def test_an_executor_named_gets_only_the_schemas_behind(brokerages, migrated_schemas):
    put_behind(brokerages[0])

    migrate_schemas("--tenant", "--executor", "standard")

    assert migrated_schemas == [brokerages[0]]
    assert state_of(brokerages[0]) == (True, False)


def test_shared_migrates_the_public_schema_alone(brokerages, migrated_schemas):
    put_behind(brokerages[0])

    migrate_schemas("--shared")

    assert migrated_schemas == ["public"]
    assert state_of(brokerages[0]) == (False, True)
