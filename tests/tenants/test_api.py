"""The tenants API: sign-in tokens, brokerages (platform staff), seats (brokerage admins)."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager

import psycopg
import pytest
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext

from clozings.platform.auth import issue_token
from clozings.platform.mail import send_due_mail
from clozings.tenants.models import Brokerage, Domain, Seat, User
from tests.tenants.factories import PASSWORD, SeatFactory, UserFactory
from tests.territories.factories import active_reservation, agent

TOKEN_URL = "/api/v1/auth/token"
BROKERAGES_URL = "/api/v1/brokerages"
SEATS_URL = "/api/v1/seats"


def api(host: str, user: User | None = None, **extra) -> Client:
    """A client on `host`; with `user`, it sends that person's bearer token."""
    if user is not None:
        extra["HTTP_AUTHORIZATION"] = f"Bearer {issue_token(user)}"
    return Client(HTTP_HOST=host, **extra)


def post_json(client: Client, url: str, body) -> object:
    return client.post(url, data=json.dumps(body), content_type="application/json")


def patch_json(client: Client, url: str, body) -> object:
    return client.patch(url, data=json.dumps(body), content_type="application/json")


def error_code(response) -> str:
    return response.json()["error"]["code"]


def error_fields(response) -> set[str]:
    return set(response.json()["error"].get("fields", {}))


@pytest.fixture
def staff(db) -> User:
    return UserFactory(is_staff=True)


@pytest.fixture
def acme_agent(acme) -> Seat:
    return SeatFactory(brokerage=acme.brokerage, role=Seat.Role.AGENT)


# A body over DATA_UPLOAD_MAX_MEMORY_SIZE (2.5 MB by default).
HUGE = "x" * (3 * 1024 * 1024)


# --- POST /api/v1/auth/token ------------------------------------------------------------------
@pytest.mark.parametrize("host", ["localhost", "acme.localhost", "globex.localhost"])
def test_token_for_right_credentials_on_any_host_lists_active_seats_only(acme, globex, host):
    # given acme's admin also has a deactivated seat in globex
    SeatFactory(brokerage=globex.brokerage, user=acme.admin, status=Seat.Status.DEACTIVATED)

    # when they sign in with the wrong-case email
    response = post_json(api(host), TOKEN_URL,
                         {"email": acme.admin.email.upper(), "password": PASSWORD})

    # then
    assert response.status_code == 200
    body = response.json()
    assert body["user"] == {"id": acme.admin.pk, "email": "admin@acme.test",
                            "name": acme.admin.name, "is_staff": False}
    assert body["memberships"] == [
        {"brokerage": "acme", "role": "admin", "host": "acme.localhost"}]
    listed = api("acme.localhost", HTTP_AUTHORIZATION=f"Bearer {body['token']}").get(SEATS_URL)
    assert listed.status_code == 200


@pytest.mark.parametrize("email,password", [
    ("admin@acme.test", "wrong-password"),
    ("nobody@acme.test", PASSWORD),
])
def test_token_with_wrong_credentials_is_401_with_one_message(acme, email, password):
    response = post_json(api("acme.localhost"), TOKEN_URL, {"email": email, "password": password})

    assert response.status_code == 401
    assert response.json() == {"error": {"code": "not_authenticated",
                                         "message": "The email or password is not right."}}
    assert response["WWW-Authenticate"] == "Bearer"


def test_deactivated_account_gets_no_token(acme):
    user = UserFactory(is_active=False)

    response = post_json(api("localhost"), TOKEN_URL, {"email": user.email, "password": PASSWORD})

    assert response.status_code == 401
    assert "token" not in response.json()


def test_token_of_an_account_deactivated_later_stops_working(acme):
    token = post_json(api("acme.localhost"), TOKEN_URL,
                      {"email": acme.admin.email, "password": PASSWORD}).json()["token"]
    User.objects.filter(pk=acme.admin.pk).update(is_active=False)

    response = api("acme.localhost", HTTP_AUTHORIZATION=f"Bearer {token}").get(SEATS_URL)

    assert response.status_code == 401


