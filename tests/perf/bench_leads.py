"""Lead intake and distribution, as deployed: gunicorn (the project's gunicorn.conf.py, 2
workers) and a real Celery worker (prefork, as `clozings run` starts it) on the benchmark
database, over min(BENCH_BROKERAGES, 50) brokerages, each with one agent holding one ZIP;
leads are spread over those ZIPs round robin. Each lead has its own email and no phone, so
that none is "the same person again".

Figures, each the median over BENCH_RUNS runs:
- lead_intake_p50 / _p99: `POST /api/v1/leads` at BENCH_INTAKE_RATE requests/s (default
  200) for BENCH_INTAKE_SECONDS (default 5), one connection per request opened when it is
  due (an open loop: a slow answer does not slow the sending), each timed from the moment
  it was due until its whole answer arrived; baseline healthz_paced_p50 / _p99, `/healthz`
  (a database and a Redis round trip) under the same load on the same server. No worker
  runs meanwhile; the routing messages are purged afterwards.
- lead_routing_delivery: BENCH_ROUTING_LEADS leads (default 1000) waiting in the queue,
  from the moment the worker starts consuming until the last is delivered (routing
  decision, CRM lead and task in the brokerage's schema, ledger marked delivered);
  `leads_per_s` beside it. Baseline lead_delivery_raw_sql: the same rows written with raw
  psycopg, one transaction per lead, in one connection.
- lead_batch_intake: BENCH_BATCH_LEADS leads (default 2000) posted to
  `POST /api/v1/leads/batch` in batches of 500, two requests at a time (the two gunicorn
  workers), from the first request sent to the last answer; `leads_per_s` beside it.
  Baseline lead_batch_insert_executemany: the same rows INSERTed with psycopg's
  executemany in one transaction (and lead_batch_insert_copy, with COPY), no HTTP, no
  validation.
- speed_to_lead_p50 / _p99: leads posted through gunicorn at BENCH_SPEED_RATE per second
  (default 100) for BENCH_SPEED_SECONDS (default 300, the issue's 5 minutes), the
  worker consuming as they come; each lead from `received_at` to its CRM lead (with its
  "Call now" task due) being written (its new-lead mail is queued in the same
  transaction). Baseline speed_to_lead_alone_p50 / _p99: the same
  path with the worker idle, SPEED_ALONE leads posted one at a time, each delivered before
  the next. lead_delivery_raw_sql_per_lead is printed beside them as the floor.
- new_lead_mail_p50 / _p99: for the same leads, from `received_at` to the agent's new-lead
  mail sent to the loopback SMTP server (the mail's `sent_at`), over the mail sent within
  BENCH_MAIL_WAIT_SECONDS (default 120) of the last delivery; `unsent_after_wait` counts
  the rest.

The worker's new-lead mail goes to a real SMTP server on loopback (aiosmtpd, a process of
its own), as it would go to a relay in production.

Every figure carries `load_avg` (1-minute load average when it was measured): the machine
is shared, so read the ratios first.
"""

from __future__ import annotations

import errno
import os
import selectors
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path

import psycopg
from django.conf import settings
from django.db import connection
from django.utils import timezone

from clozings.distribution import services as distribution_services
from clozings.distribution.models import InboundLead
from clozings.platform.embedded import free_port, spawn, wait_for_port
from clozings.tenants import services as tenant_services
from clozings.tenants.models import Seat, User
from clozings.territories import services as territory_services
from clozings.territories.models import Territory
from tests.perf.bench_reservations import _Answer, _complete, _Gunicorn, _percentile, _request
from tests.perf.harness import BenchContext, figure

MAX_BROKERAGES = 50
INTAKE_RATE = float(os.environ.get("BENCH_INTAKE_RATE", "200"))
INTAKE_SECONDS = float(os.environ.get("BENCH_INTAKE_SECONDS", "5"))
ROUTING_LEADS = int(os.environ.get("BENCH_ROUTING_LEADS", "1000"))
SPEED_RATE = float(os.environ.get("BENCH_SPEED_RATE", "100"))
SPEED_SECONDS = float(os.environ.get("BENCH_SPEED_SECONDS", "300"))
BATCH_LEADS = int(os.environ.get("BENCH_BATCH_LEADS", "2000"))
BATCH_SIZE = 500  # the batch endpoint's most
DELIVERY_TIMEOUT_SECONDS = 300
QUEUES = ("routing", "celery")
SPEED_ALONE = 20
MAIL_WAIT_SECONDS = float(os.environ.get("BENCH_MAIL_WAIT_SECONDS", "120"))


