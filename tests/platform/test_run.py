"""`clozings run`, `clozings demo` and `clozings createsuperuser`.

The slow test starts the real thing with nothing configured (embedded PostgreSQL, Redis and
localstripe under a temporary CLOZINGS_HOME), signs in as the demo admin over HTTP, stops it
with SIGINT, then starts it again to see the data kept, kills its Celery worker and sees it
started again and a mail queued meanwhile delivered.
"""

from __future__ import annotations

import http.client
import json
import os
import signal
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path
from urllib.parse import quote

import pytest
from django.contrib.auth import authenticate
from django.core.management import call_command
from django.db import connection

from clozings.platform.management.commands.demo import ADMIN, AGENT, DEMO_SLUG, STAFF
from clozings.tenants.models import Brokerage, Seat, User

ROOT = Path(__file__).resolve().parents[2]
CLOZINGS = str(Path(sys.executable).with_name("clozings"))


def _state() -> dict:
    """Everything the demo command may write, as plain values."""
    return {
        "brokerages": list(Brokerage.objects.order_by("pk").values_list(
            "pk", "slug", "name", "schema_name")),
        "users": list(User.objects.order_by("pk").values_list(
            "pk", "email", "password", "is_staff", "is_superuser")),
        "seats": list(Seat.objects.order_by("pk").values_list(
            "pk", "brokerage_id", "email", "role", "status", "user_id", "invite_nonce")),
    }


@pytest.mark.django_db
def test_demo_makes_the_demo_brokerage_and_logins_and_a_second_run_changes_nothing(
        tmp_path, monkeypatch):
    monkeypatch.setenv("CLOZINGS_HOME", str(tmp_path))  # the demo lead source's key goes there
    # when
    call_command("demo", verbosity=0)
    after_first = _state()
    call_command("demo", verbosity=0)

    # then: the second run changed nothing
    assert _state() == after_first
    # and each printed login works, with the right role
    demo = Brokerage.objects.get(slug=DEMO_SLUG)
    assert demo.name == "Demo Realty"
    admin = authenticate(email=ADMIN.email, password=ADMIN.password)
    agent = authenticate(email=AGENT.email, password=AGENT.password)
    staff = authenticate(email=STAFF.email, password=STAFF.password)
    assert Seat.objects.get(brokerage=demo, user=admin).role == Seat.Role.ADMIN
    agent_seat = Seat.objects.get(brokerage=demo, user=agent)
    assert (agent_seat.role, agent_seat.status) == (Seat.Role.AGENT, Seat.Status.ACTIVE)
    assert staff.is_staff
    assert not Seat.objects.filter(user=staff).exists()


def _database_url(db: dict) -> str:
    credentials = quote(db["USER"] or "", safe="")
    if db.get("PASSWORD"):
        credentials += ":" + quote(db["PASSWORD"], safe="")
    port = f":{db['PORT']}" if db.get("PORT") else ""
    return f"postgres://{credentials}@{quote(db['HOST'] or '', safe='')}{port}/{db['NAME']}"


def test_createsuperuser_noinput_makes_a_platform_staff_account(transactional_db):
    # given
    env = {**os.environ, "DJANGO_SETTINGS_MODULE": "clozings.platform.settings_test",
           "DATABASE_URL": _database_url(connection.settings_dict),
           "DJANGO_SUPERUSER_EMAIL": "Root@Clozings.Test",
           "DJANGO_SUPERUSER_PASSWORD": "a-long-staff-passphrase"}

    # when
    result = subprocess.run([CLOZINGS, "createsuperuser", "--noinput"], env=env, cwd=ROOT,
                            capture_output=True, text=True, timeout=120)

    # then
    assert result.returncode == 0, result.stdout + result.stderr
    user = authenticate(email="root@clozings.test", password="a-long-staff-passphrase")
    assert user is not None
    assert (user.is_staff, user.is_superuser) == (True, True)


# --- the embedded path, end to end ----------------------------------------------------
def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _nothing_listens_on(port: int) -> bool:
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=1):
            return False
    except ConnectionRefusedError:
        return True


def _embedded_environment(home: Path) -> dict[str, str]:
    """This process's environment without anything that names a service or settings."""
    env = {key: value for key, value in os.environ.items()
           if not key.startswith(("DJANGO_", "CLOZINGS_", "STRIPE_", "EMAIL_", "SENTRY_"))
           and key not in {"DATABASE_URL", "REDIS_URL"}}
    env["CLOZINGS_HOME"] = str(home)
    return env


