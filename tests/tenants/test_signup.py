"""Sign-up confirms the email before anything is built (issue 6, items 5 and 6).

The form answers the same whether or not the email has an account; the mailed link builds
the brokerage; an existing account's password is checked only through the login throttle;
sign-ups are limited per address and platform-wide.
"""

from __future__ import annotations

import json
import re
import time

import pytest
from django.contrib.auth.hashers import check_password
from django.core import signing
from django.db import connection
from django.test import Client

from clozings.platform.auth import issue_token
from clozings.platform.embedded import free_port
from clozings.platform.mail import send_due_mail
from clozings.platform.models import OutboundMail
from clozings.tenants import services
from clozings.tenants.models import Brokerage, PendingSignup, Seat, User
from tests.conftest import host_client
from tests.tenants.factories import PASSWORD, UserFactory

STRONG = "a-long-enough-pass-phrase"
LINK = re.compile(r"http://localhost(?::\d+)?(/signup/confirm/[^/\s]+/)")


def _signup(**overrides) -> dict:
    data = {"brokerage_name": "Harbor Homes", "slug": "harbor", "name": "Hana Harbor",
            "email": "hana@harbor.test", "password": STRONG, "time_zone": "America/Chicago"}
    data.update(overrides)
    return data


def _sign_up(client: Client, capture, **overrides):
    with capture(execute=True):
        response = client.post("/", _signup(**overrides))
    send_due_mail()  # what the outbox's task does once the sign-up has committed
    return response


def _confirm_path(message) -> str:
    return LINK.search(message.get_body(("plain",)).get_content()).group(1)


def _schema_exists(name: str) -> bool:
    with connection.cursor() as cursor:
        cursor.execute("SELECT 1 FROM pg_namespace WHERE nspname = %s", [name])
        return cursor.fetchone() is not None


def _signed_in(client: Client) -> bool:
    return "_auth_user_id" in client.session


def _hand_over_path(response) -> str:
    assert response.status_code == 201
    link = re.search(r'<a class="button" id="continue" href="([^"]+)"',
                     response.content.decode()).group(1)
    return re.fullmatch(r"http://harbor\.localhost(?::\d+)?(/login/continue/[^/]+/)",
                        link).group(1)


@pytest.fixture
def capture(django_capture_on_commit_callbacks):
    return django_capture_on_commit_callbacks


# --- the form builds nothing --------------------------------------------------------------
def test_sign_up_keeps_a_pending_sign_up_and_mails_a_link_but_builds_nothing(
        db, platform_client, mailbox, capture):
    users = User.objects.count()

    response = _sign_up(platform_client, capture)

    assert response.status_code == 200
    assert b"Check your email" in response.content and b"hana@harbor.test" in response.content
    assert not Brokerage.objects.filter(slug="harbor").exists()
    assert not _schema_exists("brk_harbor")
    assert User.objects.count() == users
    signup = PendingSignup.objects.get()
    assert (signup.email, signup.slug, signup.brokerage_name, signup.admin_name) == (
        "hana@harbor.test", "harbor", "Harbor Homes", "Hana Harbor")
    assert STRONG not in signup.password_hash and check_password(STRONG, signup.password_hash)
    assert [m["X-Envelope-To"] for m in mailbox] == ["hana@harbor.test"]
    assert "Confirm your email to create Harbor Homes" in \
        mailbox[0].get_body(("plain",)).get_content()
    assert _confirm_path(mailbox[0])


def test_following_the_link_builds_the_brokerage_and_signs_the_new_person_in(
        db, platform_client, mailbox, capture):
    _sign_up(platform_client, capture)
    path = _confirm_path(mailbox[0])

    page = platform_client.get(path)
    created = platform_client.post(path, {"slug": "harbor"})

    assert page.status_code == 200
    assert b"Confirm Harbor Homes" in page.content and b"harbor.localhost" in page.content
    assert b'type="password"' not in page.content
    brokerage = Brokerage.objects.get(slug="harbor")
    assert (brokerage.name, brokerage.time_zone) == ("Harbor Homes", "America/Chicago")
    assert _schema_exists("brk_harbor")
    admin = User.objects.get(email="hana@harbor.test")
    assert admin.check_password(STRONG) and admin.name == "Hana Harbor"
    assert Seat.objects.get(brokerage=brokerage).role == "admin"
    assert not PendingSignup.objects.exists()
    harbor = host_client("harbor.localhost")
    assert harbor.get(_hand_over_path(created)).status_code == 302
    dashboard = harbor.get("/")
    assert dashboard.status_code == 200 and b"Hana Harbor" in dashboard.content


