"""The paid-for pages on a phone (390 x 844) and on a desktop: the card typed as printed,
reserve and release with a confirmation, the bill after a declined card and after a failed
monthly charge, a waitlist offer claimed from My territories, and staff typing prices in
dollars."""

from __future__ import annotations

import re
import uuid
import zoneinfo
from collections.abc import Callable, Iterator

import pytest
import stripe
from django.template.defaultfilters import date as date_filter
from django.utils import timezone
from playwright.sync_api import Page, expect

from clozings.billing.models import BillingAccount
from clozings.tenants.models import User
from clozings.territories import services as territories
from clozings.territories.models import Reservation, TierPrice, WaitlistEntry
from tests.billing.conftest import (  # noqa: F401  (fixtures these tests use)
    _stripe_settings,
    add_card,
    committed,
    stripe_api,
    wait_until,
)
from tests.browser.conftest import Phone, db_read
from tests.browser.test_reserve_flow import app_server  # noqa: F401  (fixture)
from tests.conftest import host_client
from tests.tenants.factories import PASSWORD
from tests.territories.factories import active_reservation

pytestmark = pytest.mark.browser

DESKTOP = {"viewport": {"width": 1280, "height": 900}}
# Placeholders wider than the box that shows them (cut off on a phone).
CUT_PLACEHOLDERS = """() => [...document.querySelectorAll('#card-element input')].filter(el => {
  const style = getComputedStyle(el);
  const pen = document.createElement('canvas').getContext('2d');
  pen.font = `${style.fontWeight} ${style.fontSize} ${style.fontFamily}`;
  const room = el.clientWidth - parseFloat(style.paddingLeft) - parseFloat(style.paddingRight);
  return pen.measureText(el.placeholder).width > room;
}).map(el => el.placeholder)"""


@pytest.fixture
def desktop(browser, request) -> Iterator[Callable[[str], Phone]]:
    """desktop("admin"): a wide browser window, screenshots beside the phone's."""
    opened: list[Phone] = []

    def open_desktop(who: str) -> Phone:
        device = Phone(browser.new_context(**DESKTOP), f"{request.node.name}-desktop-{who}")
        opened.append(device)
        return device

    yield open_desktop
    for device in opened:
        device.context.close()


def sign_in(page: Page, base: str, email: str) -> None:
    page.goto(f"{base}/login/")
    page.get_by_label("Email").fill(email)
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Sign in").click()
    expect(page).to_have_url(f"{base}/")


def card_on_file(localstripe_url: str, setup, number: str) -> None:
    """The admin adds a card through the API, as the card page does."""
    response = db_read(lambda: add_card(host_client(setup.host, setup.admin),
                                        localstripe_url, number))
    assert response.status_code == 200, response.content


def shown(value, setup, fmt: str = "M j, Y") -> str:
    """A time as the page writes it for the admin (their time zone, else the brokerage's)."""
    name = setup.admin.time_zone or setup.brokerage.time_zone
    with timezone.override(zoneinfo.ZoneInfo(name)):
        return date_filter(timezone.localtime(value), fmt)


def test_a_card_typed_as_printed_on_it_is_saved(committed, app_server,  # noqa: F811
                                                localstripe, phone):  # noqa: F811
    # given an admin on a phone, on the card form of localstripe's Stripe.js
    setup = db_read(lambda: committed.brokerage("card-spaces"))
    base = f"http://{setup.host}:{app_server}"
    admin = phone("admin")
    page = admin.page
    sign_in(page, base, setup.admin.email)
    page.goto(f"{base}/billing/card/")

    # then every field says what it wants, and no hint is cut off
    expect(page.get_by_label("Card number")).to_have_attribute("placeholder",
                                                               "1234 1234 1234 1234")
    assert page.evaluate(CUT_PLACEHOLDERS) == []
    assert admin.fits_the_screen()
    assert admin.small_tap_targets() == []
    admin.screenshot("1-empty")

    # when they type a number too short: the form says so beside the card, nothing is sent
    page.get_by_label("Card number").press_sequentially("4242 4242")
    page.get_by_label("Expiry month (MM)").press_sequentially("12")
    page.get_by_label("Expiry year (YY)").press_sequentially("2034")
    page.get_by_label("Security code (CVC)").press_sequentially("123")
    page.get_by_label("Billing ZIP code").press_sequentially("60606")
    page.get_by_role("button", name="Save card").click()
    expect(page.locator("#card-errors")).to_contain_text("the 16 digits on the card")
    expect(page.get_by_label("Card number")).to_have_attribute("aria-invalid", "true")
    admin.screenshot("2-too-short")

    # when they type the README's card as it is printed, spaces and all
    page.get_by_label("Card number").fill("")
    page.get_by_label("Card number").press_sequentially("4242 4242 4242 4242")
    page.get_by_role("button", name="Save card").click()

    # then it is saved
    expect(page).to_have_url(f"{base}/billing/")
    expect(page.get_by_role("status")).to_contain_text("Card saved")
    expect(page.locator("main")).to_contain_text("ending 4242")
    account = db_read(lambda: BillingAccount.objects.get(brokerage=setup.brokerage))
    assert (account.card_last4, account.card_exp_year) == ("4242", 2034)
    assert admin.console_errors == []


