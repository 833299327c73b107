"""On a phone (360 px wide): an agent finds a full ZIP, joins its waitlist, and sees their
place in line under "My territories"; the pages fit the screen with thumb-sized targets."""

from __future__ import annotations

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
    page.get_by_label("ZIP code").fill("85004")
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
