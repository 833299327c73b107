"""A brokerage schema copied from the template equals one built by running migrations."""

from __future__ import annotations

import pytest
from django.apps import apps as django_apps
from django.core.management import call_command
from django.db import IntegrityError, connection, migrations, models
from django.db.migrations.loader import MigrationLoader
from django.db.migrations.state import ProjectState
from django.db.models import Q
from django.db.models.functions import Lower

from clozings.tenants import provisioning, services
from tests.tenants.factories import PASSWORD

CONTENTTYPES_0002 = ("contenttypes", "0002_remove_content_type_name")
DESCRIBE = {
    "tables": """
        SELECT relname, relpersistence FROM pg_class
         WHERE relnamespace = %(ns)s::regnamespace AND relkind = 'r' ORDER BY 1""",
    "columns": """
        SELECT c.relname, a.attname, format_type(a.atttypid, a.atttypmod), a.attnotnull,
               pg_get_expr(d.adbin, d.adrelid), a.attidentity, a.attgenerated, a.attcollation
          FROM pg_attribute a JOIN pg_class c ON c.oid = a.attrelid
          LEFT JOIN pg_attrdef d ON d.adrelid = a.attrelid AND d.adnum = a.attnum
         WHERE c.relnamespace = %(ns)s::regnamespace AND c.relkind = 'r' AND a.attnum > 0
           AND NOT a.attisdropped ORDER BY c.relname, a.attnum""",
    "constraints": """
        SELECT c.relname, con.conname, con.contype, pg_get_constraintdef(con.oid),
               con.condeferrable, con.condeferred, con.convalidated
          FROM pg_constraint con JOIN pg_class c ON c.oid = con.conrelid
         WHERE c.relnamespace = %(ns)s::regnamespace ORDER BY 1, 2""",
    "indexes": """
        SELECT tablename, indexname, regexp_replace(indexdef, ' ON \\S+ USING', ' ON USING')
          FROM pg_indexes WHERE schemaname = %(ns)s ORDER BY 1, 2""",
    "sequences": """
        SELECT s.sequencename, s.data_type, s.start_value, s.min_value, s.max_value,
               s.increment_by, s.cycle, s.cache_size, s.last_value, d.deptype,
               (SELECT relname FROM pg_class WHERE oid = d.refobjid), d.refobjsubid
          FROM pg_sequences s
          LEFT JOIN pg_depend d ON d.objid = format('%%I.%%I', s.schemaname,
               s.sequencename)::regclass AND d.classid = 'pg_class'::regclass
               AND d.refclassid = 'pg_class'::regclass AND d.deptype IN ('a', 'i')
         WHERE s.schemaname = %(ns)s ORDER BY 1""",
}


def describe(schema: str) -> dict[str, list[tuple]]:
    """The schema's catalog, printed with only that schema on the search path, so names
    of its own objects are unqualified and two schemas compare equal when alike."""
    with connection.cursor() as cursor:
        cursor.execute("SELECT set_config('search_path', %s, true)", [f'"{schema}"'])
        found = {}
        for key, sql in DESCRIBE.items():
            cursor.execute(sql, {"ns": schema})
            found[key] = cursor.fetchall()
        connection.set_schema_to_public()
    return found


def shape(schema: str) -> dict[str, list[tuple]]:
    """The catalog without sequence positions (ids differ once rows were re-recorded)."""
    found = describe(schema)
    found["sequences"] = [s[:8] + s[9:] for s in found["sequences"]]
    return found


def rows(schema: str, sql: str) -> list[tuple]:
    with connection.cursor() as cursor:
        cursor.execute(sql.format(schema=f'"{schema}"'))
        return cursor.fetchall()


def migrated_schema(schema: str) -> str:
    """A schema built the slow way: CREATE SCHEMA and every migration."""
    with connection.cursor() as cursor:
        cursor.execute(f'CREATE SCHEMA "{schema}"')
    call_command("migrate_schemas", schema_name=schema, interactive=False, verbosity=0,
                 executor="standard")
    connection.set_schema_to_public()
    return schema


def test_copied_schema_equals_a_migrated_one(db):
    fresh = migrated_schema("clz_migrated")

    services.provision_brokerage(name="Copy Co", slug="copy-co", admin_email="a@copy.test",
                                 admin_name="A", admin_password=PASSWORD)

    assert describe("brk_copy_co") == describe(fresh)
    assert describe("brk_copy_co")["tables"]  # the comparison saw tables, not two voids
    migrations_sql = "SELECT app, name FROM {schema}.django_migrations ORDER BY id"
    assert rows("brk_copy_co", migrations_sql) == rows(fresh, migrations_sql)
    content_types_sql = "SELECT id, app_label, model FROM {schema}.django_content_type ORDER BY id"
    assert rows("brk_copy_co", content_types_sql) == rows(fresh, content_types_sql)
    assert ("contenttypes", "contenttype") in {r[1:] for r in rows("brk_copy_co",
                                                                    content_types_sql)}