def test_repeated_failures_for_one_email_are_throttled_even_with_the_right_password(
        acme, settings):
    settings.LOGIN_THROTTLE_ATTEMPTS = 3
    settings.LOGIN_THROTTLE_WINDOW_SECONDS = 600
    for attempt in range(3):  # each from another address: the email's count is what trips
        client = api("acme.localhost", REMOTE_ADDR=f"10.0.0.{attempt + 1}")
        wrong = post_json(client, TOKEN_URL, {"email": acme.admin.email, "password": "nope"})
        assert wrong.status_code == 401

    response = post_json(api("acme.localhost", REMOTE_ADDR="10.0.0.9"), TOKEN_URL,
                         {"email": acme.admin.email, "password": PASSWORD})

    assert response.status_code == 429
    assert error_code(response) == "throttled"
    assert "Too many failed sign-ins" in response.json()["error"]["message"]
    assert 0 < int(response["Retry-After"]) <= 600
    assert "token" not in response.json()


def test_a_throttled_sign_in_is_allowed_again_once_the_window_ends(acme, settings):
    settings.LOGIN_THROTTLE_ATTEMPTS = 1
    settings.LOGIN_THROTTLE_WINDOW_SECONDS = 1
    client = api("localhost")
    right = {"email": acme.admin.email, "password": PASSWORD}
    post_json(client, TOKEN_URL, {"email": acme.admin.email, "password": "nope"})
    throttled = post_json(client, TOKEN_URL, right)

    deadline, response = time.monotonic() + 5, throttled
    while response.status_code == 429 and time.monotonic() < deadline:
        time.sleep(0.05)
        response = post_json(client, TOKEN_URL, right)

    assert throttled.status_code == 429
    assert throttled["Retry-After"] == "1"
    assert response.status_code == 200


def test_repeated_failures_from_one_address_are_throttled_across_emails_and_hosts(
        acme, settings):
    settings.LOGIN_THROTTLE_ADDRESS_ATTEMPTS = 3
    hosts = ["acme.localhost", "globex.localhost", "localhost"]
    emails = ["guess0@acme.test", "guess1@acme.test", acme.admin.email]
    for email, host in zip(emails, hosts, strict=True):
        wrong = post_json(api(host, REMOTE_ADDR="10.1.1.1"), TOKEN_URL,
                          {"email": email, "password": "nope"})
        assert wrong.status_code == 401

    response = post_json(api("localhost", REMOTE_ADDR="10.1.1.1"), TOKEN_URL,
                         {"email": acme.admin.email, "password": PASSWORD})
    elsewhere = post_json(api("localhost", REMOTE_ADDR="10.1.1.2"), TOKEN_URL,
                          {"email": acme.admin.email, "password": PASSWORD})

    assert response.status_code == 429
    assert elsewhere.status_code == 200


def test_behind_a_proxy_the_address_counted_is_the_one_the_proxy_saw(acme, settings):
    settings.LOGIN_THROTTLE_ADDRESS_ATTEMPTS = 2
    settings.TRUSTED_PROXY_HOPS = 1

    def sign_in(forwarded_for: str, email: str, password: str):
        client = api("localhost", REMOTE_ADDR="10.9.9.9", HTTP_X_FORWARDED_FOR=forwarded_for)
        return post_json(client, TOKEN_URL, {"email": email, "password": password})

    # the attacker writes a new left-most entry each time; the proxy appends what it saw
    failures = [sign_in(f"6.6.6.{n}, 203.0.113.7", email, "nope").status_code
                for n, email in enumerate(["guess0@acme.test", acme.admin.email])]

    attacker = sign_in("6.6.6.9, 203.0.113.7", acme.admin.email, PASSWORD)
    neighbour = sign_in("198.51.100.1", acme.admin.email, PASSWORD)

    assert failures == [401, 401]
    assert attacker.status_code == 429
    assert neighbour.status_code == 200


