"""The API gives each brokerage's host as clients reach it: with the public port, like the
links in mail (`acme.localhost:8000` under `clozings run --port 8000`)."""

from __future__ import annotations

import json

import pytest
from django.test import Client

from clozings.platform.auth import issue_token
from clozings.tenants.models import Domain
from tests.tenants.factories import PASSWORD, UserFactory


@pytest.fixture
def staff_api(db) -> Client:
    staff = UserFactory(is_staff=True)
    return Client(HTTP_HOST="localhost", HTTP_AUTHORIZATION=f"Bearer {issue_token(staff)}")


def test_sign_in_lists_memberships_on_the_public_port(acme, settings):
    settings.CLOZINGS_PUBLIC_PORT = "8000"

    response = Client(HTTP_HOST="localhost").post(
        "/api/v1/auth/token", data=json.dumps({"email": acme.admin.email, "password": PASSWORD}),
        content_type="application/json")

    assert response.status_code == 200
    assert response.json()["memberships"] == [
        {"brokerage": "acme", "role": "admin", "host": "acme.localhost:8000"}]


def test_brokerage_list_and_creation_give_the_host_on_the_public_port(
        acme, staff_api, settings):
    settings.CLOZINGS_PUBLIC_PORT = "8000"

    created = staff_api.post("/api/v1/brokerages", data=json.dumps({
        "name": "Sunrise Realty", "slug": "sunrise", "admin_email": "sam@sunrise.test",
        "admin_name": "Sam Boss", "admin_password": PASSWORD}), content_type="application/json")
    listed = staff_api.get("/api/v1/brokerages")

    assert created.status_code == 201
    assert created.json()["host"] == "sunrise.localhost:8000"
    hosts = {row["slug"]: row["host"] for row in listed.json()}
    assert hosts["acme"] == "acme.localhost:8000"
    assert hosts["sunrise"] == "sunrise.localhost:8000"
    # the host requests are matched on has no port
    assert Domain.objects.filter(domain="sunrise.localhost").exists()


def test_behind_a_proxy_on_the_default_port_the_host_has_no_port(acme, settings):
    settings.CLOZINGS_PUBLIC_PORT = ""

    response = Client(HTTP_HOST="localhost").post(
        "/api/v1/auth/token", data=json.dumps({"email": acme.admin.email, "password": PASSWORD}),
        content_type="application/json")

    assert response.json()["memberships"][0]["host"] == "acme.localhost"
