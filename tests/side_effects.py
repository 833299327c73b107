""""Nothing changed", checked everywhere a request could leave a trace.

`NothingChanges` wraps requests made inside a test's transaction and, on leaving, fails
with a list of what they changed:

- every table of every schema (public, each brokerage's, the template, any schema made
  meanwhile), found in the catalogue (pg_class), so a table added later is covered with
  no edit here: its row count and a checksum of its rows (md5 of the sorted rows' text),
  and tables that appeared or went away;
- work left for after the commit (transaction.on_commit: mail, Celery tasks, Stripe);
- Celery messages in Redis (the length of every list in the broker's database);
- mail received by the test's SMTP server;
- requests to Stripe (through tests.stripe_recorder).

Counting and checksumming a table costs a scan (the ZIP catalogue has ~42,000 rows), so
it is done only for tables this transaction wrote to while the requests ran: PostgreSQL
counts every row a transaction inserts, updates or deletes (pg_stat_xact_*, savepoints
included; rows only ever add to the counts) and a TRUNCATE or rewrite gives the table a
new relfilenode; a table with neither cannot hold other rows than before. For a table
that was written, the rows after are checksummed, the requests' savepoint is rolled back
and the rows before are checksummed: a write that left the rows as they were is fine.

No table is excluded: the denied requests this is used for touch no session (the session
rows are made by force_login before the requests, and a refusal neither logs in nor
stores messages in the session), no last-login column and no counter in the database.
The login throttle's counters live in the cache, not in the database or the broker's
lists.
"""

from __future__ import annotations

from contextlib import AbstractContextManager

import redis
from django.conf import settings
from django.db import connection, transaction

from tests.stripe_recorder import StripeRecorder

Table = tuple[str, str]  # (schema, table)

_WRITES = """
    SELECT n.nspname, c.relname, c.relfilenode,
           pg_stat_get_xact_tuples_inserted(c.oid),
           pg_stat_get_xact_tuples_updated(c.oid),
           pg_stat_get_xact_tuples_deleted(c.oid)
      FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
     WHERE c.relkind IN ('r', 'p', 'm')
       AND n.nspname NOT IN ('pg_catalog', 'information_schema')
       AND n.nspname !~ '^pg_(toast|temp)'
"""


def tables() -> dict[Table, tuple]:
    """Every table of every schema, with what this transaction has written to it."""
    with connection.cursor() as cursor:
        cursor.execute(_WRITES)
        return {(schema, name): tuple(rest) for schema, name, *rest in cursor.fetchall()}


def _quote(name: str) -> str:
    return connection.ops.quote_name(name)


def checksums(which: set[Table]) -> dict[Table, tuple[int, str]]:
    """Row count and checksum of each table, in one round trip."""
    if not which:
        return {}
    parts = [
        f"SELECT %s, %s, count(*), coalesce(md5(string_agg(t::text, '|' ORDER BY t::text)), '')"
        f" FROM {_quote(schema)}.{_quote(name)} t"
        for schema, name in sorted(which)]
    params = [value for table in sorted(which) for value in table]
    with connection.cursor() as cursor:
        cursor.execute(" UNION ALL ".join(parts), params)
        return {(schema, name): (count, digest)
                for schema, name, count, digest in cursor.fetchall()}


_broker = None


def broker() -> redis.Redis:
    global _broker
    if _broker is None:
        _broker = redis.Redis.from_url(settings.CELERY_BROKER_URL)
    return _broker


def queued() -> dict[bytes, int]:
    """Length of every list in the broker's database (Celery's queues are lists)."""
    client = broker()
    return {key: client.llen(key) for key in client.scan_iter(_type="list")}


class NothingChanges(AbstractContextManager):
    def __init__(self, *, stripe: StripeRecorder, mailbox: list,
                 stripe_reads_allowed: bool = False):
        self.stripe = stripe
        self.mailbox = mailbox
        self.stripe_reads_allowed = stripe_reads_allowed

    def __enter__(self):
        self.tables = tables()
        self.on_commit = len(connection.run_on_commit)
        self.queued = queued()
        self.mail = len(self.mailbox)
        self.stripe_calls = len(self.stripe.requests)
        self.savepoint = transaction.savepoint()
        return self

    def __exit__(self, exc_type, exc, tb):
        if exc_type is not None:
            return False  # the test fails anyway; its transaction is rolled back
        changes = self.changes()
        assert not changes, "The requests changed:\n" + "\n".join(changes)
        return False

    def changes(self) -> list[str]:
        changes = []
        after = tables()
        before = self.tables
        changes += [f"table {s}.{t} appeared" for s, t in sorted(after.keys() - before.keys())]
        changes += [f"table {s}.{t} went away" for s, t in sorted(before.keys() - after.keys())]
        written = {table for table in after.keys() & self.tables.keys()
                   if after[table] != self.tables[table]}
        changes += [f"work left for after the commit: {callback}"
                    for _, callback, _ in connection.run_on_commit[self.on_commit:]]
        now_queued = queued()
        changes += [f"Redis list {key!r}: {self.queued.get(key, 0)} -> {length} messages"
                    for key, length in sorted(now_queued.items())
                    if length != self.queued.get(key, 0)]
        changes += [f"mail to {message['To']}: {message['Subject']}"
                    for message in self.mailbox[self.mail:]]
        changes += [f"Stripe call {request}"
                    for request in self.stripe.requests[self.stripe_calls:]
                    if request.is_write or not self.stripe_reads_allowed]
        rows_after = checksums(written)
        if written:
            transaction.savepoint_rollback(self.savepoint)
        else:
            transaction.savepoint_commit(self.savepoint)
        rows_before = checksums(written)
        changes += [f"table {s}.{t}: {rows_before[(s, t)][0]} rows -> {rows_after[(s, t)][0]}, "
                    f"checksum {rows_before[(s, t)][1]} -> {rows_after[(s, t)][1]}"
                    for s, t in sorted(written) if rows_before[(s, t)] != rows_after[(s, t)]]
        return changes
