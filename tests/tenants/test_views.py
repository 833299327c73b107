"""Pages of the tenants app, through Django's test client on real hosts and schemas."""

from __future__ import annotations

import re
import time

import pytest
from django.core import signing
from django.test import Client, RequestFactory

from clozings.platform import views as platform_views
from clozings.platform.mail import send_due_mail
from clozings.tenants import services
from clozings.tenants.models import Brokerage, PendingSignup, Seat, User
from clozings.tenants.views import handover_token
from tests.conftest import host_client
from tests.tenants.factories import PASSWORD, SeatFactory, UserFactory
from tests.territories.factories import active_reservation

STRONG = "a-long-enough-pass-phrase"


def _signed_in(client: Client) -> bool:
    return "_auth_user_id" in client.session


def _field_errors(response, field: str) -> list[str]:
    return response.context["form"].errors.get(field, [])


def _invited(acme, email="new.agent@example.test", name="Nia Agent", role="agent") -> Seat:
    return services.invite_seat(brokerage=acme.brokerage, email=email, name=name, role=role,
                                invited_by=acme.admin)


# --- sign-up on the platform host ------------------------------------------------------
def _signup_data(**overrides) -> dict:
    data = {"brokerage_name": "Harbor Homes", "slug": "harbor", "name": "Hana Harbor",
            "email": "hana@harbor.test", "password": STRONG, "time_zone": "America/Chicago"}
    data.update(overrides)
    return data


def test_landing_page_offers_sign_up_with_the_host_preview(platform_client):
    response = platform_client.get("/", HTTP_HOST="localhost:8000")

    assert response.status_code == 200
    page = response.content.decode()
    assert 'data-suffix=".localhost:8000"' in page
    assert '<option value="America/New_York" selected>' in page


def test_sign_up_hand_over_link_works_only_once(acme):
    path = f"/login/continue/{handover_token(user=acme.admin, brokerage=acme.brokerage)}/"
    assert host_client(acme.host).get(path).status_code == 302

    second = host_client(acme.host).get(path)

    assert second.status_code == 400
    assert b"expired or was already used" in second.content


def test_sign_up_hand_over_link_expires_after_a_minute(acme, monkeypatch):
    minute_ago = int(time.time()) - 61
    monkeypatch.setattr(signing.TimestampSigner, "timestamp",
                        lambda self: signing.b62_encode(minute_ago))
    token = handover_token(user=acme.admin, brokerage=acme.brokerage)
    monkeypatch.undo()
    client = host_client(acme.host)

    response = client.get(f"/login/continue/{token}/")

    assert response.status_code == 400
    assert not _signed_in(client)


@pytest.mark.parametrize("token_for", ["other_brokerage", "forged"])
def test_sign_up_hand_over_link_is_refused_on_the_wrong_host_or_forged(acme, globex, token_for):
    token = {
        "other_brokerage": handover_token(user=globex.admin, brokerage=globex.brokerage),
        "forged": signing.dumps({"u": acme.admin.pk, "b": acme.brokerage.pk, "n": "x"},
                                salt="someone-else"),
    }[token_for]
    client = host_client(acme.host)

    response = client.get(f"/login/continue/{token}/")

    assert response.status_code == 400
    assert not _signed_in(client)


@pytest.mark.parametrize(("overrides", "field"), [
    ({"brokerage_name": ""}, "brokerage_name"),
    ({"brokerage_name": "x" * 121}, "brokerage_name"),
    ({"slug": ""}, "slug"),
    ({"slug": "has space"}, "slug"),
    ({"slug": "-edge"}, "slug"),
    ({"slug": "www"}, "slug"),
    ({"slug": "acme"}, "slug"),
    ({"slug": "a" * 41}, "slug"),
    ({"name": ""}, "name"),
    ({"email": "not-an-email"}, "email"),
    ({"password": ""}, "password"),
    ({"password": "12345678"}, "password"),
    ({"password": "short"}, "password"),
    ({"time_zone": "Mars/Olympus"}, "time_zone"),
    ({"email": "admin@acme.test", "password": "12345678"}, "password"),
])
def test_sign_up_bad_input_shows_the_error_beside_the_field_and_creates_nothing(
        acme, platform_client, overrides, field):
    brokerages, users = Brokerage.objects.count(), User.objects.count()

    response = platform_client.post("/", _signup_data(**overrides))

    assert response.status_code == 400
    assert _field_errors(response, field)
    assert f'id="id_{field}_error"' in response.content.decode()
    assert (Brokerage.objects.count(), User.objects.count()) == (brokerages, users)
    assert not PendingSignup.objects.exists()


