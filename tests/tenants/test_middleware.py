"""Which schema a host reaches, and what an unknown host gets."""

import pytest
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext

SECURITY_HEADERS = ("Content-Security-Policy", "X-Content-Type-Options", "Referrer-Policy",
                    "X-Frame-Options")


def test_a_host_outside_allowed_hosts_gets_a_json_400_on_the_api(db):
    response = Client(HTTP_HOST="attacker.example").get("/api/v1/seats")

    assert response.status_code == 400
    assert response.json()["error"]["code"] == "bad_request"


def test_a_host_outside_allowed_hosts_gets_a_plain_400_on_pages(db):
    response = Client(HTTP_HOST="attacker.example").get("/login/")

    assert response.status_code == 400


def test_an_unknown_brokerage_host_is_a_404_never_the_platform(db):
    response = Client(HTTP_HOST="nobody.localhost").get("/api/v1/brokerages")

    assert response.status_code == 404
    assert response.json()["error"]["code"] == "not_found"


# --- the host as browsers and DNS write it (issue 6, item 13) ---------------------------
@pytest.mark.parametrize("host", ["ACME.localhost", "acme.localhost.", "Acme.LOCALHOST.:8000",
                                  "acme.localhost:8000"])
def test_a_brokerage_host_in_any_case_with_a_trailing_dot_or_a_port_reaches_it(acme, host):
    response = Client(HTTP_HOST=host).get("/login/")

    assert response.status_code == 200
    assert b"Sign in to Acme" in response.content


@pytest.mark.parametrize("host", ["LOCALHOST", "localhost.", "localhost.:8000"])
def test_the_platform_host_in_any_case_or_with_a_trailing_dot_is_the_platform(db, host):
    response = Client(HTTP_HOST=host).get("/")

    assert response.status_code == 200
    assert b"Start your brokerage" in response.content


@pytest.mark.parametrize("host,path,status", [
    ("nosuchbroker.localhost", "/", 404),
    ("nosuchbroker.localhost", "/login/", 404),
    ("nosuchbroker.localhost", "/api/v1/seats", 404),
    ("attacker.example", "/", 400),
    ("attacker.example", "/api/v1/seats", 400),
])
def test_unknown_host_answers_carry_the_security_headers(db, host, path, status):
    response = Client(HTTP_HOST=host).get(path)

    assert response.status_code == status
    assert all(response.has_header(name) for name in SECURITY_HEADERS), response.headers
    assert "default-src 'self'" in response["Content-Security-Policy"]
    assert response["X-Content-Type-Options"] == "nosniff"


@pytest.mark.parametrize("host,status", [("nosuchbroker.localhost", 404),
                                         ("attacker.example", 400)])
def test_unknown_host_answers_carry_hsts_over_https(db, settings, host, status):
    settings.SECURE_HSTS_SECONDS = 31536000

    response = Client(HTTP_HOST=host).get("/", secure=True)

    assert response.status_code == status
    assert response["Strict-Transport-Security"].startswith("max-age=31536000")


def test_a_host_outside_allowed_hosts_gets_headers_when_the_https_redirect_refuses_it(
        db, settings):
    settings.SECURE_SSL_REDIRECT = True

    response = Client(HTTP_HOST="attacker.example").get("/login/")

    assert response.status_code == 400
    assert all(response.has_header(name) for name in SECURITY_HEADERS), response.headers


# --- the page an unknown brokerage host shows (issue 6, item 16) ------------------------
def test_an_unknown_brokerage_host_shows_a_styled_page_linking_to_the_platform_host(db):
    response = Client(HTTP_HOST="nosuchbroker.localhost:8000").get("/some/page/")
    html = response.content.decode()

    assert response.status_code == 404
    assert "There is no brokerage at nosuchbroker.localhost." in html
    assert '<meta name="viewport"' in html and "/static/clozings/app.css" in html
    assert 'href="http://localhost:8000/find-brokerage/"' in html
    assert 'href="http://localhost:8000/"' in html
    assert 'href="/"' not in html


def test_the_css_of_the_unknown_host_page_loads_on_that_host(db):
    css = Client(HTTP_HOST="nosuchbroker.localhost").get("/static/clozings/app.css")

    assert css.status_code == 200
    assert b".error-page" in b"".join(css.streaming_content)


def test_an_unknown_host_serves_no_platform_page(db):
    client = Client(HTTP_HOST="nosuchbroker.localhost")

    for path in ("/healthz", "/find-brokerage/", "/staff/", "/api/schema/"):
        assert client.get(path).status_code == 404, path


def test_a_session_from_another_host_does_not_break_the_unknown_host_page(acme):
    client = Client(HTTP_HOST="nosuchbroker.localhost")
    client.force_login(acme.admin)

    response = client.get("/")

    assert response.status_code == 404
    assert b"There is no brokerage" in response.content


def test_a_platform_request_on_a_connection_already_in_public_sends_no_set_search_path(acme):
    def set_search_path(queries) -> list[str]:
        return [q["sql"] for q in queries if q["sql"].startswith("SET search_path")]

    # given a platform request on this connection
    Client(HTTP_HOST="localhost").get("/healthz")
    # when another comes, and then one after a brokerage's request (each read at once: a
    # request empties the connection's query log)
    with CaptureQueriesContext(connection) as queries:
        assert Client(HTTP_HOST="localhost").get("/healthz").status_code == 200
    platform_again = set_search_path(queries)
    Client(HTTP_HOST="acme.localhost").get("/login/")
    with CaptureQueriesContext(connection) as queries:
        assert Client(HTTP_HOST="localhost").get("/healthz").status_code == 200
    after_a_brokerage = set_search_path(queries)

    # then only the one after the brokerage's switches back to public
    assert platform_again == []
    assert after_a_brokerage == ['SET search_path = "public"']