@pytest.mark.parametrize("executor", ["standard", "multiprocessing"])
def test_a_template_behind_the_code_is_migrated_before_it_is_copied(db, monkeypatch, executor):
    # given a template from before contenttypes' 0002 (its rows and its effect undone), and
    # whichever django-tenants executor the environment names for migrate_schemas
    monkeypatch.setenv("EXECUTOR", executor)
    template = provisioning.TEMPLATE_SCHEMA
    undo = MigrationLoader(None).graph.backwards_plan(CONTENTTYPES_0002)
    with connection.cursor() as cursor:
        cursor.execute(f'DELETE FROM "{template}".django_migrations '
                       "WHERE (app, name) IN (SELECT * FROM unnest(%s::text[], %s::text[]))",
                       [[app for app, _ in undo], [name for _, name in undo]])
        cursor.execute(f'ALTER TABLE "{template}".django_content_type '
                       "ADD COLUMN name varchar(100) NULL")

    services.provision_brokerage(name="Late Co", slug="late-co", admin_email="a@late.test",
                                 admin_name="A", admin_password=PASSWORD)

    fresh = migrated_schema("clz_migrated")
    assert shape("brk_late_co") == shape(fresh)
    migrations_sql = "SELECT app, name FROM {schema}.django_migrations"
    assert set(rows("brk_late_co", migrations_sql)) == set(rows(fresh, migrations_sql))
    assert CONTENTTYPES_0002 in rows("brk_late_co", migrations_sql)
    assert CONTENTTYPES_0002 in rows(template, migrations_sql)


def test_a_template_holding_what_the_copy_cannot_make_is_migrated_instead(db):
    with connection.cursor() as cursor:
        cursor.execute(f'CREATE VIEW "{provisioning.TEMPLATE_SCHEMA}".recent_types AS '
                       f'SELECT id FROM "{provisioning.TEMPLATE_SCHEMA}".django_content_type')

    services.provision_brokerage(name="View Co", slug="view-co", admin_email="a@view.test",
                                 admin_name="A", admin_password=PASSWORD)

    assert describe("brk_view_co") == describe(migrated_schema("clz_migrated"))


@pytest.fixture
def broken_copy_plan(db):
    """The template's copy plan, broken halfway: its second table cannot be made."""
    with connection.cursor() as cursor:
        fingerprint = provisioning.template_state(cursor).fingerprint
    broken = provisioning.build_clone_plan(source=provisioning.TEMPLATE_SCHEMA)
    broken.tables.insert(1, "CREATE TABLE half_made (id bigint REFERENCES nowhere (id))")
    provisioning._plans[(provisioning.TEMPLATE_SCHEMA, fingerprint)] = broken
    yield broken
    provisioning.forget_clone_plans()


def test_a_copy_failing_in_the_database_is_undone_and_the_schema_migrated(broken_copy_plan):
    services.provision_brokerage(name="Half Co", slug="half-co", admin_email="a@half.test",
                                 admin_name="A", admin_password=PASSWORD)

    assert describe("brk_half_co") == describe(migrated_schema("clz_migrated"))
    assert "half_made" not in {table for table, _ in describe("brk_half_co")["tables"]}


# --- the shapes tenant models take, built by Django's own migration operations ---------
SCRATCH_OPERATIONS = [
    migrations.CreateModel("ScratchTeam", fields=[
        ("id", models.BigAutoField(primary_key=True)),
        ("name", models.CharField(max_length=50)),
        ("region", models.CharField(max_length=20, db_collation="C", blank=True)),
    ], options={"constraints": [
        models.UniqueConstraint(fields=["name"], name="scratch_team_name_unique"),
    ]}),
    migrations.CreateModel("ScratchMember", fields=[
        ("id", models.BigAutoField(primary_key=True)),
        ("team", models.ForeignKey("crm.ScratchTeam", models.CASCADE, related_name="+")),
        ("user", models.ForeignKey("tenants.User", models.PROTECT, related_name="+")),
        ("email", models.CharField(max_length=254)),
        ("email_lower", models.GeneratedField(expression=Lower("email"), db_persist=True,
                                              output_field=models.CharField(max_length=254))),
        ("status", models.CharField(max_length=10, db_default="open")),
        ("score", models.IntegerField(db_default=0)),
        ("ratio", models.DecimalField(max_digits=6, decimal_places=2, null=True)),
    ], options={
        "constraints": [
            models.CheckConstraint(condition=Q(score__gte=0), name="scratch_member_score_ok"),
            models.UniqueConstraint(Lower("email"), "team", name="scratch_member_email_ci"),
        ],
        "indexes": [models.Index(fields=["status"], condition=Q(status="open"),
                                 name="scratch_member_open_idx")],
    }),
]


