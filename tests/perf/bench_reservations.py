"""Reserving a territory through the API (`POST /api/v1/reservations`): 100 agents try the
same exclusive ZIP at the same moment; exactly one wins (and is billed through Stripe,
localstripe here), the others get 409 territory_full. QUALITY.md: p99 under 200 ms.

The attempts go through Django's request handler in this process, at most SERVING at a
time (like gunicorn's 2 workers x 2 threads); the others wait their turn. Figures, each
the median over BENCH_RUNS runs on fresh ZIPs: p50 and p99 of the time in the handler,
and p99 from the shared start (queueing included). Baseline: the same request alone.
"""

from __future__ import annotations

import logging
import os
import subprocess
import sys
import threading
import time
import uuid
from collections import Counter
from pathlib import Path

import requests
from django.conf import settings
from django.db import connection
from django.test import Client
from django.utils import timezone

from clozings.platform.embedded import free_port, wait_for_port
from clozings.tenants import services as tenant_services
from clozings.tenants.models import Seat, User
from clozings.territories.models import Territory
from tests.perf.harness import BenchContext, figure

ATTEMPTS = 100
# Requests served at once, as by gunicorn's workers and threads: a web tier has a bounded
# pool of database connections, so the other attempts queue (and their wait is counted).
SERVING = int(os.environ.get("BENCH_RESERVATION_SERVING", "4"))
# The benchmark runs with production settings, which redirect plain HTTP to HTTPS; the
# requests come as from behind the TLS-terminating proxy.
HTTPS = {"HTTP_X_FORWARDED_PROTO": "https"}
PUBLISHABLE_KEY = "pk_test_bench"


def _percentile(values: list[float], share: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, round(share * len(ordered)) - 1))]


def _start_localstripe() -> tuple[str, subprocess.Popen]:
    port = free_port()
    process = subprocess.Popen(
        [str(Path(sys.executable).with_name("localstripe")), "--port", str(port),
         "--from-scratch"], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    wait_for_port(port)
    return f"http://127.0.0.1:{port}", process


def _brokerage_with_card(localstripe: str):
    slug = f"bench-res-{uuid.uuid4().hex[:6]}"
    brokerage = tenant_services.provision_brokerage(
        name=slug, slug=slug, admin_email=f"admin@{slug}.bench", admin_name="Bench Admin",
        admin_password="bench-password-not-secret-1")
    admin_seat = Seat.objects.select_related("user").get(brokerage=brokerage)
    host = tenant_services.brokerage_host(brokerage)
    admin = Client(HTTP_HOST=host, **HTTPS)
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


def _agents(brokerage, host: str) -> list[Client]:
    """ATTEMPTS signed-in agents (sessions made up front, no password hashing)."""
    clients = []
    for number in range(ATTEMPTS):
        user = User.objects.create(email=f"agent{number}@{brokerage.slug}.bench",
                                   name=f"Agent {number}")
        Seat.objects.create(brokerage=brokerage, user=user, email=user.email,
                            status=Seat.Status.ACTIVE, activated_at=timezone.now())
        client = Client(HTTP_HOST=host, **HTTPS)
        client.force_login(user)
        clients.append(client)
    return clients


def _rush(clients: list[Client], zip_code: str) -> tuple[list[float], list[float], Counter]:
    """All clients try `zip_code` at once. Returns (service ms, end-to-end ms, outcomes):
    service is the time in the request handler, end-to-end adds the wait for a free
    serving slot since the shared start."""
    barrier = threading.Barrier(len(clients) + 1)
    service: list[float] = []
    total: list[float] = []
    outcomes: Counter = Counter()
    failures: list[BaseException] = []
    lock = threading.Lock()
    start: list[float] = []
    serving = threading.BoundedSemaphore(SERVING)

    def attempt(client: Client) -> None:
        try:
            barrier.wait()
            with serving:
                entered = time.perf_counter()
                try:
                    response = client.post("/api/v1/reservations", {"zip_code": zip_code},
                                           content_type="application/json")
                finally:
                    connection.close()
                done = time.perf_counter()
            with lock:
                service.append((done - entered) * 1000)
                total.append((done - start[0]) * 1000)
                outcomes[response.status_code] += 1
        except BaseException as exc:  # noqa: BLE001 - reported below, not lost in a thread
            failures.append(exc)

    threads = [threading.Thread(target=attempt, args=(c,)) for c in clients]
    for thread in threads:
        thread.start()
    start.append(time.perf_counter())
    barrier.wait()
    for thread in threads:
        thread.join(120)
    if failures:
        raise RuntimeError(f"{len(failures)} attempts failed") from failures[0]
    return service, total, outcomes


def _alone(client: Client, zip_codes: list[str]) -> list[float]:
    """Baseline: the same request with nobody else trying (each on a free ZIP)."""
    timings = []
    for zip_code in zip_codes:
        started = time.perf_counter()
        response = client.post("/api/v1/reservations", {"zip_code": zip_code},
                               content_type="application/json")
        timings.append((time.perf_counter() - started) * 1000)
        assert response.status_code == 201, response.content
    return timings


def run(context: BenchContext) -> list[dict]:
    logging.getLogger("stripe").setLevel(logging.WARNING)
    logging.getLogger("django.request").setLevel(logging.ERROR)  # 99 expected 409s a run
    localstripe, process = _start_localstripe()
    saved = (settings.STRIPE_API_BASE, settings.STRIPE_SECRET_KEY,
             settings.STRIPE_PUBLISHABLE_KEY)
    settings.STRIPE_API_BASE, settings.STRIPE_SECRET_KEY = localstripe, "sk_test_bench"
    settings.STRIPE_PUBLISHABLE_KEY = PUBLISHABLE_KEY
    try:
        brokerage, host = _brokerage_with_card(localstripe)
        clients = _agents(brokerage, host)
        zips = list(Territory.objects.filter(slots=1, is_active=True, state="IL").order_by(
            "zip_code").values_list("zip_code", flat=True)[:2 * context.runs + 1])
        # the first reservation makes the subscription; time the steady state after it
        baseline_ms = _alone(clients[0], zips[:context.runs + 1])[1:]
        p50s, p99s, e2e_p99s = [], [], []
        for zip_code in zips[context.runs + 1:]:
            service, total, outcomes = _rush(clients[1:] + clients[:1], zip_code)
            assert outcomes == {201: 1, 409: ATTEMPTS - 1}, outcomes
            p50s.append(_percentile(service, 0.50))
            p99s.append(_percentile(service, 0.99))
            e2e_p99s.append(_percentile(total, 0.99))
            context.progress(f"reservation rush on {zip_code}: p50 {p50s[-1]:.1f} ms, "
                             f"p99 {p99s[-1]:.1f} ms in the handler; p99 "
                             f"{e2e_p99s[-1]:.1f} ms from the start, with {SERVING} served "
                             "at once")
    finally:
        settings.STRIPE_API_BASE, settings.STRIPE_SECRET_KEY, \
            settings.STRIPE_PUBLISHABLE_KEY = saved
        process.terminate()
        process.wait(10)
    baseline = figure("reservation_api_alone", baseline_ms, brokerages=1)
    return [
        baseline,
        figure("reservation_api_rush_p50", p50s, baseline=baseline, attempts=ATTEMPTS,
               winners=1, brokerages=1),
        figure("reservation_api_rush_p99", p99s, baseline=baseline, attempts=ATTEMPTS,
               winners=1, brokerages=1, target_ms=200),
        figure("reservation_api_rush_p99_with_queueing", e2e_p99s, attempts=ATTEMPTS,
               winners=1, brokerages=1, serving=SERVING),
    ]