def test_reserve_and_release_each_ask_first_with_price_and_dates(
        committed, app_server, localstripe, phone, desktop):  # noqa: F811
    # given an admin whose brokerage has a card and three active seats
    setup = db_read(lambda: committed.brokerage("confirm"))
    card_on_file(localstripe, setup, "4242424242424242")
    base = f"http://{setup.host}:{app_server}"
    admin = phone("admin")
    page = admin.page
    sign_in(page, base, setup.admin.email)

    # when they tap Reserve on a search result
    page.goto(f"{base}/territories/?q=60606")
    page.get_by_role("button", name=re.compile("^Reserve 60606")).click()

    # then a confirmation says the price and what is charged now; nothing is reserved yet
    expect(page.locator("h1")).to_have_text("Reserve ZIP 60606 · Chicago, IL")
    main = page.locator("main")
    expect(main).to_contain_text("$99.00 a month")
    expect(main).to_contain_text("Charged now: $99.00 to the Visa ending 4242")
    assert db_read(lambda: Reservation.objects.filter(brokerage=setup.brokerage).count()) == 0
    assert admin.fits_the_screen()
    assert admin.small_tap_targets() == []
    admin.screenshot("1-reserve-confirm")
    wide = desktop("admin")
    wide.context.add_cookies(admin.context.cookies())
    wide.page.goto(page.url.split("?")[0] + "?zip_code=60606")
    wide.screenshot("1-reserve-confirm")

    # when they confirm
    page.get_by_role("button", name="Reserve for $99.00 a month").click()
    expect(page).to_have_url(f"{base}/territories/mine/")
    expect(page.get_by_role("status")).to_contain_text("60606 is yours")
    reservation = db_read(lambda: Reservation.objects.get(brokerage=setup.brokerage))
    assert reservation.status == "active" and reservation.period_end is not None

    # when they tap Release
    page.get_by_role("button", name=re.compile("^Release 60606")).click()

    # then a confirmation says until when the ZIP stays theirs
    expect(page.locator("h1")).to_have_text("Release ZIP 60606 · Chicago, IL?")
    expect(main).to_contain_text(
        f"ZIP 60606 stays yours, with its leads, until {shown(reservation.period_end, setup)}")
    expect(main).to_contain_text("$99.00 a month")
    assert db_read(lambda: Reservation.objects.get(pk=reservation.pk).release_at) is None
    assert admin.fits_the_screen()
    assert admin.small_tap_targets() == []
    admin.screenshot("2-release-confirm")
    wide.page.goto(f"{base}/billing/release/{reservation.pk}/")
    wide.screenshot("2-release-confirm")

    # when they confirm
    page.get_by_role("button", name="Release ZIP 60606").click()

    # then My territories says until when it is theirs
    expect(page).to_have_url(f"{base}/territories/mine/")
    expect(page.locator(".reservations")).to_contain_text(
        f"Yours until {shown(reservation.period_end, setup)}, then released")
    released = db_read(lambda: Reservation.objects.get(pk=reservation.pk))
    assert released.release_at == reservation.period_end
    admin.screenshot("3-mine")
    assert admin.console_errors == []