def _start(port: int, env: dict[str, str], log: Path, *args: str) -> subprocess.Popen:
    with log.open("w") as out:
        return subprocess.Popen([CLOZINGS, "run", "--port", str(port), *args], env=env,
                                cwd=ROOT, stdout=out, stderr=subprocess.STDOUT)


def _fetch(port: int, host: str, path: str) -> tuple[int, str, bytes]:
    connection_ = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    try:
        connection_.request("GET", path, headers={"Host": f"{host}:{port}"})
        response = connection_.getresponse()
        return response.status, response.getheader("Content-Type", ""), response.read()
    finally:
        connection_.close()


def _request(port: int, host: str, method: str, path: str, body: dict | None = None,
             token: str | None = None) -> tuple[int, dict]:
    connection_ = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    headers = {"Host": f"{host}:{port}", "Content-Type": "application/json"}
    if token:
        headers["Authorization"] = f"Bearer {token}"
    try:
        connection_.request(method, path, body=json.dumps(body) if body else None,
                            headers=headers)
        response = connection_.getresponse()
        return response.status, json.loads(response.read() or b"{}")
    finally:
        connection_.close()


def _wait_until_healthy(port: int, process: subprocess.Popen, log: Path,
                        timeout: float = 120.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        assert process.poll() is None, f"clozings run exited early:\n{log.read_text()}"
        try:
            status, body = _request(port, "localhost", "GET", "/healthz")
            if status == 200 and "Press Ctrl-C" in log.read_text():
                return
        except OSError:
            pass
        time.sleep(0.25)
    raise AssertionError(f"not healthy within {timeout:.0f} s:\n{log.read_text()}")


def _descendants(pid: int) -> set[int]:
    parents: dict[int, int] = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                stat = (entry / "stat").read_text()
            except OSError:
                continue
            parents[int(entry.name)] = int(stat.rsplit(")", 1)[1].split()[1])
    found, frontier = set(), {pid}
    while frontier:
        frontier = {child for child, parent in parents.items() if parent in frontier}
        found |= frontier
    return found


def _celery_worker(run_pid: int) -> int:
    """The Celery worker's main process: the direct child of `clozings run` running
    `python -m celery ... worker ...`."""
    def command(pid: int) -> list[bytes]:
        return Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")

    def parent(pid: int) -> int:
        return int(Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[1])

    [pid] = [child for child in _descendants(run_pid)
             if parent(child) == run_pid and command(child)[1:3] == [b"-m", b"celery"]
             and b"worker" in command(child)]
    return pid


def _alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return False
    return state != "Z"


def _stop(process: subprocess.Popen, timeout: float = 60.0) -> int:
    process.send_signal(signal.SIGINT)
    try:
        return process.wait(timeout)
    except subprocess.TimeoutExpired:
        process.kill()
        raise


def _invite(port: int, token: str, email: str) -> None:
    status, seat = _request(port, f"{DEMO_SLUG}.localhost", "POST", "/api/v1/seats",
                            {"email": email, "role": "agent"}, token=token)
    assert status == 201, seat


class _FirstConnectionHangs:
    """An SMTP relay on loopback: its first connection is accepted and never answered;
    every later one is passed through to the real (loopback) mail server."""

    def __init__(self, target_port: int):
        self.target_port = target_port
        self.hanging = threading.Event()
        self._held: list[socket.socket] = []
        self._listener = socket.create_server(("127.0.0.1", 0))
        self.port = self._listener.getsockname()[1]
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self) -> None:
        while True:
            try:
                client, _ = self._listener.accept()
            except OSError:
                return
            if not self.hanging.is_set():
                self._held.append(client)
                self.hanging.set()
                continue
            upstream = socket.create_connection(("127.0.0.1", self.target_port))
            for source, sink in ((client, upstream), (upstream, client)):
                threading.Thread(target=self._pipe, args=(source, sink), daemon=True).start()

    @staticmethod
    def _pipe(source: socket.socket, sink: socket.socket) -> None:
        try:
            while data := source.recv(65536):
                sink.sendall(data)
        except OSError:
            pass
        finally:
            for end in (source, sink):
                try:
                    end.shutdown(socket.SHUT_RDWR)
                except OSError:
                    pass

    def close(self) -> None:
        self._listener.close()
        for held in self._held:
            held.close()


