"""Structured logs: one JSON line per event, with its `extra={...}` fields, the brokerage
and the request (or task) id on every line.

Kernel module: imports no app. `RequestIdMiddleware` sets the request id (a well-formed
`X-Request-ID` from the proxy, else a new one) and echoes it in the response; the Celery
app sets the task id as the request id of the lines a task logs.
"""

from __future__ import annotations

import contextvars
import re
import uuid

from pythonjsonlogger.json import JsonFormatter

request_id: contextvars.ContextVar[str | None] = contextvars.ContextVar("request_id",
                                                                         default=None)
# A proxy's id is kept only when it is short and plain: it is written into every line.
_REQUEST_ID_RE = re.compile(r"^[A-Za-z0-9._-]{8,64}$")


def _current_schema() -> str | None:
    try:
        from django.db import connection

        return getattr(connection, "schema_name", None)
    except Exception:  # noqa: BLE001 (a log line never fails: settings may not be ready)
        return None


class EventFormatter(JsonFormatter):
    """`logger.info("lead.routed", extra={"lead": 7})` ->
    {"time": ..., "level": "INFO", "logger": ..., "event": "lead.routed", "lead": 7,
    "schema": "brk_acme", "request_id": "..."}."""

    def __init__(self, *args, **kwargs):
        kwargs.setdefault("rename_fields", {"asctime": "time", "levelname": "level",
                                            "name": "logger", "message": "event"})
        kwargs.setdefault("timestamp", False)
        super().__init__("%(asctime)s %(levelname)s %(name)s %(message)s", *args, **kwargs)

    def add_fields(self, log_record, record, message_dict) -> None:
        super().add_fields(log_record, record, message_dict)
        schema = _current_schema()
        if schema and "schema" not in log_record:
            log_record["schema"] = schema
        current = request_id.get()
        if current and "request_id" not in log_record:
            log_record["request_id"] = current


class RequestIdMiddleware:
    """First in the chain, so every line a request logs carries its id.

    The id is not reset when the response leaves this middleware: Django logs 4xx/5xx
    answers after the middleware chain returns, and those lines need it too. The next
    request on the same thread sets its own.
    """

    header = "HTTP_X_REQUEST_ID"

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        given = request.META.get(self.header, "")
        value = given if _REQUEST_ID_RE.match(given) else uuid.uuid4().hex
        request_id.set(value)
        response = self.get_response(request)
        response["X-Request-ID"] = value
        return response
