"""An admin, on a phone, adds a card in the Stripe.js form (localstripe's), finds a ZIP,
reserves it (after a confirmation), and sees it in "My territories" and, billed, on the
billing page."""

from __future__ import annotations

import re
import threading
from collections.abc import Iterator

import pytest
from django.core.handlers.wsgi import WSGIHandler
from django.core.servers.basehttp import ThreadedWSGIServer, WSGIRequestHandler
from playwright.sync_api import expect

from clozings.billing.models import BillingAccount
from clozings.platform.embedded import free_port
from clozings.territories.models import Reservation
from tests.billing.conftest import (  # noqa: F401  (fixtures this test uses)
    _stripe_settings,
    committed,
)
from tests.browser.conftest import db_read
from tests.tenants.factories import PASSWORD
from tests.territories.factories import ensure_catalogue

pytestmark = pytest.mark.browser

ZIP = "60606"


class _QuietHandler(WSGIRequestHandler):
    def log_message(self, *args):
        return


@pytest.fixture
def app_server(committed, _stripe_settings) -> Iterator[int]:  # noqa: F811
    """The app on a loopback port, built after the Stripe settings point at localstripe
    (the CSP must allow its Stripe.js), over committed data."""
    server = ThreadedWSGIServer(("127.0.0.1", free_port()), _QuietHandler)
    server.set_app(WSGIHandler())
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield server.server_port
    server.shutdown()
    server.server_close()


def test_admin_adds_a_card_reserves_a_zip_and_sees_it_billed(committed, app_server,  # noqa: F811
                                                            localstripe, phone):  # noqa: F811
    # given a brokerage whose admin has no card yet
    setup = db_read(lambda: committed.brokerage("h6-phone"))
    db_read(ensure_catalogue)
    base = f"http://{setup.host}:{app_server}"
    admin = phone("admin")
    page = admin.page
    page.goto(f"{base}/login/")
    page.get_by_label("Email").fill(setup.admin.email)
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Sign in").click()
    expect(page).to_have_url(f"{base}/")

    # when they add a card in the Stripe.js form
    page.goto(f"{base}/billing/card/")
    page.get_by_label("Card number").fill("4242 4242 4242 4242")
    page.get_by_label("Expiry month (MM)").fill("12")
    page.get_by_label("Expiry year (YY)").fill("34")
    page.get_by_label("Security code (CVC)").fill("123")
    page.get_by_label("Billing ZIP code").fill(ZIP)
    assert admin.fits_the_screen()
    assert admin.small_tap_targets() == []
    admin.screenshot("1-card")
    page.get_by_role("button", name="Save card").click()

    # then the billing page shows it
    expect(page).to_have_url(f"{base}/billing/")
    expect(page.get_by_role("status")).to_contain_text("Card saved")
    expect(page.locator("main")).to_contain_text("ending 4242")
    assert db_read(lambda: BillingAccount.objects.get(
        brokerage=setup.brokerage).card_last4) == "4242"

    # when they search the ZIP and reserve it
    page.goto(f"{base}/territories/")
    page.get_by_label("ZIP, city or state").fill(ZIP)
    page.get_by_role("button", name="Search").click()
    expect(page.locator(".territories")).to_contain_text(f"{ZIP} · Chicago, IL")
    admin.screenshot("2-search")
    page.get_by_role("button", name=re.compile(f"^Reserve {ZIP}")).click()
    expect(page.locator("main")).to_contain_text("Charged now: $99.00 to the Visa ending 4242")
    page.get_by_role("button", name="Reserve for $99.00 a month").click()

    # then it is theirs in "My territories"
    expect(page).to_have_url(f"{base}/territories/mine/")
    expect(page.get_by_role("status")).to_contain_text(f"{ZIP} is yours")
    expect(page.locator("main")).to_contain_text(ZIP)
    assert admin.fits_the_screen()
    admin.screenshot("3-mine")

    # and billed on the billing page
    page.goto(f"{base}/billing/")
    expect(page.locator("main")).to_contain_text(f"ZIP {ZIP}")
    expect(page.locator("main table").last).to_contain_text("Paid")
    assert admin.fits_the_screen()
    assert admin.small_tap_targets() == []
    admin.screenshot("4-billing")
    reservation = db_read(lambda: Reservation.objects.get(territory__zip_code=ZIP))
    assert reservation.status == "active"
    assert reservation.seat_id == setup.admin_seat.pk
    assert reservation.stripe_item_id
    assert admin.console_errors == []
