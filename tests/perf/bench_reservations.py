"""Reserving a territory through the API (`POST /api/v1/reservations`): 100 agents try the
same exclusive ZIP at the same moment; exactly one wins (and is billed through Stripe,
localstripe here), the others get 409 territory_full. QUALITY.md: p99 under 200 ms.

Each run uses a fresh ZIP; the figure is the median over runs of each run's p50 and p99
of the attempts' latencies, from the shared start to each response.
"""

from __future__ import annotations

import logging
import statistics
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


def _rush(clients: list[Client], zip_code: str) -> tuple[list[float], Counter]:
    barrier = threading.Barrier(len(clients) + 1)
    latencies: list[float] = []
    outcomes: Counter = Counter()
    lock = threading.Lock()
    start: list[float] = []

    def attempt(client: Client) -> None:
        try:
            barrier.wait()
            response = client.post("/api/v1/reservations", {"zip_code": zip_code},
                                   content_type="application/json")
            elapsed = (time.perf_counter() - start[0]) * 1000
            with lock:
                latencies.append(elapsed)
                outcomes[response.status_code] += 1
        finally:
            connection.close()

    threads = [threading.Thread(target=attempt, args=(c,)) for c in clients]
    for thread in threads:
        thread.start()
    start.append(time.perf_counter())
    barrier.wait()
    for thread in threads:
        thread.join(120)
    return latencies, outcomes


def run(context: BenchContext) -> list[dict]:
    logging.getLogger("stripe").setLevel(logging.WARNING)
    localstripe, process = _start_localstripe()
    saved = (settings.STRIPE_API_BASE, settings.STRIPE_SECRET_KEY,
             settings.STRIPE_PUBLISHABLE_KEY)
    settings.STRIPE_API_BASE, settings.STRIPE_SECRET_KEY = localstripe, "sk_test_bench"
    settings.STRIPE_PUBLISHABLE_KEY = PUBLISHABLE_KEY
    try:
        brokerage, host = _brokerage_with_card(localstripe)
        clients = _agents(brokerage, host)
        zips = list(Territory.objects.filter(slots=1, is_active=True, state="IL").order_by(
            "zip_code").values_list("zip_code", flat=True)[:context.runs])
        p50s, p99s, winners = [], [], []
        for zip_code in zips:
            latencies, outcomes = _rush(clients, zip_code)
            assert outcomes == {201: 1, 409: ATTEMPTS - 1}, outcomes
            p50s.append(_percentile(latencies, 0.50))
            p99s.append(_percentile(latencies, 0.99))
            winners.append(outcomes[201])
            context.progress(f"reservation rush on {zip_code}: p50 {p50s[-1]:.1f} ms, "
                             f"p99 {p99s[-1]:.1f} ms")
    finally:
        settings.STRIPE_API_BASE, settings.STRIPE_SECRET_KEY, \
            settings.STRIPE_PUBLISHABLE_KEY = saved
        process.terminate()
        process.wait(10)
    return [
        figure("reservation_api_rush_p50", p50s, attempts=ATTEMPTS, winners=winners[0],
               brokerages=1, p99_ms=round(statistics.median(p99s), 2)),
        figure("reservation_api_rush_p99", p99s, attempts=ATTEMPTS, winners=winners[0],
               brokerages=1, target_ms=200),
    ]
