"""Which brokerage schemas are behind the code's migrations, found in one query."""

from __future__ import annotations

from collections.abc import Iterable

from django.db import connection

from clozings.tenants.provisioning import expected_migrations

# Schemas per UNION ALL query: one query up to this many, so the statement stays small.
SCHEMAS_PER_QUERY = 2000


def _quote(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def schemas_behind(schema_names: Iterable[str]) -> list[str]:
    """The schemas missing a migration of a tenant app, in the order given.

    A schema without a django_migrations table (never migrated, or missing) counts as
    behind, so migrate reports it as it always has.
    """
    names = list(dict.fromkeys(schema_names))
    if not names:
        return []
    expected = sorted(expected_migrations(tenant_apps_only=True))
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT n.nspname FROM pg_namespace n JOIN pg_class c ON c.relnamespace = n.oid "
            "WHERE c.relname = 'django_migrations' AND c.relkind = 'r' "
            "AND n.nspname = ANY(%s)", [names])
        with_table = {row[0] for row in cursor.fetchall()}
        counts: dict[str, int] = {}
        if expected and with_table:
            ordered = [name for name in names if name in with_table]
            for start in range(0, len(ordered), SCHEMAS_PER_QUERY):
                chunk = ordered[start:start + SCHEMAS_PER_QUERY]
                branches = " UNION ALL ".join(
                    f"SELECT %s::text, count(DISTINCT (m.app, m.name)) "
                    f"FROM {_quote(name)}.django_migrations m "
                    f"JOIN expected e ON e.app = m.app AND e.name = m.name"
                    for name in chunk)
                cursor.execute(
                    "WITH expected (app, name) AS "
                    f"(SELECT * FROM unnest(%s::text[], %s::text[])) {branches}",
                    [[app for app, _ in expected], [name for _, name in expected], *chunk])
                counts.update(cursor.fetchall())
    need = len(expected)
    return [name for name in names
            if name not in with_table or counts.get(name, need) < need]
