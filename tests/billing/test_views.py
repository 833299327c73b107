"""Billing pages on brokerage hosts."""

from __future__ import annotations

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
    admin.post("/billing/reserve/", {"zip_code": "60605"})
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
    response = client.post("/billing/reserve/", {"zip_code": "60605"},
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
    reserved = client.post("/billing/reserve/", {"zip_code": "60605"})
    reservation = Reservation.objects.get(territory__zip_code="60605")
    released = client.post(f"/billing/release/{reservation.pk}/")
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
    host_client(acme.host, owner.user).post("/billing/reserve/", {"zip_code": "60605"})
    reservation = Reservation.objects.get(territory__zip_code="60605")
    colleague = host_client(acme.host, SeatFactory(brokerage=acme.brokerage).user)
    # when
    colleague.post(f"/billing/release/{reservation.pk}/")
    # then
    reservation.refresh_from_db()
    assert reservation.release_at is None
