"""On a phone (390 x 844): an agent uploads a small CSV, checks the guessed mapping and the
preview, imports, watches the progress page refresh itself to the report, and sees why the
broken row was not imported; the import page and Settings on a desktop too."""

from __future__ import annotations

import threading
from collections.abc import Iterator

import pytest
from django.core.handlers.wsgi import WSGIHandler
from django.core.servers.basehttp import ThreadedWSGIServer, WSGIRequestHandler
from playwright.sync_api import expect

from clozings.crm import imports
from clozings.crm.models import ImportJob, Lead, Task
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
from tests.tenants.factories import PASSWORD
from tests.territories.conftest import committed_seats  # noqa: F401 (fixture)

pytestmark = pytest.mark.browser

DESKTOP = {"viewport": {"width": 1280, "height": 900}}
CSV = ("First Name;Last Name;Phone Number;E-mail;Zip;Notes\r\n"
       "José;Núñez;(212) 555-0141;jose@example.test;10001;Wants a yard\r\n"
       "Mary;Major;212-555-0142;;10002;\r\n"
       "Broken;Row;555-12;;10001;\r\n").encode("cp1252")


class _QuietHandler(WSGIRequestHandler):
    def log_message(self, *args):
        return


@pytest.fixture
def app_server(committed, committed_seats, settings) -> Iterator[int]:  # noqa: F811
    server = ThreadedWSGIServer(("127.0.0.1", free_port()), _QuietHandler)
    server.set_app(WSGIHandler())
    settings.CLOZINGS_PUBLIC_PORT = str(server.server_port)  # links carry it
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield server.server_port
    server.shutdown()
    server.server_close()

    def clean():
        seat_ids = [seat.pk for seat in committed_seats.seats]
        with in_schema(committed_seats.brokerage.schema_name):
            Task.objects.filter(agent_id__in=seat_ids).delete()
            Lead.objects.filter(agent_id__in=seat_ids).delete()
            ImportJob.objects.filter(agent_id__in=seat_ids).delete()

    db_read(clean)


def worker_runs(schema_name: str, agent_id: int) -> None:
    """What the worker does with the queued import (the broker's message is not needed)."""
    def run():
        with in_schema(schema_name):
            job = ImportJob.objects.get(agent_id=agent_id)
            imports.run_import(import_id=job.pk)

    db_read(run)


def test_an_agent_imports_a_small_csv_on_a_phone(committed_seats, app_server, browser,  # noqa: F811
                                                 request):
    (agent,) = db_read(lambda: committed_seats.make(1))
    phone = Phone(browser.new_context(**PHONE), request.node.name)
    page = phone.page
    base = f"http://acme.localhost:{app_server}"
    page.goto(f"{base}/login/")
    page.get_by_label("Email").fill(agent.email)
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Sign in").click()
    page.wait_for_url(f"{base}/")

    # the upload page, from the leads list
    page.goto(f"{base}/leads/")
    page.get_by_role("link", name="Import or export leads (CSV)").click()
    page.get_by_label("CSV file").set_input_files(
        files=[{"name": "my-leads.csv", "mimeType": "text/csv", "buffer": CSV}])
    assert phone.fits_the_screen()
    phone.screenshot("1-upload")
    page.get_by_role("button", name="Upload and map columns").click()

    # the guessed mapping and the preview, the broken row flagged
    expect(page.get_by_role("heading", name="Map the columns")).to_be_visible()
    expect(page.locator("select[name=phone]")).to_have_value("Phone Number")
    expect(page.locator("select[name=message]")).to_have_value("Notes")
    expect(page.get_by_text("José Núñez")).to_be_visible()
    expect(page.get_by_text("The phone '555-12' is not a valid number.")).to_be_visible()
    assert phone.fits_the_screen()
    assert phone.small_tap_targets() == []
    phone.screenshot("2-mapping")
    page.get_by_role("button", name="Import 3 rows").click()

    # progress, then the page refreshes itself to the report once the worker is done
    expect(page.get_by_role("heading", name="Importing…")).to_be_visible()
    expect(page.get_by_role("status")).to_contain_text("0 of 3")
    phone.screenshot("3-progress")
    worker_runs(committed_seats.brokerage.schema_name, agent.pk)
    expect(page.get_by_role("heading", name="Import done")).to_be_visible(timeout=10_000)
    expect(page.get_by_role("status")).to_contain_text("2 imported · 1 skipped")
    expect(page.get_by_text("The phone '555-12' is not a valid number.")).to_be_visible()
    assert phone.fits_the_screen()
    phone.screenshot("4-report")
    assert phone.console_errors == []
    names = db_read(lambda: _lead_names(committed_seats.brokerage.schema_name, agent.pk))
    assert names == [("José", "Núñez", "CSV import"), ("Mary", "Major", "CSV import")]

    desktop = browser.new_context(**DESKTOP).new_page()
    desktop.context.add_cookies(phone.context.cookies())
    desktop.goto(page.url)
    expect(desktop.get_by_role("heading", name="Import done")).to_be_visible()
    desktop.screenshot(path=str(ARTEFACTS / f"{request.node.name}-5-desktop-report.png"),
                       full_page=True)
    desktop.goto(f"{base}/settings/")
    desktop.get_by_role("button", name="Make my calendar link").click()
    link = desktop.get_by_label("Your private calendar link").input_value()
    assert link.startswith(f"{base}/calendar/") and link.endswith(".ics")
    desktop.screenshot(path=str(ARTEFACTS / f"{request.node.name}-6-desktop-settings.png"),
                       full_page=True)
    page.goto(f"{base}/settings/")
    assert phone.fits_the_screen()
    phone.screenshot("7-settings")
    desktop.context.close()
    phone.context.close()


def _lead_names(schema_name: str, agent_id: int) -> list[tuple]:
    with in_schema(schema_name):
        return list(Lead.objects.filter(agent_id=agent_id).order_by("pk")
                    .values_list("first_name", "last_name", "source_name"))