def apply_operations(schema: str, operations: list, state: ProjectState) -> ProjectState:
    """Run migration operations in `schema` the way `migrate` would."""
    with connection.cursor() as cursor:
        cursor.execute(f'CREATE SCHEMA IF NOT EXISTS "{schema}"')
    connection.set_schema(schema)
    try:
        for operation in operations:
            new_state = state.clone()
            operation.state_forwards("crm", new_state)
            with connection.schema_editor(atomic=True) as editor:
                operation.database_forwards("crm", editor, state, new_state)
            state = new_state
    finally:
        connection.set_schema_to_public()
    return state


@pytest.fixture
def scratch_source(db):
    """A schema with an identity key, a foreign key to a public table and one within the
    schema, unique, check and expression-unique constraints, a partial index, a generated
    column, a database default, a collation, and one seeded row."""
    state = apply_operations("clz_scratch_source", SCRATCH_OPERATIONS,
                             ProjectState.from_apps(django_apps))
    with connection.cursor() as cursor:
        cursor.execute('INSERT INTO "clz_scratch_source".crm_scratchteam (name, region) '
                       "VALUES ('Seeded', 'north')")
    return state


def test_copy_reproduces_every_shape_under_the_same_names(scratch_source):
    migrated = "clz_scratch_migrated"
    apply_operations(migrated, SCRATCH_OPERATIONS, ProjectState.from_apps(django_apps))

    provisioning.clone_schema(source="clz_scratch_source", target="clz_scratch_copy")

    copy = describe("clz_scratch_copy")
    expected = describe(migrated)
    # the migrated schema has no seeded row, so its identity sequence was never used
    assert [s[:8] for s in copy["sequences"]] == [s[:8] for s in expected["sequences"]]
    assert [s[9:] for s in copy["sequences"]] == [s[9:] for s in expected["sequences"]]
    assert {k: v for k, v in copy.items() if k != "sequences"} == \
        {k: v for k, v in expected.items() if k != "sequences"}
    assert {c[1] for c in copy["constraints"]} >= {
        "scratch_team_name_unique", "scratch_member_score_ok"}
    assert "scratch_member_open_idx" in {i[1] for i in copy["indexes"]}
    assert "scratch_member_email_ci" in {i[1] for i in copy["indexes"]}


def test_copy_carries_seeded_rows_and_sequences_continue_after_them(scratch_source):
    provisioning.clone_schema(source="clz_scratch_source", target="clz_scratch_copy")

    with connection.cursor() as cursor:
        cursor.execute('INSERT INTO "clz_scratch_copy".crm_scratchteam (name, region) '
                       "VALUES ('Second', '') RETURNING id")
        new_id = cursor.fetchone()[0]
    assert rows("clz_scratch_copy", "SELECT id, name, region FROM {schema}.crm_scratchteam "
                                    "ORDER BY id") == [(1, "Seeded", "north"), (2, "Second", "")]
    assert new_id == 2


MEMBER_INSERT = ('INSERT INTO "clz_scratch_copy".crm_scratchmember (team_id, user_id, email, '
                 "score) VALUES (1, %s, %s, %s)")


def test_copy_fills_defaults_and_generated_columns(scratch_source, acme):
    provisioning.clone_schema(source="clz_scratch_source", target="clz_scratch_copy")

    with connection.cursor() as cursor:
        cursor.execute(MEMBER_INSERT.replace(", score) VALUES (1, %s, %s, %s)",
                                             ") VALUES (1, %s, %s)"), [acme.admin.pk, "Ann@x.test"])

    member_sql = "SELECT email_lower, status, score FROM {schema}.crm_scratchmember"
    assert rows("clz_scratch_copy", member_sql) == [("ann@x.test", "open", 0)]


