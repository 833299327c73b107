"""An admin sees on the Seats page whether an invitation mail is stuck or sent; staff see
the mail that keeps failing on their home."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone
from playwright.sync_api import expect

from clozings.platform.embedded import free_port
from clozings.platform.mail import MAX_ATTEMPTS, send_due_mail
from clozings.platform.models import OutboundMail
from tests.browser.conftest import db_read
from tests.tenants.factories import PASSWORD, UserFactory

pytestmark = pytest.mark.browser

EMAIL = "stuck.agent@example.test"


def test_an_invitation_stuck_behind_a_mail_outage_shows_then_shows_sent(
        acme, live_port, phone, mailbox, settings):
    base = f"http://acme.localhost:{live_port}"
    working_port = settings.EMAIL_PORT
    settings.EMAIL_PORT = free_port()  # the mail server is down
    admin = phone("admin")
    admin.page.goto(f"{base}/login/")
    admin.page.get_by_label("Email").fill("admin@acme.test")
    admin.page.get_by_label("Password").fill("correct-horse-battery")
    admin.page.get_by_role("button", name="Sign in").click()
    expect(admin.page).to_have_url(f"{base}/")

    # when: the admin invites someone and the outbox's first attempt fails
    admin.page.goto(f"{base}/seats/")
    admin.page.get_by_label("Email").fill(EMAIL)
    admin.page.get_by_label("Name").fill("Stu Agent")
    admin.page.get_by_role("button", name="Send invitation").click()
    expect(admin.page.get_by_role("status")).to_contain_text(EMAIL)
    db_read(send_due_mail)
    admin.page.reload()

    # then: the Seats list says the mail is not delivered yet
    row = admin.page.locator(".list li", has_text=EMAIL)
    expect(row).to_contain_text("Invitation mail not delivered yet; retrying (tried 1 time)")
    assert admin.fits_the_screen()
    admin.screenshot("1-failing")
    # and the seat's page says why, beside the resend button
    row.get_by_role("link").click()
    expect(admin.page.locator("dl.facts")).to_contain_text("ConnectionRefusedError")
    expect(admin.page.get_by_role("button", name="Resend invitation")).to_be_visible()
    assert admin.small_tap_targets() == []
    admin.screenshot("2-seat")

    # when: the mail server is back and the sweeper's next run comes
    settings.EMAIL_PORT = working_port
    db_read(lambda: send_due_mail(now=timezone.now() + timedelta(minutes=1)))
    admin.page.reload()

    # then
    expect(admin.page.locator("dl.facts")).to_contain_text("Invitation mail sent")
    assert [m["To"] for m in mailbox] == [EMAIL]
    admin.screenshot("3-sent")


def test_staff_see_mail_that_keeps_failing_on_their_home(live_port, phone, transactional_db):
    # given: one mail failing for a while, one given up
    def make() -> None:
        UserFactory(email="desk@clozings.test", is_staff=True)
        for to, attempts, gave_up in (("bounce@example.test", 4, False),
                                      ("gone@example.test", MAX_ATTEMPTS, True)):
            OutboundMail.objects.create(
                to=to, subject="Hello", text=".", kind="tenants.invitation", ref="1",
                attempts=attempts, last_error="SMTPRecipientsRefused: 550 No such user",
                next_attempt_at=None if gave_up else timezone.now() + timedelta(hours=1))

    db_read(make)
    staff = phone("staff")
    base = f"http://localhost:{live_port}"

    # when
    staff.page.goto(f"{base}/login/")
    staff.page.get_by_label("Email").fill("desk@clozings.test")
    staff.page.get_by_label("Password").fill(PASSWORD)
    staff.page.get_by_role("button", name="Sign in").click()

    # then
    section = staff.page.locator("section", has_text="Mail that keeps failing")
    expect(section).to_contain_text("bounce@example.test")
    expect(section).to_contain_text("4 tries")
    expect(section).to_contain_text(f"tenants.invitation: {MAX_ATTEMPTS} tries, given up")
    expect(section).to_contain_text("550 No such user")
    assert staff.fits_the_screen()
    staff.screenshot("failing-mail")