# --- login and logout on a brokerage host -----------------------------------------------
def test_admin_logs_in_and_sees_the_dashboard(acme):
    client = host_client(acme.host)

    response = client.post("/login/", {"email": "ADMIN@acme.test", "password": PASSWORD})

    assert response.status_code == 302 and response["Location"] == "/"
    dashboard = client.get("/")
    assert b"Acme Admin" in dashboard.content
    assert b'href="/seats/"' in dashboard.content


def test_an_agents_home_is_today_with_no_seats_link(acme):
    """An agent's home is Today (the CRM's follow-ups); the brokerage's home with the name
    and role is the admins' (tests/crm/test_pages_today.py covers Today itself)."""
    agent = SeatFactory(brokerage=acme.brokerage, name="Ada Agent")

    response = host_client(acme.host, agent.user).get("/")

    assert response.status_code == 200
    page = response.content.decode()
    assert '<h1 id="today-title">Today</h1>' in page
    assert 'href="/seats/"' not in page


def test_login_follows_a_local_next_and_ignores_another_sites(acme):
    local = host_client(acme.host).post(
        "/login/?next=/seats/", {"email": "admin@acme.test", "password": PASSWORD})
    foreign = host_client(acme.host).post(
        "/login/", {"email": "admin@acme.test", "password": PASSWORD,
                    "next": "https://evil.example/"})

    assert local["Location"] == "/seats/"
    assert foreign["Location"] == "/"


@pytest.mark.parametrize(("data", "field"), [
    ({"email": "", "password": PASSWORD}, "email"),
    ({"email": "not-an-email", "password": PASSWORD}, "email"),
    ({"email": "admin@acme.test", "password": ""}, "password"),
    ({"email": "admin@acme.test", "password": "wrong-password"}, "password"),
    ({"email": "nobody@example.test", "password": PASSWORD}, "password"),
])
def test_login_bad_input_shows_the_error_beside_the_field_and_signs_nobody_in(acme, data, field):
    client = host_client(acme.host)

    response = client.post("/login/", data)

    assert response.status_code == 400
    assert _field_errors(response, field)
    assert not _signed_in(client)


def test_a_person_without_a_seat_here_gets_a_form_error_not_a_login(acme, globex):
    client = host_client(acme.host)

    response = client.post("/login/", {"email": "admin@globex.test", "password": PASSWORD})

    assert response.status_code == 403
    assert "no active seat at Acme" in _field_errors(response, "email")[0]
    assert not _signed_in(client)


def test_a_deactivated_agent_cannot_log_in(acme):
    agent = SeatFactory(brokerage=acme.brokerage, status=Seat.Status.DEACTIVATED)
    client = host_client(acme.host)

    response = client.post("/login/", {"email": agent.email, "password": PASSWORD})

    assert response.status_code == 403
    assert not _signed_in(client)


def test_login_page_is_throttled_after_repeated_failures(acme, settings):
    settings.LOGIN_THROTTLE_ATTEMPTS = 3
    client = host_client(acme.host)
    for _ in range(3):
        assert client.post("/login/", {"email": "admin@acme.test",
                                       "password": "wrong"}).status_code == 400

    response = client.post("/login/", {"email": "admin@acme.test", "password": PASSWORD})

    assert response.status_code == 429
    assert "Too many failed sign-ins" in response.context["form"].non_field_errors()[0]
    assert not _signed_in(client)


def test_login_throttle_counts_per_address_across_emails(acme, settings):
    settings.LOGIN_THROTTLE_ADDRESS_ATTEMPTS = 2
    client = host_client(acme.host)
    for email in ("one@example.test", "admin@acme.test"):
        client.post("/login/", {"email": email, "password": "wrong"})

    response = client.post("/login/", {"email": "admin@acme.test", "password": PASSWORD})

    assert response.status_code == 429
    assert not _signed_in(client)


