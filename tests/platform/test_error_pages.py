"""Every error the app answers is a page in its style; the platform host leads an agent on
(issue 6, items 16, 17 and 22)."""

from __future__ import annotations

import datetime as dt
import re
from pathlib import Path

import pytest
from django.contrib.auth.tokens import default_token_generator
from django.test import Client, RequestFactory
from django.utils import timezone
from django.utils.encoding import force_bytes
from django.utils.http import urlsafe_base64_encode

from clozings.platform import views
from clozings.platform.mail import send_due_mail
from clozings.tenants.models import Seat
from tests.billing.conftest import (  # noqa: F401 (fixtures)
    celery_worker,
    committed,
    wait_until,
)
from tests.conftest import host_client
from tests.tenants.factories import PASSWORD, SeatFactory, UserFactory

ROOT = Path(__file__).resolve().parents[2]


def _looks_like_the_app(response) -> None:
    html = response.content.decode()
    assert '<meta name="viewport" content="width=device-width, initial-scale=1">' in html
    assert "/static/clozings/app.css" in html
    assert 'class="error-page"' in html
    assert 'class="button' in html  # a clear next step
    assert "DEBUG" not in html
    assert response.has_header("Content-Security-Policy")
    assert "<style" not in html and " style=" not in html  # nothing the CSP would block


# --- CSRF failure (item 17) ---------------------------------------------------------------
def test_a_stale_form_gets_the_apps_csrf_page_with_a_way_back(acme):
    client = Client(enforce_csrf_checks=True, HTTP_HOST=acme.host)

    response = client.post("/login/", {"email": "admin@acme.test", "password": PASSWORD})

    assert response.status_code == 403
    _looks_like_the_app(response)
    assert "This form has expired." in response.content.decode()
    assert 'href="/login/"' in response.content.decode()


@pytest.mark.parametrize("referer,retry", [
    ("http://acme.localhost/seats/7/?tab=role", "/seats/7/?tab=role"),
    ("http://globex.localhost/seats/7/", "/seats/7/role/"),
    ("", "/seats/7/role/"),
])
def test_the_csrf_page_sends_back_to_the_page_the_form_was_on_of_this_host_only(
        acme, referer, retry):
    client = Client(enforce_csrf_checks=True, HTTP_HOST=acme.host)

    response = client.post("/seats/7/role/", {"role": "admin"}, HTTP_REFERER=referer)

    assert response.status_code == 403
    assert f'href="{retry}"'.replace("&", "&amp;") in response.content.decode()


def test_a_stale_form_on_the_platform_host_gets_the_same_page(db):
    response = Client(enforce_csrf_checks=True, HTTP_HOST="localhost").post(
        "/find-brokerage/", {"email": "x@example.test"})

    assert response.status_code == 403
    _looks_like_the_app(response)


def test_the_csrf_failure_view_answers_json_under_the_api():
    request = RequestFactory().post("/api/v1/seats")

    response = views.csrf_failure(request, reason="CSRF cookie not set.")

    assert response.status_code == 403
    assert b'"code": "csrf_failed"' in response.content


# --- 405 and GET /logout/ (item 17) -----------------------------------------------------
def test_get_on_a_post_only_page_is_the_apps_405_page(acme):
    seat = SeatFactory(brokerage=acme.brokerage)
    response = host_client(acme.host, acme.admin).get(f"/seats/{seat.pk}/role/")

    assert response.status_code == 405
    assert response["Allow"] == "POST"
    _looks_like_the_app(response)


def test_a_405_under_the_api_stays_json(acme):
    response = host_client(acme.host, acme.admin).delete("/api/v1/seats")

    assert response.status_code == 405
    assert response.json()["error"]["code"] == "method_not_allowed"


@pytest.mark.parametrize("host", ["acme.localhost", "localhost"])
def test_get_logout_shows_a_sign_out_button_and_post_signs_out(acme, host):
    client = host_client(host, acme.admin)

    page = client.get("/logout/")
    html = page.content.decode()

    assert page.status_code == 200
    assert re.search(r'<form method="post" action="/logout/".*?<button type="submit"[^>]*>'
                     r"Sign out</button>", html, re.S)
    assert "_auth_user_id" in client.session
    assert client.post("/logout/")["Location"] == "/login/"
    assert "_auth_user_id" not in client.session


