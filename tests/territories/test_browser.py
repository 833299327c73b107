"""On a phone (360 px wide): an agent finds a full ZIP, joins its waitlist, and sees their
place in line under "My territories"; the pages fit the screen with thumb-sized targets."""

from __future__ import annotations

import re
import threading
from collections.abc import Iterator

import pytest
from django.core.handlers.wsgi import WSGIHandler
from django.core.servers.basehttp import ThreadedWSGIServer, WSGIRequestHandler
from playwright.sync_api import expect

from clozings.platform.embedded import free_port
from clozings.territories import services
from clozings.territories.models import WaitlistEntry
from tests.browser.conftest import PHONE, Phone, browser, db_read  # noqa: F401 (fixture)
from tests.tenants.factories import PASSWORD

pytestmark = pytest.mark.browser

SMALL_PHONE = {**PHONE, "viewport": {"width": 360, "height": 740}}


class _QuietHandler(WSGIRequestHandler):
    def log_message(self, *args):
        return


@pytest.fixture
def app_server(committed_seats) -> Iterator[int]:
    """The app on a loopback port over committed data (nothing is flushed afterwards)."""
    server = ThreadedWSGIServer(("127.0.0.1", free_port()), _QuietHandler)
    server.set_app(WSGIHandler())
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield server.server_port
    server.shutdown()
    server.server_close()


def test_an_agent_joins_a_full_zips_waitlist_from_a_phone(committed_seats, app_server,
                                                         browser, request):  # noqa: F811
    # given ZIP 85004 held by a colleague, and an agent signed in on a small phone
    holder, me = db_read(lambda: committed_seats.make(2))
    db_read(lambda: services.hold_slot(seat=holder, zip_code="85004"))
    phone = Phone(browser.new_context(**SMALL_PHONE), request.node.name)
    page = phone.page
    base = f"http://acme.localhost:{app_server}"
    page.goto(f"{base}/login/")
    page.get_by_label("Email").fill(me.email)
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Sign in").click()
    page.wait_for_url(f"{base}/")

    # when they search for it and tap "Join waitlist"
    page.goto(f"{base}/territories/")
    page.get_by_label("ZIP, city or state").fill("85004")
    page.get_by_role("button", name="Search").click()
    expect(page.get_by_text("85004 · Phoenix, AZ")).to_be_visible()
    assert phone.fits_the_screen()
    assert phone.small_tap_targets() == []
    phone.screenshot("search")
    page.get_by_role("button", name="Join the waitlist for 85004").click()

    # then "My territories" shows them first in line, and the database agrees
    page.wait_for_url(f"{base}/territories/mine/")
    expect(page.get_by_text("Number 1 in line")).to_be_visible()
    expect(page.get_by_role("status")).to_contain_text("number 1 on the waitlist for 85004")
    assert phone.fits_the_screen()
    assert phone.small_tap_targets() == []
    phone.screenshot("mine")
    assert db_read(lambda: list(WaitlistEntry.objects.filter(seat=me).values_list(
        "territory__zip_code", "status"))) == [("85004", "waiting")]
    assert phone.console_errors == []
    phone.context.close()


SEARCH_PHONE = {**PHONE, "viewport": {"width": 360, "height": 780}}


def test_on_a_phone_the_results_start_right_under_the_one_search_box(
        committed_seats, app_server, browser, request):  # noqa: F811
    # given an agent signed in on a 360 x 780 phone
    (me,) = db_read(lambda: committed_seats.make(1))
    phone = Phone(browser.new_context(**SEARCH_PHONE), request.node.name)
    page = phone.page
    base = f"http://acme.localhost:{app_server}"
    page.goto(f"{base}/login/")
    page.get_by_label("Email").fill(me.email)
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Sign in").click()
    page.wait_for_url(f"{base}/")

    # when they open the page from a link with a stray parameter
    page.goto(f"{base}/territories/?utm_source=mail")

    # then they see the box and no error
    expect(page.get_by_label("ZIP, city or state")).to_be_visible()
    expect(page.locator(".errorlist")).to_have_count(0)
    expect(page.get_by_role("link", name="My territories", exact=True)).to_be_visible()
    assert phone.small_tap_targets() == []
    phone.screenshot("1-first-visit")

    # when they search a whole state
    page.get_by_label("ZIP, city or state").fill("IL")
    page.get_by_role("button", name="Search").click()

    # then the first results are on the first screen, each with its one action
    expect(page.locator("#t-count")).to_contain_text("ZIPs in Illinois (IL)")
    cards = page.locator(".t-card")
    expect(cards).to_have_count(25)
    for index in range(3):
        box = cards.nth(index).bounding_box()
        assert box["y"] + box["height"] <= 780, f"card {index} is below the fold"
    expect(cards.first.get_by_role("button", name=re.compile(r"^Reserve \d{5}"))).to_be_visible()
    assert phone.fits_the_screen()
    assert phone.small_tap_targets() == []
    page.screenshot(path=str(phone.screenshot("2-state").with_name(
        f"{request.node.name}-2-state-screen.png")))

    # when they page on
    page.get_by_role("link", name="Next").click()
    expect(page.get_by_text("Page 2 of")).to_be_visible()
    assert phone.small_tap_targets() == []
    phone.screenshot("2-state-page-2")

    # when they search a city many states have, the page offers each state
    page.get_by_label("ZIP, city or state").fill("Springfield")
    page.get_by_role("button", name="Search").click()
    expect(page.get_by_text("There is a Springfield in 24 states")).to_be_visible()
    page.get_by_role("link", name="Springfield, MO").click()
    expect(page.locator("#t-count")).to_contain_text("ZIPs in Springfield, MO")
    assert phone.small_tap_targets() == []
    phone.screenshot("2-city")

    # when they search a ZIP and 10 miles around it
    page.get_by_label("ZIP, city or state").fill("60606")
    page.get_by_label("Within").select_option("10")
    page.get_by_role("button", name="Search").click()
    expect(page.locator("#t-count")).to_contain_text("within 10 miles of 60606")
    expect(cards.first).to_contain_text("60606 · Chicago, IL")
    expect(cards.first).to_contain_text("0.0 mi")
    assert phone.fits_the_screen()
    page.screenshot(path=str(phone.screenshot("3-radius").with_name(
        f"{request.node.name}-3-radius-screen.png")))

    assert phone.console_errors == []

    # when they type a place that does not exist
    page.get_by_label("ZIP, city or state").fill("Atlantis")
    page.get_by_role("button", name="Search").click()

    # then the reason is right under the box, and the box says so to a screen reader
    error = page.locator("#id_q_error")
    expect(error).to_contain_text("We know no city called “Atlantis”")
    expect(page.get_by_label("ZIP, city or state")).to_have_attribute(
        "aria-describedby", "id_q_error")
    box, under = (page.get_by_label("ZIP, city or state").bounding_box(),
                  error.bounding_box())
    assert 0 <= under["y"] - (box["y"] + box["height"]) <= 24
    expect(page.locator(".t-card")).to_have_count(0)
    assert phone.small_tap_targets() == []
    phone.screenshot("4-error")
    assert phone.console_errors == [  # the page answers 400, as for any refused form
        "Failed to load resource: the server responded with a status of 400 (Bad Request)"]
    phone.context.close()