def test_without_trusted_proxies_forwarded_for_is_ignored(acme, settings):
    settings.LOGIN_THROTTLE_ADDRESS_ATTEMPTS = 2
    settings.TRUSTED_PROXY_HOPS = 0

    def sign_in(forwarded_for: str, email: str, password: str):
        client = api("localhost", REMOTE_ADDR="10.8.8.8", HTTP_X_FORWARDED_FOR=forwarded_for)
        return post_json(client, TOKEN_URL, {"email": email, "password": password})

    failures = [sign_in(f"6.6.6.{n}", email, "nope").status_code
                for n, email in enumerate(["guess0@acme.test", acme.admin.email])]

    response = sign_in("198.51.100.1", acme.admin.email, PASSWORD)

    assert failures == [401, 401]
    assert response.status_code == 429


def test_a_successful_sign_in_clears_the_emails_failures(acme, settings):
    settings.LOGIN_THROTTLE_ATTEMPTS = 3
    right = {"email": acme.admin.email, "password": PASSWORD}
    wrong = {"email": acme.admin.email, "password": "nope"}
    first, second = api("localhost", REMOTE_ADDR="10.2.0.1"), api("localhost",
                                                                  REMOTE_ADDR="10.2.0.2")
    statuses = [post_json(first, TOKEN_URL, wrong).status_code for _ in range(2)]
    statuses.append(post_json(first, TOKEN_URL, right).status_code)
    statuses += [post_json(second, TOKEN_URL, wrong).status_code for _ in range(2)]

    response = post_json(second, TOKEN_URL, right)

    assert statuses == [401, 401, 200, 401, 401]
    assert response.status_code == 200


@pytest.mark.parametrize("body,field", [
    ({"password": PASSWORD}, "email"),
    ({"email": "admin@acme.test"}, "password"),
    ({"email": "not-an-email", "password": PASSWORD}, "email"),
    ({"email": ["admin@acme.test"], "password": PASSWORD}, "email"),
    ({"email": "admin@acme.test", "password": {"x": 1}}, "password"),
    ({"email": "a" * 250 + "@acme.test", "password": PASSWORD}, "email"),
    ({"email": "admin@acme.test", "password": "p" * 1025}, "password"),
    ([1, 2], "non_field_errors"),
])
def test_token_bad_input_is_400_and_counts_no_failure(acme, settings, body, field):
    settings.LOGIN_THROTTLE_ATTEMPTS = 1

    response = post_json(api("localhost"), TOKEN_URL, body)
    after = post_json(api("localhost"), TOKEN_URL, {"email": acme.admin.email,
                                                    "password": PASSWORD})

    assert response.status_code == 400
    assert error_code(response) == "validation_error"
    assert field in error_fields(response)
    assert after.status_code == 200


def test_token_non_json_and_huge_bodies_are_refused(acme):
    client = api("localhost")

    broken = client.post(TOKEN_URL, data="{not json", content_type="application/json")
    huge = post_json(client, TOKEN_URL, {"email": HUGE, "password": HUGE})

    assert (broken.status_code, error_code(broken)) == (400, "parse_error")
    assert (huge.status_code, error_code(huge)) == (413, "payload_too_large")


# --- /api/v1/brokerages -------------------------------------------------------------------
NEW_BROKERAGE = {"name": "Sunrise Realty", "slug": "sunrise", "admin_email": "Sam@Sunrise.test",
                 "admin_name": "Sam Boss", "admin_password": PASSWORD}