def test_get_logout_when_signed_out_offers_to_sign_in(acme):
    response = host_client(acme.host).get("/logout/")

    assert response.status_code == 200
    assert b'href="/login/"' in response.content


# --- 400/403/404/500 look the same ----------------------------------------------------------
@pytest.mark.parametrize("handler", [views.bad_request, views.permission_denied,
                                     views.not_found])
def test_every_error_page_has_the_viewport_the_css_and_a_next_step(db, handler):
    request = RequestFactory().get("/x/", HTTP_HOST="localhost")
    response = handler(request)
    response["Content-Security-Policy"] = "set by the middleware"

    _looks_like_the_app(response)


def test_the_500_page_has_the_viewport_the_css_and_a_next_step():
    response = views.server_error(RequestFactory().get("/x/"))
    response["Content-Security-Policy"] = "set by the middleware"

    _looks_like_the_app(response)


# --- find my brokerage (item 16) ------------------------------------------------------------
def _find(client, email, **extra):
    return client.post("/find-brokerage/", {"email": email}, **extra)


def test_find_my_brokerage_answers_the_same_whether_or_not_there_is_an_account(acme):
    known = _find(host_client("localhost"), "admin@acme.test")
    unknown = _find(host_client("localhost"), "nobody@acme.test")

    assert known.status_code == unknown.status_code == 200
    assert known.content.replace(b"admin@acme.test", b"@") == \
        unknown.content.replace(b"nobody@acme.test", b"@")
    assert b"If admin@acme.test has an account" in known.content


def test_find_my_brokerage_wants_an_email(db):
    response = _find(host_client("localhost"), "not an email")

    assert response.status_code == 400
    assert b'id="id_email_error"' in response.content


def test_find_my_brokerage_is_rate_limited_per_email(db):
    answers = [_find(host_client("localhost"), "Someone@Example.test",
                     REMOTE_ADDR=f"10.0.0.{i}").status_code for i in range(4)]

    assert answers == [200, 200, 200, 429]


def test_find_my_brokerage_is_rate_limited_per_address(db):
    client = host_client("localhost")
    answers = [_find(client, f"person{i}@example.test").status_code for i in range(11)]

    assert answers == [200] * 10 + [429]
    assert b"Too many requests" in _find(client, "other@example.test").content


@pytest.mark.parametrize("method", ["put", "patch", "delete"])
def test_find_my_brokerage_and_your_brokerages_take_no_other_method(acme, method):
    client = host_client("localhost", acme.admin)

    assert getattr(client, method)("/find-brokerage/").status_code == 405
    assert getattr(client, method)("/brokerages/").status_code == 405


def test_find_my_brokerage_is_on_the_platform_host_only(acme):
    assert host_client(acme.host).get("/find-brokerage/").status_code == 404


@pytest.fixture
def public_port_8000(monkeypatch, settings):
    """Links in mail carry port 8000, in this process and in a worker started after."""
    monkeypatch.setenv("CLOZINGS_PUBLIC_PORT", "8000")
    settings.CLOZINGS_PUBLIC_PORT = "8000"


def test_find_my_brokerage_mails_the_brokerages_of_an_account_only(
        public_port_8000, committed, celery_worker, mailbox):  # noqa: F811
    first = committed.brokerage("finda")
    second = committed.brokerage("findb")
    Seat.objects.create(brokerage=second.brokerage, user=first.admin, email=first.admin.email,
                        role=Seat.Role.AGENT, status=Seat.Status.ACTIVE)
    client = host_client("localhost")

    _find(client, "nobody-at-all@example.test")
    _find(client, first.admin.email.upper())

    message = wait_until(lambda: next(iter(mailbox), None), what="the brokerage list")
    text = message.get_body(("plain",)).get_content()
    assert message["To"] == first.admin.email
    assert f"http://{first.brokerage.slug}.localhost:8000/" in text
    assert f"http://{second.brokerage.slug}.localhost:8000/" in text
    # the solo worker takes tasks in order: the unknown address was handled first
    assert [m["To"] for m in mailbox] == [first.admin.email]


