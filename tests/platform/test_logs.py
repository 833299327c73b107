"""Structured logs: one JSON line per event, its fields, the schema and the request id."""

import io
import json
import logging

import pytest

from clozings.platform.logs import EventFormatter
from tests.conftest import host_client


@pytest.fixture
def log_lines():
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.setFormatter(EventFormatter())
    root = logging.getLogger()
    root.addHandler(handler)
    yield lambda: [json.loads(line) for line in stream.getvalue().splitlines()]
    root.removeHandler(handler)


def test_an_event_logs_its_extra_fields_as_json(log_lines):
    logging.getLogger("clozings.test").info("lead.routed", extra={"lead": 7, "zip_code": "60606"})

    (line,) = [line for line in log_lines() if line["logger"] == "clozings.test"]
    assert line["event"] == "lead.routed"
    assert line["level"] == "INFO"
    assert (line["lead"], line["zip_code"]) == (7, "60606")
    assert "time" in line


def test_a_request_s_lines_carry_its_id_and_brokerage(acme, log_lines):
    response = host_client("acme.localhost").get("/no-such-page/",
                                                  HTTP_X_REQUEST_ID="req-0123456789")

    assert response.status_code == 404
    assert response["X-Request-ID"] == "req-0123456789"
    (line,) = [line for line in log_lines() if line["logger"] == "django.request"]
    assert line["request_id"] == "req-0123456789"
    assert line["schema"] == acme.brokerage.schema_name


@pytest.mark.parametrize("given", ["", "short", "a" * 65, "bad id\nwith newline"])
def test_a_malformed_request_id_is_replaced(acme, given):
    response = host_client("acme.localhost").get("/healthz", HTTP_X_REQUEST_ID=given)

    assert response["X-Request-ID"] != given
    assert len(response["X-Request-ID"]) == 32
