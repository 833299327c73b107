"""`migrate_schemas` migrates only the schemas that are behind, and all of those."""

from __future__ import annotations

import io
import re
from pathlib import Path

import pytest
from django.core.management import CommandError, call_command
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


# --- a new tenant migration: its SQL run in each schema, or each schema migrated ----------
ADDED = "0999_added_column"
ADDED_MIGRATION = '''from django.db import migrations, models

{code}


class Migration(migrations.Migration):
    dependencies = [("crm", "{previous}")]
    operations = [
        migrations.AddField("lead", "added_one", models.CharField(max_length=40, null=True)),
        migrations.AddField("lead", "added_two", models.IntegerField(default=7)),
        migrations.AddIndex("lead", models.Index(fields=["added_one"], name="lead_added_one")),
        {extra}
    ]
'''
RUN_PYTHON = '''def fill(apps, schema_editor):
    apps.get_model("crm", "Lead").objects.update(added_one="filled")
'''


@pytest.fixture
def added_migration(settings, tmp_path, request):
    """Adds crm migration ADDED (two columns and an index; `extra` appends operations)
    through MIGRATION_MODULES, leaving the source tree alone; afterwards takes what it
    added out of every schema (the session's brokerages and the template among them)."""
    import shutil
    import sys
    import uuid

    import clozings.crm.migrations as crm_migrations

    def add(*, code: str = "", extra: str = "") -> None:
        package = f"crm_migrations_{uuid.uuid4().hex}"
        previous = MigrationLoader(None).graph.leaf_nodes("crm")[0][1]
        shutil.copytree(Path(crm_migrations.__file__).parent, tmp_path / package,
                        ignore=shutil.ignore_patterns("__pycache__"))
        (tmp_path / package / f"{ADDED}.py").write_text(
            ADDED_MIGRATION.format(code=code, extra=extra, previous=previous))
        sys.path.insert(0, str(tmp_path))
        request.addfinalizer(lambda: sys.path.remove(str(tmp_path)))
        settings.MIGRATION_MODULES = {"crm": package}
        provisioning._graph_nodes.cache_clear()

    yield add
    provisioning._graph_nodes.cache_clear()
    provisioning.forget_clone_plans()
    connection.set_schema_to_public()
    with connection.cursor() as cursor:
        cursor.execute("SELECT table_schema FROM information_schema.tables "
                       "WHERE table_name = 'crm_lead'")
        for (schema,) in cursor.fetchall():
            cursor.execute(f'ALTER TABLE "{schema}".crm_lead DROP COLUMN IF EXISTS '
                           "added_one, DROP COLUMN IF EXISTS added_two")
            cursor.execute(f'DELETE FROM "{schema}".django_migrations '
                           "WHERE app = 'crm' AND name = %s", [ADDED])


def added_state(schema: str) -> tuple[bool, bool, bool, bool]:
    """(added_one column, added_two column, the index, ADDED recorded) in the schema"""
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT EXISTS (SELECT 1 FROM information_schema.columns WHERE table_schema = %s "
            "AND table_name = 'crm_lead' AND column_name = 'added_one'), "
            "EXISTS (SELECT 1 FROM information_schema.columns WHERE table_schema = %s "
            "AND table_name = 'crm_lead' AND column_name = 'added_two'), "
            "EXISTS (SELECT 1 FROM pg_indexes WHERE schemaname = %s "
            "AND indexname = 'lead_added_one')",
            [schema, schema, schema])
        columns = cursor.fetchone()
        cursor.execute(f'SELECT EXISTS (SELECT 1 FROM "{schema}".django_migrations '
                       "WHERE app = 'crm' AND name = %s)", [ADDED])
        return (*columns, cursor.fetchone()[0])