def test_staff_provisions_a_brokerage_whose_admin_can_then_work_there(staff):
    response = post_json(api("localhost", staff), BROKERAGES_URL, NEW_BROKERAGE)

    assert response.status_code == 201
    admin = User.objects.get(email="sam@sunrise.test")
    assert response.json() == {"slug": "sunrise", "name": "Sunrise Realty",
                               "host": "sunrise.localhost",
                               "admin": {"id": admin.pk, "email": "sam@sunrise.test"}}
    assert Domain.objects.filter(domain="sunrise.localhost").exists()
    seats = api("sunrise.localhost", admin).get(SEATS_URL)
    assert [(s["email"], s["role"], s["status"]) for s in seats.json()] == [
        ("sam@sunrise.test", "admin", "active")]


def test_brokerage_list_has_seat_counts_in_one_query_whatever_the_number(staff, acme, globex):
    SeatFactory(brokerage=acme.brokerage)
    SeatFactory(brokerage=acme.brokerage, user=None, email="new@acme.test",
                status=Seat.Status.INVITED)
    SeatFactory(brokerage=acme.brokerage, status=Seat.Status.DEACTIVATED)
    client = api("localhost", staff)
    with CaptureQueriesContext(connection) as few:
        listed = client.get(BROKERAGES_URL)
    for slug in ("extra-one", "extra-two", "extra-three"):
        extra = Brokerage.objects.create(name=slug, slug=slug, schema_name=slug.replace("-", "_"))
        SeatFactory(brokerage=extra)

    with CaptureQueriesContext(connection) as more:
        listed_again = client.get(BROKERAGES_URL)

    assert listed.status_code == listed_again.status_code == 200
    rows = {row["slug"]: row for row in listed.json()}
    assert rows["acme"]["seats"] == {"active": 2, "invited": 1}
    assert rows["acme"]["host"] == "acme.localhost"
    assert rows["globex"]["seats"] == {"active": 1, "invited": 0}
    assert len(listed_again.json()) == len(listed.json()) + 3
    assert len(more.captured_queries) == len(few.captured_queries)


@pytest.mark.parametrize("method", ["GET", "POST"])
def test_brokerages_are_for_staff_only(acme, method):
    before = Brokerage.objects.count()

    body = json.dumps(NEW_BROKERAGE)

    anonymous = api("localhost").generic(method, BROKERAGES_URL, body, "application/json")
    admin = api("localhost", acme.admin).generic(method, BROKERAGES_URL, body,
                                                 "application/json")

    assert (anonymous.status_code, error_code(anonymous)) == (401, "not_authenticated")
    assert (admin.status_code, error_code(admin)) == (403, "permission_denied")
    assert Brokerage.objects.count() == before


def test_each_api_is_served_on_its_own_host_only(staff, acme):
    brokerages_on_acme = api("acme.localhost", staff).get(BROKERAGES_URL)
    seats_on_platform = api("localhost", acme.admin).get(SEATS_URL)

    assert (brokerages_on_acme.status_code, error_code(brokerages_on_acme)) == (404, "not_found")
    assert (seats_on_platform.status_code, error_code(seats_on_platform)) == (404, "not_found")


def _without(field: str) -> dict:
    return {key: value for key, value in NEW_BROKERAGE.items() if key != field}


