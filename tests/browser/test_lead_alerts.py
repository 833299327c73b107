"""On a phone, an admin sets the number new leads are texted to and the brokerage's
first-touch time; a wrong value shows beside its field."""

from __future__ import annotations

import pytest
from playwright.sync_api import expect

from clozings.tenants.models import Brokerage, Seat
from tests.browser.conftest import db_read

pytestmark = pytest.mark.browser


def test_an_admin_sets_their_phone_and_the_first_touch_time_on_a_phone(
        acme, live_port, phone):
    base = f"http://acme.localhost:{live_port}"
    admin = phone("admin")
    admin.page.goto(f"{base}/login/")
    admin.page.get_by_label("Email").fill("admin@acme.test")
    admin.page.get_by_label("Password").fill("correct-horse-battery")
    admin.page.get_by_role("button", name="Sign in").click()
    expect(admin.page).to_have_url(f"{base}/")

    admin.page.get_by_role("link", name="Texts to your phone, first-touch time").click()
    admin.page.get_by_label("Mobile number for new-lead texts").fill("212 555 01")
    admin.page.get_by_role("button", name="Save phone").click()
    expect(admin.page.locator(".errorlist")).to_contain_text("is not a phone number we can text")
    assert admin.fits_the_screen()
    admin.screenshot("1-bad-phone")

    admin.page.get_by_label("Mobile number for new-lead texts").fill("(212) 555-0199")
    admin.page.get_by_role("button", name="Save phone").click()
    expect(admin.page.get_by_role("status")).to_contain_text("texted to +12125550199")
    admin.page.get_by_label("Minutes to a first touch").fill("10")
    admin.page.get_by_role("button", name="Save first-touch time").click()
    expect(admin.page.get_by_role("status")).to_contain_text("10 minutes")
    assert admin.fits_the_screen()
    assert admin.small_tap_targets() == []
    admin.screenshot("2-saved")

    assert db_read(lambda: Seat.objects.get(pk=acme.admin_seat.pk).phone) == "+12125550199"
    assert db_read(lambda: Brokerage.objects.get(pk=acme.brokerage.pk)
                   .first_touch_sla_minutes) == 10
