"""Applying tenant migrations that reduce to SQL: written once, run in every schema.

A `migrate` per schema spends 0.3-0.8 s loading the migration graph, rendering the
project state and introspecting the catalog (whose table list filters on
pg_table_is_visible, slow with thousands of schemas) for a statement that takes a few
milliseconds. When every brokerage schema that is behind lacks the same migrations as
the template (clozings.tenants.provisioning), and each of those migrations is made only
of operations whose SQL Django can write without running them (`sqlmigrate`'s
machinery, below: AddField, AlterField, CreateModel, AddIndex, RunSQL, ...; never
RunPython), the SQL is collected once with the template on the search path (so the
catalog the operations look at is the one every copy of it has), and then run in each
schema, unqualified, with that schema first on the search path as django-tenants puts it:
one transaction per schema holding the statements, the django_migrations rows and the
content types `migrate`'s post_migrate would add (copied from the template, which is
migrated the usual way). A schema whose transaction fails keeps none of it and is
reported. `sql_only_plan` answers None whenever any of this cannot be shown, and the
caller then migrates each schema the usual way.

One difference remains: a default computed in Python for the rows already there (an
AddField with default=timezone.now) is computed once, as the template's, not per schema.
"""

from __future__ import annotations

import queue
import threading
import traceback
from collections.abc import Callable
from dataclasses import dataclass

from django.db import DatabaseError, connection, connections, transaction
from django.db.migrations import operations as ops
from django.db.migrations.executor import MigrationExecutor
from django.db.migrations.operations.base import Operation

from clozings.tenants import provisioning

# Operations whose database effect is exactly the SQL their schema editor collects. Not
# RunPython (Python code, skipped by collect_sql), not RenameModel (contenttypes' pre_migrate
# adds a RenameContentType after it), not django.contrib.postgres' operations (extensions,
# CONCURRENTLY, collations: they look at the database or cannot run in a transaction).
# Compared by exact class, so a subclass with a database_forwards of its own is not taken.
SQL_ONLY_OPERATIONS: frozenset[type[Operation]] = frozenset({
    ops.CreateModel, ops.DeleteModel, ops.AlterModelTable, ops.AlterModelTableComment,
    ops.AlterUniqueTogether, ops.AlterIndexTogether, ops.AlterOrderWithRespectTo,
    ops.AlterModelOptions, ops.AlterModelManagers,
    ops.AddField, ops.RemoveField, ops.AlterField, ops.RenameField,
    ops.AddIndex, ops.RemoveIndex, ops.RenameIndex, ops.AddConstraint, ops.RemoveConstraint,
    ops.RunSQL,
})

# Schemas per UNION ALL query when checking what each schema has applied.
SCHEMAS_PER_QUERY = 2000


