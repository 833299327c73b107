"""Reserving a territory through the API as deployed: 100 agents send
`POST /api/v1/reservations` for the same ZIP at the same moment to gunicorn (the project's
clozings/platform/gunicorn.conf.py: 2 gthread workers) on a loopback port, against the
benchmark database and localstripe. Exactly `slots` of them win (and are billed through
Stripe); the others get 409 territory_full. QUALITY.md: p99 under 200 ms.

The client does as little CPU work as it can, so that the 2 cores serve the product and
not the load generator: one thread, non-blocking sockets, one pre-built raw HTTP/1.1
request per agent (bearer token), each on its own connection, closed by the client as
soon as the whole answer (Content-Length) has arrived. The rush opens every connection in
one tight loop (the barrier: nothing is sent before all attempts are released), and each
attempt's time runs from that shared start until its whole answer has arrived, so time
spent queueing for a gunicorn thread or a row lock is counted.

Figures, each the median over BENCH_RUNS runs (each rush on a fresh ZIP):
- reservation_rush_p50 / _p99: from the shared start; baseline healthz_rush_p50 / _p99,
  the same server answering 100 simultaneous `/healthz` (a database and a Redis round trip)
- reservation_rush_winner_ms: the winners' slowest time from the start (the Stripe call
  is in it); baseline reservation_won_alone, one winning request with nobody else trying
- reservation_refused_alone: the losing path (a full ZIP) one request at a time, the
  service time that the rush multiplies

BENCH_RESERVATION_SLOTS (default 1) sets the rushed ZIPs' slots.
"""

from __future__ import annotations

import errno
import json
import logging
import os
import selectors
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from collections import Counter
from pathlib import Path

import requests
from django.conf import settings
from django.test import Client
from django.utils import timezone

from clozings.platform import auth
from clozings.platform.embedded import free_port, spawn, wait_for_port
from clozings.tenants import services as tenant_services
from clozings.tenants.models import Seat, User
from clozings.territories import services as territory_services
from clozings.territories.models import Reservation, Territory
from tests.perf.harness import BenchContext, figure

ATTEMPTS = 100
SLOTS = int(os.environ.get("BENCH_RESERVATION_SLOTS", "1"))
REFUSED_ALONE = 20  # sequential refused attempts per run for the losing path's baseline
GUNICORN_CONF = Path(auth.__file__).with_name("gunicorn.conf.py")
# The benchmark runs with production settings, which redirect plain HTTP to HTTPS; the
# requests come as from behind the TLS-terminating proxy.
FORWARDED = "X-Forwarded-Proto: https"
SECRET_KEY = "sk_test_bench"
PUBLISHABLE_KEY = "pk_test_bench"
RUSH_TIMEOUT_SECONDS = 60


def _percentile(values: list[float], share: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, round(share * len(ordered)) - 1))]


# --- the client: raw HTTP/1.1 over non-blocking sockets ---------------------------------
def _request(method: str, path: str, host: str, *, token: str = "",
             body: dict | None = None) -> bytes:
    lines = [f"{method} {path} HTTP/1.1", f"Host: {host}", FORWARDED,
             "Accept: application/json"]
    if token:
        lines.append(f"Authorization: Bearer {token}")
    payload = b""
    if body is not None:
        payload = json.dumps(body).encode()
        lines += ["Content-Type: application/json", f"Content-Length: {len(payload)}"]
    return ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1") + payload


class _Answer:
    __slots__ = ("status", "raw", "ms")

    def __init__(self, raw: bytes, ms: float):
        self.raw = raw
        self.ms = ms
        head = raw.split(b"\r\n", 1)[0].split(b" ", 2)
        self.status = int(head[1]) if len(head) > 1 and head[1].isdigit() else 0

    @property
    def error_code(self) -> str | None:
        try:
            return json.loads(self.raw.split(b"\r\n\r\n", 1)[1])["error"]["code"]
        except (IndexError, ValueError, KeyError, TypeError):
            return None


