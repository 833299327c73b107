"""A loopback stand-in for Twilio's Messages API, for every test that sends texts through
Twilio's own client (SMS_BACKEND=twilio): the `twilio` fixture yields the POSTs it got."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs

import pytest

SID = "AC0123456789abcdef0123456789abcdef"
AUTH_TOKEN = "stand-in-token"
FROM_NUMBER = "+15005550006"


class _Twilio(BaseHTTPRequestHandler):
    def do_POST(self):  # noqa: N802 (http.server's name)
        body = self.rfile.read(int(self.headers["Content-Length"])).decode()
        self.server.posts.append({"path": self.path, "form": parse_qs(body),
                                  "auth": self.headers.get("Authorization", "")})
        answer = json.dumps({"sid": f"SM{len(self.server.posts):032d}", "status": "queued",
                             "account_sid": SID}).encode()
        self.send_response(201)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(answer)))
        self.end_headers()
        self.wfile.write(answer)

    def log_message(self, *args):
        pass


@pytest.fixture
def twilio(settings) -> Iterator[list[dict]]:
    """A loopback stand-in for Twilio's API; the POSTs it received."""
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Twilio)
    server.posts = []
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    settings.SMS_BACKEND = "twilio"
    settings.TWILIO_ACCOUNT_SID = SID
    settings.TWILIO_AUTH_TOKEN = AUTH_TOKEN
    settings.TWILIO_FROM_NUMBER = FROM_NUMBER
    settings.TWILIO_API_BASE = f"http://127.0.0.1:{server.server_address[1]}"
    yield server.posts
    server.shutdown()
    server.server_close()