def test_sql_only_migration_is_written_once_and_run_in_each_schema(
        brokerages, migrated_schemas, added_migration):
    added_migration()

    output = migrate_schemas("--tenant")

    # Only the template ran `migrate`; the brokerages got its SQL.
    assert migrated_schemas == [provisioning.TEMPLATE_SCHEMA]
    assert "migrations reduce to" in output and "SQL statements" in output
    for schema in [provisioning.TEMPLATE_SCHEMA, *brokerages]:
        assert added_state(schema) == (True, True, True, True), schema
    # Every brokerage was behind (the session's too), each with its progress line.
    progress = re.findall(r"migrate_schemas: (\d+)/(\d+) (\S+) migrated", output)
    count = int(re.search(r"(\d+) of \d+ brokerage schemas to migrate", output).group(1))
    assert sorted(int(done) for done, _, _ in progress) == list(range(1, count + 1))
    assert {total for _, total, _ in progress} == {str(count)}
    assert set(brokerages) <= {name for _, _, name in progress}
    assert schemas_behind(brokerages) == []
    assert "migrate_schemas: 0 of" in migrate_schemas("--tenant")


def test_a_run_python_migration_migrates_each_schema_in_full(
        brokerages, migrated_schemas, added_migration):
    added_migration(code=RUN_PYTHON,
                    extra="migrations.RunPython(fill, migrations.RunPython.noop),")

    output = migrate_schemas("--tenant", "--parallel", "1")

    assert "each schema migrated in full" in output and "RunPython" in output
    assert migrated_schemas[0] == provisioning.TEMPLATE_SCHEMA
    assert set(brokerages) <= set(migrated_schemas[1:])
    for schema in [provisioning.TEMPLATE_SCHEMA, *brokerages]:
        assert added_state(schema) == (True, True, True, True), schema


def test_a_schema_that_fails_is_named_and_keeps_none_of_the_migration(
        brokerages, added_migration):
    added_migration()
    with connection.cursor() as cursor:  # the second column is in the way there
        cursor.execute(f'ALTER TABLE "{brokerages[1]}".crm_lead ADD COLUMN added_two text')
    errors = io.StringIO()

    failed = rf"1 of \d+ schemas failed to migrate: {brokerages[1]}$"
    with pytest.raises(CommandError, match=failed):
        call_command("migrate_schemas", "--tenant", interactive=False, verbosity=1,
                     stdout=io.StringIO(), stderr=errors)
    connection.set_schema_to_public()

    assert f"{brokerages[1]} failed" in errors.getvalue()
    assert "added_two" in errors.getvalue()
    # The first column was not left behind, nor the record: migrating it again works.
    assert added_state(brokerages[1]) == (False, True, False, False)
    for schema in (brokerages[0], brokerages[2]):
        assert added_state(schema) == (True, True, True, True), schema
    assert schemas_behind(brokerages) == [brokerages[1]]


def test_check_names_every_schema_lacking_a_new_migration(
        brokerages, migrated_schemas, added_migration):
    added_migration()
    errors = io.StringIO()

    with pytest.raises(SystemExit) as exited:
        call_command("migrate_schemas", "--tenant", "--check", interactive=False,
                     verbosity=1, stdout=io.StringIO(), stderr=errors)

    assert exited.value.code == 1
    for schema in [provisioning.TEMPLATE_SCHEMA, *brokerages]:
        assert schema in errors.getvalue()
        assert added_state(schema) == (False, False, False, False)
    assert migrated_schemas == []


def test_a_schema_behind_on_more_than_the_template_is_migrated_in_full(
        brokerages, migrated_schemas, added_migration):
    put_behind(brokerages[0])
    added_migration()

    output = migrate_schemas("--tenant", "--parallel", "1")

    assert "migrations reduce to" in output
    # the template, then the one schema unlike it; the others got the template's SQL
    assert migrated_schemas == [provisioning.TEMPLATE_SCHEMA, brokerages[0]]
    assert state_of(brokerages[0]) == (True, False)
    for schema in brokerages:
        assert added_state(schema) == (True, True, True, True), schema
