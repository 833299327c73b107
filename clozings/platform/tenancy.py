"""Running code in a brokerage's schema, and sending tasks once the data they need is
committed (or, for sends that need not hold up a request's answer, once it has gone out).

Kernel module: imports no app.
"""

from __future__ import annotations

import contextvars
import logging
from collections.abc import Callable, Iterator
from contextlib import contextmanager

from django.core.cache import caches
from django.core.signals import request_finished, request_started
from django.db import connection, transaction
from django_tenants.utils import schema_context

logger = logging.getLogger(__name__)


@contextmanager
def in_schema(schema_name: str) -> Iterator[None]:
    """Run the block in `schema_name` (a brokerage's, or "public"), then restore the schema
    the connection had before, even when the block raises."""
    with schema_context(schema_name):
        yield


def enqueue_now(task, *args, **kwargs) -> None:
    """Send `task` (the imported Celery task or a signature, never a name) at once: for
    work outside any transaction, such as a sweeper sending again what the database says
    is due. A broker outage is logged and never fails the caller (the next sweep sends)."""
    try:
        task.apply_async(args=args, kwargs=kwargs)
    except Exception:  # noqa: BLE001 - kombu raises many kinds; the caller must not fail
        logger.exception("task.enqueue_failed", extra={"task": task.name})


def enqueue_on_commit(task, *args, **kwargs) -> None:
    """Send `task` (the imported Celery task, never a name) once the current transaction
    commits, or at once outside one. A broker outage is logged and never fails the caller:
    whatever must happen is recorded in the database, and a beat sweeper sends it again."""
    transaction.on_commit(lambda: enqueue_now(task, *args, **kwargs), robust=True)


@contextmanager
def gathered_then_sent(gathered: contextvars.ContextVar[list | None],
                       send: Callable[[list], None]) -> Iterator[None]:
    """For a block of work that queues rows to send (in a transaction): the ids appended to
    `gathered` while it runs go to `send` once, at its end (which enqueues one task for them
    on commit), instead of a task each. Nested blocks share the outer one's. A row rolled
    back with its savepoint is not found by that task; a lost task is a sweeper's."""
    if gathered.get() is not None:
        yield
        return
    ids: list = []
    token = gathered.set(ids)
    try:
        yield
    finally:
        gathered.reset(token)
        if ids:
            send(ids)


def enqueue_after_answer(task, kwargs_list: list[dict], *, wake: str | None = None,
                         wake_seconds: int = 5, **options) -> None:
    """enqueue_on_commit for sends of `task` (keyword arguments each; `options` for
    apply_async) that need not hold up the answer: the committed rows are the record, and
    a sweeper sends again what is lost. In a request they leave once the answer has gone
    out (Django's request_finished, which the WSGI server sends after writing the body),
    in one broker round trip, each in the schema it was enqueued in; elsewhere (a task, a
    command) when the transaction commits.

    `wake`: the sends are a wake-up for a task that takes whatever the database says is
    waiting (and calls `woken(wake)` before it reads): they are left out while an earlier
    wake-up is still on its way (`wake_needed`), so that a burst of requests sends a
    message or two, not one each."""
    if not kwargs_list:
        return

    def committed() -> None:
        pending = _after_answer.get()
        if pending is None:
            if wake is None or wake_needed(wake, wake_seconds):
                _send_many(task, kwargs_list, options)
        else:
            # tenant-schemas-celery reads the schema when sending: the one of now, then
            headers = {**options.get("headers", {}), "_schema_name": connection.schema_name}
            pending.append((task, kwargs_list, {**options, "headers": headers},
                            (wake, wake_seconds)))

    transaction.on_commit(committed, robust=True)


# --- wake-ups: one message on its way is enough ----------------------------------------------
# A wake-up is pending from the moment it is marked (just before its message is sent, after
# the commit it announces) until its task calls `woken`, before reading the database. So a
# row committed while one is pending is read by that task; one committed after the task
# started marks and sends a new one. Should the message be lost, the mark lapses after its
# seconds and the sweeper sends what is left, as for any lost message.
WAKE_CACHE = "shared"  # settings.CACHES: the same Redis, keys not named for a schema


def wake_needed(name: str, seconds: int) -> bool:
    """Mark a wake-up of `name` pending for at most `seconds`: False when one already is
    (its task has not started yet). True when Redis cannot say (the send then tries)."""
    try:
        return bool(caches[WAKE_CACHE].add(f"wake:{name}", 1, timeout=seconds))
    except Exception:  # noqa: BLE001 - redis-py raises many kinds; sending is the safe side
        logger.warning("wake.unknown", exc_info=True, extra={"wake": name})
        return True


def woken(name: str) -> None:
    """Called by the woken task before it reads what is waiting: what is committed from now
    on sends a wake-up of its own."""
    try:
        caches[WAKE_CACHE].delete(f"wake:{name}")
    except Exception:  # noqa: BLE001 - the mark lapses by itself
        logger.warning("wake.not_cleared", exc_info=True, extra={"wake": name})


# The sends waiting for this request's answer to go out; None outside a request.
_after_answer: contextvars.ContextVar[list | None] = contextvars.ContextVar(
    "after_answer", default=None)


def _answer_started(**kwargs) -> None:
    _after_answer.set([])


def _answer_sent(**kwargs) -> None:
    pending = _after_answer.get()
    _after_answer.set(None)
    for task, kwargs_list, options, (wake, wake_seconds) in pending or ():
        if wake is None or wake_needed(wake, wake_seconds):
            _send_many(task, kwargs_list, options)


request_started.connect(_answer_started, weak=False, dispatch_uid="clozings_after_answer")
request_finished.connect(_answer_sent, weak=False, dispatch_uid="clozings_after_answer")


def _send_many(task, kwargs_list: list[dict], options: dict) -> None:
    """Send, in one broker round trip (kombu's publish batch); a failure is logged, as
    enqueue_now does (the sweeper sends what was lost)."""
    try:
        if len(kwargs_list) == 1:  # a publish batch costs more than it saves for one
            task.apply_async(kwargs=kwargs_list[0], **options)
            return
        with task.app.producer_or_acquire() as producer, producer.batch():
            for kwargs in kwargs_list:
                task.apply_async(kwargs=kwargs, producer=producer, **options)
    except Exception:  # noqa: BLE001 - kombu raises many kinds; the caller must not fail
        logger.exception("task.enqueue_failed", extra={"task": task.name,
                                                       "messages": len(kwargs_list)})
