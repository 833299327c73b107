"""The staff console's orphan queue and delivery figures, on a phone and on a desktop."""

from __future__ import annotations

import pytest
from django.utils import timezone
from playwright.sync_api import expect

from clozings.crm.models import Lead
from clozings.distribution.models import InboundLead
from clozings.distribution.routing import route_lead
from clozings.platform.tenancy import in_schema
from tests.browser.conftest import ARTEFACTS, db_read
from tests.distribution.factories import lead_source, take
from tests.distribution.test_staff_api import breaches, brokerages_without_schemas, ledger
from tests.tenants.factories import PASSWORD, SeatFactory, UserFactory, ensure_brokerage
from tests.territories.factories import ensure_catalogue

pytestmark = pytest.mark.browser

DESKTOP = {"viewport": {"width": 1280, "height": 900}}


def sign_in(page, base: str) -> None:
    page.goto(f"{base}/login/")
    page.get_by_label("Email").fill("desk@clozings.test")
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Sign in").click()
    expect(page).to_have_url(f"{base}/staff/")


def test_staff_send_an_orphan_to_an_agent_from_a_phone(live_port, phone, transactional_db):
    # given: a lead for a ZIP nobody holds, and an agent at acme
    def make():
        ensure_catalogue()
        UserFactory(email="desk@clozings.test", is_staff=True)
        acme = ensure_brokerage("acme")
        agent = SeatFactory(brokerage=acme.brokerage, name="Rita Agent")
        lead = route_lead(inbound_lead_id=take(lead_source("Portal").source).pk)
        return acme.schema_name, agent.pk, lead.pk

    schema, agent_id, lead_id = db_read(make)
    staff = phone("staff")
    base = f"http://localhost:{live_port}"
    try:
        sign_in(staff.page, base)

        # when: staff open the orphan queue, try a radius nobody holds, then pick Rita
        staff.page.get_by_role("link", name="Orphans").click()
        card = staff.page.locator(f"#lead-{lead_id}")
        expect(card).to_contain_text("ZIP 10001")
        expect(card).to_contain_text("nobody holds this ZIP")
        assert staff.fits_the_screen()
        staff.screenshot("orphans")
        card.get_by_label("Nearest holder within (miles)").fill("5")
        card.get_by_role("button", name="Send to nearest").click()
        card = staff.page.locator(f"#lead-{lead_id}")
        expect(card).to_contain_text("No holder within 5 miles of ZIP 10001")
        staff.screenshot("orphans-none-nearby")
        card.get_by_label("Agent seat number").fill(str(agent_id))
        card.get_by_role("button", name="Assign").click()

        # then
        expect(staff.page.locator(".messages")).to_contain_text(
            "delivered to Rita Agent at Acme")
        expect(staff.page.locator("main")).to_contain_text("No orphaned lead")
        assert staff.fits_the_screen()
        staff.screenshot("orphan-assigned")

        def delivered():
            lead = InboundLead.objects.get(pk=lead_id)
            with in_schema(schema):
                return lead.status, lead.seat_id, Lead.objects.filter(
                    inbound_lead_id=lead_id).count()

        assert db_read(delivered) == ("delivered", agent_id, 1)
    finally:
        def cleanup():
            with in_schema(schema):
                Lead.objects.all().delete()
        db_read(cleanup)


def test_staff_read_the_delivery_figures_on_a_phone_and_a_desktop(
        live_port, phone, browser, transactional_db):
    def make():
        ensure_catalogue()
        UserFactory(email="desk@clozings.test", is_staff=True)
        source = lead_source("Portal").source
        made = brokerages_without_schemas(3)
        ledger(source, made, per_brokerage=4, now=timezone.now())
        breaches(source, made[:2], now=timezone.now())

    db_read(make)
    base = f"http://localhost:{live_port}"
    staff = phone("staff")
    sign_in(staff.page, base)

    staff.page.get_by_role("link", name="Delivery").click()
    expect(staff.page.get_by_role("heading", name="Lead delivery")).to_be_visible()
    staff.page.get_by_role("link", name="7 days").click()
    expect(staff.page).to_have_url(f"{base}/staff/delivery/?window=7d")
    expect(staff.page.locator("svg.chart")).to_have_count(5)
    expect(staff.page.locator("main")).to_contain_text("Figures 2")
    assert staff.fits_the_screen()
    assert staff.small_tap_targets() == []
    staff.screenshot("delivery")

    desktop = browser.new_context(**DESKTOP)
    try:
        page = desktop.new_page()
        sign_in(page, base)
        page.goto(f"{base}/staff/delivery/?window=30d")
        expect(page.locator("svg.chart")).to_have_count(5)
        ARTEFACTS.mkdir(parents=True, exist_ok=True)
        page.screenshot(path=str(ARTEFACTS / "delivery-desktop.png"), full_page=True)
    finally:
        desktop.close()