def _wait_for(predicate, what: str, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.25)


def _sign_in_as_demo_admin(port: int) -> tuple[int, dict]:
    return _request(port, f"{DEMO_SLUG}.localhost", "POST", "/api/v1/auth/token",
                    {"email": ADMIN.email, "password": ADMIN.password})


@pytest.mark.slow
def test_clozings_run_with_nothing_configured_serves_the_demo_and_stops_cleanly(
        tmp_path, smtp_server, mailbox):
    # given: no DATABASE_URL, REDIS_URL or Stripe key; data under a fresh CLOZINGS_HOME
    home = tmp_path / "home"
    env = _embedded_environment(home)
    port = _free_port()
    log = tmp_path / "run.log"

    # when: it starts
    run = _start(port, env, log)
    try:
        _wait_until_healthy(port, run, log)
        # then: the printed banner names the URLs and the demo logins
        banner = log.read_text()
        assert f"http://localhost:{port}/" in banner
        assert f"http://demo.localhost:{port}/" in banner
        assert f"{ADMIN.email}" in banner and ADMIN.password in banner
        # and the demo admin signs in on the demo brokerage's host and sees its seats
        status, body = _sign_in_as_demo_admin(port)
        assert status == 200, body
        assert {"brokerage": DEMO_SLUG, "role": "admin"}.items() <= \
            body["memberships"][0].items()
        status, seats = _request(port, f"{DEMO_SLUG}.localhost", "GET", "/api/v1/seats",
                                 token=body["token"])
        assert status == 200, seats
        assert {seat["email"] for seat in seats} == {ADMIN.email, AGENT.email}
        # and the app serves its own static files (whitenoise; no CDN)
        status, content_type, css = _fetch(port, f"{DEMO_SLUG}.localhost",
                                           "/static/clozings/app.css")
        assert (status, content_type.split(";")[0]) == (200, "text/css")
        assert len(css) > 0
        children = _descendants(run.pid)
        assert len(children) >= 6  # localstripe, redis, gunicorn + workers, worker, beat
    finally:
        # when: Ctrl-C
        exit_code = _stop(run)

    # then: it stopped cleanly, with every child and the embedded PostgreSQL
    assert exit_code == 0, log.read_text()
    assert "clozings run: stopped" in log.read_text()
    assert [pid for pid in children if _alive(pid)] == []
    assert _nothing_listens_on(port)
    assert not (home / "pgdata" / "postmaster.pid").exists()

    # when: it runs again, without the demo step, with a mail server whose first
    # connection hangs (a worker sending through it is stuck holding that mail)
    again_log = tmp_path / "run-again.log"
    controller, _ = smtp_server
    mail_server = _FirstConnectionHangs(controller.port)
    again = _start(port, {**env, "EMAIL_HOST": "127.0.0.1", "EMAIL_PORT": str(mail_server.port)},
                   again_log, "--no-demo")
    try:
        _wait_until_healthy(port, again, again_log)
        # then: the data is still there
        status, body = _sign_in_as_demo_admin(port)
        assert status == 200, body
        # when: the worker is killed while it sends an invitation (the broker keeps that
        # task for its hour-long visibility timeout), and another is made while it is down
        _invite(port, body["token"], "held@example.test")
        _wait_for(mail_server.hanging.is_set, "the worker to connect", timeout=30)
        worker = _celery_worker(again.pid)
        os.kill(worker, signal.SIGKILL)
        _invite(port, body["token"], "while-down@example.test")
        # then: the worker is started again, says so, and both invitations arrive within
        # a minute (the held one through beat's outbox sweeper)
        _wait_for(lambda: "Celery worker was killed by SIGKILL; started it again"
                  in again_log.read_text(), "the worker's restart", timeout=30)
        assert _celery_worker(again.pid) != worker
        _wait_for(lambda: {"held@example.test", "while-down@example.test"} <= {
            m["X-Envelope-To"] for m in mailbox}, "both invitations", timeout=60)
        assert sorted(m["X-Envelope-To"] for m in mailbox) == [
            "held@example.test", "while-down@example.test"]
        assert again.poll() is None
        children = _descendants(again.pid)
    finally:
        exit_code = _stop(again)
        mail_server.close()

    # then: Ctrl-C still stops everything
    assert exit_code == 0, again_log.read_text()
    assert [pid for pid in children if _alive(pid)] == []
    assert _nothing_listens_on(port)
