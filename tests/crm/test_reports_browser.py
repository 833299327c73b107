"""On a phone (390 x 844) and a desktop: the admin's home (the team this week), the
follow-up report, and the staff follow-up SLA page; screenshots in test-artefacts/."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone
from playwright.sync_api import expect

from clozings.crm.models import Lead, StageChange, Task
from clozings.distribution.models import SlaBreach
from clozings.platform.tenancy import in_schema
from clozings.territories.models import Reservation
from tests.browser.conftest import (  # noqa: F401 (browser, live_port, phone: fixtures)
    ARTEFACTS,
    browser,
    db_read,
    live_port,
    phone,
)
from tests.crm.report_data import close, make_leads
from tests.distribution.factories import lead_source
from tests.distribution.test_staff_api import brokerages_without_schemas
from tests.platform.test_console_sla import followed_up
from tests.tenants.factories import PASSWORD, SeatFactory, UserFactory
from tests.territories.factories import active_reservation

pytestmark = pytest.mark.browser

DESKTOP = {"viewport": {"width": 1280, "height": 900}}


@pytest.fixture
def team_data(acme, live_port):  # noqa: F811
    """Three agents of acme with 90 days of leads (depth 1 to 6 touches, first touches
    from 1 minute to 3 hours, a closing), a territory each, and an overdue task."""
    def make():
        now = timezone.now()
        seats = [SeatFactory(brokerage=acme.brokerage, name=name)
                 for name in ("Ann Once", "Bob Steady", "Cy Quick")]
        for n, (seat, zip_code) in enumerate(zip(seats, ["10001", "10002", "10003"],
                                                 strict=True)):
            reservation = active_reservation(seat, zip_code)
            Reservation.objects.filter(pk=reservation.pk).update(
                price_cents=25_000, activated_at=now - timedelta(days=120))
            touches = [[1] * 12 + [2] * 4 + [0] * 2, [1, 2, 3, 3, 4, 5, 5, 6] * 2,
                       [2, 3, 5, 6] * 3][n]
            minutes = [[180.0] * len(touches), [20.0] * len(touches),
                       [1.0] * len(touches)][n]
            leads = make_leads(acme.schema_name, agent_id=seat.pk, touches=touches,
                               first_touch_minutes=[m if t else None
                                                    for m, t in zip(minutes, touches, strict=True)],
                               arrived=now - timedelta(days=3 + 5 * n),
                               reservation_id=reservation.pk,
                               source_name=["Zillow", "Realtor.com", "Facebook"][n])
            if n:
                close(acme.schema_name, leads[-1], commission_cents=1_200_000 * n,
                      at=now - timedelta(days=1))
            if n == 0:
                with in_schema(acme.schema_name):
                    Task.objects.create(lead=leads[-1], agent_id=seat.pk, title="Call",
                                        due_at=now - timedelta(hours=6))
        return [seat.pk for seat in seats]

    seat_ids = db_read(make)
    yield seat_ids

    def clean():
        with in_schema(acme.schema_name):
            Task.objects.filter(agent_id__in=seat_ids).delete()
            StageChange.objects.filter(lead__agent_id__in=seat_ids).delete()
            Lead.objects.filter(agent_id__in=seat_ids).delete()

    db_read(clean)


def sign_in(page, base: str, email: str) -> None:
    page.goto(f"{base}/login/")
    page.get_by_label("Email").fill(email)
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Sign in").click()


def test_the_admin_reads_the_teams_week_and_the_report_on_a_phone(
        acme, live_port, phone, browser, team_data):  # noqa: F811
    base = f"http://acme.localhost:{live_port}"
    admin = phone("admin")
    sign_in(admin.page, base, "admin@acme.test")

    # the home: the team this week, in figures, and who needs a nudge
    expect(admin.page.get_by_role("heading", name="The team this week")).to_be_visible()
    nudges = admin.page.locator(".nudges")
    expect(nudges).to_contain_text("Ann Once")
    expect(nudges).to_contain_text("1 overdue task")
    assert admin.fits_the_screen()
    assert admin.small_tap_targets() == []
    admin.screenshot("1-home")

    # the report, from the nudge: Ann's depth beside the industry's
    nudges.get_by_role("link", name="Ann Once").click()
    expect(admin.page.get_by_role("heading", name="Ann Once's follow-up")).to_be_visible()
    expect(admin.page.locator("svg.chart")).to_have_count(5)
    assert admin.fits_the_screen()
    admin.screenshot("2-ann")

    # the team's report with a row per agent, from the home's figures
    admin.page.get_by_role("link", name="Home").click()
    admin.page.locator(".figures a").first.click()
    expect(admin.page.get_by_role("heading", name="The team's follow-up")).to_be_visible()
    expect(admin.page.locator("#agents-title")).to_be_visible()
    assert admin.fits_the_screen()
    assert admin.small_tap_targets() == []
    admin.screenshot("3-team-report")

    desktop = browser.new_context(**DESKTOP)
    try:
        page = desktop.new_page()
        sign_in(page, base, "admin@acme.test")
        expect(page.get_by_role("heading", name="The team this week")).to_be_visible()
        ARTEFACTS.mkdir(parents=True, exist_ok=True)
        page.screenshot(path=str(ARTEFACTS / "reports-admin-home-desktop.png"), full_page=True)
        page.goto(f"{base}/reports/")
        expect(page.locator("svg.chart")).to_have_count(5)
        page.screenshot(path=str(ARTEFACTS / "reports-team-desktop.png"), full_page=True)
    finally:
        desktop.close()


def test_staff_read_the_follow_up_sla_on_a_phone_and_a_desktop(  # noqa: F811
        live_port, phone, browser, transactional_db):  # noqa: F811
    def make():
        UserFactory(email="desk@clozings.test", is_staff=True)
        now = timezone.now()
        source = lead_source("Portal").source
        for n, brokerage in enumerate(brokerages_without_schemas(4)):
            for k in range(2):
                seat = SeatFactory(brokerage=brokerage, name=f"Agent {n}-{k}")
                leads = followed_up(source, seat, n=3 + n, touches=1 + (n + k) % 4,
                                    first_touch_minutes=2 + 30 * n * k, overdue=n + k, now=now)
                if n == 3:
                    SlaBreach.objects.create(
                        inbound_lead=leads[0], brokerage=brokerage, seat=seat, sla_minutes=5,
                        delivered_at=now - timedelta(hours=1), breached_at=now, action="alerted")

    db_read(make)
    base = f"http://localhost:{live_port}"
    staff = phone("staff")
    sign_in(staff.page, base, "desk@clozings.test")

    staff.page.get_by_role("link", name="SLA").click()
    expect(staff.page.get_by_role("heading", name="Follow-up SLA")).to_be_visible()
    expect(staff.page.locator("svg.chart")).to_have_count(7)
    assert staff.fits_the_screen()
    assert staff.small_tap_targets() == []
    staff.screenshot("sla")

    desktop = browser.new_context(**DESKTOP)
    try:
        page = desktop.new_page()
        sign_in(page, base, "desk@clozings.test")
        page.goto(f"{base}/staff/sla/")
        expect(page.locator("svg.chart")).to_have_count(7)
        page.screenshot(path=str(ARTEFACTS / "staff-sla-desktop.png"), full_page=True)
    finally:
        desktop.close()