# --- an open-loop client: each request on its own connection, opened when it is due ------
def paced(port: int, requests_: list[bytes], rate: float) -> list[_Answer]:
    """Send request i at start + i / rate; each answer's ms runs from when it was due."""
    selector = selectors.DefaultSelector()
    outgoing: dict[int, bytes] = {}
    incoming: dict[int, list[bytes]] = {}
    due_at: dict[int, float] = {}
    answers: list[_Answer | None] = [None] * len(requests_)
    start = time.perf_counter()
    deadline = start + len(requests_) / rate + 600
    following = 0
    left = len(requests_)
    try:
        while left:
            now = time.perf_counter()
            if now > deadline:
                raise TimeoutError(f"{left} of {len(requests_)} requests got no answer")
            while following < len(requests_) and start + following / rate <= now:
                sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
                sock.setblocking(False)
                code = sock.connect_ex(("127.0.0.1", port))
                if code not in (0, errno.EINPROGRESS):
                    raise OSError(code, f"connect: {os.strerror(code)}")
                outgoing[following] = requests_[following]
                incoming[following] = []
                due_at[following] = start + following / rate
                selector.register(sock, selectors.EVENT_WRITE, following)
                following += 1
            next_due = start + following / rate if following < len(requests_) else now + 1
            events = selector.select(timeout=max(0.0, min(next_due - time.perf_counter(), 1)))
            for key, mask in events:
                index, sock = key.data, key.fileobj
                if mask & selectors.EVENT_WRITE:
                    sent = sock.send(outgoing[index])
                    outgoing[index] = outgoing[index][sent:]
                    if not outgoing[index]:
                        selector.modify(sock, selectors.EVENT_READ, index)
                    continue
                chunk = sock.recv(65536)
                incoming[index].append(chunk)
                raw = b"".join(incoming[index])
                if chunk and not _complete(raw):
                    continue
                answers[index] = _Answer(raw, (time.perf_counter() - due_at[index]) * 1000)
                selector.unregister(sock)
                sock.close()
                left -= 1
    finally:
        for key in list(selector.get_map().values()):
            key.fileobj.close()
        selector.close()
    return answers  # type: ignore[return-value]


# --- the brokerages, their agents and ZIPs ---------------------------------------------------
def _holders(count: int) -> list[tuple[str, int, str, int]]:
    """(ZIP, seat id, schema, reservation id) of `count` new brokerages' agents."""
    zips = list(Territory.objects.filter(is_active=True).order_by("zip_code")
                .values_list("zip_code", flat=True)[:count])
    made = []
    for zip_code in zips:
        slug = f"bench-lead-{uuid.uuid4().hex[:6]}"
        brokerage = tenant_services.provision_brokerage(
            name=slug, slug=slug, admin_email=f"admin@{slug}.bench", admin_name="Bench Admin",
            admin_password="bench-password-not-secret-1")
        user = User.objects.create(email=f"agent@{slug}.bench", name="Bench Agent")
        seat = Seat.objects.create(brokerage=brokerage, user=user, email=user.email,
                                   status=Seat.Status.ACTIVE, activated_at=timezone.now())
        held = territory_services.hold_slot(seat=seat, zip_code=zip_code)
        territory_services.activate_reservation(reservation_id=held.pk,
                                                stripe_item_id=f"si_bench_{held.pk}")
        made.append((zip_code, seat.pk, brokerage.schema_name, held.pk))
    return made


def _lead_body(run: str, number: int, zip_code: str) -> dict:
    return {"external_id": f"{run}-{number}", "first_name": "Bench", "last_name": str(number),
            "email": f"{run}-{number}@bench.example", "zip_code": zip_code, "intent": "buy"}


def _intake_requests(key: str, run: str, zips: list[str], count: int) -> list[bytes]:
    host = settings.CLOZINGS_DOMAIN
    return [_request("POST", "/api/v1/leads", host, token=key,
                     body=_lead_body(run, n, zips[n % len(zips)])) for n in range(count)]


