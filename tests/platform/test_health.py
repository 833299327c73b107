"""/healthz: database and broker health, on the platform host and on brokerage hosts."""

from __future__ import annotations

import socket

import pytest

from tests.conftest import host_client


def _closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]  # released on close: nothing listens there


@pytest.mark.django_db
def test_healthz_is_200_when_database_and_broker_answer(platform_client):
    # when
    response = platform_client.get("/healthz")

    # then
    assert response.status_code == 200
    assert response.json() == {"status": "ok", "database": "ok", "broker": "ok"}
    assert "no-cache" in response["Cache-Control"]


def test_healthz_answers_on_a_brokerage_host_too(acme):
    # when: anonymous, on the brokerage's host
    response = host_client(acme.host).get("/healthz")

    # then
    assert response.status_code == 200
    assert response.json()["status"] == "ok"


@pytest.mark.django_db
def test_healthz_is_503_naming_the_broker_when_the_broker_is_unreachable(
        platform_client, settings):
    # given: the broker's URL points at a port nothing listens on
    settings.CELERY_BROKER_URL = f"redis://127.0.0.1:{_closed_port()}/0"

    # when
    response = platform_client.get("/healthz")

    # then
    assert response.status_code == 503
    body = response.json()
    assert body["status"] == "unhealthy"
    assert body["database"] == "ok"
    assert body["broker"] != "ok"
