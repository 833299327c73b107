"""The staff console on a phone: the brokerages, and the Stripe events left for staff."""

from __future__ import annotations

import pytest
from django.utils import timezone
from playwright.sync_api import expect

from clozings.billing.models import WebhookEvent
from clozings.billing.services import MAX_EVENT_ATTEMPTS
from tests.browser.conftest import db_read
from tests.tenants.factories import PASSWORD, UserFactory

pytestmark = pytest.mark.browser


def test_staff_see_stripe_events_left_for_them_on_their_home(live_port, phone,
                                                             transactional_db):
    # given: one event given up after every retry, one refused as sent, one in flight
    def make() -> None:
        UserFactory(email="desk@clozings.test", is_staff=True)
        now = timezone.now()
        WebhookEvent.objects.create(
            stripe_event_id="evt_1QxGivenUpAfterRetries", type="customer.subscription.updated",
            payload={}, received_at=now, attempts=MAX_EVENT_ATTEMPTS,
            error="StripeUnavailable: Stripe did not answer within 10 s")
        WebhookEvent.objects.create(stripe_event_id="evt_1QxRefusedAsSent",
                                    type="invoice.paid", payload={}, received_at=now,
                                    rejected=True)
        WebhookEvent.objects.create(stripe_event_id="evt_1QxInFlight", type="invoice.paid",
                                    payload={}, received_at=now, attempts=1)

    db_read(make)
    staff = phone("staff")
    base = f"http://localhost:{live_port}"

    # when
    staff.page.goto(f"{base}/login/")
    staff.page.get_by_label("Email").fill("desk@clozings.test")
    staff.page.get_by_label("Password").fill(PASSWORD)
    staff.page.get_by_role("button", name="Sign in").click()

    # then
    expect(staff.page).to_have_url(f"{base}/staff/")
    section = staff.page.locator("section", has_text="Stripe events left for staff")
    expect(section).to_contain_text("customer.subscription.updated")
    expect(section).to_contain_text(f"{MAX_EVENT_ATTEMPTS} tries, given up")
    expect(section).to_contain_text("Stripe did not answer")
    expect(section).to_contain_text("refused as sent, never processed")
    expect(section).not_to_contain_text("evt_1QxInFlight")
    assert staff.fits_the_screen()
    staff.screenshot("stuck-events")