def _stored_leads(source, run: str, zips: list[str], count: int) -> list[int]:
    """`count` received leads written straight to the ledger (no routing message)."""
    leads = InboundLead.objects.bulk_create([
        InboundLead(source=source, payload=body, **body)
        for body in (_lead_body(run, n, zips[n % len(zips)]) for n in range(count))])
    return [lead.pk for lead in leads]


def _batch_requests(key: str, run: str, zips: list[str], count: int) -> list[bytes]:
    host = settings.CLOZINGS_DOMAIN
    bodies = [_lead_body(run, n, zips[n % len(zips)]) for n in range(count)]
    return [_request("POST", "/api/v1/leads/batch", host, token=key,
                     body={"leads": bodies[start:start + BATCH_SIZE]})
            for start in range(0, count, BATCH_SIZE)]


def _raw_insert(source_id: int, run: str, zips: list[str], count: int, *, copy: bool) -> None:
    """The same rows as the batch intake's, written with plain psycopg (one transaction):
    executemany of an INSERT, or COPY."""
    from clozings.distribution.models import InboundLead as Model

    fields = [f for f in Model._meta.concrete_fields if not f.primary_key]
    rows = []
    for n in range(count):
        body = _lead_body(run, n, zips[n % len(zips)])
        lead = Model(source_id=source_id, payload=body, **body)
        rows.append([f.get_db_prep_save(f.pre_save(lead, True), connection) for f in fields])
    columns = ", ".join(f'"{f.column}"' for f in fields)
    params = connection.get_connection_params()
    params.pop("cursor_factory", None)
    with psycopg.connect(**params) as raw, raw.cursor() as cursor:
        if copy:
            with cursor.copy(f"COPY {Model._meta.db_table} ({columns}) FROM STDIN") as out:
                for row in rows:
                    out.write_row(row)
        else:
            cursor.executemany(f"INSERT INTO {Model._meta.db_table} ({columns}) VALUES "
                               f"({', '.join(['%s'] * len(fields))})", rows)


def _batch_ids(answers: list[_Answer]) -> list[int]:
    import json

    ids = []
    for answer in answers:
        if answer.status != 207:
            raise RuntimeError(f"batch intake answered {answer.status}: {answer.raw[:300]!r}")
        results = json.loads(answer.raw.split(b"\r\n\r\n", 1)[1])["results"]
        if any("id" not in result for result in results):
            raise RuntimeError(f"batch intake refused a lead: {results[:3]!r}")
        ids += [result["id"] for result in results]
    return ids


def _load() -> float:
    return round(os.getloadavg()[0], 2)


def _wait_delivered(ids: list[int]) -> None:
    deadline = time.monotonic() + DELIVERY_TIMEOUT_SECONDS
    while InboundLead.objects.filter(pk__in=ids, status="delivered").count() < len(ids):
        stuck = InboundLead.objects.filter(pk__in=ids).exclude(status__in=(
            "received", "delivered")).values_list("status", flat=True)[:1]
        if stuck:
            raise RuntimeError(f"a benchmark lead ended {stuck[0]}, not delivered")
        if time.monotonic() > deadline:
            raise TimeoutError("the benchmark leads were not all delivered in time")
        time.sleep(0.02)


# --- mail: a real SMTP server on loopback that keeps a count ---------------------------------
class _MailSink:
    """Where the worker's new-lead mail goes, as a relay would take it in production: a real
    SMTP server (aiosmtpd's, discarding what it takes) in a process of its own (a refused
    connection would time each send's failure instead)."""

    def __init__(self, log_dir: Path):
        self.port = free_port()
        self.log = (log_dir / "smtp.log").open("wb")
        self.process = spawn(
            [sys.executable, "-m", "aiosmtpd", "-n", "-l", f"127.0.0.1:{self.port}",
             "-c", "aiosmtpd.handlers.Sink"], stdout=self.log, stderr=subprocess.STDOUT)
        wait_for_port(self.port)

    def environment(self) -> dict[str, str]:
        return {"EMAIL_BACKEND": "django.core.mail.backends.smtp.EmailBackend",
                "EMAIL_HOST": "127.0.0.1", "EMAIL_PORT": str(self.port)}

    def stop(self) -> None:
        self.process.terminate()
        self.process.wait(10)
        self.log.close()