def test_after_a_declined_card_the_bill_says_nothing_was_charged(
        committed, app_server, localstripe, phone, desktop):  # noqa: F811
    # given a card that attaches, then fails to charge
    setup = db_read(lambda: committed.brokerage("declined"))
    card_on_file(localstripe, setup, "4000000000000341")
    base = f"http://{setup.host}:{app_server}"
    admin = phone("admin")
    page = admin.page
    sign_in(page, base, setup.admin.email)

    # when they reserve a ZIP
    page.goto(f"{base}/territories/?q=60607")
    page.get_by_role("button", name=re.compile("^Reserve 60607")).click()
    page.get_by_role("button", name="Reserve for $99.00 a month").click()
    expect(page.locator(".messages")).to_contain_text("Your card was declined")

    # then the billing page agrees with itself and says what to do
    page.goto(f"{base}/billing/")
    main = page.locator("main")
    expect(main).to_contain_text("Declined, not charged: nothing was reserved")
    expect(main).to_contain_text("This card was declined when a territory was reserved")
    expect(main).to_contain_text("Nothing is billed until your brokerage's first territory")
    expect(main).not_to_contain_text("Nothing billed yet")
    expect(main).not_to_contain_text("Open")
    expect(page.get_by_role("link", name="Replace the card")).to_be_visible()
    assert admin.fits_the_screen()
    assert admin.small_tap_targets() == []
    admin.screenshot("billing")
    wide = desktop("admin")
    wide.context.add_cookies(admin.context.cookies())
    wide.page.goto(f"{base}/billing/")
    wide.screenshot("billing")
    assert db_read(lambda: Reservation.objects.filter(brokerage=setup.brokerage).count()) == 0
    assert admin.console_errors == []


def test_an_offer_shows_on_my_territories_and_is_claimed(
        committed, app_server, localstripe, phone, desktop):  # noqa: F811
    # given ZIP 60608 held elsewhere, an admin waiting for it with a card on file
    holder = db_read(lambda: committed.brokerage("holder"))
    waiting = db_read(lambda: committed.brokerage("waiting"))
    card_on_file(localstripe, waiting, "4242424242424242")
    held = db_read(lambda: active_reservation(holder.admin_seat, "60608"))
    entry = db_read(lambda: territories.join_waitlist(seat=waiting.admin_seat,
                                                      zip_code="60608"))

    # when the holder's place is freed (whether or not the offer's mail goes out)
    db_read(lambda: territories.release_reservation(reservation_id=held.pk,
                                                    reason="released_by_owner"))
    entry = db_read(lambda: WaitlistEntry.objects.get(pk=entry.pk))
    assert entry.status == "offered"

    # then My territories shows it first, with its deadline and a Claim button
    base = f"http://{waiting.host}:{app_server}"
    agent = phone("agent")
    page = agent.page
    sign_in(page, base, waiting.admin.email)
    page.goto(f"{base}/territories/mine/")
    offers = page.locator(".offers")
    expect(offers).to_contain_text("60608 · Chicago, IL")
    expect(offers).to_contain_text(
        f"Held for you until {shown(entry.offer_expires_at, waiting, 'M j, Y, g:i A T')}")
    assert agent.fits_the_screen()
    assert agent.small_tap_targets() == []
    agent.screenshot("1-mine")
    wide = desktop("agent")
    wide.context.add_cookies(agent.context.cookies())
    wide.page.goto(f"{base}/territories/mine/")
    wide.screenshot("1-mine")

    # when they claim it
    offers.get_by_role("link", name="Claim 60608").click()
    expect(page.locator("main")).to_contain_text("held for you until")
    agent.screenshot("2-offer")
    page.get_by_role("button", name="Claim ZIP 60608 for $99.00 a month").click()

    # then it is theirs, and the offer page says so
    expect(page).to_have_url(f"{base}/territories/mine/")
    expect(page.get_by_role("status")).to_contain_text("60608 is yours")
    expect(page.locator(".offers")).to_have_count(0)
    claimed = db_read(lambda: Reservation.objects.get(brokerage=waiting.brokerage))
    assert (claimed.status, claimed.seat_id) == ("active", waiting.admin_seat.pk)
    page.goto(f"{base}/territories/offers/{entry.pk}/")
    expect(page.locator("main")).to_contain_text("You claimed this place on")
    agent.screenshot("3-claimed")
    assert agent.console_errors == []


