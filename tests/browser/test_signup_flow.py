"""A new brokerage signs up on the platform host, confirms its email from the mailed link
and lands on its own dashboard; a person who already has an account confirms with it."""

from __future__ import annotations

import re
import uuid

import pytest
from playwright.sync_api import expect

from clozings.platform.mail import send_due_mail
from clozings.tenants.models import Brokerage, PendingSignup
from tests.browser.conftest import db_read, wait_for

pytestmark = pytest.mark.browser

PASS_PHRASE = "a-long-enough-pass-phrase"


def _confirmation_link(mailbox, email: str, port: int) -> str:
    db_read(send_due_mail)  # what the outbox's worker does once the sign-up has committed
    message = wait_for(lambda: next((m for m in mailbox if email in m["To"]), None),
                       what="the confirmation mail")
    body = message.get_body(("plain",)).get_content()
    return re.search(rf"http://localhost:{port}/signup/confirm/\S+/", body).group(0), body


def _fill_sign_up(page, *, slug: str, email: str) -> None:
    page.get_by_label("Brokerage name").fill("Harbor Homes")
    expect(page.get_by_label("Web address")).to_have_value("harbor-homes")
    page.get_by_label("Web address").fill(slug)
    page.get_by_label("Your name").fill("Hana Harbor")
    page.get_by_label("Your email").fill(email)
    page.get_by_label("Password").fill(PASS_PHRASE)
    page.get_by_label("Time zone").select_option("America/Chicago")


def test_sign_up_confirms_by_mail_then_ends_on_the_new_brokerages_dashboard(
        db, live_port, phone, mailbox):
    # A fresh slug each run: a flushed brokerage row leaves its schema behind.
    slug = f"harbor-{uuid.uuid4().hex[:6]}"
    visitor = phone("visitor")

    # Given the landing page on the platform host
    visitor.page.goto(f"http://localhost:{live_port}/")
    expect(visitor.page.get_by_role("heading", name="Start your brokerage")).to_be_visible()

    # When they fill in the form (the address is suggested with its host)
    _fill_sign_up(visitor.page, slug=slug, email="hana@harbor.test")
    expect(visitor.page.locator("#host-preview")).to_have_text(f"{slug}.localhost:{live_port}")
    assert visitor.fits_the_screen()
    assert visitor.small_tap_targets() == []
    visitor.screenshot("1-form")
    visitor.page.get_by_role("button", name="Create my brokerage").click()

    # Then they are asked to check their email, and nothing is built yet
    expect(visitor.page.get_by_role("heading", name="Check your email")).to_be_visible()
    expect(visitor.page.locator("main")).to_contain_text("hana@harbor.test")
    assert visitor.fits_the_screen()
    assert visitor.small_tap_targets() == []
    visitor.screenshot("2-check-email")
    assert db_read(lambda: Brokerage.objects.filter(slug=slug).exists()) is False

    # When they open the mailed link
    link, body = _confirmation_link(mailbox, "hana@harbor.test", live_port)
    assert "Confirm your email to create Harbor Homes" in body
    visitor.page.goto(link)
    expect(visitor.page.get_by_role("heading", name="Confirm Harbor Homes")).to_be_visible()
    expect(visitor.page.locator("dl.facts")).to_contain_text(f"{slug}.localhost:{live_port}")
    assert visitor.fits_the_screen()
    assert visitor.small_tap_targets() == []
    visitor.screenshot("3-confirm")
    visitor.page.get_by_role("button", name="Create Harbor Homes").click()

    # Then they are on their brokerage's own host, signed in, as its admin
    expect(visitor.page).to_have_url(f"http://{slug}.localhost:{live_port}/")
    expect(visitor.page.get_by_role("heading", name="Hi Hana")).to_be_visible()
    expect(visitor.page.locator("header .brand")).to_have_text("Harbor Homes")
    expect(visitor.page.get_by_role("link", name="Seats", exact=True)).to_be_visible()
    assert db_read(lambda: Brokerage.objects.get(slug=slug).time_zone) == "America/Chicago"
    visitor.screenshot("4-dashboard")
    assert visitor.console_errors == []

    # And the link does not work twice (a 410 page, with a way on)
    visitor.page.goto(link)
    expect(visitor.page.get_by_role("heading", name=re.compile("already used"))).to_be_visible()
    expect(visitor.page.get_by_role("link", name="Sign up again")).to_be_visible()
    assert visitor.fits_the_screen()
    visitor.screenshot("5-link-used")


def test_a_person_with_an_account_confirms_with_its_password(acme, live_port, phone, mailbox):
    slug = f"harbor-{uuid.uuid4().hex[:6]}"
    visitor = phone("visitor")
    visitor.page.goto(f"http://localhost:{live_port}/")
    _fill_sign_up(visitor.page, slug=slug, email="admin@acme.test")
    visitor.page.get_by_role("button", name="Create my brokerage").click()
    # The same page as for a new email: the form tells nothing about accounts
    expect(visitor.page.get_by_role("heading", name="Check your email")).to_be_visible()

    link, body = _confirmation_link(mailbox, "admin@acme.test", live_port)
    assert "You already have a Clozings account" in body
    visitor.page.goto(link)
    expect(visitor.page.locator("main")).to_contain_text("You already have a Clozings account")
    visitor.page.get_by_label("Your Clozings password").fill("not-the-password")
    visitor.page.get_by_role("button", name="Create Harbor Homes").click()
    expect(visitor.page.locator("#id_password_error")).to_contain_text("not the password")
    assert visitor.fits_the_screen()
    assert visitor.small_tap_targets() == []
    visitor.screenshot("1-confirm-wrong-password")
    assert visitor.console_errors == ["Failed to load resource: the server responded with a "
                                      "status of 400 (Bad Request)"]
    visitor.console_errors.clear()

    visitor.page.get_by_label("Your Clozings password").fill("correct-horse-battery")
    visitor.page.get_by_role("button", name="Create Harbor Homes").click()
    expect(visitor.page).to_have_url(f"http://{slug}.localhost:{live_port}/")
    expect(visitor.page.get_by_role("heading", name="Hi Acme")).to_be_visible()
    assert db_read(lambda: PendingSignup.objects.filter(slug=slug).exists()) is False
    visitor.screenshot("2-dashboard")
    assert visitor.console_errors == []


def test_sign_up_errors_show_beside_the_field(db, live_port, phone):
    visitor = phone("visitor")
    visitor.page.goto(f"http://localhost:{live_port}/")

    visitor.page.get_by_label("Brokerage name").fill("Reserved Realty")
    visitor.page.get_by_label("Web address").fill("www")
    visitor.page.get_by_label("Your name").fill("Rita")
    visitor.page.get_by_label("Your email").fill("rita@example.test")
    visitor.page.get_by_label("Password").fill("12345678")
    visitor.page.get_by_role("button", name="Create my brokerage").click()

    expect(visitor.page.locator("#id_slug_error")).to_contain_text("reserved")
    expect(visitor.page.locator("#id_password_error")).to_be_visible()
    expect(visitor.page.get_by_label("Web address")).to_have_attribute("aria-invalid", "true")
    assert visitor.fits_the_screen()
    visitor.screenshot("errors")