# --- the worker ------------------------------------------------------------------------------
class _Worker:
    def __init__(self, log_dir: Path, mail: _MailSink):
        from clozings.platform.celery import app

        self.app = app
        self.name = f"bench-leads-{uuid.uuid4().hex[:6]}@{socket.gethostname()}"
        self.log = (log_dir / "worker.log").open("wb")
        self.process = spawn(
            [sys.executable, "-m", "celery", "-A", "clozings.platform.celery", "worker",
             "--hostname", self.name, "--loglevel", "WARNING", "--without-mingle",
             "--without-gossip"], env={**os.environ, **mail.environment()}, stdout=self.log,
            stderr=subprocess.STDOUT)
        deadline = time.monotonic() + 60
        while not app.control.ping(destination=[self.name], timeout=0.5):
            if self.process.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError("the benchmark's Celery worker did not start")

    def consume(self, on: bool) -> None:
        control = self.app.control.add_consumer if on else self.app.control.cancel_consumer
        for queue in QUEUES:
            control(queue, destination=[self.name], reply=True, timeout=5)

    def stop(self) -> None:
        self.process.terminate()
        try:
            self.process.wait(30)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait(10)
        self.log.close()


# --- the raw-SQL ceiling ---------------------------------------------------------------------
class _Row:
    """An INSERT of every column of `model`, its defaults computed once (so that a column
    added to the model is written here too), the varying ones given per row."""

    def __init__(self, model, table: str, varying: list[str]):
        fields = [f for f in model._meta.concrete_fields if not f.primary_key]
        template = model()
        self.defaults = [f.get_db_prep_save(f.pre_save(template, True), connection)
                         for f in fields]
        self.index = {f.attname: n for n, f in enumerate(fields)}
        self.varying = [self.index[name] for name in varying]
        columns = ", ".join(f'"{f.column}"' for f in fields)
        self.sql = (f"INSERT INTO {table} ({columns}) VALUES "
                    f"({', '.join(['%s'] * len(fields))}) RETURNING id")

    def values(self, *varying) -> list:
        row = list(self.defaults)
        for index, value in zip(self.varying, varying, strict=True):
            row[index] = value
        return row


def _raw_delivery(ids: list[int], holders: dict[str, tuple[int, str, int]]) -> None:
    """What delivery writes, with raw psycopg, one transaction per lead: the CRM lead and
    its "Call now" task in the brokerage's schema, the agent's new-lead mail in the outbox,
    the ledger marked delivered."""
    from psycopg.types.json import Jsonb

    from clozings.crm.models import Lead, Task
    from clozings.platform.models import OutboundMail

    crm_fields = ["inbound_lead_id", "agent_id", "first_name", "last_name", "email", "phone",
                  "zip_code", "intent", "timeframe", "message", "campaign", "source_name",
                  "created_at", "last_inquiry_at", "stage_changed_at"]
    leads = {schema: _Row(Lead, f'"{schema}".crm_lead', crm_fields)
             for _, schema, _ in holders.values()}
    tasks = {schema: _Row(Task, f'"{schema}".crm_task',
                          ["lead_id", "agent_id", "title", "due_at", "created_at"])
             for _, schema, _ in holders.values()}
    mail = _Row(OutboundMail, OutboundMail._meta.db_table,
                ["to", "subject", "text", "kind", "ref", "created_at", "next_attempt_at"])
    params = connection.get_connection_params()
    params.pop("cursor_factory", None)
    with psycopg.connect(**params) as raw:
        for lead_id in ids:
            with raw.transaction():
                row = raw.execute(
                    "SELECT first_name, last_name, email, phone, zip_code, intent, timeframe,"
                    " message, campaign FROM distribution_inboundlead WHERE id = %s"
                    " AND status = 'received' FOR UPDATE", (lead_id,)).fetchone()
                seat_id, schema, reservation_id = holders[row[4]]
                now = timezone.now()
                crm_lead = raw.execute(leads[schema].sql, leads[schema].values(
                    lead_id, seat_id, *row, "Bench", now, now, now)).fetchone()[0]
                raw.execute(tasks[schema].sql, tasks[schema].values(
                    crm_lead, seat_id, "Call now", now, now))
                raw.execute(mail.sql, mail.values(
                    "agent@bench.example", f"New lead: {row[0]} {row[1]} in {row[4]}",
                    f"{row[0]} {row[1]} is waiting for your call.", "distribution.new_lead",
                    f"{lead_id}:{seat_id}", now, now))
                raw.execute(
                    "UPDATE distribution_inboundlead SET status = 'delivered', routed_at = %s,"
                    " delivered_at = %s, seat_id = %s, reservation_id = %s, brokerage_id ="
                    " (SELECT brokerage_id FROM territories_reservation WHERE id = %s),"
                    " routing_log = %s WHERE id = %s",
                    (now, now, seat_id, reservation_id, reservation_id,
                     Jsonb([{"rule": "exclusive", "chosen": {"seat": seat_id}}]), lead_id))


