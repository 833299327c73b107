"""Billing pages on brokerage hosts."""

from __future__ import annotations

import re

import pytest

from clozings.billing.models import BillingAccount
from clozings.territories.models import Reservation
from tests.billing.conftest import add_card, confirm_card
from tests.conftest import host_client
from tests.tenants.factories import SeatFactory

pytestmark = pytest.mark.django_db


def messages_of(response) -> list[str]:
    return [str(m) for m in response.context["messages"]]


def test_the_admin_sees_card_territories_seats_and_invoices(acme, localstripe):
    # given
    admin = host_client(acme.host, acme.admin)
    add_card(admin, localstripe, "4242424242424242")
    admin.post("/billing/reserve/", {"zip_code": "60605", "confirm": "yes"})
    # when
    page = admin.get("/billing/")
    # then
    assert page.status_code == 200
    html = page.content.decode()
    assert "ending 4242" in html
    assert "ZIP 60605" in html
    price = Reservation.objects.get(territory__zip_code="60605").price_cents
    assert f"${price // 100}.{price % 100:02d}" in html
    assert "Paid" in html


def test_an_agent_cannot_open_the_billing_page(acme):
    # given
    agent = SeatFactory(brokerage=acme.brokerage)
    # when
    page = host_client(acme.host, agent.user).get("/billing/")
    # then
    assert page.status_code == 403


def test_the_card_page_loads_stripe_js_from_localstripe(acme, localstripe):
    # when
    page = host_client(acme.host, acme.admin).get("/billing/card/")
    # then
    html = page.content.decode()
    assert page.status_code == 200
    assert f'src="{localstripe}/js.stripe.com/v3/"' in html
    assert "billing/card.js" in html
    assert 'data-client-secret="seti_' in html
    assert localstripe in page["Content-Security-Policy"]
    assert "<script>" not in html and "style=" not in html


def test_a_bad_card_id_is_shown_beside_the_card_field(acme):
    # when
    page = host_client(acme.host, acme.admin).post("/billing/card/",
                                                   {"payment_method_id": "nonsense"})
    # then
    assert page.status_code == 400
    assert 'id="card-errors"' in page.content.decode()
    assert "starts with" in page.content.decode()
    assert not BillingAccount.objects.filter(brokerage=acme.brokerage).exclude(
        default_payment_method_id="").exists()


def test_the_card_form_post_saves_the_card(acme, localstripe):
    # given what Stripe.js hands the page after confirmCardSetup
    admin = host_client(acme.host, acme.admin)
    page = admin.get("/billing/card/")
    secret = page.content.decode().split('data-client-secret="')[1].split('"')[0]
    method = confirm_card(localstripe, secret, "4242424242424242")
    # when
    response = admin.post("/billing/card/", {"payment_method_id": method}, follow=True)
    # then
    assert response.redirect_chain == [("/billing/", 302)]
    assert "Card saved" in " ".join(messages_of(response))
    assert BillingAccount.objects.get(brokerage=acme.brokerage).card_last4 == "4242"


def test_an_agent_without_a_card_on_file_is_told_to_ask_the_admin(acme):
    # given
    agent = SeatFactory(brokerage=acme.brokerage)
    client = host_client(acme.host, agent.user)
    # when
    response = client.post("/billing/reserve/", {"zip_code": "60605", "confirm": "yes"},
                           HTTP_REFERER=f"http://{acme.host}/territories/?q=60605")
    # then
    assert response.status_code == 302
    assert response["Location"] == f"http://{acme.host}/territories/?q=60605"
    assert not Reservation.objects.filter(territory__zip_code="60605").exists()
    page = client.get("/territories/?q=60605")
    assert "ask your admin to add a card" in " ".join(messages_of(page))


def test_reserve_then_release_from_the_pages(acme, localstripe):
    # given
    add_card(host_client(acme.host, acme.admin), localstripe, "4242424242424242")
    agent = SeatFactory(brokerage=acme.brokerage)
    client = host_client(acme.host, agent.user)
    # when
    reserved = client.post("/billing/reserve/", {"zip_code": "60605", "confirm": "yes"})
    reservation = Reservation.objects.get(territory__zip_code="60605")
    released = client.post(f"/billing/release/{reservation.pk}/", {"confirm": "yes"})
    # then
    assert reserved["Location"] == "/territories/mine/"
    assert reservation.status == "active" and reservation.seat_id == agent.pk
    assert released["Location"] == "/territories/mine/"
    reservation.refresh_from_db()
    assert reservation.release_at == reservation.period_end


