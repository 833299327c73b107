"""Billing test harness: a real localstripe per session, a recorder for the webhooks it
sends, a real Celery worker when a test needs one, and brokerages whose writes are
committed (so other connections, threads and the worker see them) and removed afterwards.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
import pytest_django.fixtures as pytest_django_fixtures
import requests
from django.conf import settings as django_settings
from django.db import connection

from clozings.platform.embedded import free_port

WEBHOOK_SECRET = "whsec_clozings_tests"
PUBLISHABLE_KEY = "pk_test_clozings"
SECRET_KEY = "sk_test_clozings"


# --- localstripe ------------------------------------------------------------------------
# `localstripe` (one server for the run) is in tests/conftest.py, so that every directory
# shares it; a fixture imported into several modules would start one server per module.


@pytest.fixture(autouse=True)
def _stripe_settings(settings, localstripe):
    settings.STRIPE_API_BASE = localstripe
    settings.STRIPE_SECRET_KEY = SECRET_KEY
    settings.STRIPE_PUBLISHABLE_KEY = PUBLISHABLE_KEY
    settings.STRIPE_WEBHOOK_SECRET = WEBHOOK_SECRET
    settings.STRIPE_MAX_NETWORK_RETRIES = 0


def stripe_api():
    from clozings.billing.stripe_client import client

    return client().v1


def confirm_card(localstripe: str, client_secret: str, number: str) -> str:
    """What Stripe.js does in the browser: confirm the SetupIntent with a new card, using
    the publishable key only. Returns the payment method id (left unattached by
    localstripe, as the issue says)."""
    setup_intent_id = client_secret.split("_secret_")[0]
    response = requests.post(
        f"{localstripe}/v1/setup_intents/{setup_intent_id}/confirm",
        json={"key": PUBLISHABLE_KEY, "client_secret": client_secret,
              "payment_method_data": {"type": "card", "card": {
                  "number": number, "exp_month": "12", "exp_year": "2034", "cvc": "123"}}},
        timeout=10)
    response.raise_for_status()
    return response.json()["payment_method"]


def add_card(client, localstripe: str, number: str):
    """An admin adds a card through the API, as the card page does."""
    secret = client.post("/api/v1/billing/setup-intent").json()["client_secret"]
    method = confirm_card(localstripe, secret, number)
    return client.post("/api/v1/billing/payment-method", {"payment_method_id": method},
                       content_type="application/json")


# --- webhooks ---------------------------------------------------------------------------
class WebhookRecorder:
    """Receives what localstripe sends (body and signature, as sent) and keeps it."""

    def __init__(self):
        self.deliveries: list[tuple[bytes, str]] = []
        self._lock = threading.Lock()

    def add(self, body: bytes, signature: str) -> None:
        with self._lock:
            self.deliveries.append((body, signature))

    def events(self, customers: set[str]) -> list[tuple[dict, bytes, str]]:
        """Deliveries about these customers, in the order they arrived."""
        with self._lock:
            deliveries = list(self.deliveries)
        found = []
        for body, signature in deliveries:
            event = json.loads(body)
            obj = event["data"]["object"]
            customer = obj.get("id") if obj.get("object") == "customer" else obj.get("customer")
            if customer in customers:
                found.append((event, body, signature))
        return found

    def wait_for(self, predicate: Callable[[dict], bool], customers: set[str],
                 timeout: float = 20.0) -> dict:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            for event, _, _ in self.events(customers):
                if predicate(event):
                    return event
            time.sleep(0.1)
        raise AssertionError("localstripe did not send the expected webhook in time")


@pytest.fixture(scope="session")
def webhook_recorder(localstripe) -> Iterator[WebhookRecorder]:
    recorder = WebhookRecorder()

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self):  # noqa: N802 (http.server's name)
            body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
            recorder.add(body, self.headers.get("Stripe-Signature", ""))
            self.send_response(200)
            self.end_headers()

        def log_message(self, *args):
            return

    server = ThreadingHTTPServer(("127.0.0.1", free_port()), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    requests.post(f"{localstripe}/_config/webhooks/clozings-tests", json={
        "url": f"http://127.0.0.1:{server.server_port}/", "secret": WEBHOOK_SECRET},
        timeout=10).raise_for_status()
    yield recorder
    server.shutdown()


def sign(body: bytes, secret: str = WEBHOOK_SECRET, timestamp: int | None = None) -> str:
    """A Stripe-Signature header for body, as Stripe signs a (re)delivery."""
    import hashlib
    import hmac

    timestamp = timestamp or int(time.time())
    digest = hmac.new(secret.encode(), f"{timestamp}.".encode() + body,
                      hashlib.sha256).hexdigest()
    return f"t={timestamp},v1={digest}"


# --- a real Celery worker ---------------------------------------------------------------
def database_url_of_tests() -> str:
    """DATABASE_URL of the test database, for a subprocess (a Unix-socket directory, as
    the embedded server uses, goes percent-encoded in the host part)."""
    from urllib.parse import quote

    db = connection.settings_dict
    host = db.get("HOST") or "127.0.0.1"
    host = quote(host, safe="") if host.startswith("/") else host
    port = f":{db['PORT']}" if db.get("PORT") else ""
    password = f":{quote(db['PASSWORD'], safe='')}" if db.get("PASSWORD") else ""
    user = quote(db.get("USER") or "postgres", safe="")
    return f"postgres://{user}{password}@{host}{port}/{db['NAME']}"


@pytest.fixture
def celery_worker(committed, localstripe, smtp_server) -> Iterator[subprocess.Popen]:
    """`celery worker` in its own process, on the test database and this test's Redis."""
    controller, _ = smtp_server
    from clozings.platform.celery import app

    app.control.purge()  # tasks left by earlier tests point at rows that are gone
    env = {**os.environ,
           "DJANGO_SETTINGS_MODULE": "clozings.platform.settings_test",
           "DATABASE_URL": database_url_of_tests(),
           "REDIS_URL": django_settings.REDIS_URL,
           "STRIPE_API_BASE": localstripe, "STRIPE_SECRET_KEY": SECRET_KEY,
           "STRIPE_PUBLISHABLE_KEY": PUBLISHABLE_KEY, "STRIPE_WEBHOOK_SECRET": WEBHOOK_SECRET,
           "EMAIL_HOST": "127.0.0.1", "EMAIL_PORT": str(controller.port)}
    name = f"h6-{uuid.uuid4().hex[:8]}@%h"
    process = subprocess.Popen(
        [str(Path(sys.executable).with_name("celery")), "-A", "clozings.platform.celery",
         "worker", "--pool=solo", "--concurrency=1", "-n", name, "--loglevel=WARNING",
         "--without-gossip", "--without-mingle", "--without-heartbeat"],
        env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        if app.control.ping(destination=[name.replace("%h", os.uname().nodename)],
                            timeout=0.5):
            break
        assert process.poll() is None, process.stderr.read().decode()[-2000:]
    yield process
    process.terminate()
    process.wait(20)


def wait_until(predicate: Callable[[], object], timeout: float = 20.0, what: str = "") -> object:
    """Poll with a deadline (no fixed sleeps in assertions)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(0.1)
    raise AssertionError(f"timed out waiting for {what or predicate}")


# --- committed brokerages ---------------------------------------------------------------
class Committed:
    """Brokerages made with real commits, and everything they own removed at the end."""

    def __init__(self):
        self.brokerages: list = []
        self.started = time.time()

    def brokerage(self, prefix: str):
        from clozings.tenants import services
        from tests.tenants.factories import PASSWORD, BrokerageSetup

        slug = f"{prefix}-{uuid.uuid4().hex[:6]}"
        brokerage = services.provision_brokerage(
            name=slug.title(), slug=slug, admin_email=f"admin@{slug}.test",
            admin_name=f"{slug.title()} Admin", admin_password=PASSWORD)
        self.brokerages.append(brokerage)
        seat = brokerage.seats.select_related("user").get()
        return BrokerageSetup(brokerage=brokerage, admin=seat.user, admin_seat=seat)

    def cleanup(self) -> None:
        from datetime import UTC, datetime

        from clozings.billing.models import BillingAccount, WebhookEvent
        from clozings.platform.models import OutboundMail
        from clozings.tenants.models import Domain, Seat, User
        from clozings.territories.models import Reservation, Slot, WaitlistEntry

        connection.set_schema_to_public()
        ids = [b.pk for b in self.brokerages]
        Slot.objects.filter(reservation__brokerage_id__in=ids).delete()
        Slot.objects.filter(offer__brokerage_id__in=ids).delete()
        Reservation.objects.filter(brokerage_id__in=ids).delete()
        WaitlistEntry.objects.filter(brokerage_id__in=ids).delete()
        BillingAccount.objects.filter(brokerage_id__in=ids).delete()
        WebhookEvent.objects.filter(
            received_at__gte=datetime.fromtimestamp(self.started, tz=UTC)
        ).delete()
        OutboundMail.objects.filter(
            created_at__gte=datetime.fromtimestamp(self.started, tz=UTC)).delete()
        user_ids = list(Seat.objects.filter(brokerage_id__in=ids).values_list("user_id",
                                                                               flat=True))
        Seat.objects.filter(brokerage_id__in=ids).delete()
        Domain.objects.filter(tenant_id__in=ids).delete()
        for brokerage in self.brokerages:
            with connection.cursor() as cursor:
                cursor.execute(f'DROP SCHEMA IF EXISTS "{brokerage.schema_name}" CASCADE')
            type(brokerage).objects.filter(pk=brokerage.pk).delete()
        User.objects.filter(pk__in=[u for u in user_ids if u], seats__isnull=True).delete()


# pytest-django sets up only the databases that collected tests ask for through `db`,
# `transactional_db` or the django_db marker. A committed test uses none of those (they
# would wrap it in a transaction or flush the ZIP catalogue afterwards), so it says so here.
_databases_for_test = pytest_django_fixtures._get_databases_for_test


def _databases_with_committed(test):
    if "committed" in getattr(test, "fixturenames", ()):
        return {"default"}, False
    return _databases_for_test(test)


pytest_django_fixtures._get_databases_for_test = _databases_with_committed


@pytest.fixture
def committed(django_db_setup, django_db_blocker) -> Iterator[Committed]:
    from tests.territories.factories import ensure_catalogue

    with django_db_blocker.unblock():
        # pytest-django runs tests without a db fixture last, after transactional tests
        # that flush every table (the ZIP catalogue too)
        ensure_catalogue()
        made = Committed()
        try:
            yield made
        finally:
            made.cleanup()
