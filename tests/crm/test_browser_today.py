"""On a phone (390 x 844): a routed lead tops the agent's Today; one tap after the call logs
"voicemail" and the next step shows; the lead page shows the timeline and the lead is closed
with a sale price and commission, and the agent's report shows the commission and the
territory's ROI turning positive. Screenshots of the pages, phone and desktop."""

from __future__ import annotations

import datetime as dt
import re

import pytest
import requests
from django.utils import timezone
from playwright.sync_api import expect

from clozings.distribution.routing import route_lead
from clozings.tenants.models import User
from tests.billing.conftest import committed  # noqa: F401 (fixture: a real test database)
from tests.browser.conftest import (  # noqa: F401 (browser: a fixture)
    ARTEFACTS,
    PHONE,
    Phone,
    browser,
    db_read,
)
from tests.crm.pages import make_lead
from tests.crm.test_browser import app_server, leads_removed  # noqa: F401 (fixtures)
from tests.distribution.factories import lead_data, lead_source
from tests.tenants.factories import PASSWORD
from tests.territories.conftest import committed_seats  # noqa: F401 (fixture)
from tests.territories.factories import active_reservation

pytestmark = pytest.mark.browser

DESKTOP = {"viewport": {"width": 1440, "height": 900}}


def test_today_call_a_new_lead_log_a_voicemail_then_close_it(
        committed_seats, app_server, browser, request):  # noqa: F811
    # given an agent holding 10001 with two follow-ups (one due today, one overdue)
    (agent,) = db_read(lambda: committed_seats.make(1))
    db_read(lambda: User.objects.filter(pk=agent.user_id).update(
        name="Maya Chen", time_zone="America/New_York"))
    db_read(lambda: active_reservation(agent, "10001"))
    schema = committed_seats.brokerage.schema_name
    now = timezone.now()
    db_read(lambda: make_lead(schema, agent, first_name="Dev", last_name="Patel",
                              touched=True, task_title="Call + text, day 1",
                              due_in=dt.timedelta(minutes=-30), zip_code="10001",
                              time_zone="America/New_York", price_max_cents=90_000_000))
    db_read(lambda: make_lead(schema, agent, first_name="Lena", last_name="Ortiz",
                              touched=True, task_title="Call, day 3",
                              due_in=-dt.timedelta(days=2), zip_code="30303",
                              time_zone="America/New_York", now=now))
    source = db_read(lambda: lead_source("Browser portal"))

    # and a new lead posted through the API, routed by the worker
    response = requests.post(
        f"http://localhost:{app_server}/api/v1/leads", timeout=10,
        headers={"Authorization": f"Bearer {source.key}"},
        json=lead_data(42, first_name="Rosa", last_name="Núñez", phone="(212) 555-0141",
                       price_max_cents=65_000_000, timeframe="1-3 months",
                       message="Two bedrooms near the park, please."))
    assert response.status_code == 202
    db_read(lambda: route_lead(inbound_lead_id=response.json()["id"]))

    # when the agent signs in on their phone, their home is Today, the new lead on top
    phone = Phone(browser.new_context(**PHONE), request.node.name)
    page = phone.page
    base = f"http://acme.localhost:{app_server}"
    page.goto(f"{base}/login/")
    page.get_by_label("Email").fill(agent.email)
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Sign in").click()
    page.wait_for_url(f"{base}/")
    expect(page.get_by_role("heading", name="Today", exact=True)).to_be_visible()
    new = page.locator(".section-new .task").first
    expect(new).to_contain_text("Rosa Núñez")
    expect(new).to_contain_text("came in")
    call = new.get_by_role("link", name="Call Rosa Núñez at (212) 555-0141")
    expect(call).to_have_attribute("href", "tel:+12125550141")
    expect(new.get_by_role("link", name="Text Rosa Núñez")).to_have_attribute(
        "href", "sms:+12125550141")
    expect(page.locator(".section-overdue")).to_contain_text("Lena Ortiz")
    assert phone.fits_the_screen()
    assert phone.small_tap_targets() == []
    phone.screenshot("1-today")

    # after the call, one tap records the outcome and the next step shows
    new.get_by_text("Log how it went").click()
    new.get_by_role("button", name="Voicemail").click()
    expect(page.get_by_role("status")).to_contain_text(
        "Logged a call (left a voicemail) with Rosa Núñez. Next:")
    expect(page.locator(".section-new")).to_have_count(0)  # she is no longer new
    assert phone.fits_the_screen()
    phone.screenshot("2-voicemail-logged")

    # the lead page: how to reach her, her local time, the timeline
    page.goto(f"{base}/leads/")
    page.get_by_role("link", name="Rosa Núñez", exact=True).click()
    expect(page.get_by_role("heading", name="Rosa Núñez")).to_be_visible()
    expect(page.locator(".call-window")).to_contain_text("for them")
    expect(page.locator(".timeline")).to_contain_text("Call: left a voicemail")
    expect(page.locator(".timeline")).to_contain_text("Routed to you")
    assert phone.fits_the_screen()
    assert phone.small_tap_targets() == []
    expect(page.locator(".script")).not_to_be_empty()  # what to say, merged
    phone.screenshot("3-lead")
    lead_url = page.url

    # her report before the sale: 10001's leads cost money and earned nothing yet
    page.goto(f"{base}/reports/")
    figures = page.get_by_role("list", name="In figures")
    expect(figures).to_contain_text("0 closings")
    territory = page.get_by_role("row").filter(has_text="10001")
    expect(territory).to_contain_text("-100%")
    roi_before = territory.locator("td").last.inner_text()
    phone.screenshot("4-report-before")
    page.goto(lead_url)

    # she buys: the agent closes the lead with the sale price and commission in dollars
    page.get_by_text("Change stage").click()
    page.get_by_label("Move to").select_option("closed")
    page.get_by_label("Sale price ($)").fill("640,000")
    page.get_by_label("Your commission ($)").fill("16,000")
    page.get_by_role("button", name="Save stage").click()
    expect(page.get_by_role("status")).to_contain_text("Rosa Núñez moved to Closed.")
    expect(page.locator(".lead-header .badge.stage")).to_have_text("Closed")
    expect(page.locator(".closed-figures")).to_contain_text("$16,000.00")
    expect(page.locator(".timeline")).to_contain_text("Stage: New → Closed")
    assert phone.fits_the_screen()
    phone.screenshot("5-closed")

    # and the report counts the closing: the commission, and 10001's ROI turns positive
    page.goto(f"{base}/reports/")
    expect(figures).to_contain_text("$16,000")
    expect(figures).to_contain_text("1 closing")
    expect(territory).to_contain_text("$16,000")
    expect(territory.locator("td").last).to_have_text(re.compile(r"^\+\d"))
    assert territory.locator("td").last.inner_text() != roi_before
    assert phone.fits_the_screen()
    phone.screenshot("6-report-after")

    # desktop: Today beside the selected lead, and the lead page in two columns
    desktop = browser.new_context(**DESKTOP).new_page()
    desktop.context.add_cookies(phone.context.cookies())
    desktop.goto(f"{base}/")
    expect(desktop.locator("#lead-pane")).to_be_visible()
    desktop.screenshot(path=str(ARTEFACTS / f"{request.node.name}-7-today-desktop.png"),
                       full_page=True)
    desktop.goto(lead_url)
    desktop.screenshot(path=str(ARTEFACTS / f"{request.node.name}-8-lead-desktop.png"),
                       full_page=True)
    desktop.context.close()
    assert phone.console_errors == []
    phone.context.close()
