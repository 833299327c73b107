"""/api/schema/ describes the endpoints of the host it is asked on, errors included."""

from __future__ import annotations

import json

import jsonschema
import pytest
from django.test import Client
from drf_spectacular.validation import validate_schema

from tests.billing.conftest import WEBHOOK_SECRET, sign
from tests.tenants.factories import PASSWORD


def schema_of(host: str) -> dict:
    response = Client(HTTP_HOST=host).get("/api/schema/", {"format": "json"})
    assert response.status_code == 200
    return json.loads(response.content)


def matches(document: dict, component: str, body: dict) -> bool:
    """Does `body` fit the named component schema of an OpenAPI `document`?"""
    schema = {"$ref": f"#/components/schemas/{component}",
              "components": document["components"]}
    try:
        jsonschema.validate(body, schema)
    except jsonschema.ValidationError:
        return False
    return True


def test_the_platform_schema_describes_platform_endpoints_only(acme):
    paths = schema_of("localhost")["paths"]

    assert "/api/v1/brokerages" in paths
    assert "/api/v1/auth/token" in paths
    assert "/api/v1/seats" not in paths


def test_a_brokerage_schema_describes_brokerage_endpoints_only(acme):
    paths = schema_of("acme.localhost")["paths"]

    assert "/api/v1/seats" in paths
    assert "/api/v1/seats/{seat_id}" in paths
    assert "/api/v1/auth/token" in paths
    assert "/api/v1/brokerages" not in paths


@pytest.mark.parametrize("host", ["localhost", "acme.localhost"])
def test_each_hosts_schema_is_valid_openapi_without_the_schema_endpoint(acme, host):
    document = schema_of(host)

    validate_schema(document)  # raises on an invalid document
    assert "/api/schema/" not in document["paths"]
    assert document["components"]["securitySchemes"]["bearerAuth"]["scheme"] == "bearer"


@pytest.mark.parametrize("host,path,method,statuses", [
    ("localhost", "/api/v1/auth/token", "post", {"200", "400", "401", "413", "415", "429"}),
    ("localhost", "/api/v1/brokerages", "get", {"200", "401", "403"}),
    ("localhost", "/api/v1/brokerages", "post",
     {"201", "400", "401", "403", "409", "413", "415", "429"}),
    ("acme.localhost", "/api/v1/seats", "get", {"200", "400", "401", "403"}),
    ("acme.localhost", "/api/v1/seats", "post", {"201", "400", "401", "403", "409", "413", "415"}),
    ("acme.localhost", "/api/v1/seats/{seat_id}", "patch",
     {"200", "400", "401", "403", "404", "409", "413", "415"}),
    ("acme.localhost", "/api/v1/seats/{seat_id}", "delete",
     {"200", "400", "401", "403", "404", "409"}),
])
def test_tenants_endpoints_document_their_error_responses(acme, host, path, method, statuses):
    responses = schema_of(host)["paths"][path][method]["responses"]

    assert set(responses) == statuses
    assert {
        status: response["content"]["application/json"]["schema"]["$ref"]
        for status, response in responses.items() if status >= "400"
    } == {status: "#/components/schemas/ErrorResponse" for status in statuses if status >= "400"}


def test_real_error_and_token_bodies_fit_the_schema(acme):
    document = schema_of("localhost")
    client = Client(HTTP_HOST="localhost")

    invalid = client.post("/api/v1/auth/token", {"email": "nope"}, content_type="application/json")
    refused = client.post("/api/v1/auth/token", {"email": acme.admin.email, "password": "x"},
                          content_type="application/json")
    signed_in = client.post("/api/v1/auth/token",
                            {"email": acme.admin.email, "password": PASSWORD},
                            content_type="application/json")

    assert matches(document, "ErrorResponse", invalid.json())
    assert "fields" in invalid.json()["error"]
    assert matches(document, "ErrorResponse", refused.json())
    assert matches(document, "TokenOutput", signed_in.json())
    assert not matches(document, "ErrorResponse", {"detail": "not our format"})


def test_the_stripe_webhook_is_described_on_the_platform_host_only(acme):
    platform = schema_of("localhost")
    brokerage = schema_of("acme.localhost")

    webhook = platform["paths"]["/billing/stripe/webhook"]
    assert set(webhook) == {"post"}
    operation = webhook["post"]
    assert set(operation["responses"]) == {"200", "400", "405", "413"}
    assert operation["responses"]["400"]["content"]["application/json"]["schema"]["$ref"] == (
        "#/components/schemas/ErrorResponse")
    assert [(p["in"], p["name"], p["required"]) for p in operation["parameters"]] == [
        ("header", "Stripe-Signature", True)]
    assert "application/json" in operation["requestBody"]["content"]
    assert "security" not in operation
    assert "/billing/stripe/webhook" not in brokerage["paths"]


def test_real_webhook_answers_fit_the_schema(db, platform_client, settings):
    settings.STRIPE_WEBHOOK_SECRET = WEBHOOK_SECRET
    document = schema_of("localhost")
    body = json.dumps({"id": "evt_schema", "object": "event", "type": "invoice.paid",
                       "data": {"object": {"id": "in_1"}}}).encode()

    unsigned = platform_client.post("/billing/stripe/webhook", body,
                                    content_type="application/json")
    received = platform_client.post("/billing/stripe/webhook", body,
                                    content_type="application/json",
                                    HTTP_STRIPE_SIGNATURE=sign(body))

    assert unsigned.status_code == 400
    assert matches(document, "ErrorResponse", unsigned.json())
    assert received.status_code == 200
    assert matches(document, "WebhookReceived", received.json())
    assert not matches(document, "WebhookReceived", unsigned.json())
