"""Creating a brokerage's schema by copying a template schema that migrations keep current.

Running every migration for each sign-up costs 0.3 s at 17 migrations and grows with the
history; copying the catalog of `_clozings_template` costs the same whatever the history.
`clozings migrate_schemas` migrates the template along with the brokerages, and a
provisioning that finds it missing or behind the code's migrations migrates it first, so a
stale template is never copied.

The copy is made from the template's catalog, not by django-tenants' clone_schema: tables
with their columns, defaults, identity columns and sequences; primary, unique, check,
exclusion and foreign-key constraints and indexes under the same names (a later migration
drops them by name); the rows the template holds (django_migrations, django_content_type
and any rows a data migration seeded); and sequence positions. A template holding anything
else (views, functions, triggers, types, inheritance, policies) is not copied: the new
schema is migrated instead.
"""

from __future__ import annotations

import functools
import logging
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field

from django.apps import apps
from django.conf import settings
from django.core.management import call_command
from django.db import DatabaseError, connection, transaction
from django.db.migrations.loader import MigrationLoader

logger = logging.getLogger(__name__)

TEMPLATE_SCHEMA = "_clozings_template"
# pg_advisory_lock key guarding the template: migrating it takes the lock exclusively,
# copying it takes it shared. Any fixed 64-bit number no other code uses.
TEMPLATE_LOCK_KEY = 7_344_170_951_023_401


class UnsupportedTemplate(Exception):
    """The template holds objects the catalog copy does not reproduce."""