@pytest.mark.parametrize("body,field", [
    *[(_without(field), field) for field in NEW_BROKERAGE],
    ({**NEW_BROKERAGE, "name": ""}, "name"),
    ({**NEW_BROKERAGE, "name": "n" * 121}, "name"),
    ({**NEW_BROKERAGE, "name": ["Sunrise"]}, "name"),
    ({**NEW_BROKERAGE, "slug": "acme"}, "slug"),
    ({**NEW_BROKERAGE, "slug": "www"}, "slug"),
    ({**NEW_BROKERAGE, "slug": "Has Spaces"}, "slug"),
    ({**NEW_BROKERAGE, "slug": "-lead"}, "slug"),
    ({**NEW_BROKERAGE, "slug": "s" * 41}, "slug"),
    ({**NEW_BROKERAGE, "slug": 42.5}, "slug"),
    ({**NEW_BROKERAGE, "admin_email": "not-an-email"}, "admin_email"),
    ({**NEW_BROKERAGE, "admin_email": "a" * 250 + "@x.test"}, "admin_email"),
    ({**NEW_BROKERAGE, "admin_email": "admin@acme.test", "admin_password": "not-theirs"},
     "admin_password"),
    ({**NEW_BROKERAGE, "admin_name": "n" * 151}, "admin_name"),
    ({**NEW_BROKERAGE, "admin_name": {"first": "Sam"}}, "admin_name"),
    ({**NEW_BROKERAGE, "admin_password": "password"}, "admin_password"),
    ({**NEW_BROKERAGE, "admin_password": "short"}, "admin_password"),
    ({**NEW_BROKERAGE, "admin_password": "12345678901"}, "admin_password"),
    ({**NEW_BROKERAGE, "admin_password": "p" * 1025}, "admin_password"),
    ({**NEW_BROKERAGE, "time_zone": "Mars/Olympus"}, "time_zone"),
])
def test_brokerage_bad_input_is_400_and_changes_nothing(staff, acme, body, field):
    counts = (Brokerage.objects.count(), User.objects.count(), Seat.objects.count())

    response = post_json(api("localhost", staff), BROKERAGES_URL, body)

    assert response.status_code == 400
    assert error_code(response) == "validation_error"
    assert field in error_fields(response)
    assert (Brokerage.objects.count(), User.objects.count(), Seat.objects.count()) == counts


def test_brokerage_non_json_and_huge_bodies_change_nothing(staff):
    client = api("localhost", staff)
    before = Brokerage.objects.count()

    broken = client.post(BROKERAGES_URL, data="name=x&slug", content_type="application/json")
    huge = post_json(client, BROKERAGES_URL, {**NEW_BROKERAGE, "name": HUGE})

    assert (broken.status_code, error_code(broken)) == (400, "parse_error")
    assert (huge.status_code, error_code(huge)) == (413, "payload_too_large")
    assert Brokerage.objects.count() == before


# --- /api/v1/seats --------------------------------------------------------------------------
def test_admin_lists_only_their_brokerages_seats(acme, globex, acme_agent):
    SeatFactory(brokerage=globex.brokerage)

    response = api("acme.localhost", acme.admin).get(SEATS_URL)

    assert response.status_code == 200
    assert {seat["email"] for seat in response.json()} == {acme.admin.email, acme_agent.email}
    assert response.json()[0]["role"] == "admin"


def test_seat_list_filters_by_status(acme, acme_agent):
    SeatFactory(brokerage=acme.brokerage, user=None, email="new@acme.test",
                status=Seat.Status.INVITED)

    invited = api("acme.localhost", acme.admin).get(SEATS_URL, {"status": "invited"})
    unknown = api("acme.localhost", acme.admin).get(SEATS_URL, {"status": "retired"})

    assert [seat["email"] for seat in invited.json()] == ["new@acme.test"]
    assert (unknown.status_code, error_fields(unknown)) == (400, {"status"})


def test_admin_invites_a_person_who_gets_the_mail_with_a_link_to_this_host(
        acme, mailbox, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=True):
        response = post_json(api("acme.localhost", acme.admin), SEATS_URL,
                             {"email": "Newbie@Example.test", "name": "New Bie",
                              "role": "agent"})
    send_due_mail()  # what the outbox's task does after commit

    assert response.status_code == 201
    body = response.json()
    assert (body["email"], body["role"], body["status"]) == (
        "newbie@example.test", "agent", "invited")
    assert Seat.objects.get(pk=body["id"]).brokerage == acme.brokerage
    assert len(mailbox) == 1
    assert mailbox[0]["X-Envelope-To"] == "newbie@example.test"
    assert "http://acme.localhost/invite/" in mailbox[0].get_body(("plain",)).get_content()