def test_login_form_enforces_csrf(acme):
    client = Client(enforce_csrf_checks=True, HTTP_HOST=acme.host)

    without_token = client.post("/login/", {"email": "admin@acme.test", "password": PASSWORD})
    client.get("/login/")
    with_token = client.post("/login/", {"email": "admin@acme.test", "password": PASSWORD,
                                         "csrfmiddlewaretoken": client.cookies["csrftoken"].value})

    assert without_token.status_code == 403
    assert with_token.status_code == 302


def test_logout_signs_out_on_post_only(acme):
    client = host_client(acme.host, acme.admin)

    assert client.get("/logout/").status_code == 200  # a page with the sign-out button
    assert client.get("/").status_code == 200  # still signed in
    response = client.post("/logout/")

    assert response.status_code == 302 and response["Location"] == "/login/"
    assert client.get("/")["Location"] == "/login/?next=/"


# --- platform host: staff -------------------------------------------------------------
def test_platform_staff_logs_in_and_sees_brokerages_with_seat_and_territory_counts(
        acme, globex):
    staff = UserFactory(is_staff=True)
    active_reservation(SeatFactory(brokerage=acme.brokerage), "60606")
    _invited(acme)
    client = host_client("localhost")

    response = client.post("/login/", {"email": staff.email, "password": PASSWORD})
    page = client.get("/staff/")

    assert response["Location"] == "/staff/"
    rows = re.findall(r"<strong>(\w+)</strong>.*?" + r"\s*".join(
        [r"<td class=\"num\">(\d+)</td>"] * 4), page.content.decode(), re.S)
    assert ("Acme", "2", "1", "1", "0") in rows and ("Globex", "1", "0", "0", "0") in rows


def test_platform_login_takes_people_who_are_not_staff_to_their_brokerages(acme):
    client = host_client("localhost")

    response = client.post("/login/", {"email": "admin@acme.test", "password": PASSWORD})

    assert response["Location"] == "/brokerages/"
    assert client.get("/staff/").status_code == 403


def test_staff_home_is_for_staff_only(acme):
    anonymous = host_client("localhost").get("/staff/")
    not_staff = host_client("localhost", acme.admin).get("/staff/")

    assert anonymous.status_code == 302 and anonymous["Location"] == "/login/?next=/staff/"
    assert not_staff.status_code == 403


# --- who may see a brokerage's pages -----------------------------------------------------
@pytest.mark.parametrize("path", ["/", "/seats/"])
def test_a_person_with_no_seat_in_acme_gets_403_on_acmes_pages(acme, globex, path):
    response = host_client(acme.host, globex.admin).get(path)

    assert response.status_code == 403
    assert b"no active seat" in response.content


def test_anonymous_visitors_are_sent_to_log_in(acme):
    response = host_client(acme.host).get("/seats/")

    assert response.status_code == 302 and response["Location"] == "/login/?next=/seats/"


def test_agents_get_403_on_seats_and_cannot_invite(acme, mailbox):
    agent = SeatFactory(brokerage=acme.brokerage)
    client = host_client(acme.host, agent.user)
    seats = Seat.objects.count()

    listing = client.get("/seats/")
    invite = client.post("/seats/", {"email": "sneaky@example.test", "role": "admin"})
    role = client.post(f"/seats/{agent.pk}/role/", {"role": "admin"})

    assert (listing.status_code, invite.status_code, role.status_code) == (403, 403, 403)
    assert Seat.objects.count() == seats
    assert Seat.objects.get(pk=agent.pk).role == "agent"


def test_a_seat_of_another_brokerage_is_not_found(acme, globex):
    other = SeatFactory(brokerage=globex.brokerage)
    client = host_client(acme.host, acme.admin)

    assert client.get(f"/seats/{other.pk}/").status_code == 404
    assert client.post(f"/seats/{other.pk}/deactivate/").status_code == 404
    assert Seat.objects.get(pk=other.pk).status == "active"