def _quote(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def _literal(text: str) -> str:
    return "'" + text.replace("'", "''") + "'"


# --- which migrations a schema must have ----------------------------------------------
def tenant_app_labels() -> list[str]:
    names = set(settings.TENANT_APPS)
    return [config.label for config in apps.get_app_configs()
            if config.name in names
            or f"{type(config).__module__}.{type(config).__name__}" in names]


@functools.cache
def _graph_nodes() -> frozenset[tuple[str, str]]:
    return frozenset(MigrationLoader(None, ignore_no_migrations=True).graph.nodes)


def expected_migrations(*, tenant_apps_only: bool) -> frozenset[tuple[str, str]]:
    """The (app, name) pairs the code's migration graph holds.

    A brokerage schema is current when it has every migration of the tenant apps. The
    template must have every migration (Django records shared apps' migrations in a
    tenant schema too, as no-ops), so that a copy equals a schema migrated from scratch.
    """
    nodes = _graph_nodes()
    if not tenant_apps_only:
        return nodes
    labels = set(tenant_app_labels())
    return frozenset(node for node in nodes if node[0] in labels)


# --- the template's state -------------------------------------------------------------
@dataclass(frozen=True)
class TemplateState:
    exists: bool
    applied: frozenset[tuple[str, str]] = frozenset()
    # Changes whenever a migration is applied or unapplied or content types are added.
    fingerprint: tuple = ()

    @property
    def current(self) -> bool:
        return self.exists and expected_migrations(tenant_apps_only=False) <= self.applied


def template_state(cursor, schema: str = TEMPLATE_SCHEMA) -> TemplateState:
    cursor.execute(
        "SELECT to_regclass(%s) IS NOT NULL, to_regclass(%s) IS NOT NULL",
        [f"{_quote(schema)}.django_migrations", f"{_quote(schema)}.django_content_type"])
    has_migrations, has_content_types = cursor.fetchone()
    if not has_migrations:
        return TemplateState(exists=False)
    content_types = (
        "(SELECT count(*) || ':' || coalesce(max(id), 0) "
        f"FROM {_quote(schema)}.django_content_type)"
        if has_content_types else "''")
    cursor.execute(
        f"SELECT coalesce(array_agg(app || '.' || name), '{{}}'), count(*), max(id), "
        f"{content_types} FROM {_quote(schema)}.django_migrations")
    pairs, count, max_id, content_types_mark = cursor.fetchone()
    applied = frozenset(tuple(pair.split(".", 1)) for pair in pairs)
    return TemplateState(exists=True, applied=applied,
                         fingerprint=(count, max_id, content_types_mark))


@contextmanager
def template_lock(*, exclusive: bool) -> Iterator[None]:
    """Hold the template's advisory lock: exclusive to migrate it, shared to copy it.

    Inside a transaction the lock lasts until it ends; outside one it is released here.
    """
    suffix = "" if exclusive else "_shared"
    with connection.cursor() as cursor:
        if connection.in_atomic_block:
            cursor.execute(f"SELECT pg_advisory_xact_lock{suffix}(%s)", [TEMPLATE_LOCK_KEY])
            yield
            return
        cursor.execute(f"SELECT pg_advisory_lock{suffix}(%s)", [TEMPLATE_LOCK_KEY])
    try:
        yield
    finally:
        # Migrating closes the connection, which already released a session lock.
        if connection.connection is not None:
            with connection.cursor() as cursor:
                cursor.execute(f"SELECT pg_advisory_unlock{suffix}(%s)", [TEMPLATE_LOCK_KEY])


def migrate_template(*, verbosity: int = 0) -> None:
    """Create the template when missing and bring it to the code's migrations."""
    with template_lock(exclusive=True):
        with connection.cursor() as cursor:
            cursor.execute(f"CREATE SCHEMA IF NOT EXISTS {_quote(TEMPLATE_SCHEMA)}")
        # The standard executor: the others close the connection, and with it the
        # provisioning transaction this may run in.
        call_command("migrate_schemas", schema_name=TEMPLATE_SCHEMA, interactive=False,
                     verbosity=verbosity, executor="standard")
    forget_clone_plans()
    logger.info("tenants.template_migrated", extra={"schema": TEMPLATE_SCHEMA})


# --- provisioning ---------------------------------------------------------------------
def create_brokerage_schema(schema_name: str) -> None:
    """Create the schema as a copy of the current template (migrating the template first
    when it is missing or behind)."""
    with transaction.atomic():
        with connection.cursor() as cursor:
            state = template_state(cursor)
        if not state.current:
            with template_lock(exclusive=True):
                with connection.cursor() as cursor:
                    if not template_state(cursor).current:
                        migrate_template()
                _copy_template_or_migrate(schema_name)
            return
        with template_lock(exclusive=False):
            _copy_template_or_migrate(schema_name)


def _copy_template_or_migrate(schema_name: str) -> None:
    with connection.cursor() as cursor:
        state = template_state(cursor)
    try:
        if not state.current:
            # Rolled back to an older migration since the first look; never copy it.
            raise UnsupportedTemplate("the template is behind the code's migrations")
        plan = _plans.get((TEMPLATE_SCHEMA, state.fingerprint))
        if plan is None:
            plan = _plans[(TEMPLATE_SCHEMA, state.fingerprint)] = build_clone_plan(
                source=TEMPLATE_SCHEMA)
        clone_schema(source=TEMPLATE_SCHEMA, target=schema_name, plan=plan)
    except (UnsupportedTemplate, DatabaseError) as exc:
        # clone_schema's savepoint has undone any part-made copy. A sign-up must not fail
        # because the copy could not be made: the schema is migrated instead.
        log = logger.warning if isinstance(exc, UnsupportedTemplate) else logger.exception
        log("tenants.schema_migrated_instead_of_copied",
            extra={"schema": schema_name, "reason": str(exc)})
        with connection.cursor() as cursor:
            cursor.execute(f"CREATE SCHEMA {_quote(schema_name)}")
        call_command("migrate_schemas", schema_name=schema_name, interactive=False,
                     verbosity=0, executor="standard")


# --- the catalog copy -----------------------------------------------------------------
@dataclass
class ClonePlan:
    """Statements that rebuild the source schema's objects; unqualified, so they create
    in whichever schema is first on the search path."""

    source: str
    sequences: list[str] = field(default_factory=list)
    tables: list[str] = field(default_factory=list)
    constraints: list[str] = field(default_factory=list)
    indexes: list[str] = field(default_factory=list)
    foreign_keys: list[str] = field(default_factory=list)
    sequence_owners: list[str] = field(default_factory=list)
    # every sequence, identity ones included: the copy's continue where the source's stand
    sequence_names: list[str] = field(default_factory=list)
    # (table, insertable columns) of each table the source holds rows in
    seeded_tables: list[tuple[str, list[str]]] = field(default_factory=list)


# Keyed by (schema, TemplateState.fingerprint); a migrated template gets a new key.
_plans: dict[tuple[str, tuple], ClonePlan] = {}


def forget_clone_plans() -> None:
    """Drop the plans read from the template (after migrating it in this process)."""
    _plans.clear()

# The catalog has no index on an object's schema, so filtering on relnamespace reads every
# schema's rows (0.7 s at 1,000 brokerages). Every object in a schema depends on it in
# pg_depend (DROP SCHEMA ... CASCADE finds them so), which is indexed on the referenced
# object: the schema's objects are read from there, their parts by the indexed oid.
_OBJECTS_SQL = """
SELECT d.classid = 'pg_class'::regclass AND c.relkind IN ('r', 'S'), d.objid,
       pg_describe_object(d.classid, d.objid, 0)
  FROM pg_depend d LEFT JOIN pg_class c ON d.classid = 'pg_class'::regclass AND c.oid = d.objid
 WHERE d.refclassid = 'pg_namespace'::regclass AND d.refobjid = %(ns)s
"""

# What a table of the schema may hold that the copy does not reproduce.
_UNSUPPORTED_SQL = """
SELECT 'trigger ' || t.tgname FROM pg_trigger t
 WHERE t.tgrelid = ANY(%(rels)s::oid[]) AND NOT t.tgisinternal
UNION ALL SELECT 'rule ' || r.rulename FROM pg_rewrite r WHERE r.ev_class = ANY(%(rels)s::oid[])
UNION ALL SELECT 'policy on ' || c.relname FROM pg_class c
 WHERE c.oid = ANY(%(rels)s::oid[]) AND (c.relrowsecurity OR EXISTS (
   SELECT 1 FROM pg_policy p WHERE p.polrelid = c.oid))
UNION ALL SELECT 'inheritance of ' || c.relname FROM pg_inherits i
 JOIN pg_class c ON c.oid = i.inhrelid WHERE i.inhrelid = ANY(%(rels)s::oid[])
"""

_TABLES_SQL = """
SELECT c.oid, c.relname, c.relpersistence, array_to_string(c.reloptions, ', ')
  FROM pg_class c WHERE c.oid = ANY(%(rels)s::oid[]) AND c.relkind = 'r' ORDER BY c.relname
"""

_COLUMNS_SQL = """
SELECT a.attrelid, a.attname, format_type(a.atttypid, a.atttypmod),
       a.attnotnull, pg_get_expr(d.adbin, d.adrelid), a.attidentity, a.attgenerated,
       CASE WHEN a.attcollation <> 0 AND a.attcollation <> t.typcollation THEN
         CASE WHEN cn.nspname = 'pg_catalog' THEN quote_ident(co.collname)
              ELSE quote_ident(cn.nspname) || '.' || quote_ident(co.collname) END
       END
  FROM pg_attribute a
  JOIN pg_class c ON c.oid = a.attrelid
  JOIN pg_type t ON t.oid = a.atttypid
  LEFT JOIN pg_attrdef d ON d.adrelid = a.attrelid AND d.adnum = a.attnum
  LEFT JOIN pg_collation co ON co.oid = a.attcollation
  LEFT JOIN pg_namespace cn ON cn.oid = co.collnamespace
 WHERE c.oid = ANY(%(rels)s::oid[]) AND c.relkind = 'r' AND a.attnum > 0
   AND NOT a.attisdropped
 ORDER BY a.attrelid, a.attnum
"""

_SEQUENCES_SQL = """
SELECT s.relname, format_type(q.seqtypid, NULL), q.seqstart, q.seqincrement, q.seqmin,
       q.seqmax, q.seqcache, q.seqcycle, d.deptype, d.refobjid,
       (SELECT attname FROM pg_attribute WHERE attrelid = d.refobjid AND attnum = d.refobjsubid)
  FROM pg_class s
  JOIN pg_sequence q ON q.seqrelid = s.oid
  LEFT JOIN pg_depend d ON d.classid = 'pg_class'::regclass AND d.objid = s.oid
       AND d.refclassid = 'pg_class'::regclass AND d.deptype IN ('a', 'i')
 WHERE s.oid = ANY(%(rels)s::oid[]) AND s.relkind = 'S'
 ORDER BY s.relname
"""

_CONSTRAINTS_SQL = """
SELECT con.conrelid, con.conname, con.contype, pg_get_constraintdef(con.oid)
  FROM pg_constraint con JOIN pg_class c ON c.oid = con.conrelid
 WHERE c.oid = ANY(%(rels)s::oid[]) AND c.relkind = 'r'
 ORDER BY array_position(ARRAY['p', 'u', 'x', 'c', 'f']::"char"[], con.contype), con.conname
"""

# Indexes that no primary, unique or exclusion constraint of their own table made.
_INDEXES_SQL = """
SELECT pg_get_indexdef(i.indexrelid, 0, true)
  FROM pg_index i JOIN pg_class ic ON ic.oid = i.indexrelid JOIN pg_class c ON c.oid = i.indrelid
 WHERE c.oid = ANY(%(rels)s::oid[]) AND c.relkind = 'r' AND NOT EXISTS (
   SELECT 1 FROM pg_constraint con WHERE con.conindid = i.indexrelid
      AND con.conrelid = i.indrelid AND con.contype IN ('p', 'u', 'x'))
 ORDER BY ic.relname
"""


def _sequence_options(row) -> str:
    _, type_name, start, increment, minimum, maximum, cache, cycle = row[:8]
    return (f"START WITH {start} INCREMENT BY {increment} MINVALUE {minimum} "
            f"MAXVALUE {maximum} CACHE {cache} {'CYCLE' if cycle else 'NO CYCLE'}")


@contextmanager
def _search_path(cursor, schema: str) -> Iterator[None]:
    """Only `schema` (and pg_catalog) on the path: the catalog then prints its objects
    unqualified and every other schema's objects (public.tenants_user) qualified."""
    cursor.execute("SELECT current_setting('search_path')")
    previous = cursor.fetchone()[0]
    cursor.execute("SELECT set_config('search_path', %s, false)", [_quote(schema)])
    yield
    cursor.execute("SELECT set_config('search_path', %s, false)", [previous])


def build_clone_plan(*, source: str) -> ClonePlan:
    """Read the source schema's catalog into statements that rebuild it elsewhere."""
    plan = ClonePlan(source=source)
    with transaction.atomic(), connection.cursor() as cursor:
        cursor.execute("SELECT oid FROM pg_namespace WHERE nspname = %s", [source])
        row = cursor.fetchone()
        if row is None:
            raise UnsupportedTemplate(f"schema {source} does not exist")
        cursor.execute(_OBJECTS_SQL, {"ns": row[0]})
        objects = cursor.fetchall()
        params = {"rels": [oid for copied, oid, _ in objects if copied]}
        unsupported = [described for copied, _, described in objects if not copied]
        cursor.execute(_UNSUPPORTED_SQL, params)
        unsupported += [r[0] for r in cursor.fetchall()]
        if unsupported:
            raise UnsupportedTemplate("cannot copy " + ", ".join(sorted(unsupported)))
        with _search_path(cursor, source):
            cursor.execute(_TABLES_SQL, params)
            tables = {oid: (name, persistence, options)
                      for oid, name, persistence, options in cursor.fetchall()}
            cursor.execute(_COLUMNS_SQL, params)
            columns = cursor.fetchall()
            cursor.execute(_SEQUENCES_SQL, params)
            sequences = cursor.fetchall()
            cursor.execute(_CONSTRAINTS_SQL, params)
            constraints = cursor.fetchall()
            cursor.execute(_INDEXES_SQL, params)
            plan.indexes = [r[0] for r in cursor.fetchall()]

        identity = {}  # (table oid, column) -> identity sequence row
        for seq in sequences:
            name, deptype, table_oid, column = seq[0], seq[8], seq[9], seq[10]
            plan.sequence_names.append(name)
            if deptype == "i":
                identity[(table_oid, column)] = seq
                continue
            plan.sequences.append(
                f"CREATE SEQUENCE {_quote(name)} AS {seq[1]} {_sequence_options(seq)}")
            if deptype == "a":
                plan.sequence_owners.append(
                    f"ALTER SEQUENCE {_quote(name)} OWNED BY "
                    f"{_quote(tables[table_oid][0])}.{_quote(column)}")

        definitions: dict[int, list[str]] = {oid: [] for oid in tables}
        insertable: dict[int, list[str]] = {oid: [] for oid in tables}
        for table_oid, name, type_name, not_null, default, ident, generated, collation \
                in columns:
            parts = [_quote(name), type_name]
            if collation:
                parts.append(f"COLLATE {collation}")
            if generated == "s":
                parts.append(f"GENERATED ALWAYS AS ({default}) STORED")
            else:
                insertable[table_oid].append(_quote(name))
                if default is not None:
                    parts.append(f"DEFAULT {default}")
            if ident:
                seq = identity[(table_oid, name)]
                kind = "ALWAYS" if ident == "a" else "BY DEFAULT"
                parts.append(f"GENERATED {kind} AS IDENTITY "
                             f"(SEQUENCE NAME {_quote(seq[0])} {_sequence_options(seq)})")
            if not_null:
                parts.append("NOT NULL")
            definitions[table_oid].append(" ".join(parts))
        # Primary, unique, exclusion and check constraints are made with their table (one
        # statement, not an ALTER TABLE each), but a NOT VALID check (ALTER TABLE only)
        # after the seeded rows; a table's foreign keys in one ALTER TABLE at the end,
        # once every table and index they may rest on exists.
        foreign: dict[int, list[str]] = {}
        for table_oid, name, kind, definition in constraints:
            clause = f"CONSTRAINT {_quote(name)} {definition}"
            if kind == "f":
                foreign.setdefault(table_oid, []).append(f"ADD {clause}")
            elif definition.endswith("NOT VALID"):
                plan.constraints.append(
                    f"ALTER TABLE {_quote(tables[table_oid][0])} ADD {clause}")
            else:
                definitions[table_oid].append(clause)
        for oid, (name, persistence, options) in tables.items():
            unlogged = "UNLOGGED " if persistence == "u" else ""
            storage = f" WITH ({options})" if options else ""
            plan.tables.append(f"CREATE {unlogged}TABLE {_quote(name)} "
                               f"({', '.join(definitions[oid])}){storage}")
        plan.foreign_keys = [f"ALTER TABLE {_quote(tables[oid][0])} {', '.join(clauses)}"
                             for oid, clauses in foreign.items()]

        if tables:
            cursor.execute(" UNION ALL ".join(
                f"SELECT {oid}::oid WHERE EXISTS (SELECT 1 FROM {_quote(source)}.{_quote(n)})"
                for oid, (n, _, _) in tables.items()))
            plan.seeded_tables = [(tables[oid][0], insertable[oid])
                                  for (oid,) in cursor.fetchall()]
    return plan


def clone_schema(*, source: str, target: str, plan: ClonePlan | None = None) -> None:
    """Create `target` holding the same tables, constraints, indexes, sequences and rows
    as `source`, in one round trip."""
    plan = plan or build_clone_plan(source=source)
    src, dst = _quote(source), _quote(target)
    seeds = []
    for table, columns in plan.seeded_tables:
        cols = ", ".join(columns)
        seeds.append(f"INSERT INTO {dst}.{_quote(table)} ({cols}) OVERRIDING SYSTEM VALUE "
                     f"SELECT {cols} FROM {src}.{_quote(table)}")
    # Sequences continue where the source's stand (after its seeded rows), read from each
    # sequence itself: the pg_sequences view reads every schema's sequences.
    positions = [f"SELECT setval({_literal(_quote(name))}, last_value, is_called) "
                 f"FROM {src}.{_quote(name)}" for name in plan.sequence_names]
    statements = [
        f"CREATE SCHEMA {dst}",
        *plan.sequences, *plan.tables, *seeds, *plan.constraints, *plan.indexes,
        *plan.sequence_owners, *plan.foreign_keys, *positions,
    ]
    with transaction.atomic(), connection.cursor() as cursor:
        cursor.execute("SELECT current_setting('search_path')")
        previous = cursor.fetchone()[0]
        cursor.execute("SELECT set_config('search_path', %s, false)", [dst])
        cursor.execute(";\n".join(statements))
        cursor.execute("SELECT set_config('search_path', %s, false)", [previous])
    logger.info("tenants.schema_cloned", extra={"source": source, "schema": target})
