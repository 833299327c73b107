"""A real HTTP proxy in front of localstripe that records every request (method, path,
idempotency key) and can lose the answer to chosen requests after localstripe has done
them (what a network timeout looks like from our side), or hold them until released.

localstripe ignores idempotency keys; the proxy keeps them as Stripe does: a POST whose
key was seen before gets the first answer again and is not done twice."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import requests

from clozings.platform.embedded import free_port

FORWARDED_HEADERS = ("Authorization", "Content-Type", "Idempotency-Key", "Stripe-Version")


class StripeProxy:
    def __init__(self, target: str):
        self.target = target.rstrip("/")
        self.requests: list[tuple[str, str, str]] = []
        self._lose: list[tuple[str, str]] = []
        self._hold: list[tuple[str, str]] = []
        self.released = threading.Event()
        self._lock = threading.Lock()
        self._answers: dict[str, tuple[int, bytes]] = {}
        self.server: ThreadingHTTPServer | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server.server_port}"

    def lose_answer_to(self, method: str, path: str) -> None:
        """The next `method path` reaches localstripe, but its answer never comes back."""
        with self._lock:
            self._lose.append((method, path))

    def hold(self, method: str, path: str) -> None:
        """The next `method path` gets no answer until `released` is set."""
        with self._lock:
            self._hold.append((method, path))

    def keys(self, method: str, path_prefix: str) -> list[str]:
        with self._lock:
            return [key for m, p, key in self.requests
                    if m == method and p.startswith(path_prefix)]

    def _take(self, rules: list, method: str, path: str) -> bool:
        with self._lock:
            if (method, path) in rules:
                rules.remove((method, path))
                return True
            return False

    def handle(self, handler: BaseHTTPRequestHandler) -> None:
        method, path = handler.command, handler.path.split("?")[0]
        body = handler.rfile.read(int(handler.headers.get("Content-Length") or 0))
        with self._lock:
            self.requests.append((method, path, handler.headers.get("Idempotency-Key", "")))
        if self._take(self._hold, method, path):
            self.released.wait(30)
            handler.close_connection = True
            return
        key = handler.headers.get("Idempotency-Key", "") if method == "POST" else ""
        with self._lock:
            answer = self._answers.get(key) if key else None
        if answer is None:
            headers = {name: handler.headers[name] for name in FORWARDED_HEADERS
                       if handler.headers.get(name)}
            forwarded = requests.request(method, f"{self.target}{handler.path}", data=body,
                                         headers=headers, timeout=30)
            answer = (forwarded.status_code, forwarded.content)
            if key:
                with self._lock:
                    self._answers[key] = answer
        if self._take(self._lose, method, path):
            handler.close_connection = True  # done at localstripe, the answer is lost
            return
        handler.send_response(answer[0])
        handler.send_header("Content-Type", "application/json")
        handler.send_header("Content-Length", str(len(answer[1])))
        handler.end_headers()
        handler.wfile.write(answer[1])


@contextmanager
def proxy_for(localstripe: str) -> Iterator[StripeProxy]:
    """A running proxy in front of `localstripe`; point STRIPE_API_BASE at its url."""
    proxy = StripeProxy(localstripe)

    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def do_GET(self):  # noqa: N802 (http.server's names)
            proxy.handle(self)

        do_POST = do_DELETE = do_GET  # noqa: N815

        def log_message(self, *args):
            return

    proxy.server = ThreadingHTTPServer(("127.0.0.1", free_port()), Handler)
    proxy.server.daemon_threads = True
    thread = threading.Thread(target=proxy.server.serve_forever, daemon=True)
    thread.start()
    try:
        yield proxy
    finally:
        proxy.released.set()
        proxy.server.shutdown()
        proxy.server.server_close()