# --- seats ----------------------------------------------------------------------------
def test_admin_invites_an_agent_and_the_invitation_is_mailed(
        acme, mailbox, django_capture_on_commit_callbacks):
    client = host_client(acme.host, acme.admin)

    with django_capture_on_commit_callbacks(execute=True):
        response = client.post("/seats/", {"email": "Nia@Example.test", "name": "Nia Agent",
                                           "role": "agent"})
    send_due_mail()  # what the outbox's task does after commit

    assert response.status_code == 302
    seat = Seat.objects.get(brokerage=acme.brokerage, email="nia@example.test")
    assert (seat.status, seat.role, seat.invited_by) == ("invited", "agent", acme.admin)
    assert [m["X-Envelope-To"] for m in mailbox] == ["nia@example.test"]
    assert "http://acme.localhost/invite/" in mailbox[0].get_body(("plain",)).get_content()


def test_seat_list_shows_each_status(acme):
    SeatFactory(brokerage=acme.brokerage, name="Active Agent")
    _invited(acme, name="Invited Agent")
    SeatFactory(brokerage=acme.brokerage, name="Gone Agent", status=Seat.Status.DEACTIVATED)

    page = host_client(acme.host, acme.admin).get("/seats/").content.decode()

    for name, status in [("Active Agent", "Active"), ("Invited Agent", "Invited"),
                         ("Gone Agent", "Deactivated")]:
        assert re.search(rf"{name}</strong>.*?badge {status.lower()}\">{status}<", page, re.S)


@pytest.mark.parametrize(("data", "field", "status"), [
    ({"email": "", "role": "agent"}, "email", 400),
    ({"email": "not-an-email", "role": "agent"}, "email", 400),
    ({"email": "x@example.test", "role": "owner"}, "role", 400),
    ({"email": "x@example.test", "role": ""}, "role", 400),
    ({"email": "x@example.test", "name": "n" * 151, "role": "agent"}, "name", 400),
    ({"email": "admin@acme.test", "role": "agent"}, "email", 409),
])
def test_invite_bad_input_shows_the_error_beside_the_field_and_changes_nothing(
        acme, mailbox, django_capture_on_commit_callbacks, data, field, status):
    client = host_client(acme.host, acme.admin)
    seats = Seat.objects.count()

    with django_capture_on_commit_callbacks(execute=True):
        response = client.post("/seats/", data)

    assert response.status_code == status
    assert _field_errors(response, field)
    assert f'id="id_{field}_error"' in response.content.decode()
    assert Seat.objects.count() == seats
    assert mailbox == []


def test_admin_changes_a_role(acme):
    agent = SeatFactory(brokerage=acme.brokerage)

    response = host_client(acme.host, acme.admin).post(f"/seats/{agent.pk}/role/",
                                                       {"role": "admin"})

    assert response.status_code == 302
    assert Seat.objects.get(pk=agent.pk).role == "admin"


@pytest.mark.parametrize(("role", "status", "message"), [
    ("owner", 400, "Select a valid choice"),
    ("agent", 409, "at least one active admin"),
])
def test_role_change_refused_shows_the_error_beside_the_role(acme, role, status, message):
    client = host_client(acme.host, acme.admin)

    response = client.post(f"/seats/{acme.admin_seat.pk}/role/", {"role": role})

    assert response.status_code == status
    assert message in response.context["role_form"].errors["role"][0]
    assert 'id="id_role_role_error"' in response.content.decode()
    assert Seat.objects.get(pk=acme.admin_seat.pk).role == "admin"


def test_deactivation_asks_for_confirmation_then_deactivates(acme):
    agent = SeatFactory(brokerage=acme.brokerage, name="Dee Agent")
    colleague = SeatFactory(brokerage=acme.brokerage, name="Cole League")
    client = host_client(acme.host, acme.admin)

    confirm = client.get(f"/seats/{agent.pk}/deactivate/")
    response = client.post(f"/seats/{agent.pk}/deactivate/", {"reassign_to": colleague.pk})

    assert confirm.status_code == 200 and b"Deactivate Dee Agent?" in confirm.content
    assert b"Cole League" in confirm.content
    assert response.status_code == 302
    assert Seat.objects.get(pk=agent.pk).status == "deactivated"
    assert host_client(acme.host, agent.user).get("/").status_code == 403


def test_deactivation_without_a_hand_over(acme):
    agent = SeatFactory(brokerage=acme.brokerage)

    response = host_client(acme.host, acme.admin).post(f"/seats/{agent.pk}/deactivate/")

    assert response.status_code == 302
    assert Seat.objects.get(pk=agent.pk).status == "deactivated"