# --- speed to lead -----------------------------------------------------------------------------
def _speeds_ms(ids: list[int], schemas: list[str]) -> list[float]:
    """Per lead: from received_at to its CRM lead's created_at, in one query."""
    crm = " UNION ALL ".join(
        f'SELECT inbound_lead_id, created_at FROM "{schema}".crm_lead' for schema in schemas)
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT EXTRACT(EPOCH FROM (crm.created_at - inbound.received_at)) * 1000"
            f" FROM distribution_inboundlead inbound JOIN ({crm}) crm"
            " ON crm.inbound_lead_id = inbound.id WHERE inbound.id = ANY(%s)", [ids])
        return [float(row[0]) for row in cursor.fetchall()]


def _mail_ms(ids: list[int]) -> tuple[list[float], int]:
    """Per lead: from received_at to its new-lead mail taken by the SMTP server (the mail
    tasks come after the routing ones, which a worker reads first), once every one is
    sent or MAIL_WAIT_SECONDS have passed; and how many were still unsent then."""
    from clozings.distribution.notifications import NEW_LEAD
    from clozings.platform.models import OutboundMail

    deadline = time.monotonic() + MAIL_WAIT_SECONDS
    refs = [f"{pk}:{seat}" for pk, seat in InboundLead.objects.filter(pk__in=ids)
            .values_list("pk", "seat_id")]
    unsent = len(refs)
    while unsent and time.monotonic() < deadline:
        time.sleep(0.5)
        unsent = len(refs) - OutboundMail.objects.filter(
            kind=NEW_LEAD, ref__in=refs, sent_at__isnull=False).count()
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT EXTRACT(EPOCH FROM (mail.sent_at - inbound.received_at)) * 1000"
            f" FROM {OutboundMail._meta.db_table} mail JOIN distribution_inboundlead inbound"
            " ON mail.ref = inbound.id || ':' || inbound.seat_id"
            " WHERE mail.kind = %s AND mail.ref = ANY(%s) AND mail.sent_at IS NOT NULL",
            [NEW_LEAD, refs])
        return [float(row[0]) for row in cursor.fetchall()], unsent


def _ids_of(answers: list[_Answer]) -> list[int]:
    import json

    ids = []
    for answer in answers:
        if answer.status != 202:
            raise RuntimeError(f"intake answered {answer.status}: {answer.raw[:300]!r}")
        ids.append(json.loads(answer.raw.split(b"\r\n\r\n", 1)[1])["id"])
    return ids


