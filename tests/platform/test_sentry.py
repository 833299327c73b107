"""Sentry: errors arrive at the DSN's server tagged with the brokerage, without personal data.

The DSN points at a real HTTP server on loopback that records what sentry-sdk posts.
"""

from __future__ import annotations

import gzip
import json
import os
import secrets
import subprocess
import sys
import threading
import time
import zlib
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
import sentry_sdk
from django.test import Client
from django.urls import path

from clozings.platform.observability import init_sentry

ROOT = Path(__file__).resolve().parents[2]
# Made at run time: the source lines around a failing frame travel with the event.
COOKIE_SECRET = f"cookie-{secrets.token_hex(8)}"
BODY_SECRET = f"body-{secrets.token_hex(8)}"


def _boom(request):
    raise RuntimeError("the view failed")


# This module is the brokerage hosts' URL conf during these tests (see `failing_view`).
urlpatterns = [path("boom/", _boom)]


class _Collector(BaseHTTPRequestHandler):
    received: list[bytes]

    def do_POST(self):  # noqa: N802 (http.server's name)
        body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
        encoding = self.headers.get("Content-Encoding", "")
        if encoding == "gzip":
            body = gzip.decompress(body)
        elif encoding == "deflate":
            body = zlib.decompress(body)
        self.server.received.append(body)
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.end_headers()
        self.wfile.write(b"{}")

    def log_message(self, *args):
        pass


@pytest.fixture
def sentry_server():
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Collector)
    server.received = []
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield server
    server.shutdown()
    server.server_close()


@pytest.fixture
def sentry_on(sentry_server):
    """Turn sentry-sdk on for this test only; returns a function that starts it."""

    def start(*, send_pii: bool) -> None:
        init_sentry(dsn=f"http://publickey@127.0.0.1:{sentry_server.server_port}/1",
                    environment="test", send_pii=send_pii)

    yield start
    sentry_sdk.get_client().close(timeout=2)
    sentry_sdk.get_global_scope().set_client(None)


@pytest.fixture
def failing_view(settings):
    settings.ROOT_URLCONF = __name__


def _events(server, *, timeout: float = 10.0) -> list[tuple[dict, bytes]]:
    """The error events the server received: (event, the raw envelope it came in)."""
    sentry_sdk.flush(timeout=timeout)
    deadline = time.monotonic() + timeout
    while not server.received and time.monotonic() < deadline:
        time.sleep(0.05)
    events = []
    for raw in server.received:
        lines = raw.split(b"\n")
        for item_header, payload in zip(lines[1::2], lines[2::2], strict=False):
            if json.loads(item_header).get("type") == "event":
                events.append((json.loads(payload), raw))
    return events


def _brokerage_request(acme):
    client = Client(HTTP_HOST=acme.host, raise_request_exception=False)
    client.force_login(acme.admin)
    client.cookies["tracking"] = COOKIE_SECRET
    return client.post("/boom/", {"note": BODY_SECRET}, REMOTE_ADDR="203.0.113.9",
                       HTTP_X_FORWARDED_FOR="198.51.100.7")


def test_error_in_a_brokerage_request_arrives_tagged_without_personal_data(
        acme, sentry_server, sentry_on, failing_view):
    # given
    sentry_on(send_pii=False)

    # when: a view fails during a signed-in request on acme's host
    response = _brokerage_request(acme)

    # then: the person sees the error page; Sentry gets the error, tagged with the brokerage
    assert response.status_code == 500
    [(event, raw)] = _events(sentry_server)
    assert event["exception"]["values"][-1]["type"] == "RuntimeError"
    assert event["tags"]["brokerage"] == "acme"
    # and nothing that identifies the person or what they sent
    assert "email" not in event.get("user", {})
    assert "ip_address" not in event.get("user", {})
    assert "cookies" not in event["request"]
    assert "data" not in event["request"]
    for secret in (acme.admin.email.encode(), COOKIE_SECRET.encode(), BODY_SECRET.encode(),
                   b"203.0.113.9", b"198.51.100.7"):
        assert secret not in raw


def test_with_personal_data_allowed_the_same_error_carries_the_user(
        acme, sentry_server, sentry_on, failing_view):
    # given: SENTRY_SEND_PII on
    sentry_on(send_pii=True)

    # when
    _brokerage_request(acme)

    # then: the same server sees who it was (so the test above can fail)
    [(event, raw)] = _events(sentry_server)
    assert event["tags"]["brokerage"] == "acme"
    assert event["user"]["email"] == acme.admin.email
    assert COOKIE_SECRET.encode() in raw


def test_settings_turn_sentry_on_when_sentry_dsn_is_set(sentry_server):
    # given: a process that loads the settings with SENTRY_DSN set
    dsn = f"http://publickey@127.0.0.1:{sentry_server.server_port}/1"
    env = {**os.environ, "SENTRY_DSN": dsn, "SENTRY_ENVIRONMENT": "staging",
           "DJANGO_SETTINGS_MODULE": "clozings.platform.settings"}

    # when: it reports an error
    result = subprocess.run(
        [sys.executable, "-c",
         "import django, sentry_sdk; django.setup(); "
         "sentry_sdk.capture_message('hello from settings'); sentry_sdk.flush(5); "
         "options = sentry_sdk.get_client().options; "
         "print(options['environment'], options['send_default_pii'])"],
        env=env, cwd=ROOT, capture_output=True, text=True, timeout=60)

    # then: it arrives, sent the way the settings say
    assert result.returncode == 0, result.stderr
    assert result.stdout.split() == ["staging", "False"]
    assert any(b"hello from settings" in raw for raw in sentry_server.received)
