"""Test harness.

- Two brokerages (acme, globex) are provisioned once per session; each test's writes
  are rolled back, so no test builds a schema unless it is testing that.
- A real SMTP server (aiosmtpd) listens on loopback; `mailbox` holds what it received.
- Real PostgreSQL and Redis: DATABASE_URL / REDIS_URL, or the embedded ones
  (`python -m clozings.platform.embedded -- pytest`, which `make test` runs).
"""

from __future__ import annotations

import email
import email.policy
import os
import socket
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest
from aiosmtpd.controller import Controller
from django.core.cache import cache
from django.db import connection
from django.test import Client, TransactionTestCase

from clozings.platform.embedded import free_port, localstripe_command, wait_for_port
from tests.tenants.factories import BrokerageSetup, ensure_brokerage
from tests.territories.factories import ensure_catalogue, snapshot_catalogue

# The loopback Twilio stand-in (`twilio` fixture) for every suite that sends texts.
pytest_plugins = ["tests.twilio_standin"]


# --- mail ------------------------------------------------------------------------------
class _Collector:
    def __init__(self):
        self.messages: list[email.message.EmailMessage] = []

    async def handle_DATA(self, server, session, envelope):  # noqa: N802 (aiosmtpd's name)
        message = email.message_from_bytes(envelope.content, policy=email.policy.default)
        message["X-Envelope-To"] = ", ".join(envelope.rcpt_tos)
        self.messages.append(message)
        return "250 Message accepted"


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.fixture(scope="session")
def smtp_server():
    collector = _Collector()
    controller = Controller(collector, hostname="127.0.0.1", port=_free_port())
    controller.start()
    yield controller, collector
    controller.stop()


@pytest.fixture(autouse=True)
def _mail_to_loopback(settings, smtp_server):
    controller, _ = smtp_server
    settings.EMAIL_BACKEND = "django.core.mail.backends.smtp.EmailBackend"
    settings.EMAIL_HOST = "127.0.0.1"
    settings.EMAIL_PORT = controller.port
    settings.EMAIL_USE_TLS = False


@pytest.fixture
def mailbox(smtp_server):
    """Messages the loopback SMTP server received during this test."""
    _, collector = smtp_server
    collector.messages.clear()
    return collector.messages


# --- Stripe ---------------------------------------------------------------------------
@pytest.fixture(scope="session")
def localstripe(tmp_path_factory) -> Iterator[str]:
    """One real localstripe for the run (tests/billing/conftest.py: keys and helpers)."""
    port = free_port()
    log = open(Path(os.environ.get("TMPDIR", "/tmp")) / f"localstripe-{port}.log", "w")  # noqa: SIM115
    state = tmp_path_factory.mktemp("localstripe") / "state.pickle"
    process = subprocess.Popen(localstripe_command(port=port, state=state, from_scratch=True),
                               stdout=log, stderr=subprocess.STDOUT)
    wait_for_port(port)
    yield f"http://127.0.0.1:{port}"
    process.terminate()
    process.wait(10)
    log.close()


# --- state that outlives a transaction --------------------------------------------------
@pytest.fixture(autouse=True)
def _clean_cache_and_schema():
    cache.clear()  # throttles and other counters start from zero in every test
    yield
    connection.set_schema_to_public()


# --- the catalogue and the brokerages after a flush ------------------------------------
# A transactional test ends with a flush of every table: the ZIP catalogue and acme's and
# globex's rows too. Put them back right away, committed (the catalogue from the session's
# snapshot), so that a test after it finds the database as the session set it up whatever
# order the tests run in (pytest-xdist hands a process whole modules, so a flush can come
# before another module's plain db tests, some of which start servers on the database).
_flush = TransactionTestCase._fixture_teardown


def _fixture_teardown_then_catalogue(self):
    _flush(self)
    ensure_catalogue()
    for slug in ("acme", "globex"):
        _reseed_from_template(ensure_brokerage(slug).brokerage.schema_name)


# Rows the CRM's data migrations seed in every brokerage schema (the default cadences); a
# flush run while a brokerage's schema was on the search path emptied them.
_SEEDED_TABLES = ("crm_cadence", "crm_cadencestep")


def _reseed_from_template(schema: str) -> None:
    from clozings.tenants.provisioning import TEMPLATE_SCHEMA

    with connection.cursor() as cursor:
        cursor.execute(f'SELECT EXISTS (SELECT 1 FROM "{schema}".crm_cadence)')
        if cursor.fetchone()[0]:
            return
        for table in _SEEDED_TABLES:
            cursor.execute(f'INSERT INTO "{schema}".{table} '
                           f'SELECT * FROM "{TEMPLATE_SCHEMA}".{table}')
            cursor.execute(f"SELECT setval(pg_get_serial_sequence('\"{schema}\".{table}', 'id'),"
                           f' COALESCE((SELECT max(id) FROM "{schema}".{table}), 0) + 1, false)')


TransactionTestCase._fixture_teardown = _fixture_teardown_then_catalogue


# --- brokerages -------------------------------------------------------------------------
@pytest.fixture(scope="session")
def django_db_setup(django_db_setup, django_db_blocker):
    with django_db_blocker.unblock():
        snapshot_catalogue()  # before any test can change the catalogue
        ensure_brokerage("acme")
        ensure_brokerage("globex")


@pytest.fixture
def acme(db) -> BrokerageSetup:
    """The acme brokerage with an admin seat (admin@acme.test / password 'pw-acme-admin')."""
    return ensure_brokerage("acme")


@pytest.fixture
def globex(db) -> BrokerageSetup:
    return ensure_brokerage("globex")


def host_client(host: str, user=None) -> Client:
    client = Client(HTTP_HOST=host)
    if user is not None:
        client.force_login(user)
    return client


@pytest.fixture
def platform_client() -> Client:
    return Client(HTTP_HOST="localhost")


# --- Chromium ---------------------------------------------------------------------------
@pytest.fixture(scope="session")
def shared_chromium():
    """The run's one Playwright and Chromium (tests/browser/conftest.py: `browser`)."""
    from tests.browser.conftest import SharedChromium

    shared = SharedChromium()
    yield shared
    shared.stop()