# --- the platform host for an agent (item 22) -------------------------------------------
def test_an_agent_who_signs_in_on_the_platform_host_sees_their_brokerages(acme, globex):
    agent = SeatFactory(brokerage=acme.brokerage).user
    SeatFactory(brokerage=globex.brokerage, user=agent, email=agent.email,
                role=Seat.Role.ADMIN)
    client = host_client("localhost:8000")

    response = client.post("/login/", {"email": agent.email, "password": PASSWORD})
    page = client.get(response["Location"])
    html = page.content.decode()

    assert response.status_code == 302 and response["Location"] == "/brokerages/"
    assert 'href="http://acme.localhost:8000/"' in html
    assert 'href="http://globex.localhost:8000/"' in html
    assert "Your brokerages" in html


def test_a_person_with_no_seat_is_told_how_to_get_one(db):
    person = UserFactory()

    page = host_client("localhost", person).get("/brokerages/")

    assert page.status_code == 200
    assert b"has no seat at a brokerage" in page.content


def test_staff_who_sign_in_on_the_platform_host_still_go_to_the_staff_pages(db):
    staff = UserFactory(is_staff=True)

    response = host_client("localhost").post("/login/", {"email": staff.email,
                                                         "password": PASSWORD})

    assert response["Location"] == "/staff/"


def test_password_reset_works_on_the_platform_host(acme, mailbox):
    client = host_client("localhost:8000")

    form = client.get("/password-reset/")
    sent = client.post("/password-reset/", {"email": "admin@acme.test"})
    send_due_mail()  # the reset mail goes out through the outbox
    link = re.search(r"http://localhost:8000/password-reset/\S+/\S+/",
                     mailbox[0].get_body(("plain",)).get_content()).group(0)
    confirm = client.get(link, follow=True)
    done = client.post(confirm.redirect_chain[-1][0], {
        "new_password1": "a-brand-new-passphrase", "new_password2": "a-brand-new-passphrase"})

    assert form.status_code == 200 and b"Reset your password" in form.content
    assert sent["Location"] == "/password-reset/sent/"
    assert done["Location"] == "/password-reset/done/"
    acme.admin.refresh_from_db()
    assert acme.admin.check_password("a-brand-new-passphrase")


def test_a_password_reset_link_of_the_platform_host_is_refused_when_forged(acme):
    uid = urlsafe_base64_encode(force_bytes(acme.admin.pk))
    token = default_token_generator.make_token(acme.admin)[:-2] + "xx"

    page = host_client("localhost").get(f"/password-reset/{uid}/{token}/")

    assert page.status_code == 200
    assert b"set-password" not in page.content and b"new_password1" not in page.content


# --- one date format (item 22) ------------------------------------------------------------
ALLOWED_DATE_ARGUMENTS = {"DATE_FORMAT", "DATETIME_FORMAT", "T", "e"}


def test_templates_use_only_the_products_date_formats():
    templates = [p for p in (ROOT / "clozings").rglob("templates/**/*") if p.is_file()]
    used = {(p.relative_to(ROOT).as_posix(), arg) for p in templates
            for arg in re.findall(r'\|\s*date\s*:\s*"([^"]*)"', p.read_text())}

    assert {item for item in used if item[1] not in ALLOWED_DATE_ARGUMENTS} == set()


def test_dates_render_as_dec_2_2026_and_times_as_dec_2_2026_3_05_pm(acme):
    seat = SeatFactory(brokerage=acme.brokerage, status=Seat.Status.INVITED,
                       invited_at=dt.datetime(2026, 12, 2, 20, 5, tzinfo=dt.UTC))
    acme.admin.time_zone = "America/New_York"
    acme.admin.save(update_fields=["time_zone"])

    page = host_client(acme.host, acme.admin).get(f"/seats/{seat.pk}/").content.decode()

    assert "Dec 2, 2026, 3:05 PM" in page
    assert "Dec. 2" not in page and "p.m." not in page


def test_the_date_filter_without_a_format_uses_the_products_format():
    from django.template import Context, Template

    moment = timezone.make_aware(dt.datetime(2026, 12, 2, 15, 5), dt.UTC)
    with timezone.override(dt.UTC):
        rendered = Template('{{ d|date }}|{{ d|date:"DATETIME_FORMAT" }}|{{ d }}').render(
            Context({"d": moment}))

    assert rendered == "Dec 2, 2026|Dec 2, 2026, 3:05 PM|Dec 2, 2026, 3:05 PM"