@pytest.mark.parametrize(("email", "score", "user_exists", "violated"), [
    ("ann@X.test", 1, True, "scratch_member_email_ci"),
    ("bob@x.test", -1, True, "scratch_member_score_ok"),
    ("cy@x.test", 1, False, "fk_tenants_user_id"),
])
def test_copy_enforces_its_constraints(scratch_source, acme, email, score, user_exists, violated):
    provisioning.clone_schema(source="clz_scratch_source", target="clz_scratch_copy")
    user_id = acme.admin.pk if user_exists else 10**9
    with connection.cursor() as cursor:
        cursor.execute(MEMBER_INSERT, [acme.admin.pk, "Ann@x.test", 1])

        with pytest.raises(IntegrityError, match=violated):
            cursor.execute(MEMBER_INSERT, [user_id, email, score])
            cursor.execute("SET CONSTRAINTS ALL IMMEDIATE")  # foreign keys are deferred


def test_a_later_migration_drops_constraints_and_indexes_of_a_copy_by_name(scratch_source):
    provisioning.clone_schema(source="clz_scratch_source", target="clz_scratch_copy")

    apply_operations("clz_scratch_copy", [
        migrations.RemoveConstraint("ScratchMember", "scratch_member_score_ok"),
        migrations.RemoveConstraint("ScratchTeam", "scratch_team_name_unique"),
        migrations.RemoveIndex("ScratchMember", "scratch_member_open_idx"),
    ], scratch_source)

    copy = describe("clz_scratch_copy")
    assert not {"scratch_member_score_ok", "scratch_team_name_unique"} & {
        c[1] for c in copy["constraints"]}
    assert "scratch_member_open_idx" not in {i[1] for i in copy["indexes"]}


def test_copy_keeps_not_valid_constraints_and_a_foreign_key_on_a_unique_index(scratch_source):
    """The forms only SQL makes: a check and a foreign key left unvalidated (ALTER TABLE
    only), and a foreign key resting on a unique index rather than a constraint."""
    source = '"clz_scratch_source"'
    with connection.cursor() as cursor:
        cursor.execute("CREATE UNIQUE INDEX scratch_team_region_key "
                       f"ON {source}.crm_scratchteam (region)")
        cursor.execute(f"ALTER TABLE {source}.crm_scratchteam ADD CONSTRAINT "
                       "scratch_team_short_name CHECK (length(name) < 5) NOT VALID")
        cursor.execute(f"ALTER TABLE {source}.crm_scratchmember ADD COLUMN region varchar(20)")
        cursor.execute(f"ALTER TABLE {source}.crm_scratchmember ADD CONSTRAINT "
                       "scratch_member_region_fk FOREIGN KEY (region) "
                       f"REFERENCES {source}.crm_scratchteam (region) NOT VALID")
        cursor.execute(f"ALTER TABLE {source}.crm_scratchmember ADD CONSTRAINT "
                       "scratch_member_team_region_fk FOREIGN KEY (region) "
                       f"REFERENCES {source}.crm_scratchteam (region)")

    provisioning.clone_schema(source="clz_scratch_source", target="clz_scratch_copy")

    copy, original = describe("clz_scratch_copy"), describe("clz_scratch_source")
    assert copy == original
    validated = {c[1]: c[6] for c in copy["constraints"]}
    assert validated["scratch_team_short_name"] is False
    assert validated["scratch_member_region_fk"] is False
    assert validated["scratch_member_team_region_fk"] is True


@pytest.mark.parametrize(("ddl", "named"), [
    ("CREATE VIEW {s}.recent AS SELECT 1 AS one", "view"),
    ("CREATE FUNCTION {s}.one() RETURNS int LANGUAGE sql AS 'SELECT 1'", "function"),
    ("CREATE TYPE {s}.mood AS ENUM ('ok')", "type"),
    ("CREATE STATISTICS {s}.team_stats ON name, region FROM {s}.crm_scratchteam",
     "statistics"),
    ("CREATE TRIGGER team_touched BEFORE UPDATE ON {s}.crm_scratchteam "
     "FOR EACH ROW EXECUTE FUNCTION suppress_redundant_updates_trigger()", "trigger"),
    ("CREATE RULE team_quiet AS ON DELETE TO {s}.crm_scratchteam DO INSTEAD NOTHING", "rule"),
    ("ALTER TABLE {s}.crm_scratchteam ENABLE ROW LEVEL SECURITY", "policy"),
    ("CREATE TABLE {s}.child () INHERITS ({s}.crm_scratchteam)", "inheritance"),
])
def test_a_source_holding_what_the_copy_cannot_make_is_refused(scratch_source, ddl, named):
    with connection.cursor() as cursor:
        cursor.execute(ddl.format(s='"clz_scratch_source"'))

    with pytest.raises(provisioning.UnsupportedTemplate, match=named):
        provisioning.build_clone_plan(source="clz_scratch_source")