def _complete(raw: bytes) -> bool:
    """The whole answer is here: its headers and Content-Length bytes of body."""
    head, separator, body = raw.partition(b"\r\n\r\n")
    if not separator:
        return False
    for line in head.split(b"\r\n")[1:]:
        name, _, value = line.partition(b":")
        if name.strip().lower() == b"content-length":
            return len(body) >= int(value)
    raise ValueError(f"an answer without Content-Length: {head[:200]!r}")


def _rush(port: int, requests_: list[bytes]) -> list[_Answer]:
    """Send every request on its own connection, all released at the same moment; each
    answer with its ms from that shared start."""
    selector = selectors.DefaultSelector()
    sockets = []
    for _ in requests_:
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        sock.setblocking(False)
        sockets.append(sock)
    outgoing = list(requests_)
    incoming: list[list[bytes]] = [[] for _ in requests_]
    answers: list[_Answer | None] = [None] * len(requests_)
    start = time.perf_counter()
    try:
        for index, sock in enumerate(sockets):
            code = sock.connect_ex(("127.0.0.1", port))
            if code not in (0, errno.EINPROGRESS):
                raise OSError(code, f"connect: {os.strerror(code)}")
            selector.register(sock, selectors.EVENT_WRITE, index)
        left = len(sockets)
        deadline = start + RUSH_TIMEOUT_SECONDS
        while left:
            if time.perf_counter() > deadline:
                raise TimeoutError(f"{left} of {len(sockets)} attempts got no answer within "
                                   f"{RUSH_TIMEOUT_SECONDS} s")
            for key, events in selector.select(timeout=1.0):
                index, sock = key.data, key.fileobj
                if events & selectors.EVENT_WRITE:
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
                answers[index] = _Answer(raw, (time.perf_counter() - start) * 1000)
                # Close at once, as a client (or the proxy) does once it has its answer:
                # gunicorn's gthread worker lingers up to 2 s in its main loop on a
                # connection it closes itself while the peer keeps it open.
                selector.unregister(sock)
                sock.close()
                left -= 1
    finally:
        selector.close()
        for sock in sockets:
            sock.close()
    return answers  # type: ignore[return-value]


def _one(port: int, request: bytes) -> _Answer:
    return _rush(port, [request])[0]


# --- the server and the services it needs -----------------------------------------------
def _start_localstripe() -> tuple[str, subprocess.Popen]:
    port = free_port()
    process = spawn(
        [str(Path(sys.executable).with_name("localstripe")), "--port", str(port),
         "--from-scratch"], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    wait_for_port(port)
    return f"http://127.0.0.1:{port}", process


class _Gunicorn:
    """The web process as `clozings run` and the container start it, on a free port."""

    def __init__(self, *, localstripe: str, log_dir: Path):
        self.port = free_port()
        self.log_path = log_dir / "gunicorn.log"
        # this process's settings and database (DATABASE_URL is the benchmark's by now)
        env = {**os.environ, "STRIPE_API_BASE": localstripe, "STRIPE_SECRET_KEY": SECRET_KEY,
               "STRIPE_PUBLISHABLE_KEY": PUBLISHABLE_KEY}
        self.log = self.log_path.open("wb")
        self.process = spawn(
            [sys.executable, "-m", "gunicorn", "--config", str(GUNICORN_CONF),
             "--bind", f"127.0.0.1:{self.port}"],
            env=env, stdout=self.log, stderr=subprocess.STDOUT)
        deadline = time.monotonic() + 60
        probe = _request("GET", "/healthz", settings.CLOZINGS_DOMAIN)
        while True:
            if self.process.poll() is not None:
                raise RuntimeError(f"gunicorn exited ({self.process.returncode}):\n"
                                   f"{self.tail()}")
            try:
                if _one(self.port, probe).status == 200:
                    return
            except OSError:
                pass
            if time.monotonic() > deadline:
                raise RuntimeError(f"gunicorn did not answer /healthz:\n{self.tail()}")
            time.sleep(0.1)

    def tail(self) -> str:
        self.log.flush()
        return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-40:])

    def stop(self) -> None:
        self.process.terminate()
        try:
            self.process.wait(30)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait(10)
        self.log.close()