def test_confirming_by_get_alone_builds_nothing(db, platform_client, mailbox, capture):
    # Mail scanners open links; only the button (a POST) builds the brokerage.
    _sign_up(platform_client, capture)

    platform_client.get(_confirm_path(mailbox[0]))

    assert not Brokerage.objects.filter(slug="harbor").exists()


# --- no account-existence oracle --------------------------------------------------------
def test_sign_up_answers_the_same_whether_or_not_the_email_has_an_account(
        acme, platform_client, mailbox, capture):
    fresh = _sign_up(platform_client, capture, email="nobody@example.test",
                     password="wrong-guess-number-one")
    taken = _sign_up(platform_client, capture, email="admin@acme.test",
                     password="wrong-guess-number-one", slug="harbor-two")

    assert fresh.status_code == taken.status_code == 200
    assert fresh.content.decode().replace("nobody@example.test", "EMAIL") == \
        taken.content.decode().replace("admin@acme.test", "EMAIL")
    # Only the mailbox's owner learns it has an account, from the mail.
    to_taken = next(m for m in mailbox if m["X-Envelope-To"] == "admin@acme.test")
    assert "You already have a Clozings account" in to_taken.get_body(("plain",)).get_content()
    assert User.objects.get(pk=acme.admin.pk).check_password(PASSWORD)


def test_sign_up_checks_no_existing_password_and_counts_nothing(acme, platform_client, mailbox,
                                                                capture, settings):
    settings.LOGIN_THROTTLE_ATTEMPTS = 2
    for n in range(4):
        response = _sign_up(platform_client, capture, email="admin@acme.test",
                            password=f"guess-number-{n}-wrong", slug=f"harbor-{n}")
        assert response.status_code == 200
        assert b"password" not in b"".join(re.findall(rb'class="errorlist[^"]*"', response.content))

    # The guesses told nothing and did not lock the owner out.
    login = host_client(acme.host).post("/login/", {"email": "admin@acme.test",
                                                    "password": PASSWORD})
    assert login.status_code == 302


# --- an existing account confirms with its password, through the login throttle ------------
def test_an_existing_account_confirms_with_its_password_and_keeps_it(
        acme, platform_client, mailbox, capture):
    _sign_up(platform_client, capture, email="admin@acme.test", password="any-other-pass-phrase")
    path = _confirm_path(mailbox[0])

    page = platform_client.get(path)
    wrong = platform_client.post(path, {"slug": "harbor", "password": "not-the-password"})
    right = platform_client.post(path, {"slug": "harbor", "password": PASSWORD})

    assert page.status_code == 200 and b"You already have a Clozings account" in page.content
    assert wrong.status_code == 400
    assert wrong.context["form"].errors["password"] == [
        "That is not the password of your Clozings account."]
    assert right.status_code == 201
    seat = Seat.objects.get(brokerage__slug="harbor")
    assert (seat.user, seat.role) == (acme.admin, "admin")
    assert User.objects.get(pk=acme.admin.pk).check_password(PASSWORD)


def test_confirmation_password_guesses_count_against_the_login_throttle(
        acme, platform_client, mailbox, capture, settings):
    settings.LOGIN_THROTTLE_ATTEMPTS = 3
    _sign_up(platform_client, capture, email="admin@acme.test")
    path = _confirm_path(mailbox[0])
    for n in range(3):
        assert platform_client.post(path, {"slug": "harbor",
                                           "password": f"guess-{n}"}).status_code == 400

    blocked = platform_client.post(path, {"slug": "harbor", "password": PASSWORD})
    login = Client(HTTP_HOST=acme.host, REMOTE_ADDR="198.51.100.7").post(
        "/login/", {"email": "admin@acme.test", "password": PASSWORD})

    assert blocked.status_code == 429
    assert "Too many failed sign-ins" in blocked.context["form"].non_field_errors()[0]
    assert not Brokerage.objects.filter(slug="harbor").exists()
    assert PendingSignup.objects.count() == 1
    # The same counter as the login page: the email is blocked there too.
    assert login.status_code == 429