def test_deactivation_refuses_a_hand_over_to_another_brokerages_seat(acme, globex):
    agent = SeatFactory(brokerage=acme.brokerage)
    outsider = SeatFactory(brokerage=globex.brokerage)

    response = host_client(acme.host, acme.admin).post(
        f"/seats/{agent.pk}/deactivate/", {"reassign_to": outsider.pk})

    assert response.status_code == 400
    assert _field_errors(response, "reassign_to")
    assert Seat.objects.get(pk=agent.pk).status == "active"


def test_an_admin_cannot_deactivate_their_own_seat(acme):
    response = host_client(acme.host, acme.admin).post(
        f"/seats/{acme.admin_seat.pk}/deactivate/")

    assert response.status_code == 409
    assert "your own seat" in response.context["form"].non_field_errors()[0]
    assert Seat.objects.get(pk=acme.admin_seat.pk).status == "active"


def test_resending_an_invitation_mails_a_new_link_and_voids_the_old_one(
        acme, mailbox, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=True):
        seat = _invited(acme)
    old_token = services.invitation_token(seat)
    client = host_client(acme.host, acme.admin)

    with django_capture_on_commit_callbacks(execute=True):
        response = client.post(f"/seats/{seat.pk}/resend/")
    send_due_mail()  # what the outbox's task does after commit

    assert response.status_code == 302
    assert len(mailbox) == 2
    new_link = re.search(r"http://acme\.localhost(/invite/[^/\s]+/)",
                         mailbox[1].get_body(("plain",)).get_content()).group(1)
    assert host_client(acme.host).get(f"/invite/{old_token}/").status_code == 410
    assert host_client(acme.host).get(new_link).status_code == 200


def test_resending_to_an_active_seat_is_refused(acme, mailbox, django_capture_on_commit_callbacks):
    agent = SeatFactory(brokerage=acme.brokerage)

    with django_capture_on_commit_callbacks(execute=True):
        response = host_client(acme.host, acme.admin).post(f"/seats/{agent.pk}/resend/")

    assert response.status_code == 409
    assert "already has a seat" in response.context["action_error"]
    assert mailbox == []


# --- accepting an invitation ---------------------------------------------------------
def test_a_new_person_accepts_sets_a_password_and_lands_on_the_dashboard(acme):
    seat = _invited(acme)
    token = services.invitation_token(seat)
    client = host_client(acme.host)

    page = client.get(f"/invite/{token}/")
    response = client.post(f"/invite/{token}/", {"name": "Nia Agent", "password": STRONG})

    assert page.status_code == 200
    assert b"Acme" in page.content and b"new.agent@example.test" in page.content
    assert response.status_code == 302 and response["Location"] == "/"
    assert Seat.objects.get(pk=seat.pk).status == "active"
    assert client.get("/").status_code == 200
    assert User.objects.get(email="new.agent@example.test").check_password(STRONG)


@pytest.mark.parametrize(("data", "field"), [
    ({}, "name"),
    ({"name": "", "password": STRONG}, "name"),
    ({"name": "Nia", "password": ""}, "password"),
    ({"name": "Nia", "password": "12345678"}, "password"),
    ({"name": "Nia", "password": "new.agent"}, "password"),
    ({"name": "n" * 151, "password": STRONG}, "name"),
])
def test_accepting_with_bad_input_shows_the_error_beside_the_field_and_changes_nothing(
        acme, data, field):
    seat = _invited(acme)
    client = host_client(acme.host)

    response = client.post(f"/invite/{services.invitation_token(seat)}/", data)

    assert response.status_code == 400
    assert _field_errors(response, field)
    assert Seat.objects.get(pk=seat.pk).status == "invited"
    assert not User.objects.filter(email="new.agent@example.test").exists()
    assert not _signed_in(client)


def test_a_person_with_an_account_accepts_with_their_password(acme, globex):
    seat = _invited(acme, email="admin@globex.test", role="admin")
    token = services.invitation_token(seat)
    client = host_client(acme.host)

    wrong = client.post(f"/invite/{token}/", {"password": "not-it"})
    right = client.post(f"/invite/{token}/", {"password": PASSWORD})

    assert wrong.status_code == 400 and _field_errors(wrong, "password")
    assert right.status_code == 302
    assert Seat.objects.get(pk=seat.pk).user == globex.admin


