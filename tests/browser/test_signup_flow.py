"""A new brokerage signs up on the platform host and lands on its own dashboard."""

from __future__ import annotations

import uuid

import pytest
from playwright.sync_api import expect

from clozings.tenants.models import Brokerage
from tests.browser.conftest import db_read

pytestmark = pytest.mark.browser


def test_sign_up_ends_on_the_new_brokerages_dashboard(db, live_port, phone):
    # A fresh slug each run: a flushed brokerage row leaves its schema behind.
    slug = f"harbor-{uuid.uuid4().hex[:6]}"
    visitor = phone("visitor")

    # Given the landing page on the platform host
    visitor.page.goto(f"http://localhost:{live_port}/")
    expect(visitor.page.get_by_role("heading", name="Start your brokerage")).to_be_visible()

    # When they type the brokerage's name, the address is suggested with its host
    visitor.page.get_by_label("Brokerage name").fill("Harbor Homes")
    expect(visitor.page.get_by_label("Web address")).to_have_value("harbor-homes")
    visitor.page.get_by_label("Web address").fill(slug)
    expect(visitor.page.locator("#host-preview")).to_have_text(f"{slug}.localhost:{live_port}")
    visitor.page.get_by_label("Your name").fill("Hana Harbor")
    visitor.page.get_by_label("Your email").fill("hana@harbor.test")
    visitor.page.get_by_label("Password").fill("a-long-enough-pass-phrase")
    visitor.page.get_by_label("Time zone").select_option("America/Chicago")
    assert visitor.fits_the_screen()
    assert visitor.small_tap_targets() == []
    visitor.screenshot("1-form")
    visitor.page.get_by_role("button", name="Create my brokerage").click()

    # Then they are on their brokerage's own host, signed in, as its admin
    expect(visitor.page).to_have_url(f"http://{slug}.localhost:{live_port}/")
    expect(visitor.page.get_by_role("heading", name="Hi Hana")).to_be_visible()
    expect(visitor.page.locator("header .brand")).to_have_text("Harbor Homes")
    expect(visitor.page.get_by_role("link", name="Seats", exact=True)).to_be_visible()
    assert db_read(lambda: Brokerage.objects.get(slug=slug).time_zone) == "America/Chicago"
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