def test_a_colleague_cannot_release_from_the_page(acme, localstripe):
    # given
    add_card(host_client(acme.host, acme.admin), localstripe, "4242424242424242")
    owner = SeatFactory(brokerage=acme.brokerage)
    host_client(acme.host, owner.user).post("/billing/reserve/",
                                            {"zip_code": "60605", "confirm": "yes"})
    reservation = Reservation.objects.get(territory__zip_code="60605")
    colleague = host_client(acme.host, SeatFactory(brokerage=acme.brokerage).user)
    # when
    colleague.post(f"/billing/release/{reservation.pk}/", {"confirm": "yes"})
    # then
    reservation.refresh_from_db()
    assert reservation.release_at is None


def _text(response) -> str:
    return " ".join(re.sub(r"<[^>]+>", " ", response.content.decode()).split())


def test_reserving_the_first_zip_asks_first_with_the_price_and_the_charge_now(acme, localstripe):
    # given a card and no territory yet
    admin = host_client(acme.host, acme.admin)
    add_card(admin, localstripe, "4242424242424242")
    SeatFactory(brokerage=acme.brokerage)
    # when the Reserve button is tapped
    page = admin.post("/billing/reserve/", {"zip_code": "60605",
                                            "next": "/territories/?q=60605"})
    # then nothing is reserved yet: the page asks, with the price and what is charged when
    text = _text(page)
    assert page.status_code == 200
    assert not Reservation.objects.exists()
    assert "Reserve ZIP 60605 · Chicago, IL" in text
    assert "$99.00 a month" in text
    assert "Charged now: $99.00 to the Visa ending 4242" in text
    assert "its seats join the bill too: 2 active seats × $15.00 = $30.00 a month" in text
    html = page.content.decode()
    assert 'name="confirm" value="yes"' in html and 'csrfmiddlewaretoken' in html
    assert 'href="/territories/?q=60605"' in html
    # when confirmed
    done = admin.post("/billing/reserve/", {"zip_code": "60605", "confirm": "yes"})
    # then
    assert done["Location"] == "/territories/mine/"
    assert Reservation.objects.get(territory__zip_code="60605").status == "active"


def test_reserving_a_further_zip_says_it_is_billed_with_the_next_charge(acme, localstripe):
    # given a brokerage that already holds a territory
    admin = host_client(acme.host, acme.admin)
    add_card(admin, localstripe, "4242424242424242")
    admin.post("/billing/reserve/", {"zip_code": "60605", "confirm": "yes"})
    next_charge = BillingAccount.objects.get(brokerage=acme.brokerage).current_period_end
    # when
    page = admin.get("/billing/reserve/", {"zip_code": "60606"})
    # then
    text = _text(page)
    assert page.status_code == 200
    assert "$99.00 a month" in text
    assert f"Next charge: {next_charge:%b} {next_charge.day}, {next_charge.year}" in text
    assert Reservation.objects.count() == 1


def test_without_a_card_the_confirmation_says_so_and_offers_no_reserve(acme):
    # when
    page = host_client(acme.host, acme.admin).get("/billing/reserve/", {"zip_code": "60605"})
    # then
    html = page.content.decode()
    assert "no card on file" in _text(page)
    assert 'name="confirm"' not in html
    assert 'href="/billing/card/"' in html


@pytest.mark.parametrize("zip_code", ["", "6060", "00000", "\x00", "6" * 500])
def test_confirming_no_zip_goes_back_with_an_error(acme, zip_code):
    client = host_client(acme.host, acme.admin)
    # when
    response = client.post("/billing/reserve/", {"zip_code": zip_code}, follow=True)
    # then
    assert response.redirect_chain[-1][1] == 302
    assert "territory" in " ".join(messages_of(response)).lower()
    assert not Reservation.objects.exists()


def test_release_asks_first_with_the_date_the_zip_stays_yours(acme, localstripe):
    # given
    add_card(host_client(acme.host, acme.admin), localstripe, "4242424242424242")
    agent = SeatFactory(brokerage=acme.brokerage)
    client = host_client(acme.host, agent.user)
    client.post("/billing/reserve/", {"zip_code": "60605", "confirm": "yes"})
    reservation = Reservation.objects.get(territory__zip_code="60605")
    end = reservation.period_end
    # when the Release button is tapped
    page = client.post(f"/billing/release/{reservation.pk}/")
    # then nothing changes yet: the page says until when the ZIP stays theirs
    text = _text(page)
    assert page.status_code == 200
    assert f"stays yours, with its leads, until {end:%b} {end.day}, {end.year}" in text
    assert "$99.00 a month" in text
    assert 'name="confirm" value="yes"' in page.content.decode()
    reservation.refresh_from_db()
    assert reservation.release_at is None