def test_an_address_failing_at_many_accounts_blocks_their_emails_not_a_correct_confirmation(
        acme, globex, platform_client, mailbox, capture, settings):
    # The login throttle's rule for a shared address (tenants/throttling.py): past the
    # address's ceiling, only emails that failed from it are refused there.
    settings.LOGIN_THROTTLE_ATTEMPTS = 2
    settings.LOGIN_THROTTLE_ADDRESS_ATTEMPTS = 2
    _sign_up(platform_client, capture, email="admin@acme.test")
    for email in ("one@example.test", "two@example.test"):
        host_client(globex.host).post("/login/", {"email": email, "password": "wrong"})

    response = platform_client.post(_confirm_path(mailbox[0]),
                                    {"slug": "harbor", "password": PASSWORD})
    refused = host_client(globex.host).post("/login/", {"email": "one@example.test",
                                                        "password": "wrong"})

    assert response.status_code == 201
    assert Brokerage.objects.filter(slug="harbor").exists()
    assert refused.status_code == 429


# --- the link ----------------------------------------------------------------------------
def test_the_link_works_once(db, platform_client, mailbox, capture):
    _sign_up(platform_client, capture)
    path = _confirm_path(mailbox[0])
    assert platform_client.post(path, {"slug": "harbor"}).status_code == 201

    again_get = Client(HTTP_HOST="localhost").get(path)
    again_post = Client(HTTP_HOST="localhost").post(path, {"slug": "harbor-2"})

    assert again_get.status_code == again_post.status_code == 410
    assert b"already used" in again_get.content
    assert Brokerage.objects.filter(name="Harbor Homes").count() == 1


def test_an_expired_or_forged_link_builds_nothing(db, platform_client, mailbox, capture,
                                                  settings, monkeypatch):
    _sign_up(platform_client, capture)
    signup = PendingSignup.objects.get()
    day_ago = int(time.time()) - 24 * 3600 - 1
    monkeypatch.setattr(signing.TimestampSigner, "timestamp",
                        lambda self: signing.b62_encode(day_ago))
    expired = services.signup_token(signup)
    monkeypatch.undo()
    forged = signing.dumps({"p": signup.pk}, salt="someone-else")

    expired_page = platform_client.post(f"/signup/confirm/{expired}/", {"slug": "harbor"})
    forged_page = platform_client.post(f"/signup/confirm/{forged}/", {"slug": "harbor"})

    assert expired_page.status_code == 410 and b"expired" in expired_page.content
    assert forged_page.status_code == 400 and b"not valid" in forged_page.content
    assert not Brokerage.objects.filter(slug="harbor").exists()


def test_a_slug_taken_in_the_meantime_asks_for_another(db, platform_client, mailbox, capture):
    _sign_up(platform_client, capture)
    path = _confirm_path(mailbox[0])
    services.provision_brokerage(name="Other Harbor", slug="harbor",
                                 admin_email="o@other.test", admin_name="O",
                                 admin_password=STRONG)

    taken = platform_client.post(path, {"slug": "harbor"})
    chosen = platform_client.post(path, {"slug": "harbor-homes"})

    assert taken.status_code == 400
    assert "taken" in taken.context["form"].errors["slug"][0]
    assert 'id="id_slug_error"' in taken.content.decode()
    assert chosen.status_code == 201
    assert Brokerage.objects.get(slug="harbor-homes").name == "Harbor Homes"


def test_old_pending_sign_ups_are_deleted_by_later_ones(db, platform_client, mailbox, capture):
    _sign_up(platform_client, capture)
    PendingSignup.objects.update(created_at=PendingSignup.objects.get().created_at
                                 - services.timezone.timedelta(hours=25))

    _sign_up(platform_client, capture, slug="harbor-2")

    assert list(PendingSignup.objects.values_list("slug", flat=True)) == ["harbor-2"]


# --- rate limits --------------------------------------------------------------------------
def test_sign_ups_from_one_address_are_limited_per_hour(db, mailbox, capture, settings):
    settings.SIGNUP_LIMIT_PER_ADDRESS_PER_HOUR = 2
    client = Client(HTTP_HOST="localhost", REMOTE_ADDR="203.0.113.9")
    for n in range(2):
        assert _sign_up(client, capture, slug=f"harbor-{n}",
                        email=f"h{n}@harbor.test").status_code == 200

    refused = _sign_up(client, capture, slug="harbor-2", email="h2@harbor.test")
    elsewhere = _sign_up(Client(HTTP_HOST="localhost", REMOTE_ADDR="203.0.113.10"), capture,
                         slug="harbor-3", email="h3@harbor.test")

    assert refused.status_code == 429
    assert "Too many sign-ups from your network" in \
        refused.context["form"].non_field_errors()[0]
    assert 'class="errorlist nonfield"' in refused.content.decode()
    assert elsewhere.status_code == 200
    assert sorted(PendingSignup.objects.values_list("slug", flat=True)) == [
        "harbor-0", "harbor-1", "harbor-3"]
    assert len(mailbox) == 3


