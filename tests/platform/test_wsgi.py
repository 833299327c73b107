"""The WSGI entry point answers 400, never 500, to requests Django fails on while it builds
them, before its own error handling (a Content-Type it can't decode with, too many query
fields under a charset).

Found by fuzzing: `Content-Type: application/json; charset=bz2_codec` with a query string
crashed in Django's request construction, before any middleware could answer.
"""

from __future__ import annotations

import pytest
from django.conf import settings

from clozings.platform.wsgi import application
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
