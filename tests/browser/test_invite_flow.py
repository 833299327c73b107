"""An admin invites an agent from a phone; the agent joins from the mailed link."""

from __future__ import annotations

import re

import pytest
from playwright.sync_api import expect

from clozings.platform.mail import send_due_mail
from clozings.tenants import services
from clozings.tenants.models import Brokerage, Seat
from tests.browser.conftest import db_read, wait_for
from tests.tenants.factories import PASSWORD

pytestmark = pytest.mark.browser

AGENT_EMAIL = "nia.agent@example.test"
AGENT_PASSWORD = "harbour-lights-at-dawn"


def _sign_in(page, email: str, password: str) -> None:
    page.get_by_label("Email").fill(email)
    page.get_by_label("Password").fill(password)
    page.get_by_role("button", name="Sign in").click()


def test_admin_invites_an_agent_who_joins_then_signs_out_and_in(acme, live_port, phone, mailbox):
    base = f"http://acme.localhost:{live_port}"
    admin = phone("admin")

    # Given the admin signed in on acme's host
    admin.page.goto(f"{base}/login/")
    _sign_in(admin.page, "admin@acme.test", "correct-horse-battery")
    expect(admin.page).to_have_url(f"{base}/")
    expect(admin.page.get_by_role("heading", name="Hi Acme")).to_be_visible()
    admin.screenshot("1-dashboard")

    # When they invite an agent from the Seats page
    admin.page.get_by_role("link", name="Seats", exact=True).click()
    admin.page.get_by_label("Email").fill(AGENT_EMAIL)
    admin.page.get_by_label("Name").fill("Nia Agent")
    admin.page.get_by_label("Role").select_option("agent")
    admin.page.get_by_role("button", name="Send invitation").click()
    expect(admin.page.get_by_role("status")).to_contain_text(f"Invitation sent to {AGENT_EMAIL}")
    expect(admin.page.locator(".list")).to_contain_text("Invited")
    assert admin.fits_the_screen()
    assert admin.small_tap_targets() == []
    admin.screenshot("2-invited")

    # Then the invitation arrives at the mail server with a link to acme's host (the
    # outbox's sweeper sends it here, as beat does under `clozings run`)
    db_read(send_due_mail)
    message = wait_for(lambda: next((m for m in mailbox if AGENT_EMAIL in m["To"]), None),
                       what="the invitation mail")
    link = re.search(rf"{re.escape(base)}/invite/\S+/",
                     message.get_body(("plain",)).get_content()).group(0)

    # When the agent opens it on their own phone and sets a password
    agent = phone("agent")
    agent.page.goto(link)
    expect(agent.page.get_by_role("heading", name="Join Acme")).to_be_visible()
    expect(agent.page.locator("dl.facts")).to_contain_text(AGENT_EMAIL)
    agent.screenshot("3-invitation")
    agent.page.get_by_label("Your name").fill("Nia Agent")
    agent.page.get_by_label("Choose a password").fill(AGENT_PASSWORD)
    agent.page.get_by_role("button", name="Join Acme").click()

    # Then they land on their home, Today (an agent's), signed in, as an agent
    expect(agent.page).to_have_url(f"{base}/")
    expect(agent.page.get_by_role("heading", name="Today", exact=True)).to_be_visible()
    expect(agent.page.get_by_role("link", name="Seats", exact=True)).to_have_count(0)
    assert db_read(lambda: Seat.objects.get(brokerage__slug="acme", email=AGENT_EMAIL).status) \
        == "active"
    agent.screenshot("4-dashboard")

    # When they sign out and sign in again with the new password
    agent.page.get_by_role("button", name="Sign out").click()
    expect(agent.page).to_have_url(f"{base}/login/")
    agent.screenshot("5-signed-out")
    _sign_in(agent.page, AGENT_EMAIL, AGENT_PASSWORD)

    # Then they are back on Today
    expect(agent.page).to_have_url(f"{base}/")
    expect(agent.page.get_by_role("heading", name="Today", exact=True)).to_be_visible()
    assert agent.fits_the_screen()
    agent.screenshot("6-signed-in-again")
    assert admin.console_errors == [] and agent.console_errors == []


def test_an_invited_person_with_an_account_joins_with_its_password_guesses_being_throttled(
        acme, globex, live_port, phone, settings):
    settings.LOGIN_THROTTLE_ATTEMPTS = 2
    seat = db_read(lambda: services.invite_seat(
        brokerage=Brokerage.objects.get(slug="acme"), email="admin@globex.test",
        notify=False))
    token = services.invitation_token(seat)
    person = phone("invitee")

    # Given the invitation opened by someone who already has an account
    person.page.goto(f"http://acme.localhost:{live_port}/invite/{token}/")
    expect(person.page.locator("main")).to_contain_text("You already have a Clozings account")

    # When they guess wrong twice, the third try is refused like a sign-in would be
    for guess in ("first-wrong-guess", "second-wrong-guess"):
        person.page.get_by_label("Your Clozings password").fill(guess)
        person.page.get_by_role("button", name="Join Acme").click()
        expect(person.page.locator("#id_password_error")).to_be_visible()
    person.screenshot("1-wrong-password")
    person.page.get_by_label("Your Clozings password").fill(PASSWORD)
    person.page.get_by_role("button", name="Join Acme").click()

    # Then even the right password waits for the throttle window
    expect(person.page.get_by_role("alert")).to_contain_text("Too many failed sign-ins")
    assert person.fits_the_screen()
    assert person.small_tap_targets() == []
    person.screenshot("2-throttled")
    assert db_read(lambda: Seat.objects.get(pk=seat.pk).status) == "invited"
