"""Error pages and the platform host's ways on, in a real Chromium, on a phone (390x844)
and on a desktop (issue 6, items 16, 17 and 22)."""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator

import pytest
from playwright.sync_api import expect

from tests.browser.conftest import PHONE, Phone
from tests.tenants.factories import PASSWORD

pytestmark = pytest.mark.browser

DESKTOP = {"viewport": {"width": 1280, "height": 800}}


@pytest.fixture(params=["phone", "desktop"])
def device(request, browser) -> Iterator[Callable[[str], Phone]]:
    """device("who") opens a browser of the size this test runs at (its own cookies)."""
    opened: list[Phone] = []
    size = PHONE if request.param == "phone" else DESKTOP

    def open_device(who: str) -> Phone:
        opened.append(Phone(browser.new_context(**size), f"{request.node.name}-{who}"))
        return opened[-1]

    yield open_device
    for each in opened:
        each.context.close()


def _styled(screen: Phone, status: int) -> None:
    """The app's CSS applied (the error code is large), nothing sticks out, and no console
    error (a CSP refusal would be one) but Chromium's note of the page's own status."""
    size = screen.page.evaluate(
        "getComputedStyle(document.querySelector('.error-code')).fontSize")
    assert size == "56px"
    assert screen.fits_the_screen()
    assert screen.small_tap_targets() == []
    own_status = f"the server responded with a status of {status} "
    assert [e for e in screen.console_errors if own_status not in e] == []


def _sign_in(page, email: str, password: str) -> None:
    page.get_by_label("Email").fill(email)
    page.get_by_label("Password").fill(password)
    page.get_by_role("button", name="Sign in").click()


def test_an_unknown_brokerage_host_leads_to_find_my_brokerage(db, live_port, device):
    screen = device("visitor")
    platform = f"http://localhost:{live_port}"

    response = screen.page.goto(f"http://nosuchbroker.localhost:{live_port}/pipeline/")

    assert response.status == 404
    expect(screen.page.get_by_role("heading", name="There is no brokerage at "
                                                   "nosuchbroker.localhost.")).to_be_visible()
    _styled(screen, 404)
    screen.console_errors.clear()
    screen.screenshot("1-unknown-host")

    screen.page.get_by_role("link", name="Find my brokerage").click()
    expect(screen.page).to_have_url(f"{platform}/find-brokerage/")
    screen.page.get_by_label("Email").fill("admin@acme.test")
    screen.screenshot("2-find-my-brokerage")
    screen.page.get_by_role("button", name="Email me my brokerages").click()

    expect(screen.page.get_by_role("heading", name="Check your email")).to_be_visible()
    expect(screen.page.locator("main")).to_contain_text("If admin@acme.test has an account")
    assert screen.fits_the_screen() and screen.console_errors == []
    screen.screenshot("3-sent")


def test_a_stale_form_gets_the_csrf_page_and_the_way_back_works(acme, live_port, device):
    screen = device("admin")
    base = f"http://acme.localhost:{live_port}"
    screen.page.goto(f"{base}/login/")

    screen.context.clear_cookies(name="csrftoken")
    _sign_in(screen.page, "admin@acme.test", PASSWORD)

    expect(screen.page.get_by_role("heading", name="This form has expired.")).to_be_visible()
    _styled(screen, 403)
    screen.screenshot("1-csrf-failure")
    screen.page.get_by_role("link", name="Open the form again").click()
    expect(screen.page).to_have_url(f"{base}/login/")
    _sign_in(screen.page, "admin@acme.test", PASSWORD)
    expect(screen.page.get_by_role("heading", name="Hi Acme")).to_be_visible()


def test_get_logout_asks_and_signs_out_and_a_post_only_page_explains_itself(
        acme, live_port, device):
    screen = device("admin")
    base = f"http://acme.localhost:{live_port}"
    screen.page.goto(f"{base}/login/")
    _sign_in(screen.page, "admin@acme.test", PASSWORD)
    expect(screen.page.get_by_role("heading", name="Hi Acme")).to_be_visible()

    response = screen.page.goto(f"{base}/seats/{acme.admin_seat.pk}/role/")
    assert response.status == 405
    expect(screen.page.get_by_role("heading", name="This address does not answer that kind "
                                                   "of request.")).to_be_visible()
    _styled(screen, 405)
    screen.screenshot("1-method-not-allowed")

    screen.page.goto(f"{base}/logout/")
    expect(screen.page.get_by_role("heading", name="Sign out?")).to_be_visible()
    assert screen.fits_the_screen() and screen.small_tap_targets() == []
    screen.screenshot("2-logout-page")
    screen.page.locator("main").get_by_role("button", name="Sign out").click()
    expect(screen.page).to_have_url(f"{base}/login/")
    expect(screen.page.get_by_role("button", name="Sign out")).to_have_count(0)


def test_an_agent_signs_in_on_the_platform_host_and_goes_on_to_their_brokerage(
        acme, live_port, device):
    screen = device("admin")
    platform = f"http://localhost:{live_port}"
    screen.page.goto(f"{platform}/")
    screen.page.get_by_role("link", name="Sign in").click()

    _sign_in(screen.page, "admin@acme.test", PASSWORD)

    expect(screen.page).to_have_url(f"{platform}/brokerages/")
    expect(screen.page.get_by_role("heading", name="Your brokerages")).to_be_visible()
    link = screen.page.get_by_role("link", name=re.compile("^Acme"))
    expect(link).to_have_attribute("href", f"http://acme.localhost:{live_port}/")
    assert screen.fits_the_screen() and screen.small_tap_targets() == []
    assert screen.console_errors == []
    screen.screenshot("1-your-brokerages")
    link.click()
    expect(screen.page).to_have_url(f"http://acme.localhost:{live_port}/login/?next=/")
    expect(screen.page.get_by_role("heading", name="Sign in to Acme")).to_be_visible()
