"""On a phone (390 x 844): a lead posted through the API shows on the agent's "My leads"
page with a call link; the agent logs a voicemail and the first-touch clock stops."""

from __future__ import annotations

import threading
from collections.abc import Iterator

import pytest
import requests
from django.core.handlers.wsgi import WSGIHandler
from django.core.servers.basehttp import ThreadedWSGIServer, WSGIRequestHandler
from playwright.sync_api import expect

from clozings.crm.models import Activity, Lead, Task
from clozings.distribution.models import InboundLead, LeadSource
from clozings.distribution.routing import route_lead
from clozings.platform.embedded import free_port
from clozings.platform.tenancy import in_schema
from tests.billing.conftest import committed  # noqa: F401 (fixture: a real test database)
from tests.browser.conftest import (  # noqa: F401 (browser: a fixture)
    ARTEFACTS,
    PHONE,
    Phone,
    browser,
    db_read,
)
from tests.distribution.factories import lead_data, lead_source
from tests.tenants.factories import PASSWORD
from tests.territories.conftest import committed_seats  # noqa: F401 (fixture)
from tests.territories.factories import active_reservation

pytestmark = pytest.mark.browser

DESKTOP = {"viewport": {"width": 1280, "height": 900}}


class _QuietHandler(WSGIRequestHandler):
    def log_message(self, *args):
        return


@pytest.fixture
def leads_removed(committed, committed_seats) -> Iterator[None]:  # noqa: F811
    """The leads, sources and CRM rows the test commits go before its seats do."""
    yield

    def clean():
        seat_ids = [seat.pk for seat in committed_seats.seats]
        with in_schema(committed_seats.brokerage.schema_name):
            Task.objects.filter(agent_id__in=seat_ids).delete()
            Activity.objects.filter(lead__agent_id__in=seat_ids).delete()
            Lead.objects.filter(agent_id__in=seat_ids).delete()
        InboundLead.objects.filter(source__name="Browser portal").delete()
        LeadSource.objects.filter(name="Browser portal").delete()

    db_read(clean)


@pytest.fixture
def app_server(committed_seats, leads_removed) -> Iterator[int]:  # noqa: F811
    server = ThreadedWSGIServer(("127.0.0.1", free_port()), _QuietHandler)
    server.set_app(WSGIHandler())
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield server.server_port
    server.shutdown()
    server.server_close()


def test_a_posted_lead_reaches_the_agents_phone_and_a_logged_voicemail_stops_the_clock(
        committed_seats, app_server, browser, request):  # noqa: F811
    # given an agent holding 10001, and a lead source
    (agent,) = db_read(lambda: committed_seats.make(1))
    db_read(lambda: active_reservation(agent, "10001"))
    source = db_read(lambda: lead_source("Browser portal"))

    # when the source posts a lead through the API and the worker routes it
    response = requests.post(
        f"http://localhost:{app_server}/api/v1/leads", timeout=10,
        headers={"Authorization": f"Bearer {source.key}"},
        json=lead_data(41, first_name="Rosa", last_name="Núñez", phone="(212) 555-0141",
                       price_max_cents=65_000_000, timeframe="1-3 months",
                       message="Two bedrooms near the park, please."))
    assert response.status_code == 202
    inbound_id = response.json()["id"]
    db_read(lambda: route_lead(inbound_lead_id=inbound_id))

    # then the agent sees it on their phone, phone number first, as a call link
    phone = Phone(browser.new_context(**PHONE), request.node.name)
    page = phone.page
    base = f"http://acme.localhost:{app_server}"
    page.goto(f"{base}/login/")
    page.get_by_label("Email").fill(agent.email)
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Sign in").click()
    page.wait_for_url(f"{base}/")
    page.get_by_role("link", name="Leads", exact=True).click()
    page.wait_for_url(f"{base}/leads/")
    expect(page.get_by_text("Rosa Núñez")).to_be_visible()
    call = page.get_by_role("link", name="Call Rosa Núñez at (212) 555-0141")
    expect(call).to_have_attribute("href", "tel:+12125550141")
    expect(page.get_by_text("up to $650,000.00")).to_be_visible()
    assert phone.fits_the_screen()
    assert phone.small_tap_targets() == []
    phone.screenshot("1-new-lead")

    # when they call, then log "voicemail"
    page.get_by_text("Log a touch").click()
    page.get_by_label("What you did").select_option("call")
    page.get_by_label("How it went").select_option("voicemail")
    page.get_by_role("button", name="Log it").click()

    # then the page says so, the lead is no longer new, and the clock stopped in the ledger
    expect(page.get_by_role("status")).to_contain_text(
        "Logged a call (left a voicemail) with Rosa Núñez.")
    expect(page.get_by_text("first touch")).to_be_visible()
    expect(page.locator(".badge.new")).to_have_count(0)
    assert phone.fits_the_screen()
    phone.screenshot("2-touch-logged")
    assert db_read(lambda: InboundLead.objects.get(pk=inbound_id).first_touch_at) is not None
    assert phone.console_errors == []

    desktop = browser.new_context(**DESKTOP).new_page()
    desktop.context.add_cookies(phone.context.cookies())
    desktop.goto(f"{base}/leads/")
    expect(desktop.get_by_text("Rosa Núñez")).to_be_visible()
    desktop.screenshot(path=str(ARTEFACTS / f"{request.node.name}-3-desktop.png"),
                       full_page=True)
    desktop.context.close()
    phone.context.close()