def test_sign_ups_are_capped_platform_wide_per_hour(db, mailbox, capture, settings):
    settings.SIGNUP_LIMIT_PER_HOUR = 3
    answers = [
        _sign_up(Client(HTTP_HOST="localhost", REMOTE_ADDR=f"203.0.113.{n}"), capture,
                 slug=f"harbor-{n}", email=f"h{n}@harbor.test").status_code
        for n in range(4)]

    assert answers == [200, 200, 200, 429]
    assert PendingSignup.objects.count() == 3 and len(mailbox) == 3


def test_bad_sign_ups_use_up_no_slot(db, platform_client, mailbox, capture, settings):
    settings.SIGNUP_LIMIT_PER_ADDRESS_PER_HOUR = 1
    assert _sign_up(platform_client, capture, slug="www").status_code == 400

    assert _sign_up(platform_client, capture).status_code == 200


# --- the invitation page's password check ---------------------------------------------------
def test_invitation_password_guesses_count_against_the_login_throttle(acme, globex, settings):
    settings.LOGIN_THROTTLE_ATTEMPTS = 3
    seat = services.invite_seat(brokerage=acme.brokerage, email="admin@globex.test",
                                invited_by=acme.admin, notify=False)
    path = f"/invite/{services.invitation_token(seat)}/"
    client = host_client(acme.host)
    for n in range(3):
        assert client.post(path, {"password": f"guess-{n}"}).status_code == 400

    blocked = client.post(path, {"password": PASSWORD})
    login = Client(HTTP_HOST=globex.host, REMOTE_ADDR="198.51.100.8").post(
        "/login/", {"email": "admin@globex.test", "password": PASSWORD})

    assert blocked.status_code == 429
    assert "Too many failed sign-ins" in blocked.context["form"].non_field_errors()[0]
    assert Seat.objects.get(pk=seat.pk).status == "invited"
    assert not _signed_in(client)
    assert login.status_code == 429


# --- the staff API's password check ----------------------------------------------------------
def test_staff_api_password_checks_of_existing_accounts_go_through_the_throttle(acme, settings):
    settings.LOGIN_THROTTLE_ATTEMPTS = 2
    client = Client(HTTP_HOST="localhost",
                    HTTP_AUTHORIZATION=f"Bearer {issue_token(UserFactory(is_staff=True))}")

    def create(password: str):
        body = {"name": "Harbor Homes", "slug": "harbor", "admin_email": "admin@acme.test",
                "admin_name": "Acme Admin", "admin_password": password}
        return client.post("/api/v1/brokerages", data=json.dumps(body),
                           content_type="application/json")

    wrong = [create("guess-one").status_code, create("guess-two").status_code]
    blocked = create(PASSWORD)

    assert wrong == [400, 400]
    assert blocked.status_code == 429
    assert blocked.json()["error"]["code"] == "throttled"
    assert not Brokerage.objects.filter(slug="harbor").exists()


# --- the mail ------------------------------------------------------------------------------
def test_a_sign_up_survives_a_mail_server_that_is_down(db, platform_client, mailbox, capture,
                                                       settings):
    working_port = settings.EMAIL_PORT
    settings.EMAIL_PORT = free_port()  # nothing listens there

    response = _sign_up(platform_client, capture)
    send_due_mail()  # the outbox's task tries it at once

    assert response.status_code == 200 and b"Check your email" in response.content
    [mail] = OutboundMail.objects.filter(kind="tenants.signup_confirmation")
    assert (mail.state, mail.attempts) == ("failing", 1)
    assert mailbox == []

    settings.EMAIL_PORT = working_port  # the mail server is back; the sweeper retries
    send_due_mail(now=mail.next_attempt_at)

    assert [m["X-Envelope-To"] for m in mailbox] == ["hana@harbor.test"]
    assert _confirm_path(mailbox[0])
