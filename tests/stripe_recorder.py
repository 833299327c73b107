"""A recording loopback proxy in front of localstripe.

Point STRIPE_API_BASE at `StripeRecorder.url`: every request the app's Stripe client
makes (clozings/billing/stripe_client.py) is kept, then forwarded to localstripe, and
localstripe's answer goes back unchanged. A test counts what a request made the app send.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import requests

# What the Stripe client sends that localstripe needs to see.
FORWARDED_HEADERS = ("Authorization", "Content-Type", "Idempotency-Key", "Stripe-Version",
                     "Stripe-Account")


@dataclass(frozen=True)
class StripeRequest:
    method: str
    path: str  # with its query string
    body: bytes

    @property
    def is_write(self) -> bool:
        return self.method != "GET"

    def __str__(self) -> str:
        return f"{self.method} {self.path}"


class StripeRecorder:
    def __init__(self, upstream: str):
        self.upstream = upstream.rstrip("/")
        self._requests: list[StripeRequest] = []
        self._lock = threading.Lock()
        recorder = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def _forward(self):
                body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                recorder._add(StripeRequest(self.command, self.path, body))
                answer = requests.request(
                    self.command, recorder.upstream + self.path, data=body, timeout=30,
                    headers={name: self.headers[name] for name in FORWARDED_HEADERS
                             if self.headers.get(name)})
                self.send_response(answer.status_code)
                self.send_header("Content-Type",
                                 answer.headers.get("Content-Type", "application/json"))
                self.send_header("Content-Length", str(len(answer.content)))
                self.end_headers()
                self.wfile.write(answer.content)

            do_GET = do_POST = do_DELETE = _forward  # noqa: N815 (http.server's names)

            def log_message(self, *args):
                return

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True
        self.url = f"http://127.0.0.1:{self._server.server_port}"
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    def start(self) -> StripeRecorder:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()

    def _add(self, request: StripeRequest) -> None:
        with self._lock:
            self._requests.append(request)

    @property
    def requests(self) -> list[StripeRequest]:
        with self._lock:
            return list(self._requests)
