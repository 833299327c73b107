"""Browser fixtures: a real Chromium (Playwright) at a phone's viewport against the live server.

Chromium resolves every `*.localhost` name to loopback, so the live server answers both the
platform host (`localhost:<port>`) and brokerage hosts (`acme.localhost:<port>`). These tests
FAIL, never skip, when Chromium is missing: a missing browser is a broken machine.
"""

from __future__ import annotations

import asyncio
import os
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from urllib.parse import urlsplit

import pytest
from django.db import connections
from playwright.sync_api import Browser, BrowserContext, Page, expect, sync_playwright

CHROMIUM = os.environ.get("CHROMIUM_PATH", "/usr/bin/chromium")
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync", "--no-first-run"]
PHONE = {"viewport": {"width": 390, "height": 844}, "device_scale_factor": 2,
         "is_mobile": True, "has_touch": True}
# Pages that provision a brokerage take a few seconds on this 2-core machine.
expect.set_options(timeout=20_000)
ARTEFACTS = Path(__file__).resolve().parents[2] / "test-artefacts" / "browser"


class SharedChromium:
    """One Playwright driver and one Chromium for the whole run, started by the first
    browser test (starting both costs seconds; a test needs only fresh contexts).

    Each test still gets contexts of its own (cookies, storage, cache), and every context a
    test leaves open is closed after it, so no state passes from one test to the next.
    While Playwright's sync API is alive it marks its event loop as running in this thread,
    and Django then refuses ORM calls here; so the mark is lifted between browser tests
    (and set again for the next one), and fixtures and tests that are not driving the
    browser use the database as usual.
    """

    def __init__(self):
        self.playwright = None
        self.browser: Browser | None = None
        self.loop: asyncio.AbstractEventLoop | None = None

    def acquire(self) -> Browser:
        if self.browser is None or not self.browser.is_connected():
            self.stop()
            self.playwright = sync_playwright().start()
            self.loop = asyncio.get_running_loop()  # the loop Playwright marked as running
            self.browser = self.playwright.chromium.launch(
                executable_path=CHROMIUM, args=CHROMIUM_ARGS, headless=True)
        else:
            asyncio._set_running_loop(self.loop)
        return self.browser

    def release(self) -> None:
        try:
            for context in list(self.browser.contexts):
                context.close()
        finally:
            asyncio._set_running_loop(None)

    def stop(self) -> None:
        if self.playwright is None:
            return
        asyncio._set_running_loop(self.loop)
        try:
            if self.browser is not None and self.browser.is_connected():
                self.browser.close()
            self.playwright.stop()
        finally:
            self.playwright = self.browser = self.loop = None
            asyncio._set_running_loop(None)


@pytest.fixture
def browser(shared_chromium) -> Iterator[Browser]:  # shared_chromium: tests/conftest.py
    if not Path(CHROMIUM).exists():
        pytest.fail(f"Chromium is not installed at {CHROMIUM} (set CHROMIUM_PATH).")
    chromium = shared_chromium.acquire()
    try:
        yield chromium
    finally:
        shared_chromium.release()


@pytest.fixture
def live_port(live_server, settings) -> int:
    """The live server's port; links in mails carry it, as under `clozings run`."""
    port = urlsplit(live_server.url).port
    settings.CLOZINGS_PUBLIC_PORT = str(port)
    return port


class Phone:
    """A phone-sized browser context: its own cookies, console errors collected."""

    def __init__(self, context: BrowserContext, name: str):
        self.context = context
        self.page: Page = context.new_page()
        self.page.set_default_timeout(20_000)
        self.console_errors: list[str] = []
        self.page.on("console", lambda m: m.type == "error" and self.console_errors.append(m.text))
        self.page.on("pageerror", lambda exc: self.console_errors.append(str(exc)))
        self.name = name

    def screenshot(self, step: str) -> Path:
        ARTEFACTS.mkdir(parents=True, exist_ok=True)
        path = ARTEFACTS / f"{self.name}-{step}.png"
        self.page.screenshot(path=str(path), full_page=True)
        return path

    def fits_the_screen(self) -> bool:
        """Nothing sticks out sideways at this width."""
        return self.page.evaluate(
            "document.documentElement.scrollWidth <= window.innerWidth")

    def small_tap_targets(self) -> list[str]:
        """Visible buttons, fields and stand-alone links lower than 44 CSS pixels."""
        return self.page.evaluate("""() => [...document.querySelectorAll(
              'main button, main input:not([type=hidden]), main select, main .button,'
              + ' main a.tap, main .actions a, header button, header a')]
            .filter(el => el.offsetParent !== null && el.getBoundingClientRect().height < 44)
            .map(el => el.outerHTML.slice(0, 80))""")


@pytest.fixture
def phone(browser, request) -> Iterator[Callable[[str], Phone]]:
    """phone("admin") opens a new phone; each has its own session cookies."""
    opened: list[Phone] = []

    def open_phone(who: str) -> Phone:
        device = Phone(browser.new_context(**PHONE), f"{request.node.name}-{who}")
        opened.append(device)
        return device

    yield open_phone
    for device in opened:
        device.context.close()


def db_read(query: Callable[[], object]):
    """Run an ORM read while Playwright is driving the browser.

    Playwright's sync API keeps an event loop in the test's thread, where Django refuses
    ORM calls (and would open a connection it never closes); a plain thread with its own
    connection, closed afterwards, reads the committed state the live server wrote.
    """

    def run():
        try:
            return query()
        finally:
            connections.close_all()

    with ThreadPoolExecutor(max_workers=1) as pool:
        return pool.submit(run).result()


def wait_for(condition: Callable[[], object], *, timeout: float = 15.0, what: str = "it"):
    """Poll until condition() is truthy and return its value; fail after the deadline."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = condition()
        if value:
            return value
        time.sleep(0.05)
    pytest.fail(f"Gave up waiting for {what} after {timeout} s.")
