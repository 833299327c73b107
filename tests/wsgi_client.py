"""Calling the real WSGI application (clozings.platform.wsgi.application) in-process.

Django's test client builds its own handler and skips the WSGI entry point; these helpers
go through it, with whatever bytes and headers a client could send.
"""

from __future__ import annotations

import io
import json
import traceback
from dataclasses import dataclass
from wsgiref.util import setup_testing_defaults

from django.core.signals import got_request_exception, request_finished, request_started
from django.db import close_old_connections


class InTestTransaction:
    """A WSGI application with Django's per-request connection recycling switched off (as
    Django's test client does), so requests run inside the test's transaction and their
    writes roll back with it. Exceptions that reach Django's 500 handler are kept."""

    def __init__(self, app):
        self.app = app
        self.errors: list[str] = []

    def _record(self, sender, request=None, **kwargs):
        self.errors.append(traceback.format_exc())

    def __call__(self, environ, start_response):
        request_started.disconnect(close_old_connections)
        request_finished.disconnect(close_old_connections)
        got_request_exception.connect(self._record)
        try:
            result = self.app(environ, start_response)
            try:
                body = b"".join(result)
            finally:
                if hasattr(result, "close"):
                    result.close()  # sends request_finished, as a server would
            return [body]
        finally:
            got_request_exception.disconnect(self._record)
            request_started.connect(close_old_connections)
            request_finished.connect(close_old_connections)


@dataclass
class WsgiResponse:
    status_code: int
    headers: dict[str, str]
    content: bytes

    @property
    def content_type(self) -> str:
        return self.headers.get("content-type", "")

    def json(self):
        return json.loads(self.content)


def call_wsgi(app, *, host: str, method: str = "GET", path: str = "/", query: str = "",
              headers: dict[str, str] | None = None, body: bytes = b"") -> WsgiResponse:
    """One request through `app`, as a WSGI server would hand it over."""
    environ: dict = {
        "REQUEST_METHOD": method, "PATH_INFO": path, "QUERY_STRING": query,
        "HTTP_HOST": host, "SERVER_NAME": host, "SERVER_PORT": "80",
        "wsgi.input": io.BytesIO(body), "CONTENT_LENGTH": str(len(body)),
    }
    for name, value in (headers or {}).items():
        key = name.upper().replace("-", "_")
        environ[key if key in ("CONTENT_TYPE", "CONTENT_LENGTH") else f"HTTP_{key}"] = value
    setup_testing_defaults(environ)
    started: list = []

    def start_response(status, response_headers, exc_info=None):
        started.append((status, response_headers))

    content = b"".join(app(environ, start_response))
    status, response_headers = started[-1]
    return WsgiResponse(status_code=int(status.split()[0]),
                        headers={name.lower(): value for name, value in response_headers},
                        content=content)