# --- the brokerage and its agents (made in this process, untimed) -----------------------
def _brokerage_with_card(localstripe: str):
    slug = f"bench-res-{uuid.uuid4().hex[:6]}"
    brokerage = tenant_services.provision_brokerage(
        name=slug, slug=slug, admin_email=f"admin@{slug}.bench", admin_name="Bench Admin",
        admin_password="bench-password-not-secret-1")
    admin_seat = Seat.objects.select_related("user").get(brokerage=brokerage)
    host = tenant_services.brokerage_host(brokerage)
    admin = Client(HTTP_HOST=host, HTTP_X_FORWARDED_PROTO="https")
    admin.force_login(admin_seat.user)
    secret = admin.post("/api/v1/billing/setup-intent").json()["client_secret"]
    confirmed = requests.post(
        f"{localstripe}/v1/setup_intents/{secret.split('_secret_')[0]}/confirm",
        json={"key": PUBLISHABLE_KEY, "client_secret": secret, "payment_method_data": {
            "type": "card", "card": {"number": "4242424242424242", "exp_month": "12",
                                     "exp_year": "2034", "cvc": "123"}}}, timeout=10)
    answer = admin.post("/api/v1/billing/payment-method",
                        {"payment_method_id": confirmed.json()["payment_method"]},
                        content_type="application/json")
    assert answer.status_code == 200, answer.content
    return brokerage, host


def _agent_tokens(brokerage) -> list[str]:
    """ATTEMPTS agents with an active seat each, and a bearer token for each."""
    tokens = []
    for number in range(ATTEMPTS):
        user = User.objects.create(email=f"agent{number}@{brokerage.slug}.bench",
                                   name=f"Agent {number}")
        Seat.objects.create(brokerage=brokerage, user=user, email=user.email,
                            status=Seat.Status.ACTIVE, activated_at=timezone.now())
        tokens.append(auth.issue_token(user))
    return tokens


def _reservation_requests(host: str, tokens: list[str], zip_code: str) -> list[bytes]:
    return [_request("POST", "/api/v1/reservations", host, token=token,
                     body={"zip_code": zip_code}) for token in tokens]


def _reservation_rush(port: int, host: str, tokens: list[str], zip_code: str
                      ) -> list[_Answer]:
    """Every agent tries `zip_code` at once; exactly SLOTS win, the rest are refused as
    territory_full, and the database holds exactly SLOTS places there."""
    answers = _rush(port, _reservation_requests(host, tokens, zip_code))
    outcomes = Counter((a.status, a.error_code) for a in answers)
    assert outcomes == {(201, None): SLOTS, (409, "territory_full"): ATTEMPTS - SLOTS}, \
        outcomes
    held = Reservation.objects.filter(territory__zip_code=zip_code).exclude(
        status=Reservation.Status.RELEASED)
    assert held.count() == SLOTS
    assert not held.exclude(status=Reservation.Status.ACTIVE).exists()
    return answers


def _fresh_zips(count: int) -> list[str]:
    zips = list(Territory.objects.filter(slots=1, is_active=True, state="IL").exclude(
        taken_slots__isnull=False).order_by("zip_code").values_list(
        "zip_code", flat=True)[:count])
    for zip_code in zips:
        if SLOTS != 1:
            territory_services.update_territory(zip_code=zip_code, slots=SLOTS)
    return zips