def test_inviting_someone_who_already_has_a_seat_is_a_409_and_sends_nothing(
        acme, acme_agent, mailbox, django_capture_on_commit_callbacks):
    before = Seat.objects.count()

    with django_capture_on_commit_callbacks(execute=True):
        response = post_json(api("acme.localhost", acme.admin), SEATS_URL,
                             {"email": acme_agent.email, "role": "admin"})

    assert (response.status_code, error_code(response)) == (409, "already_member")
    assert Seat.objects.count() == before
    assert Seat.objects.get(pk=acme_agent.pk).role == "agent"
    assert mailbox == []


@pytest.mark.parametrize("body,field", [
    ({"name": "No Email"}, "email"),
    ({"email": ""}, "email"),
    ({"email": "not-an-email"}, "email"),
    ({"email": 12345}, "email"),
    ({"email": "a" * 250 + "@x.test"}, "email"),
    ({"email": "ok@example.test", "name": "n" * 151}, "name"),
    ({"email": "ok@example.test", "name": ["list"]}, "name"),
    ({"email": "ok@example.test", "role": "owner"}, "role"),
    ({"email": "ok@example.test", "role": ["admin"]}, "role"),
    ("just a string", "non_field_errors"),
])
def test_invite_bad_input_is_400_and_changes_nothing(
        acme, mailbox, django_capture_on_commit_callbacks, body, field):
    before = Seat.objects.count()

    with django_capture_on_commit_callbacks(execute=True):
        response = post_json(api("acme.localhost", acme.admin), SEATS_URL, body)

    assert (response.status_code, error_code(response)) == (400, "validation_error")
    assert field in error_fields(response)
    assert Seat.objects.count() == before
    assert mailbox == []


def test_invite_non_json_plain_text_and_huge_bodies_change_nothing(acme):
    client = api("acme.localhost", acme.admin)
    before = Seat.objects.count()

    broken = client.post(SEATS_URL, data="{'email': 1}", content_type="application/json")
    plain = client.post(SEATS_URL, data="x@example.test", content_type="text/plain")
    huge = post_json(client, SEATS_URL, {"email": "x@example.test", "name": HUGE})

    assert (broken.status_code, error_code(broken)) == (400, "parse_error")
    assert (plain.status_code, error_code(plain)) == (415, "unsupported_media_type")
    assert (huge.status_code, error_code(huge)) == (413, "payload_too_large")
    assert Seat.objects.count() == before


def test_admin_promotes_an_agent(acme, acme_agent):
    response = patch_json(api("acme.localhost", acme.admin), f"{SEATS_URL}/{acme_agent.pk}",
                          {"role": "admin"})

    assert response.status_code == 200
    assert response.json()["role"] == "admin"
    assert Seat.objects.get(pk=acme_agent.pk).role == "admin"


def test_the_last_admin_cannot_be_demoted(acme):
    response = patch_json(api("acme.localhost", acme.admin),
                          f"{SEATS_URL}/{acme.admin_seat.pk}", {"role": "agent"})

    assert (response.status_code, error_code(response)) == (409, "last_admin")
    assert Seat.objects.get(pk=acme.admin_seat.pk).role == "admin"


@pytest.mark.parametrize("body", [{"role": "owner"}, {"role": None}, {"role": 1},
                                  {"role": "a" * 5000}])
def test_role_change_bad_input_is_400_and_changes_nothing(acme, acme_agent, body):
    response = patch_json(api("acme.localhost", acme.admin), f"{SEATS_URL}/{acme_agent.pk}",
                          body)

    assert (response.status_code, error_fields(response)) == (400, {"role"})
    assert Seat.objects.get(pk=acme_agent.pk).role == "agent"


def test_admin_deactivates_an_agent_and_hands_over_to_a_colleague(acme, acme_agent):
    colleague = SeatFactory(brokerage=acme.brokerage)

    response = api("acme.localhost", acme.admin).delete(
        f"{SEATS_URL}/{acme_agent.pk}?reassign_to={colleague.pk}")

    assert response.status_code == 200
    assert response.json()["status"] == "deactivated"
    assert Seat.objects.get(pk=acme_agent.pk).status == "deactivated"
    assert Seat.objects.get(pk=colleague.pk).status == "active"


