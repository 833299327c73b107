"""On a phone (390 x 844): an admin opens the cadences page, edits a step of a cadence and
sees it saved."""

from __future__ import annotations

import threading
from collections.abc import Iterator

import pytest
from django.core.handlers.wsgi import WSGIHandler
from django.core.servers.basehttp import ThreadedWSGIServer, WSGIRequestHandler
from playwright.sync_api import expect

from clozings.crm import services
from clozings.crm.models import Cadence
from clozings.platform.embedded import free_port
from clozings.platform.tenancy import in_schema
from clozings.tenants.models import Seat
from tests.billing.conftest import committed  # noqa: F401 (fixture: a real test database)
from tests.browser.conftest import PHONE, Phone, browser, db_read  # noqa: F401 (browser: a fixture)
from tests.tenants.factories import PASSWORD
from tests.territories.conftest import committed_seats  # noqa: F401 (fixture)

pytestmark = pytest.mark.browser

NAME = "Browser test cadence"


class _QuietHandler(WSGIRequestHandler):
    def log_message(self, *args):
        return


@pytest.fixture
def cadence(committed, committed_seats) -> Iterator[Cadence]:  # noqa: F811
    schema = committed_seats.brokerage.schema_name

    def make():
        with in_schema(schema):
            return services.save_cadence(by=None, name=NAME, steps=[
                {"offset_minutes": 0, "channel": "call", "title": "Call now",
                 "template": "Hi {first_name}, homes in {area}."},
                {"offset_minutes": 1440, "channel": "text", "title": "Text: day 1",
                 "template": "New listings in {price_range}?"}])

    yield db_read(make)

    def clean():
        with in_schema(schema):
            Cadence.objects.filter(name=NAME).delete()

    db_read(clean)


@pytest.fixture
def app_server(committed_seats, cadence) -> Iterator[int]:  # noqa: F811
    server = ThreadedWSGIServer(("127.0.0.1", free_port()), _QuietHandler)
    server.set_app(WSGIHandler())
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield server.server_port
    server.shutdown()
    server.server_close()


def test_an_admin_edits_a_step_on_a_phone(committed_seats, cadence, app_server, browser,  # noqa: F811
                                          request):
    (admin,) = db_read(lambda: committed_seats.make(1))
    db_read(lambda: Seat.objects.filter(pk=admin.pk).update(role=Seat.Role.ADMIN))
    phone = Phone(browser.new_context(**PHONE), request.node.name)
    page = phone.page
    base = f"http://acme.localhost:{app_server}"
    page.goto(f"{base}/login/")
    page.get_by_label("Email").fill(admin.email)
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Sign in").click()
    page.wait_for_url(f"{base}/")

    page.goto(f"{base}/cadences/")
    expect(page.get_by_text("New lead follow-up")).to_be_visible()
    assert phone.fits_the_screen()
    phone.screenshot("1-cadences")
    page.get_by_role("link", name=NAME).click()
    page.wait_for_url(f"{base}/cadences/{cadence.pk}/")

    second = page.locator('li.step[data-step="1"]')
    second.get_by_label("Day").fill("2")
    second.get_by_label("Hour").fill("10")
    second.get_by_label("Title").fill("Text: day 2")
    second.get_by_label("Script or message").fill(
        "Hi {first_name}, 3 new homes in {area} this week. Want the list?")
    assert phone.fits_the_screen()
    assert phone.small_tap_targets() == []
    page.get_by_role("button", name="Save cadence").click()

    expect(page.get_by_role("status")).to_contain_text(f"Saved “{NAME}” (2 steps).")
    saved = page.locator('li.step[data-step="1"]')
    expect(saved.get_by_label("Title")).to_have_value("Text: day 2")
    expect(saved.get_by_label("Day")).to_have_value("2")
    assert phone.fits_the_screen()
    phone.screenshot("2-saved")
    assert phone.console_errors == []

    def step():
        with in_schema(committed_seats.brokerage.schema_name):
            return Cadence.objects.get(pk=cadence.pk).steps.get(position=1)

    saved_step = db_read(step)
    assert (saved_step.offset_minutes, saved_step.title) == (2 * 1440 + 600, "Text: day 2")
    assert "3 new homes" in saved_step.template
    phone.context.close()
