"""The WSGI entry point answers 400, never 500, to requests Django fails on while it builds
them, before its own error handling (a Content-Type it can't decode with, too many query
fields under a charset).

Found by fuzzing: `Content-Type: application/json; charset=bz2_codec` with a query string
crashed in Django's request construction, before any middleware could answer.
"""

from __future__ import annotations

import http.client
import json
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import quote

import psycopg
import pytest
from django.conf import settings
from django.db import connection

from clozings.platform.embedded import free_port, spawn, wait_for_port
from clozings.platform.wsgi import application
from tests.tenants.factories import PASSWORD
from tests.wsgi_client import InTestTransaction, call_wsgi

TOKEN_BODY = b'{"email": "nobody@example.test", "password": "not-the-password"}'


@pytest.mark.parametrize("content_type", [
    "application/json; charset=bz2_codec",
    "application/json; charset=base64",
    "application/json; charset=rot13",
    "application/json; charset=punycode",
    "application/json; charset=undefined",
    "application/json; charset=no-such-charset",
    "application/json; charset=utf\x00-8",
])
def test_an_api_request_in_a_charset_that_is_no_text_encoding_gets_a_json_400(content_type):
    response = call_wsgi(application, host="localhost", method="POST", path="/api/v1/auth/token",
                         query="next=1", headers={"Content-Type": content_type},
                         body=TOKEN_BODY)

    assert response.status_code == 400
    assert response.content_type == "application/json"
    assert response.json()["error"]["code"] == "unsupported_charset"
    assert "UTF-8" in response.json()["error"]["message"]


def test_a_parameter_in_an_unknown_rfc_2231_charset_gets_a_json_400():
    response = call_wsgi(application, host="acme.localhost", method="POST",
                         path="/api/v1/seats", query="a=1",
                         headers={"Content-Type": "application/json; name*=bogus''x"},
                         body=b"{}")

    assert response.status_code == 400
    assert response.json()["error"] == {"code": "bad_request",
                                        "message": "The Content-Type header is not valid."}


def test_too_many_query_fields_with_a_charset_get_a_json_400(db):
    # A charset makes Django parse the query string while it builds the request, so
    # TooManyFieldsSent was raised where Django's own 400 handling does not reach.
    count = settings.DATA_UPLOAD_MAX_NUMBER_FIELDS + 1
    fields = "&".join(f"f{number}=1" for number in range(count))

    app = InTestTransaction(application)  # Django is reached: it signals a request start

    response = call_wsgi(app, host="localhost", method="GET", path="/api/v1/territories",
                         query=fields, headers={"Content-Type": "text/plain; charset=cp1125"})

    assert response.status_code == 400
    assert response.json()["error"] == {"code": "bad_request",
                                        "message": "The request was not understood."}


def test_a_page_request_in_such_a_charset_gets_a_plain_400():
    response = call_wsgi(application, host="localhost", method="POST", path="/signup",
                         query="x=1", headers={"Content-Type":
                                               "application/x-www-form-urlencoded; charset=hex"},
                         body=b"name=x")

    assert response.status_code == 400
    assert response.content_type == "text/plain; charset=utf-8"
    assert b"'hex' is not supported" in response.content


def test_a_text_charset_still_reaches_the_api(db):
    app = InTestTransaction(application)

    response = call_wsgi(app, host="localhost", method="POST", path="/api/v1/auth/token",
                         query="next=1",
                         headers={"Content-Type": "application/json; charset=ISO-8859-1"},
                         body=TOKEN_BODY)

    assert (response.status_code, response.json()["error"]["code"]) == (401, "not_authenticated")
    assert app.errors == []


# --- a body sent with Transfer-Encoding: chunked, through real gunicorn ------------------------
# Django reads a body up to CONTENT_LENGTH, which a chunked request has not: it saw an empty
# body, and a seat invite answered "email: This field is required" although it was sent.
GUNICORN_CONF = Path(settings.BASE_DIR) / "platform" / "gunicorn.conf.py"
ROOT = Path(settings.BASE_DIR).parent


