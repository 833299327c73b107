"""API tokens are revocable: the one used (DELETE /api/v1/auth/token) or all of a person's
(DELETE /api/v1/auth/tokens, sign out everywhere), at one indexed query per request."""

from __future__ import annotations

import json

import pytest
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext

from clozings.tenants.models import ApiToken
from tests.tenants.factories import PASSWORD

TOKEN_URL = "/api/v1/auth/token"
TOKENS_URL = "/api/v1/auth/tokens"
SEATS_URL = "/api/v1/seats"


def sign_in(email: str, host: str = "localhost") -> str:
    response = Client(HTTP_HOST=host).post(
        TOKEN_URL, data=json.dumps({"email": email, "password": PASSWORD}),
        content_type="application/json")
    assert response.status_code == 200, response.content
    return response.json()["token"]


def bearer(token: str, host: str = "acme.localhost") -> Client:
    return Client(HTTP_HOST=host, HTTP_AUTHORIZATION=f"Bearer {token}")


def test_a_revoked_token_gets_401_not_authenticated_and_others_keep_working(acme):
    revoked, kept = sign_in(acme.admin.email), sign_in(acme.admin.email)

    answer = bearer(revoked, "localhost").delete(TOKEN_URL)
    after = bearer(revoked).get(SEATS_URL)

    assert (answer.status_code, answer.json()) == (200, {"revoked": 1})
    assert after.status_code == 401
    assert after.json()["error"]["code"] == "not_authenticated"
    assert after["WWW-Authenticate"] == "Bearer"
    assert bearer(kept).get(SEATS_URL).status_code == 200


@pytest.mark.parametrize("host", ["localhost", "acme.localhost"])
def test_revoking_needs_the_bearer_token_it_revokes(acme, host):
    anonymous = Client(HTTP_HOST=host).delete(TOKEN_URL)
    bogus = bearer("not:a:token", host).delete(TOKEN_URL)

    assert (anonymous.status_code, anonymous.json()["error"]["code"]) == (
        401, "not_authenticated")
    assert (bogus.status_code, bogus.json()["error"]["code"]) == (401, "not_authenticated")


def test_a_stale_token_sent_along_does_not_stop_a_sign_in(acme):
    token = sign_in(acme.admin.email)
    bearer(token, "localhost").delete(TOKEN_URL)

    response = bearer(token, "localhost").post(
        TOKEN_URL, data=json.dumps({"email": acme.admin.email, "password": PASSWORD}),
        content_type="application/json")

    assert response.status_code == 200


def test_signing_out_everywhere_revokes_every_token_of_the_person_only(acme, globex):
    mine = [sign_in(acme.admin.email) for _ in range(3)]
    theirs = sign_in(globex.admin.email)

    answer = bearer(mine[0], "globex.localhost").delete(TOKENS_URL)

    assert (answer.status_code, answer.json()) == (200, {"revoked": 3})
    assert [bearer(token).get(SEATS_URL).status_code for token in mine] == [401, 401, 401]
    assert bearer(theirs, "globex.localhost").get(SEATS_URL).status_code == 200
    assert bearer(sign_in(acme.admin.email)).get(SEATS_URL).status_code == 200


def test_signing_out_everywhere_works_from_a_session_too(acme):
    token = sign_in(acme.admin.email)
    client = Client(HTTP_HOST="acme.localhost")
    client.force_login(acme.admin)

    answer = client.delete(TOKENS_URL)

    assert (answer.status_code, answer.json()) == (200, {"revoked": 1})
    assert bearer(token).get(SEATS_URL).status_code == 401


def test_a_password_change_voids_tokens(acme):
    token = sign_in(acme.admin.email)
    acme.admin.set_password("a-brand-new-passphrase")
    acme.admin.save()

    assert bearer(token).get(SEATS_URL).status_code == 401


def test_checking_a_token_costs_one_query(acme):
    token = sign_in(acme.admin.email)
    client = bearer(token, "localhost")

    with CaptureQueriesContext(connection) as queries:
        response = client.get("/api/v1/territories", {"zip": "10001"})

    token_queries = [q["sql"] for q in queries.captured_queries if "tenants_apitoken" in q["sql"]]
    assert response.status_code in (200, 404)
    assert len(token_queries) == 1
    assert '"tenants_user"' in token_queries[0]


def test_expired_token_rows_are_forgotten_at_the_next_sign_in(acme, settings):
    sign_in(acme.admin.email)
    ApiToken.objects.filter(user=acme.admin).update(created_at="2000-01-01T00:00:00Z")

    sign_in(acme.admin.email)

    assert ApiToken.objects.filter(user=acme.admin).count() == 1


def test_the_schema_documents_revoking(acme):
    document = Client(HTTP_HOST="localhost").get("/api/schema/", {"format": "json"}).json()

    one = document["paths"][TOKEN_URL]["delete"]
    every = document["paths"][TOKENS_URL]["delete"]
    assert one["operationId"] == "auth_token_revoke"
    assert set(one["responses"]) == {"200", "401"}
    assert one["security"] == [{"bearerAuth": []}]
    assert every["operationId"] == "auth_tokens_revoke_all"
    assert "200" in every["responses"]
