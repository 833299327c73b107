"""A JSON body nested too deeply is a 400 `parse_error`, not a 500 (found by fuzzing:
the decoder's RecursionError escaped DRF's parser)."""

from __future__ import annotations

import pytest
from django.test import Client

from clozings.platform.parsers import MAX_JSON_DEPTH


def post_token(body: bytes):
    return Client(HTTP_HOST="localhost").post("/api/v1/auth/token", data=body,
                                              content_type="application/json")


@pytest.mark.parametrize("body", [
    b"[" * 100_000,
    b'{"a":' * 5_000,
    b'{"email": ' + b"[" * 900 + b"]" * 900 + b', "password": "x"}',
    b'{"email": ' + b"[" * MAX_JSON_DEPTH + b"]" * MAX_JSON_DEPTH + b', "password": "x"}',
], ids=["unclosed-arrays", "unclosed-objects", "900-deep-field", "just-too-deep-field"])
def test_a_body_nested_too_deeply_is_a_parse_error(db, body):
    response = post_token(body)

    assert response.status_code == 400
    assert response.json()["error"] == {
        "code": "parse_error",
        "message": f"JSON parse error - nested deeper than {MAX_JSON_DEPTH} levels."}


def test_a_body_nested_within_the_limit_reaches_validation(db):
    depth = MAX_JSON_DEPTH - 1  # the body object itself is one level
    response = post_token(b'{"email": ' + b"[" * depth + b"]" * depth + b', "password": "x"}')

    assert response.status_code == 400
    assert response.json()["error"]["fields"] == {"email": ["Enter a valid email address."]}