def run(context: BenchContext) -> list[dict]:
    count = min(context.brokerages, MAX_BROKERAGES)
    context.progress(f"leads: {count} brokerages, each with an agent holding a ZIP")
    holders = _holders(count)
    zips = [zip_code for zip_code, *_ in holders]
    by_zip = {zip_code: (seat, schema, reservation)
              for zip_code, seat, schema, reservation in holders}
    schemas = [schema for _, _, schema, _ in holders]
    issued = distribution_services.create_lead_source(
        name="Bench source", cost_per_lead_cents=0, adapter="native")
    from clozings.platform.celery import app

    app.control.purge()
    log_dir = Path(tempfile.mkdtemp(prefix="bench-leads-"))
    gunicorn = _Gunicorn(localstripe="http://127.0.0.1:9", log_dir=log_dir)
    results: list[dict] = []
    try:
        # intake beside /healthz, without a worker (after a few to warm both workers up)
        _ids_of(paced(gunicorn.port, _intake_requests(issued.key, "warm-up", zips, 10), 10))
        intake_count = max(1, round(INTAKE_RATE * INTAKE_SECONDS))
        probe = _request("GET", "/healthz", settings.CLOZINGS_DOMAIN)
        intake, healthz = {"p50": [], "p99": []}, {"p50": [], "p99": []}
        for number in range(context.runs):
            context.progress(f"leads: intake run {number + 1}: {intake_count} requests at "
                             f"{INTAKE_RATE:.0f}/s, then /healthz the same")
            run_id = f"intake-{number}-{uuid.uuid4().hex[:6]}"
            answers = paced(gunicorn.port, _intake_requests(issued.key, run_id, zips,
                                                            intake_count), INTAKE_RATE)
            _ids_of(answers)
            checks = paced(gunicorn.port, [probe] * intake_count, INTAKE_RATE)
            assert all(a.status == 200 for a in checks), "healthz failed under load"
            for share, name in ((0.5, "p50"), (0.99, "p99")):
                intake[name].append(_percentile([a.ms for a in answers], share))
                healthz[name].append(_percentile([a.ms for a in checks], share))
        app.control.purge()
        extra = {"brokerages": count, "rate_per_s": INTAKE_RATE, "requests": intake_count}
        for name in ("p50", "p99"):
            base = figure(f"healthz_paced_{name}", healthz[name], **extra, load_avg=_load())
            results += [base, figure(f"lead_intake_{name}", intake[name], baseline=base,
                                     **extra, load_avg=_load())]

        # batch intake beside executemany / COPY of the same rows
        batch_ms, many_ms, copy_ms = [], [], []
        for number in range(context.runs):
            context.progress(f"leads: batch intake run {number + 1}: {BATCH_LEADS} leads in "
                             f"batches of {BATCH_SIZE}, then executemany and COPY")
            requests_ = _batch_requests(issued.key, f"batch-{number}-{uuid.uuid4().hex[:6]}",
                                        zips, BATCH_LEADS)
            # two at a time: request i is due when request i - 2 has been answered, about
            started = time.perf_counter()
            answers = []
            for start in range(0, len(requests_), 2):
                answers += paced(gunicorn.port, requests_[start:start + 2], 1000)
            batch_ms.append((time.perf_counter() - started) * 1000)
            assert len(_batch_ids(answers)) == BATCH_LEADS
            for copy, timings in ((False, many_ms), (True, copy_ms)):
                started = time.perf_counter()
                _raw_insert(issued.source.pk, f"raw-batch-{number}-{copy}-"
                            f"{uuid.uuid4().hex[:6]}", zips, BATCH_LEADS, copy=copy)
                timings.append((time.perf_counter() - started) * 1000)
        app.control.purge()
        # leads taken in without a worker stay waiting: keep them out of the routing runs
        InboundLead.objects.filter(status="received").update(status="test")
        extra = {"brokerages": count, "leads": BATCH_LEADS}
        many = figure("lead_batch_insert_executemany", many_ms, **extra, load_avg=_load(),
                      leads_per_s=round(BATCH_LEADS / statistics.median(many_ms) * 1000, 1))
        results += [many, figure(
            "lead_batch_insert_copy", copy_ms, **extra, load_avg=_load(),
            leads_per_s=round(BATCH_LEADS / statistics.median(copy_ms) * 1000, 1)), figure(
            "lead_batch_intake", batch_ms, baseline=many, **extra, load_avg=_load(),
            leads_per_s=round(BATCH_LEADS / statistics.median(batch_ms) * 1000, 1))]

        # routing + delivery throughput beside the raw-SQL ceiling
        mail = _MailSink(log_dir)
        try:
            worker = _Worker(log_dir, mail)
        except BaseException:
            mail.stop()
            raise
        try:
            raw_ms, worker_ms = [], []
            for number in range(context.runs):
                context.progress(f"leads: routing run {number + 1}: {ROUTING_LEADS} leads, "
                                 "raw SQL then the worker")
                # a routing task takes whatever is waiting: the worker stops consuming and
                # the last run's messages go before the raw-SQL leads are stored
                worker.consume(False)
                app.control.purge()
                time.sleep(1)  # what it had in hand is done
                ids = _stored_leads(issued.source, f"raw-{number}-{uuid.uuid4().hex[:6]}",
                                    zips, ROUTING_LEADS)
                started = time.perf_counter()
                _raw_delivery(ids, by_zip)
                raw_ms.append((time.perf_counter() - started) * 1000)

                ids = _stored_leads(issued.source, f"route-{number}-{uuid.uuid4().hex[:6]}",
                                    zips, ROUTING_LEADS)
                from clozings.distribution.tasks import route_lead

                for lead_id in ids:
                    route_lead.apply_async(kwargs={"inbound_lead_id": lead_id})
                started = time.perf_counter()
                worker.consume(True)
                _wait_delivered(ids)
                worker_ms.append((time.perf_counter() - started) * 1000)
            extra = {"brokerages": count, "leads": ROUTING_LEADS}
            raw = figure("lead_delivery_raw_sql", raw_ms, **extra, load_avg=_load(),
                         leads_per_s=round(ROUTING_LEADS / statistics.median(raw_ms) * 1000, 1))
            results += [raw, figure(
                "lead_routing_delivery", worker_ms, baseline=raw, **extra, load_avg=_load(),
                leads_per_s=round(ROUTING_LEADS / statistics.median(worker_ms) * 1000, 1))]

            # speed to lead: posted through gunicorn, the worker consuming as they come
            speed_count = max(1, round(SPEED_RATE * SPEED_SECONDS))
            floor = figure("lead_delivery_raw_sql_per_lead",
                           [ms / ROUTING_LEADS for ms in raw_ms], **extra, load_avg=_load())
            speed = {"p50": [], "p99": []}
            alone = {"p50": [], "p99": []}
            mailed = {"p50": [], "p99": [], "unsent": []}
            for number in range(context.runs):
                context.progress(f"leads: speed run {number + 1}: {SPEED_ALONE} leads one at "
                                 "a time")
                speeds = []
                for request in _intake_requests(
                        issued.key, f"alone-{number}-{uuid.uuid4().hex[:6]}", zips,
                        SPEED_ALONE):
                    ids = _ids_of(paced(gunicorn.port, [request], 1.0))
                    _wait_delivered(ids)
                    speeds += _speeds_ms(ids, schemas)
                alone["p50"].append(_percentile(speeds, 0.5))
                alone["p99"].append(_percentile(speeds, 0.99))
                context.progress(f"leads: speed run {number + 1}: {speed_count} leads at "
                                 f"{SPEED_RATE:.0f}/s")
                answers = paced(gunicorn.port, _intake_requests(
                    issued.key, f"speed-{number}-{uuid.uuid4().hex[:6]}", zips, speed_count),
                    SPEED_RATE)
                ids = _ids_of(answers)
                _wait_delivered(ids)
                speeds = _speeds_ms(ids, schemas)
                assert len(speeds) == len(ids), "a delivered lead has no CRM lead"
                speed["p50"].append(_percentile(speeds, 0.5))
                speed["p99"].append(_percentile(speeds, 0.99))
                mails, unsent = _mail_ms(ids)
                mailed["unsent"].append(unsent)
                if mails:
                    mailed["p50"].append(_percentile(mails, 0.5))
                    mailed["p99"].append(_percentile(mails, 0.99))
            results.append(floor)
            extra = {"brokerages": count, "rate_per_s": SPEED_RATE, "seconds": SPEED_SECONDS,
                     "leads": speed_count}
            for name in ("p50", "p99"):
                base = figure(f"speed_to_lead_alone_{name}", alone[name], brokerages=count,
                              leads=SPEED_ALONE, load_avg=_load())
                results += [base, figure(f"speed_to_lead_{name}", speed[name], baseline=base,
                                         **extra, load_avg=_load())]
            for name in ("p50", "p99"):
                if mailed[name]:
                    results.append(figure(
                        f"new_lead_mail_{name}", mailed[name], **extra, load_avg=_load(),
                        unsent_after_wait=max(mailed["unsent"]),
                        wait_s=MAIL_WAIT_SECONDS))
        finally:
            worker.stop()
            mail.stop()
    finally:
        gunicorn.stop()
    return results