def test_the_last_admin_cannot_be_deactivated(acme):
    response = api("acme.localhost", acme.admin).delete(f"{SEATS_URL}/{acme.admin_seat.pk}")

    assert (response.status_code, error_code(response)) == (409, "last_admin")
    assert Seat.objects.get(pk=acme.admin_seat.pk).status == "active"


@pytest.mark.parametrize("reassign_to", ["abc", "0", "-1", "99999999999999999999", "1.5",
                                         "unknown", "self", "other_brokerage", "invited"])
def test_deactivate_with_a_bad_reassign_to_is_400_and_changes_nothing(
        acme, globex, acme_agent, reassign_to):
    targets = {
        "unknown": str(Seat.objects.order_by("-pk").first().pk + 1000),
        "self": str(acme_agent.pk),
        "other_brokerage": str(globex.admin_seat.pk),
        "invited": str(SeatFactory(brokerage=acme.brokerage, user=None, email="i@acme.test",
                                   status=Seat.Status.INVITED).pk),
    }

    response = api("acme.localhost", acme.admin).delete(
        f"{SEATS_URL}/{acme_agent.pk}?reassign_to={targets.get(reassign_to, reassign_to)}")

    assert (response.status_code, error_fields(response)) == (400, {"reassign_to"})
    assert Seat.objects.get(pk=acme_agent.pk).status == "active"


@pytest.mark.parametrize("seat_id", ["globex_admin", "missing", "99999999999999999999"])
@pytest.mark.parametrize("method", ["PATCH", "DELETE"])
def test_a_seat_outside_the_brokerage_is_404_and_untouched(acme, globex, seat_id, method):
    ids = {"globex_admin": globex.admin_seat.pk,
           "missing": Seat.objects.order_by("-pk").first().pk + 1000}
    url = f"{SEATS_URL}/{ids.get(seat_id, seat_id)}"

    response = api("acme.localhost", acme.admin).generic(
        method, url, json.dumps({"role": "agent"}), "application/json")

    assert (response.status_code, error_code(response)) == (404, "not_found")
    assert Seat.objects.get(pk=globex.admin_seat.pk).role == "admin"
    assert Seat.objects.get(pk=globex.admin_seat.pk).status == "active"


@pytest.mark.parametrize("method,path", [("GET", ""), ("POST", ""), ("PATCH", "/{id}"),
                                         ("DELETE", "/{id}")])
def test_seats_api_refuses_agents_strangers_and_anonymous(acme, globex, acme_agent, method, path):
    url = SEATS_URL + path.format(id=acme_agent.pk)
    body = json.dumps({"email": "x@example.test", "role": "admin"})

    agent = api("acme.localhost", acme_agent.user).generic(method, url, body, "application/json")
    stranger = api("acme.localhost", globex.admin).generic(method, url, body, "application/json")
    anonymous = api("acme.localhost").generic(method, url, body, "application/json")

    assert (agent.status_code, error_code(agent)) == (403, "permission_denied")
    assert (stranger.status_code, error_code(stranger)) == (403, "permission_denied")
    assert (anonymous.status_code, error_code(anonymous)) == (401, "not_authenticated")
    assert Seat.objects.get(pk=acme_agent.pk).role == "agent"
    assert Seat.objects.get(pk=acme_agent.pk).status == "active"
    assert not Seat.objects.filter(email="x@example.test").exists()


def test_a_session_admin_of_another_brokerage_is_refused(acme, globex):
    client = Client(HTTP_HOST="acme.localhost")
    client.force_login(globex.admin)

    response = client.get(SEATS_URL)

    assert (response.status_code, error_code(response)) == (403, "permission_denied")