def test_after_a_declined_card_the_bill_says_nothing_was_charged_and_what_to_do(
        acme, localstripe):
    # given a card that attaches and then fails to charge, and a reservation it refused
    admin = host_client(acme.host, acme.admin)
    add_card(admin, localstripe, "4000000000000341")
    admin.post("/billing/reserve/", {"zip_code": "60605", "confirm": "yes"})
    assert not Reservation.objects.exists()
    # when
    page = admin.get("/billing/")
    # then the page does not contradict itself: nothing is owed, and it says what to do
    text = _text(page)
    assert page.status_code == 200
    assert "Nothing billed yet" not in text
    assert "Open" not in text
    assert "Declined, not charged: nothing was reserved" in text
    assert "$99.00" in text
    assert "Replace the card" in text
    assert "Nothing is billed until your brokerage's first territory" in text


def test_the_bill_lists_territories_and_seats_the_next_charge_and_why_the_first_was_less(
        acme, localstripe):
    # given a brokerage of three active seats that reserved one $99 ZIP
    from clozings.billing import services

    admin = host_client(acme.host, acme.admin)
    SeatFactory(brokerage=acme.brokerage)
    SeatFactory(brokerage=acme.brokerage)
    add_card(admin, localstripe, "4242424242424242")
    admin.post("/billing/reserve/", {"zip_code": "60605", "confirm": "yes"})
    services.sync_seat_quantity(brokerage_id=acme.brokerage.pk)
    account = BillingAccount.objects.get(brokerage=acme.brokerage)
    end = account.current_period_end
    # when
    text = _text(admin.get("/billing/"))
    # then
    assert "ZIP 60605" in text and "$99.00" in text
    assert "Seats 3 × $15.00" in text and "$45.00" in text
    assert "Total $144.00 a month" in text
    assert f"Next charge: $144.00 on {end:%b} {end.day}, {end.year}" in text
    assert "The first invoice charged the first territory alone" in text
    assert "Paid" in text


def test_before_any_territory_the_bill_says_what_seats_will_cost(acme):
    SeatFactory(brokerage=acme.brokerage)
    # when
    text = _text(host_client(acme.host, acme.admin).get("/billing/"))
    # then
    assert "Nothing is billed until your brokerage's first territory" in text
    assert "2 active seats × $15.00 = $30.00 a month" in text


def test_the_invite_form_says_what_a_seat_costs_and_when(acme):
    # when
    text = _text(host_client(acme.host, acme.admin).get("/seats/"))
    # then
    assert "Each active seat costs $15.00 a month" in text
    assert "from your brokerage's first territory on" in text


def test_seats_show_on_the_bill_while_stripe_is_being_updated(acme, localstripe):
    # given a first territory, before the seats task has run
    admin = host_client(acme.host, acme.admin)
    add_card(admin, localstripe, "4242424242424242")
    admin.post("/billing/reserve/", {"zip_code": "60605", "confirm": "yes"})
    assert BillingAccount.objects.get(brokerage=acme.brokerage).seats_quantity == 0
    # when
    text = _text(admin.get("/billing/"))
    # then the bill already counts the seat, and says it is on its way
    assert "Seats 1 × $15.00" in text and "being updated on the bill" in text
    assert "Total $114.00 a month" in text


def test_a_failed_monthly_charge_says_what_to_do_and_can_be_charged_again(acme, localstripe):
    # given a brokerage whose monthly invoice the new card failed to pay
    import stripe

    from tests.billing.conftest import stripe_api, wait_until

    admin = host_client(acme.host, acme.admin)
    add_card(admin, localstripe, "4242424242424242")
    admin.post("/billing/reserve/", {"zip_code": "60605", "confirm": "yes"})
    add_card(admin, localstripe, "4000000000000341")
    account = BillingAccount.objects.get(brokerage=acme.brokerage)
    invoice = stripe_api().invoices.create(params={
        "customer": account.stripe_customer_id,
        "subscription": account.stripe_subscription_id})
    try:
        stripe_api().invoices.pay(invoice.id)
    except stripe.StripeError:
        pass  # localstripe may answer the decline at once or later, on the invoice
    wait_until(lambda: stripe_api().invoices.retrieve(invoice.id).status == "open"
               and stripe_api().invoices.retrieve(invoice.id).attempted,
               what="the declined invoice")
    BillingAccount.objects.filter(pk=account.pk).update(status="past_due")
    # when
    page = admin.get("/billing/")
    # then the failure comes first, with both ways out
    text = _text(page)
    assert "A payment failed" in text
    assert "Unpaid : the card was declined" in text
    html = page.content.decode()
    assert 'href="/billing/card/"' in html and 'action="/billing/retry/"' in html
    # when they charge the same card again
    retried = admin.post("/billing/retry/", follow=True)
    # then they are told it was declined again
    assert "declined again" in " ".join(messages_of(retried))
    agent = host_client(acme.host, SeatFactory(brokerage=acme.brokerage).user)
    assert agent.post("/billing/retry/").status_code == 403