@pytest.fixture
def staff_user(committed) -> Iterator[User]:  # noqa: F811
    """A platform staff account (committed), and the basic tier's price put back."""
    price = db_read(lambda: TierPrice.objects.get(tier="basic").price_cents)
    user = db_read(lambda: User.objects.create_user(
        email=f"staff-{uuid.uuid4().hex[:6]}@clozings.test", password=PASSWORD,
        is_staff=True))
    yield user
    db_read(lambda: TierPrice.objects.filter(tier="basic").update(price_cents=price))
    db_read(lambda: User.objects.filter(pk=user.pk).delete())


def test_staff_type_a_tier_price_in_dollars(staff_user, app_server, phone):  # noqa: F811
    # given staff on the platform host's territory page
    base = f"http://localhost:{app_server}"
    staff = phone("staff")
    page = staff.page
    page.goto(f"{base}/login/")
    page.get_by_label("Email").fill(staff_user.email)
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Sign in").click()
    expect(page).to_have_url(f"{base}/staff/")
    page.goto(f"{base}/staff/territories/")
    price = page.locator("#id_tier-basic-price")
    expect(price).to_have_value("19.00")

    # when they type something that is not a price
    price.fill("19,5 dollars")
    page.get_by_role("button", name="Save the basic price").click()

    # then it is explained beside the field, and nothing changed
    expect(page.get_by_label("Basic price (dollars a month)")).to_have_value("19,5 dollars")
    expect(page.locator("#id_tier-basic-price_error")).to_contain_text(
        "Enter a price in dollars, like 49 or 49.00.")
    assert db_read(lambda: TierPrice.objects.get(tier="basic").price_cents) == 1900
    staff.screenshot("1-error")

    # when they type dollars
    page.locator("#id_tier-basic-price").fill("21.50")
    page.get_by_role("button", name="Save the basic price").click()

    # then it is kept in cents and shown in dollars
    expect(page.get_by_role("status")).to_contain_text("The basic tier's price is saved.")
    expect(page.locator("main")).to_contain_text("Now $21.50 a month")
    assert db_read(lambda: TierPrice.objects.get(tier="basic").price_cents) == 2150
    assert staff.fits_the_screen()
    staff.screenshot("2-saved")


def test_a_failed_monthly_charge_comes_first_on_the_bill(
        committed, app_server, localstripe, phone, desktop):  # noqa: F811
    # given a brokerage whose monthly invoice its new card failed to pay
    setup = db_read(lambda: committed.brokerage("past-due"))
    card_on_file(localstripe, setup, "4242424242424242")
    db_read(lambda: host_client(setup.host, setup.admin).post(
        "/billing/reserve/", {"zip_code": "60609", "confirm": "yes"}))
    card_on_file(localstripe, setup, "4000000000000341")
    account = db_read(lambda: BillingAccount.objects.get(brokerage=setup.brokerage))
    invoice = stripe_api().invoices.create(params={
        "customer": account.stripe_customer_id,
        "subscription": account.stripe_subscription_id})
    try:
        stripe_api().invoices.pay(invoice.id)
    except stripe.StripeError:
        pass  # localstripe may answer the decline at once or later, on the invoice
    wait_until(lambda: stripe_api().invoices.retrieve(invoice.id).attempted,
               what="the declined invoice")
    db_read(lambda: BillingAccount.objects.filter(pk=account.pk).update(status="past_due"))
    base = f"http://{setup.host}:{app_server}"
    admin = phone("admin")
    page = admin.page
    sign_in(page, base, setup.admin.email)

    # when they open the bill
    page.goto(f"{base}/billing/")

    # then the failure comes first, with both ways out
    failure = page.locator("section.notice")
    expect(failure).to_contain_text("A payment failed")
    expect(failure.get_by_role("link", name="Replace the card")).to_be_visible()
    expect(page.locator(".invoices")).to_contain_text("Unpaid: the card was declined")
    assert admin.fits_the_screen()
    assert admin.small_tap_targets() == []
    admin.screenshot("1-billing")
    wide = desktop("admin")
    wide.context.add_cookies(admin.context.cookies())
    wide.page.goto(f"{base}/billing/")
    wide.screenshot("1-billing")

    # when they charge the same card again
    failure.get_by_role("button", name="Charge the card again").click()

    # then they are told what happened, and what to do
    expect(page.get_by_role("status")).to_contain_text("The card was declined again")
    admin.screenshot("2-declined-again")
    assert admin.console_errors == []