# --- races: a concurrent request wins between validation and insert -------------------------
def _connect() -> psycopg.Connection:
    params = connection.settings_dict
    return psycopg.connect(dbname=params["NAME"], user=params["USER"] or None,
                           password=params["PASSWORD"] or None, host=params["HOST"] or None,
                           port=params["PORT"] or None)


def _commit_once_blocked(other: psycopg.Connection, blocked_pid: int) -> None:
    """Commit `other` as soon as the backend `blocked_pid` waits for a lock (10 s at most)."""
    with _connect() as watcher:
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            row = watcher.execute("SELECT wait_event_type FROM pg_stat_activity WHERE pid = %s",
                                  [blocked_pid]).fetchone()
            watcher.commit()
            if row and row[0] == "Lock":
                break
            time.sleep(0.01)
    other.commit()


@contextmanager
def another_transaction_inserts(sql: str, params: list, cleanup: str) -> Iterator[None]:
    """Another connection inserts a row and commits it only once this test's connection is
    blocked on it: the race between a request's validation and its insert, made certain."""
    connection.ensure_connection()
    other = _connect()
    other.execute(sql, params)
    committer = threading.Thread(
        target=_commit_once_blocked, args=(other, connection.connection.info.backend_pid))
    committer.start()
    try:
        yield
    finally:
        committer.join()
        other.execute(cleanup, params[:2])
        other.commit()
        other.close()


def test_an_invitation_racing_another_for_the_same_email_is_a_clear_409(
        acme, mailbox, django_capture_on_commit_callbacks):
    insert = ("INSERT INTO tenants_seat (brokerage_id, email, name, role, status, invite_nonce,"
              " invited_at) VALUES (%s, %s, '', 'agent', 'invited', 1, now())")

    with another_transaction_inserts(insert, [acme.brokerage.pk, "racer@example.test"],
                                     "DELETE FROM tenants_seat WHERE brokerage_id = %s"
                                     " AND email = %s"):
        with django_capture_on_commit_callbacks(execute=True):
            response = post_json(api("acme.localhost", acme.admin), SEATS_URL,
                                 {"email": "racer@example.test"})

    assert (response.status_code, error_code(response)) == (409, "conflict")
    assert "racer@example.test" in response.json()["error"]["message"]
    assert not Seat.objects.filter(email="racer@example.test").exists()
    assert mailbox == []


def test_a_brokerage_racing_another_for_the_same_slug_is_told_the_slug_is_taken(staff):
    insert = ("INSERT INTO tenants_brokerage (schema_name, slug, name, time_zone, created_at)"
              " VALUES (%s, %s, 'Racer', 'America/New_York', now())")
    before = Brokerage.objects.count()

    with another_transaction_inserts(insert, ["brk_racer_other", "sunrise"],
                                     "DELETE FROM tenants_brokerage WHERE schema_name = %s"
                                     " AND slug = %s"):
        response = post_json(api("localhost", staff), BROKERAGES_URL, NEW_BROKERAGE)

    assert (response.status_code, error_fields(response)) == (400, {"slug"})
    assert "taken" in response.json()["error"]["fields"]["slug"][0]
    assert Brokerage.objects.count() == before
    assert not User.objects.filter(email="sam@sunrise.test").exists()


def test_brokerage_list_counts_reservations_by_status_without_multiplying_seats(staff, acme):
    first, second = agent(acme.brokerage), agent(acme.brokerage)
    active_reservation(first, "60606")
    late = active_reservation(second, "60607")
    late.status = "past_due"
    late.save(update_fields=["status"])

    rows = {row["slug"]: row for row in api("localhost", staff).get(BROKERAGES_URL).json()}

    assert rows["acme"]["reservations"] == {"active": 1, "past_due": 1, "suspended": 0}
    assert rows["acme"]["seats"] == {"active": 3, "invited": 0}
    assert rows["globex"]["reservations"] == {"active": 0, "past_due": 0, "suspended": 0}