def run(context: BenchContext) -> list[dict]:
    logging.getLogger("stripe").setLevel(logging.WARNING)
    logging.getLogger("django.request").setLevel(logging.ERROR)
    localstripe, stripe_process = _start_localstripe()
    saved = (settings.STRIPE_API_BASE, settings.STRIPE_SECRET_KEY,
             settings.STRIPE_PUBLISHABLE_KEY)
    settings.STRIPE_API_BASE, settings.STRIPE_SECRET_KEY = localstripe, SECRET_KEY
    settings.STRIPE_PUBLISHABLE_KEY = PUBLISHABLE_KEY
    server = None
    try:
        brokerage, host = _brokerage_with_card(localstripe)
        tokens = _agent_tokens(brokerage)
        warm_zip, *zips = _fresh_zips(1 + 2 * context.runs)
        won_zips, rush_zips = zips[:context.runs], zips[context.runs:]
        log_dir = Path(tempfile.mkdtemp(prefix="bench-reservations-"))
        server = _Gunicorn(localstripe=localstripe, log_dir=log_dir)
        port = server.port
        health = [_request("GET", "/healthz", settings.CLOZINGS_DOMAIN)] * ATTEMPTS
        # Untimed warm-up: every worker thread loads the URL conf and opens its database
        # connection; the first winner creates the brokerage's Stripe subscription.
        for _ in range(2):
            assert {a.status for a in _rush(port, health)} == {200}
        warm = _reservation_rush(port, host, tokens, warm_zip)
        losers = [token for token, a in zip(tokens, warm, strict=True) if a.status == 409]
        refused = _reservation_requests(host, losers[:REFUSED_ALONE], warm_zip)

        won_alone, refused_alone = [], []
        for zip_code in won_zips:
            answer = _one(port, _reservation_requests(host, tokens[:1], zip_code)[0])
            assert answer.status == 201, answer.raw[-500:]
            won_alone.append(answer.ms)
            answers = [_one(port, request) for request in refused]
            assert {(a.status, a.error_code) for a in answers} == {(409, "territory_full")}
            refused_alone.append(statistics.median(a.ms for a in answers))

        health_p50s, health_p99s, p50s, p99s, winners_ms = [], [], [], [], []
        for zip_code in rush_zips:
            healthz = _rush(port, health)
            assert {a.status for a in healthz} == {200}, Counter(a.status for a in healthz)
            health_ms = [a.ms for a in healthz]
            answers = _reservation_rush(port, host, tokens, zip_code)
            rush_ms = [a.ms for a in answers]
            health_p50s.append(_percentile(health_ms, 0.50))
            health_p99s.append(_percentile(health_ms, 0.99))
            p50s.append(_percentile(rush_ms, 0.50))
            p99s.append(_percentile(rush_ms, 0.99))
            winners_ms.append(max(a.ms for a in answers if a.status == 201))
            context.progress(
                f"reservation rush on {zip_code} (gunicorn): p50 {p50s[-1]:.1f} ms, p99 "
                f"{p99s[-1]:.1f} ms, winner {winners_ms[-1]:.1f} ms from the start; "
                f"/healthz rush p50 {health_p50s[-1]:.1f} ms, p99 {health_p99s[-1]:.1f} ms")
        context.progress(f"alone: won {statistics.median(won_alone):.1f} ms, refused "
                         f"{statistics.median(refused_alone):.1f} ms; gunicorn log in "
                         f"{server.log_path}")
    finally:
        if server is not None:
            server.stop()
        settings.STRIPE_API_BASE, settings.STRIPE_SECRET_KEY, \
            settings.STRIPE_PUBLISHABLE_KEY = saved
        stripe_process.terminate()
        stripe_process.wait(10)
    extra = {"attempts": ATTEMPTS, "slots": SLOTS, "winners": SLOTS, "brokerages": 1,
             "server": "gunicorn"}
    health_p50 = figure("healthz_rush_p50", health_p50s, **extra)
    health_p99 = figure("healthz_rush_p99", health_p99s, **extra)
    won = figure("reservation_won_alone", won_alone, brokerages=1, server="gunicorn")
    return [
        health_p50,
        health_p99,
        won,
        figure("reservation_refused_alone", refused_alone, brokerages=1, server="gunicorn",
               requests_per_run=REFUSED_ALONE),
        figure("reservation_rush_p50", p50s, baseline=health_p50, **extra),
        figure("reservation_rush_p99", p99s, baseline=health_p99, target_ms=200, **extra),
        figure("reservation_rush_winner_ms", winners_ms, baseline=won, **extra),
    ]