def _quote(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def not_sql_only(operation: Operation) -> str | None:
    """Why the operation's database effect is not just its collected SQL, or None."""
    if type(operation) is ops.SeparateDatabaseAndState:
        for inner in operation.database_operations:
            reason = not_sql_only(inner)
            if reason:
                return reason
        return None
    if type(operation) not in SQL_ONLY_OPERATIONS:
        return f"{type(operation).__name__} is not known to reduce to SQL"
    if not operation.reduces_to_sql:
        return f"{type(operation).__name__} does not reduce to SQL"
    return None


@dataclass(frozen=True)
class SqlPlan:
    """The template's pending migrations as one unqualified SQL text."""

    migrations: list[tuple[str, str]]  # (app, name), in the order applied
    sql: str
    statements: int
    graph: frozenset[tuple[str, str]]  # every migration the code has


def sql_only_plan(template: str = provisioning.TEMPLATE_SCHEMA
                  ) -> tuple[SqlPlan | None, str]:
    """The SQL of the migrations the template lacks (none rolled back), or None and why.

    The template must be behind: its catalog is what the operations introspect (an
    AlterField looks up the constraint names it drops), and it stands for the schemas
    copied from it. Leaves the connection on the public schema.
    """
    connection.set_schema(template)
    try:
        executor = MigrationExecutor(connection)
        plan = executor.migration_plan(executor.loader.graph.leaf_nodes())
        if not plan:
            return None, "the template has nothing to apply"
        for migration, backwards in plan:
            if backwards:
                return None, f"{migration.app_label}.{migration.name} would be unapplied"
            if not migration.atomic:
                return None, f"{migration.app_label}.{migration.name} is not atomic"
            if migration.replaces:  # recorded as the migrations it replaces
                return None, f"{migration.app_label}.{migration.name} is a squashed migration"
            for operation in migration.operations:
                reason = not_sql_only(operation)
                if reason:
                    return None, f"{migration.app_label}.{migration.name}: {reason}"
        try:
            collected = executor.loader.collect_sql(plan)
        except Exception as exc:  # the usual migrate will meet it and say so in full
            return None, f"the SQL could not be collected: {type(exc).__name__}: {exc}"
        if any("CANNOT BE WRITTEN AS SQL" in text for text in collected):
            return None, "an operation cannot be written as SQL"
        qualified = [text for text in collected if template in text]
        if qualified:
            return None, f"the SQL names the template's schema: {qualified[0][:200]}"
        statements = sum(1 for text in collected
                         if text.strip() and not text.lstrip().startswith("--"))
        return SqlPlan(migrations=[(m.app_label, m.name) for m, _ in plan],
                       sql="\n".join(collected), statements=statements,
                       graph=frozenset(executor.loader.graph.nodes)), ""
    finally:
        connection.set_schema_to_public()


def schemas_not_like_template(plan: SqlPlan, schema_names: list[str]) -> list[str]:
    """The schemas whose applied migrations (among the code's) are not exactly the
    template's before the plan: they must be migrated the usual way."""
    if not schema_names:
        return []
    graph = plan.graph
    pending_set = set(plan.migrations)
    before = sorted(graph - pending_set)
    pending_sorted = sorted(pending_set)
    counts: dict[str, tuple[int, int]] = {}
    with connection.cursor() as cursor:
        # A schema without a django_migrations table is not like the template.
        cursor.execute(
            "SELECT n.nspname FROM pg_namespace n JOIN pg_class c ON c.relnamespace = n.oid "
            "WHERE c.relname = 'django_migrations' AND c.relkind = 'r' "
            "AND n.nspname = ANY(%s)", [schema_names])
        with_table = {row[0] for row in cursor.fetchall()}
        names = [name for name in schema_names if name in with_table]
        for start in range(0, len(names), SCHEMAS_PER_QUERY):
            chunk = names[start:start + SCHEMAS_PER_QUERY]
            branches = " UNION ALL ".join(
                "SELECT %s::text, "
                "count(DISTINCT (m.app, m.name)) FILTER (WHERE NOT e.pending), "
                "count(DISTINCT (m.app, m.name)) FILTER (WHERE e.pending) "
                f"FROM {_quote(name)}.django_migrations m "
                "JOIN expected e ON e.app = m.app AND e.name = m.name"
                for name in chunk)
            cursor.execute(
                "WITH expected (app, name, pending) AS "
                f"(SELECT * FROM unnest(%s::text[], %s::text[], %s::bool[])) {branches}",
                [[app for app, _ in before + pending_sorted],
                 [name for _, name in before + pending_sorted],
                 [False] * len(before) + [True] * len(pending_sorted), *chunk])
            counts.update((name, (done, ahead)) for name, done, ahead in cursor.fetchall())
    return [name for name in schema_names if counts.get(name) != (len(before), 0)]


def _content_types_sql(template: str) -> str:
    """What post_migrate's create_contenttypes adds in a schema: the template's content
    types the schema lacks (the template was just migrated, post_migrate included)."""
    return (
        "INSERT INTO django_content_type (app_label, model) "
        f"SELECT t.app_label, t.model FROM {_quote(template)}.django_content_type t "
        "WHERE NOT EXISTS (SELECT 1 FROM django_content_type c "
        "WHERE c.app_label = t.app_label AND c.model = t.model) ORDER BY t.id")


def _literal(text: str) -> str:
    return "'" + text.replace("'", "''") + "'"


def schema_transaction_sql(plan: SqlPlan, template: str = provisioning.TEMPLATE_SCHEMA
                           ) -> str:
    """What runs in each schema (after its search path is set), as one text: the
    migrations' SQL, their django_migrations rows, the content types."""
    with connection.cursor() as cursor:
        cursor.execute("SELECT to_regclass(%s) IS NOT NULL",
                       [f"{_quote(template)}.django_content_type"])
        (has_content_types,) = cursor.fetchone()
    rows = ", ".join(f"({_literal(app)}, {_literal(name)}, now())"
                     for app, name in plan.migrations)
    parts = [plan.sql, f"INSERT INTO django_migrations (app, name, applied) VALUES {rows};"]
    if has_content_types:
        parts.append(_content_types_sql(template) + ";")
    return "\n".join(parts)


def apply_to_schemas(plan: SqlPlan, schemas: list[str], *, connections_count: int,
                     on_done: Callable[[str, str | None], None],
                     template: str = provisioning.TEMPLATE_SCHEMA) -> list[str]:
    """Run the plan in each schema, one transaction each, from `connections_count`
    threads with a connection each; call `on_done(schema, failure)` in this thread as
    each one ends. Returns the schemas that failed (left as they were)."""
    sql = schema_transaction_sql(plan, template)
    work: queue.SimpleQueue[str | None] = queue.SimpleQueue()
    results: queue.SimpleQueue[tuple[str, str | None]] = queue.SimpleQueue()
    for schema in schemas:
        work.put(schema)
    workers = max(1, min(connections_count, len(schemas)))
    for _ in range(workers):
        work.put(None)

    def worker() -> None:
        try:
            for schema in iter(work.get, None):
                results.put((schema, _apply_one(sql, schema)))
        finally:
            connections.close_all()

    threads = [threading.Thread(target=worker, name=f"migrate-sql-{n}", daemon=True)
               for n in range(workers)]
    for thread in threads:
        thread.start()
    failed = []
    for _ in schemas:
        schema, failure = results.get()
        if failure:
            failed.append(schema)
        on_done(schema, failure)
    for thread in threads:
        thread.join()
    return failed


def _apply_one(sql: str, schema: str) -> str | None:
    """In a worker thread: the plan in one schema, in one transaction; the failure."""
    try:
        connection.set_schema(schema)
        with transaction.atomic(), connection.cursor() as cursor:
            cursor.execute(sql)
    except DatabaseError as exc:
        return f"{type(exc).__name__}: {exc}".strip()
    except Exception:  # anything else must not stop the other schemas or hang the caller
        return traceback.format_exc()
    finally:
        connection.set_schema_to_public()
    return None