def test_an_invitation_opened_while_signed_in_as_someone_else_asks_to_sign_out(acme):
    seat = _invited(acme)
    token = services.invitation_token(seat)

    response = host_client(acme.host, acme.admin).post(f"/invite/{token}/", {})

    assert response.status_code == 409
    assert b"but you are signed in as admin@acme.test" in response.content
    assert Seat.objects.get(pk=seat.pk).status == "invited"


def test_used_expired_and_forged_invitations_get_a_clear_page(acme, globex, settings):
    used = _invited(acme, email="used@example.test")
    used_token = services.invitation_token(used)
    services.accept_invitation(token=used_token, name="Used", password=STRONG)
    expired_token = services.invitation_token(_invited(acme, email="late@example.test"))
    foreign = services.invite_seat(brokerage=globex.brokerage, email="g@example.test")
    client = host_client(acme.host)

    used_page = client.get(f"/invite/{used_token}/")
    forged_page = client.get("/invite/not-a-real-token/")
    foreign_page = client.get(f"/invite/{services.invitation_token(foreign)}/")
    settings.INVITE_MAX_AGE_DAYS = -1
    expired_page = client.get(f"/invite/{expired_token}/")

    assert used_page.status_code == 410 and b"used or withdrawn" in used_page.content
    assert expired_page.status_code == 410 and b"expired" in expired_page.content
    assert forged_page.status_code == 400 and b"not valid" in forged_page.content
    assert foreign_page.status_code == 400


# --- password reset ---------------------------------------------------------------------
def test_password_reset_by_mail_on_the_brokerage_host(acme, mailbox):
    client = host_client(acme.host)

    sent = client.post("/password-reset/", {"email": "admin@acme.test"})
    send_due_mail()  # what the outbox's task does after commit
    link = re.search(r"http://acme\.localhost(/password-reset/\S+/)",
                     mailbox[0].get_body(("plain",)).get_content()).group(1)
    form_page = client.get(link, follow=True)
    saved = client.post(form_page.redirect_chain[-1][0],
                        {"new_password1": STRONG, "new_password2": STRONG})

    assert sent.status_code == 302 and sent["Location"] == "/password-reset/sent/"
    assert saved.status_code == 302 and saved["Location"] == "/password-reset/done/"
    assert User.objects.get(pk=acme.admin.pk).check_password(STRONG)
    assert host_client(acme.host).post(
        "/login/", {"email": "admin@acme.test", "password": STRONG}).status_code == 302


def test_password_reset_bad_email_shows_the_error_beside_the_field(acme, mailbox):
    response = host_client(acme.host).post("/password-reset/", {"email": "not-an-email"})

    assert _field_errors(response, "email")
    assert 'id="id_email_error"' in response.content.decode()
    assert mailbox == []


def test_password_reset_mismatched_passwords_change_nothing(acme, mailbox):
    client = host_client(acme.host)
    client.post("/password-reset/", {"email": "admin@acme.test"})
    send_due_mail()  # what the outbox's task does after commit
    link = re.search(r"http://acme\.localhost(/password-reset/\S+/)",
                     mailbox[0].get_body(("plain",)).get_content()).group(1)
    form_url = client.get(link, follow=True).redirect_chain[-1][0]

    response = client.post(form_url, {"new_password1": STRONG, "new_password2": STRONG + "x"})

    assert _field_errors(response, "new_password2")
    assert User.objects.get(pk=acme.admin.pk).check_password(PASSWORD)


# --- error pages ----------------------------------------------------------------------
def test_not_found_page_is_the_styled_page(acme):
    response = host_client(acme.host, acme.admin).get("/no-such-page/")

    assert response.status_code == 404
    assert b'class="error-page"' in response.content and b"app.css" in response.content


def test_server_error_page_renders_without_session_or_user():
    request = RequestFactory().get("/", HTTP_HOST="localhost")

    response = platform_views.server_error(request)

    assert response.status_code == 500
    assert b"Something went wrong on our side" in response.content
