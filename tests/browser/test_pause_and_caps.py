"""On a phone, an agent goes away (away from / back on, in their time zone) and sees until
when they get no leads; the admin sees the pause on Seats and sets the agent's caps, on a
phone and on a desktop."""

from __future__ import annotations

from datetime import timedelta
from zoneinfo import ZoneInfo

import pytest
from django.utils import timezone
from playwright.sync_api import expect

from clozings.tenants.models import Seat
from tests.browser.conftest import ARTEFACTS, db_read
from tests.tenants.factories import PASSWORD, SeatFactory, ensure_brokerage

pytestmark = pytest.mark.browser

DESKTOP = {"viewport": {"width": 1280, "height": 900}}


def sign_in(page, base: str, email: str) -> None:
    page.goto(f"{base}/login/")
    page.get_by_label("Email").fill(email)
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Sign in").click()
    expect(page).to_have_url(f"{base}/")


def test_an_agent_goes_away_and_the_admin_sees_it_and_sets_caps(
        live_port, phone, browser, transactional_db):
    def make():
        acme = ensure_brokerage("acme")
        agent = SeatFactory(brokerage=acme.brokerage, name="Vera Vacation",
                            email="vera@acme.test", user__email="vera@acme.test",
                            user__time_zone="America/New_York")
        return agent.pk

    agent_id = db_read(make)
    base = f"http://acme.localhost:{live_port}"
    back = (timezone.now() + timedelta(days=10)).date()
    label = f"{back:%b} {back.day}, {back.year}"

    # when: the agent says when they are back, from their phone
    agent = phone("agent")
    sign_in(agent.page, base, "vera@acme.test")
    agent.page.goto(f"{base}/lead-alerts/")
    expect(agent.page.get_by_role("heading", name="Away")).to_be_visible()
    assert agent.fits_the_screen()
    agent.screenshot("1-away-form")
    agent.page.get_by_label("Back on").fill(back.isoformat())
    agent.page.get_by_role("button", name="Pause my leads").click()

    # then: the page says until when, in their words
    expect(agent.page.locator("#pause-status")).to_have_text(
        f"You're paused: no new leads until {label}.")
    assert agent.fits_the_screen()
    assert agent.small_tap_targets() == []
    agent.screenshot("2-paused")
    seat = db_read(lambda: Seat.objects.get(pk=agent_id))
    assert seat.is_paused_at(timezone.now())
    local = seat.paused_until.astimezone(ZoneInfo("America/New_York"))
    assert (local.date(), local.hour, local.minute) == (back, 0, 0)  # the morning back

    # when: the admin looks at Seats on their phone and caps the agent's leads
    admin = phone("admin")
    sign_in(admin.page, base, "admin@acme.test")
    admin.page.goto(f"{base}/seats/")
    row = admin.page.locator(f"a[href='/seats/{agent_id}/']")
    expect(row).to_contain_text("Paused")
    assert admin.fits_the_screen()
    admin.screenshot("3-seats")
    row.click()
    expect(admin.page.locator("#pause-status")).to_contain_text(f"until {label}")
    admin.page.get_by_label("Most new leads a day").fill("4")
    admin.page.get_by_label("Most new leads a month").fill("60")
    admin.page.get_by_role("button", name="Save caps").click()

    # then
    expect(admin.page.locator(".messages")).to_contain_text(
        "Vera Vacation gets at most 4 a day and 60 a month.")
    assert admin.fits_the_screen()
    assert admin.small_tap_targets() == []
    admin.screenshot("4-caps")
    assert db_read(lambda: Seat.objects.filter(pk=agent_id).values_list(
        "daily_cap", "monthly_cap").get()) == (4, 60)

    # and on a desktop the seat's page uses the width
    desktop = browser.new_context(**DESKTOP)
    try:
        page = desktop.new_page()
        sign_in(page, base, "admin@acme.test")
        page.goto(f"{base}/seats/{agent_id}/")
        expect(page.locator("#caps")).to_be_visible()
        ARTEFACTS.mkdir(parents=True, exist_ok=True)
        page.screenshot(path=str(ARTEFACTS / "seat-pause-caps-desktop.png"), full_page=True)
        page.goto(f"{base}/lead-alerts/")
        page.screenshot(path=str(ARTEFACTS / "lead-alerts-desktop.png"), full_page=True)
    finally:
        desktop.close()
