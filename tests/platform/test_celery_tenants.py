"""A real Celery worker runs each task in the schema it was sent from (tenant-schemas-celery),
and reports a failing task to Sentry tagged with that brokerage.

The worker is a separate process on the test database and the test Redis, listening on a
queue of its own so that no other test's tasks reach it; its SENTRY_DSN points at an HTTP
server on loopback.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
import time
import uuid
from http.server import ThreadingHTTPServer
from pathlib import Path
from urllib.parse import quote

import pytest
import redis
from django.conf import settings
from django.core.signals import request_finished, request_started
from django.db import connection, transaction
from django.http import HttpResponse
from django.urls import path
from django_tenants.utils import tenant_context

from clozings.platform.tenancy import (
    enqueue_after_answer,
    enqueue_now,
    enqueue_on_commit,
    wake_needed,
    woken,
)
from tests.conftest import host_client
from tests.platform.celery_probe import record_schema
from tests.platform.test_sentry import _Collector

pytestmark = pytest.mark.worker

ROOT = Path(__file__).resolve().parents[2]
QUEUE = f"test-schemas-{uuid.uuid4().hex[:8]}"


def _send_record_schema(request):
    key = request.GET["key"]
    transaction.on_commit(
        lambda: record_schema.apply_async(kwargs={"key": key}, queue=QUEUE))
    return HttpResponse(status=202)


# This module is both hosts' URL conf during these tests (see `sending_view`).
urlpatterns = [path("send-record-schema/", _send_record_schema)]


def _database_url(db: dict) -> str:
    credentials = quote(db["USER"] or "", safe="")
    if db.get("PASSWORD"):
        credentials += ":" + quote(db["PASSWORD"], safe="")
    host = quote(db["HOST"] or "", safe="")
    port = f":{db['PORT']}" if db.get("PORT") else ""
    return f"postgres://{credentials}@{host}{port}/{db['NAME']}"


@pytest.fixture(scope="module")
def sentry_server():
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Collector)
    server.received = []
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield server
    server.shutdown()
    server.server_close()


@pytest.fixture(scope="module")
def worker(django_db_setup, tmp_path_factory, sentry_server):
    """A Celery worker process on the test database, consuming QUEUE."""
    log = tmp_path_factory.mktemp("worker") / "worker.log"
    env = {**os.environ,
           "DJANGO_SETTINGS_MODULE": "clozings.platform.settings_test",
           "DATABASE_URL": _database_url(connection.settings_dict),
           "REDIS_URL": settings.REDIS_URL,
           "SENTRY_DSN": f"http://publickey@127.0.0.1:{sentry_server.server_port}/1"}
    with log.open("w") as out:
        process = subprocess.Popen(
            [sys.executable, "-m", "celery", "-A", "clozings.platform.celery", "--quiet",
             "worker", "--include", "tests.platform.celery_probe", "--queues", QUEUE,
             "--concurrency", "1", "--without-mingle", "--without-gossip", "--loglevel", "INFO"],
            env=env, cwd=ROOT, stdout=out, stderr=subprocess.STDOUT)
    yield process, log
    process.send_signal(signal.SIGTERM)
    try:
        process.wait(30)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()


@pytest.fixture
def sending_view(settings):
    settings.ROOT_URLCONF = __name__
    settings.PUBLIC_SCHEMA_URLCONF = __name__


@pytest.fixture
def broker():
    client = redis.Redis.from_url(settings.REDIS_URL)
    yield client
    client.close()


def _schema_recorded(broker, key: str, worker, *, timeout: float = 60.0) -> str:
    process, log = worker
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = broker.get(key)
        if value is not None:
            return value.decode()
        assert process.poll() is None, f"the worker died:\n{log.read_text()}"
        time.sleep(0.1)
    raise AssertionError(f"no task ran within {timeout:.0f} s; worker log:\n{log.read_text()}")


def test_task_sent_during_a_brokerage_request_runs_in_that_brokerages_schema(
        transactional_db, acme, globex, worker, sending_view, broker):
    # given
    key = f"test:schema:{uuid.uuid4().hex}"

    # when: a request on acme's host sends the task
    response = host_client(acme.host, acme.admin).get("/send-record-schema/", {"key": key})

    # then: the worker ran it in acme's schema (not globex's, not public)
    assert response.status_code == 202
    assert _schema_recorded(broker, key, worker) == acme.schema_name == "brk_acme"


def test_task_sent_from_the_platform_host_runs_in_public(
        transactional_db, acme, worker, sending_view, broker):
    # given
    key = f"test:schema:{uuid.uuid4().hex}"

    # when: a request on the platform host sends the task
    response = host_client("localhost").get("/send-record-schema/", {"key": key})

    # then
    assert response.status_code == 202
    assert _schema_recorded(broker, key, worker) == "public"


def _error_events(server, worker, *, timeout: float = 60.0) -> list[dict]:
    process, log = worker
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        events = [json.loads(payload) for raw in list(server.received)
                  for header, payload in zip(raw.split(b"\n")[1::2], raw.split(b"\n")[2::2],
                                             strict=False)
                  if json.loads(header).get("type") == "event"]
        if events:
            return events
        assert process.poll() is None, f"the worker died:\n{log.read_text()}"
        time.sleep(0.1)
    raise AssertionError(f"no event within {timeout:.0f} s; worker log:\n{log.read_text()}")


def test_task_failing_in_a_brokerages_schema_reaches_sentry_tagged_with_the_brokerage(
        transactional_db, acme, worker, sentry_server):
    # given: a task sent from acme's schema that fails in the worker (Redis takes no None key)
    sentry_server.received.clear()

    # when
    with tenant_context(acme.brokerage):
        record_schema.apply_async(kwargs={"key": None}, queue=QUEUE)

    # then
    [event] = _error_events(sentry_server, worker)
    assert event["exception"]["values"][-1]["type"] == "DataError"
    assert event["tags"]["brokerage"] == "acme"


def test_enqueue_on_commit_sends_after_commit_and_the_task_runs_in_the_callers_schema(
        transactional_db, acme, worker, broker):
    # given
    key = f"test:schema:{uuid.uuid4().hex}"

    # when: enqueued inside a transaction in acme's schema
    with tenant_context(acme.brokerage), transaction.atomic():
        enqueue_on_commit(record_schema.s(key=key).set(queue=QUEUE))
        queued_before_commit = broker.llen(QUEUE)

    # then: nothing left before the commit; after it the worker ran it in acme's schema
    assert queued_before_commit == 0
    assert _schema_recorded(broker, key, worker) == "brk_acme"


def test_enqueue_after_answer_sends_once_the_answer_is_out_in_the_enqueuers_schema(
        transactional_db, acme, worker, broker):
    # given: a request on acme's host (Django sends request_started, then request_finished
    # once the server has written the answer)
    key = f"test:schema:{uuid.uuid4().hex}"
    request_started.send(sender=None)

    # when: enqueued in acme's schema, committed, and the request answered in public
    with tenant_context(acme.brokerage), transaction.atomic():
        enqueue_after_answer(record_schema, [{"key": key}], queue=QUEUE)
    queued_before_answer = broker.llen(QUEUE)
    request_finished.send(sender=None)

    # then: nothing left before the answer; after it the worker ran it in acme's schema
    assert queued_before_answer == 0
    assert _schema_recorded(broker, key, worker) == "brk_acme"


def test_enqueue_after_answer_outside_a_request_sends_on_commit(transactional_db, broker):
    queue = f"{QUEUE}-after-answer"
    with transaction.atomic():
        enqueue_after_answer(record_schema, [{"key": "a"}, {"key": "b"}], queue=queue)
        queued_before_commit = broker.llen(queue)
    assert (queued_before_commit, broker.llen(queue)) == (0, 2)
    broker.delete(queue)


def test_routing_has_a_queue_of_its_own_and_every_message_lands_in_one_queue(
        transactional_db, broker):
    from clozings.distribution.tasks import route_lead
    from clozings.platform.tasks import send_mails_task

    for queue in ("routing", "celery"):
        broker.delete(queue)
    route_lead.apply_async(kwargs={"inbound_lead_id": 1})
    send_mails_task.apply_async(args=[[1]])

    def tasks_in(queue: str) -> list[str]:
        return [json.loads(raw)["headers"]["task"] for raw in broker.lrange(queue, 0, -1)]

    assert tasks_in("routing") == ["distribution.route_lead"]
    assert tasks_in("celery") == ["platform.send_mails"]
    # and a worker reads the routing queue first
    assert settings.CELERY_BROKER_TRANSPORT_OPTIONS["queue_order_strategy"] == "priority"
    assert [queue.name for queue in settings.CELERY_TASK_QUEUES] == ["routing", "celery"]
    for queue in ("routing", "celery"):
        broker.delete(queue)


def test_a_wake_up_is_sent_once_while_it_is_on_its_way_then_again_once_woken(
        transactional_db, broker):
    queue = f"{QUEUE}-wake"
    wake = f"test-{uuid.uuid4().hex[:8]}"

    def commit_in_a_request(key: str) -> None:
        request_started.send(sender=None)
        with transaction.atomic():
            enqueue_after_answer(record_schema, [{"key": key}], wake=wake, queue=queue)
        request_finished.send(sender=None)

    # a burst: the first sends, the rest find its wake-up still on its way
    for key in ("a", "b", "c"):
        commit_in_a_request(key)
    # outside a request too, on commit
    with transaction.atomic():
        enqueue_after_answer(record_schema, [{"key": "d"}], wake=wake, queue=queue)
    assert broker.llen(queue) == 1

    # the task started (it reads the database after this): the next commit sends again
    woken(wake)
    commit_in_a_request("e")
    commit_in_a_request("f")
    assert broker.llen(queue) == 2
    broker.delete(queue)


def test_a_lost_wake_up_lapses_after_its_seconds(transactional_db, broker):
    queue = f"{QUEUE}-lapse"
    wake = f"test-{uuid.uuid4().hex[:8]}"
    for _ in range(2):
        with transaction.atomic():
            enqueue_after_answer(record_schema, [{"key": "a"}], wake=wake, wake_seconds=1,
                                 queue=queue)
    assert broker.llen(queue) == 1
    broker.delete(queue)  # the message is lost; its task never calls woken()

    time.sleep(1.2)
    with transaction.atomic():
        enqueue_after_answer(record_schema, [{"key": "b"}], wake=wake, wake_seconds=1,
                             queue=queue)
    assert broker.llen(queue) == 1
    broker.delete(queue)


def test_a_wake_up_is_sent_when_redis_cannot_say_whether_one_is_pending(
        transactional_db, broker, settings, caplog):
    queue = f"{QUEUE}-unknown"
    wake = f"test-{uuid.uuid4().hex[:8]}"
    assert wake_needed(wake, 5)  # one on its way
    # the wake-ups' Redis is out of reach (Django builds the caches again from this)
    settings.CACHES = {**settings.CACHES, "shared": {
        **settings.CACHES["shared"], "LOCATION": "redis://127.0.0.1:9/0"}}

    with transaction.atomic():
        enqueue_after_answer(record_schema, [{"key": "a"}], wake=wake, queue=queue)

    assert broker.llen(queue) == 1
    assert any(r.getMessage() == "wake.unknown" for r in caplog.records)
    broker.delete(queue)


def test_enqueue_on_commit_never_fails_the_caller_when_sending_fails(transactional_db, acme,
                                                                     caplog):
    # given: a message the broker cannot take (kombu cannot serialise an object())
    signature = record_schema.s(key=object()).set(queue=QUEUE)

    # when: the transaction commits, the send fails
    with transaction.atomic():
        enqueue_on_commit(signature)

    # then: the caller carried on, and the failure is logged with the task's name
    [record] = [r for r in caplog.records if r.getMessage() == "task.enqueue_failed"]
    assert record.task == "tests.record_schema"


def test_a_tasks_log_lines_carry_its_id_and_schema_as_json(transactional_db, acme, worker,
                                                           broker):
    # given
    key = f"test:schema:{uuid.uuid4().hex}"

    # when
    with tenant_context(acme.brokerage):
        sent = record_schema.apply_async(kwargs={"key": key}, queue=QUEUE)
    _schema_recorded(broker, key, worker)

    # then: the worker logged the event as one JSON line with the task's id and schema
    _, log = worker
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        lines = [json.loads(line) for line in log.read_text().splitlines()
                 if line.startswith("{") and key in line]
        if lines:
            break
        time.sleep(0.1)
    [line] = [line for line in lines if line.get("event") == "tests.schema_recorded"]
    assert (line["request_id"], line["schema"], line["key"]) == (sent.id, "brk_acme", key)


def test_enqueue_now_sends_at_once_even_inside_a_transaction(transactional_db, broker):
    # given a queue no worker listens to
    queue = f"{QUEUE}-now"
    # when a sweeper sends inside a transaction that has not committed yet
    with transaction.atomic():
        enqueue_now(record_schema.s(key="unused").set(queue=queue))
        queued_before_commit = broker.llen(queue)
    # then the message was in the broker before the commit
    assert queued_before_commit == 1
    broker.delete(queue)