def _database_url() -> str:
    db = connection.settings_dict
    host = db.get("HOST") or "127.0.0.1"
    host = quote(host, safe="") if host.startswith("/") else host
    port = f":{db['PORT']}" if db.get("PORT") else ""
    password = f":{quote(db['PASSWORD'], safe='')}" if db.get("PASSWORD") else ""
    return f"postgres://{quote(db.get('USER') or 'postgres', safe='')}{password}@{host}{port}" \
           f"/{db['NAME']}"


@pytest.fixture(scope="module")
def gunicorn(django_db_setup, smtp_server, tmp_path_factory) -> Iterator[int]:
    """gunicorn as `clozings run` and the container start it, on the test database."""
    controller, _ = smtp_server
    port, log = free_port(), tmp_path_factory.mktemp("gunicorn") / "gunicorn.log"
    env = {**os.environ, "DJANGO_SETTINGS_MODULE": "clozings.platform.settings_test",
           "DATABASE_URL": _database_url(), "REDIS_URL": settings.REDIS_URL,
           "EMAIL_HOST": "127.0.0.1", "EMAIL_PORT": str(controller.port),
           "GUNICORN_ACCESS_LOG": ""}
    with log.open("wb") as output:
        process = spawn([sys.executable, "-m", "gunicorn", "--config", str(GUNICORN_CONF),
                         "--bind", f"127.0.0.1:{port}", "--workers", "1"],
                        env=env, cwd=ROOT, stdout=output, stderr=subprocess.STDOUT)
    try:
        wait_for_port(port, timeout=60)
        yield port
    finally:
        process.terminate()
        process.wait(30)


def _send_chunked(port: int, host: str, path: str, body: bytes,
                  token: str | None = None) -> tuple[int, dict]:
    connection_ = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    headers = {"Host": host, "Content-Type": "application/json"}
    if token is not None:
        headers["Authorization"] = f"Bearer {token}"
    try:
        # an iterable body and no length: http.client sends it chunked
        connection_.request("POST", path, body=iter([body[:7], body[7:]]), headers=headers,
                            encode_chunked=True)
        response = connection_.getresponse()
        return response.status, json.loads(response.read())
    finally:
        connection_.close()


def _delete_committed(*, seat_email: str, token_email: str) -> list[str]:
    """Remove what gunicorn committed: the invited seat, its queued invitation mail and the
    signed-in person's tokens. Returns the subjects of the mail queued for the seat."""
    with psycopg.connect(_database_url(), autocommit=True) as admin:
        subjects = [row[0] for row in admin.execute(
            "DELETE FROM platform_outboundmail WHERE \"to\" = %s RETURNING subject",
            [seat_email])]
        admin.execute("DELETE FROM tenants_seat WHERE email = %s", [seat_email])
        admin.execute("DELETE FROM tenants_apitoken WHERE user_id IN "
                      "(SELECT id FROM tenants_user WHERE email = %s)", [token_email])
    return subjects


def test_a_chunked_sign_in_and_seat_invite_are_read_not_taken_as_empty(acme, gunicorn):
    sign_in = json.dumps({"email": acme.admin.email, "password": PASSWORD}).encode()
    invite = json.dumps({"email": "chunked@acme.test", "role": "agent"}).encode()

    try:
        signed_in, token_body = _send_chunked(gunicorn, "localhost", "/api/v1/auth/token",
                                              sign_in)
        invited, seat = _send_chunked(gunicorn, "acme.localhost", "/api/v1/seats", invite,
                                      token=token_body.get("token"))
    finally:
        mail_subjects = _delete_committed(seat_email="chunked@acme.test",
                                          token_email=acme.admin.email)

    assert signed_in == 200, token_body
    assert invited == 201, seat
    assert (seat["email"], seat["role"], seat["status"]) == ("chunked@acme.test", "agent",
                                                             "invited")
    assert mail_subjects == [f"You're invited to {acme.brokerage.name} on Clozings"]


def test_a_chunked_body_over_the_size_cap_is_413_in_the_error_format(gunicorn):
    huge = json.dumps({"email": "x" * (settings.DATA_UPLOAD_MAX_MEMORY_SIZE + 10),
                       "password": "pw"}).encode()

    status, body = _send_chunked(gunicorn, "localhost", "/api/v1/auth/token", huge)

    assert status == 413
    assert body["error"]["code"] == "payload_too_large"
