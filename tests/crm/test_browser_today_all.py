"""On a phone (390 x 844): an agent with 30 overdue follow-ups sees the first 10 on Today
with the section's full count and "Show all 30"; one tap opens the section's own pages
(25 rows, then the remaining 5 on page 2) and a link leads back to Today. Screenshots of
the pages, phone and desktop."""

from __future__ import annotations

import datetime as dt
import re

import pytest
from django.utils import timezone
from playwright.sync_api import expect

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
from tests.tenants.factories import PASSWORD
from tests.territories.conftest import committed_seats  # noqa: F401 (fixture)

pytestmark = pytest.mark.browser

DESKTOP = {"viewport": {"width": 1440, "height": 900}}
OVERDUE = 30


def _names(rows, link: str = "a.task-name") -> list[str]:
    return [name.strip() for name in rows.locator(link).all_inner_texts()]


def test_show_all_pages_through_thirty_overdue_follow_ups_on_a_phone(
        committed_seats, app_server, browser, request):  # noqa: F811
    # given an agent with 30 overdue follow-ups, Late01 Buyer the oldest, Late30 the newest
    (agent,) = db_read(lambda: committed_seats.make(1))
    db_read(lambda: User.objects.filter(pk=agent.user_id).update(
        name="Maya Chen", time_zone="America/New_York"))
    schema = committed_seats.brokerage.schema_name
    now = timezone.now()

    def make_overdue():
        for n in range(1, OVERDUE + 1):
            make_lead(schema, agent, first_name=f"Late{n:02d}", touched=True,
                      task_title=f"Call, day {n}", now=now,
                      due_in=-dt.timedelta(days=3, minutes=OVERDUE + 1 - n))

    db_read(make_overdue)
    everyone = [f"Late{n:02d} Buyer" for n in range(1, OVERDUE + 1)]

    # when the agent signs in on their phone, Today shows the first 10, the count and the link
    phone = Phone(browser.new_context(**PHONE), request.node.name)
    page = phone.page
    base = f"http://acme.localhost:{app_server}"
    page.goto(f"{base}/login/")
    page.get_by_label("Email").fill(agent.email)
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Sign in").click()
    page.wait_for_url(f"{base}/")
    expect(page.get_by_role("heading", name="Today", exact=True)).to_be_visible()
    overdue = page.locator(".today-section.section-overdue")
    expect(overdue.get_by_role("heading", name="Overdue")).to_contain_text(str(OVERDUE))
    rows = overdue.locator("li.task")
    expect(rows).to_have_count(10)
    assert _names(rows, "a.task-name.phone-only") == everyone[:10]  # the lead page links
    show_all = overdue.get_by_role("link", name=f"Show all {OVERDUE}")
    expect(show_all).to_be_visible()
    expect(overdue.locator(".show-all")).to_contain_text("the first 10 are above")
    assert phone.fits_the_screen()
    assert phone.small_tap_targets() == []
    phone.screenshot("1-today")

    # one tap opens the section's first page: 25 rows, the count, and a way to page 2
    show_all.tap()
    page.wait_for_url(f"{base}/today/overdue/")
    expect(page.get_by_role("heading", level=1)).to_have_text(
        re.compile(rf"^\s*Overdue\s+{OVERDUE}\s*$"))
    expect(page.locator(".page-head")).to_contain_text(f"1–25 of {OVERDUE}")
    rows = page.locator("li.task")
    expect(rows).to_have_count(25)
    assert _names(rows) == everyone[:25]
    pager = page.get_by_role("navigation", name="Pages of overdue")
    expect(pager).to_contain_text("Page 1 of 2")
    expect(pager.get_by_role("link", name="Previous")).to_have_count(0)
    back = page.locator(".page-head").get_by_role("link", name="Back to Today")
    expect(back).to_be_visible()
    assert phone.fits_the_screen()
    assert phone.small_tap_targets() == []
    phone.screenshot("2-overdue-page-1")

    # page 2 holds the remaining 5
    pager.get_by_role("link", name="Next").tap()
    page.wait_for_url(f"{base}/today/overdue/?page=2")
    expect(page).to_have_title(re.compile(r"^Overdue \(page 2\) · Today"))
    expect(page.locator(".page-head")).to_contain_text(f"26–30 of {OVERDUE}")
    rows = page.locator("li.task")
    expect(rows).to_have_count(OVERDUE - 25)
    assert _names(rows) == everyone[25:]
    expect(pager).to_contain_text("Page 2 of 2")
    expect(pager.get_by_role("link", name="Next")).to_have_count(0)
    expect(pager.get_by_role("link", name="Previous")).to_be_visible()
    assert phone.fits_the_screen()
    assert phone.small_tap_targets() == []
    phone.screenshot("3-overdue-page-2")

    # and, at the foot of the list, "Back to Today" goes home without scrolling back up
    foot = page.locator(".back-foot").get_by_role("link", name="Back to Today")
    expect(foot).to_be_visible()
    foot.tap()
    page.wait_for_url(f"{base}/today/")
    expect(page.get_by_role("heading", name="Today", exact=True)).to_be_visible()

    # desktop: Today and the section's first page at 1440 x 900
    desktop = browser.new_context(**DESKTOP).new_page()
    desktop.context.add_cookies(phone.context.cookies())
    desktop.goto(f"{base}/")
    expect(desktop.locator(".section-overdue .show-all")).to_be_visible()
    desktop.screenshot(path=str(ARTEFACTS / f"{request.node.name}-4-today-desktop.png"),
                       full_page=True)
    desktop.goto(f"{base}/today/overdue/")
    expect(desktop.locator("li.task")).to_have_count(25)
    # the rows stand in columns, not one row stretched across the screen
    first, second = (desktop.locator("li.task").nth(n).bounding_box() for n in (0, 1))
    assert first["width"] < 700 and second["x"] > first["x"]
    desktop.screenshot(
        path=str(ARTEFACTS / f"{request.node.name}-5-overdue-page-1-desktop.png"),
        full_page=True)
    desktop.context.close()
    assert phone.console_errors == []
    phone.context.close()
