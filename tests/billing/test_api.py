"""The billing and reservation API on brokerage hosts, against localstripe."""

from __future__ import annotations

import pytest

from clozings.billing.models import BillingAccount
from clozings.tenants.models import Seat
from clozings.territories.models import Reservation, Slot
from tests.billing.conftest import add_card, stripe_api
from tests.conftest import host_client
from tests.tenants.factories import SeatFactory

pytestmark = pytest.mark.django_db

GOOD_CARD = "4242424242424242"
FAILING_CARD = "4000000000000341"


@pytest.fixture
def admin_client(acme):
    return host_client(acme.host, acme.admin)


@pytest.fixture
def agent(acme) -> Seat:
    return SeatFactory(brokerage=acme.brokerage)


def test_setup_intent_gives_a_client_secret_and_the_publishable_key(admin_client):
    # when
    response = admin_client.post("/api/v1/billing/setup-intent")
    # then
    assert response.status_code == 200
    body = response.json()
    assert body["client_secret"].startswith("seti_")
    assert body["publishable_key"] == "pk_test_clozings"


def test_an_agent_cannot_touch_the_card(acme, agent):
    # given
    client = host_client(acme.host, agent.user)
    # when
    responses = [client.post("/api/v1/billing/setup-intent"),
                 client.post("/api/v1/billing/payment-method", {"payment_method_id": "pm_x"},
                             content_type="application/json"),
                 client.get("/api/v1/billing")]
    # then
    assert [r.status_code for r in responses] == [403, 403, 403]
    assert {r.json()["error"]["code"] for r in responses} == {"permission_denied"}


def test_a_card_from_stripe_js_is_attached_and_becomes_the_default(acme, admin_client,
                                                                    localstripe):
    # when
    response = add_card(admin_client, localstripe, GOOD_CARD)
    # then
    assert response.status_code == 200
    assert response.json()["card"]["last4"] == "4242"
    account = BillingAccount.objects.get(brokerage=acme.brokerage)
    method = stripe_api().payment_methods.retrieve(account.default_payment_method_id)
    assert method.customer == account.stripe_customer_id
    customer = stripe_api().customers.retrieve(account.stripe_customer_id)
    assert customer.invoice_settings.default_payment_method == method.id


@pytest.mark.parametrize("payment_method_id", ["", "card_123", "pm_nope", "pm_" + "x" * 200])
def test_a_bad_payment_method_id_is_a_field_error(acme, admin_client, payment_method_id):
    # when
    response = admin_client.post("/api/v1/billing/payment-method",
                                 {"payment_method_id": payment_method_id},
                                 content_type="application/json")
    # then
    assert response.status_code == 400
    assert response.json()["error"]["code"] == "validation_error"
    assert "payment_method_id" in response.json()["error"]["fields"]
    assert not BillingAccount.objects.filter(brokerage=acme.brokerage).exclude(
        default_payment_method_id="").exists()


def test_reserving_without_a_card_is_402_before_anything_is_held(acme, agent):
    # given
    client = host_client(acme.host, agent.user)
    # when
    response = client.post("/api/v1/reservations", {"zip_code": "30301"},
                           content_type="application/json")
    # then
    assert response.status_code == 402
    assert response.json()["error"]["code"] == "payment_required"
    assert "ask your admin" in response.json()["error"]["message"]
    assert not Reservation.objects.filter(territory__zip_code="30301").exists()


def test_an_agent_reserves_for_themself_and_it_is_billed(acme, admin_client, agent,
                                                        localstripe):
    # given
    add_card(admin_client, localstripe, GOOD_CARD)
    client = host_client(acme.host, agent.user)
    # when
    response = client.post("/api/v1/reservations", {"zip_code": "30301"},
                           content_type="application/json")
    # then
    assert response.status_code == 201, response.json()
    body = response.json()
    assert body["zip_code"] == "30301"
    assert body["agent_id"] == agent.pk
    assert body["status"] == "active"
    reservation = Reservation.objects.get(pk=body["id"])
    item = stripe_api().subscription_items.retrieve(reservation.stripe_item_id)
    assert item.plan.amount == reservation.price_cents == body["price_cents"]
    account = BillingAccount.objects.get(brokerage=acme.brokerage)
    subscription = stripe_api().subscriptions.retrieve(account.stripe_subscription_id)
    assert subscription.status == "active"
    assert subscription.customer == account.stripe_customer_id


def test_an_admin_reserves_for_an_agent_and_sees_it_on_the_billing_api(acme, admin_client,
                                                                      agent, localstripe):
    # given
    add_card(admin_client, localstripe, GOOD_CARD)
    # when
    created = admin_client.post("/api/v1/reservations",
                                {"zip_code": "30302", "agent_id": agent.pk},
                                content_type="application/json")
    overview = admin_client.get("/api/v1/billing").json()
    listed = admin_client.get("/api/v1/reservations").json()
    # then
    assert created.status_code == 201
    assert created.json()["agent_id"] == agent.pk
    assert overview["card"]["last4"] == "4242"
    assert [(i["kind"], i["zip_code"], i["price_cents"]) for i in overview["items"]] == [
        ("territory", "30302", created.json()["price_cents"])]
    assert [(i["status"], i["amount_due_cents"]) for i in overview["invoices"]] == [
        ("paid", created.json()["price_cents"])]
    assert [r["id"] for r in listed] == [created.json()["id"]]


def test_an_agent_cannot_reserve_for_a_colleague(acme, admin_client, agent, localstripe):
    # given
    add_card(admin_client, localstripe, GOOD_CARD)
    colleague = SeatFactory(brokerage=acme.brokerage)
    client = host_client(acme.host, agent.user)
    # when
    response = client.post("/api/v1/reservations",
                           {"zip_code": "30303", "agent_id": colleague.pk},
                           content_type="application/json")
    # then
    assert response.status_code == 403
    assert not Reservation.objects.filter(territory__zip_code="30303").exists()


def test_reserving_for_an_agent_of_another_brokerage_is_a_field_error(acme, globex,
                                                                     admin_client,
                                                                     localstripe):
    # given
    add_card(admin_client, localstripe, GOOD_CARD)
    outsider = SeatFactory(brokerage=globex.brokerage)
    # when
    response = admin_client.post("/api/v1/reservations",
                                 {"zip_code": "30303", "agent_id": outsider.pk},
                                 content_type="application/json")
    # then
    assert response.status_code == 400
    assert "agent_id" in response.json()["error"]["fields"]
    assert not Reservation.objects.filter(territory__zip_code="30303").exists()


@pytest.mark.parametrize(("zip_code", "status", "code"), [
    ("3030", 400, "validation_error"),
    ("abcde", 400, "validation_error"),
    ("00000", 404, "not_found"),
])
def test_bad_zip_codes_are_clear_errors_and_nothing_is_billed(acme, admin_client, localstripe,
                                                              zip_code, status, code):
    # given
    add_card(admin_client, localstripe, GOOD_CARD)
    # when
    response = admin_client.post("/api/v1/reservations", {"zip_code": zip_code},
                                 content_type="application/json")
    # then
    assert response.status_code == status
    assert response.json()["error"]["code"] == code
    assert BillingAccount.objects.get(brokerage=acme.brokerage).stripe_subscription_id == ""


def test_a_full_zip_is_409_and_the_same_agent_twice_is_already_reserved(acme, admin_client,
                                                                       agent, localstripe):
    # given
    add_card(admin_client, localstripe, GOOD_CARD)
    admin_client.post("/api/v1/reservations", {"zip_code": "30304", "agent_id": agent.pk},
                      content_type="application/json")
    # when
    again = admin_client.post("/api/v1/reservations",
                              {"zip_code": "30304", "agent_id": agent.pk},
                              content_type="application/json")
    full = admin_client.post("/api/v1/reservations", {"zip_code": "30304"},
                             content_type="application/json")
    # then
    assert (again.status_code, again.json()["error"]["code"]) == (409, "already_reserved")
    assert (full.status_code, full.json()["error"]["code"]) == (409, "territory_full")
    assert Reservation.objects.filter(territory__zip_code="30304").count() == 1


def test_when_stripe_refuses_nothing_about_reservations_changes(acme, admin_client, agent,
                                                                 localstripe):
    # given a card that attaches but fails to charge
    assert add_card(admin_client, localstripe, FAILING_CARD).status_code == 200
    client = host_client(acme.host, agent.user)
    # when
    response = client.post("/api/v1/reservations", {"zip_code": "30305"},
                           content_type="application/json")
    # then
    assert response.status_code == 402
    assert response.json()["error"]["code"] == "payment_required"
    assert "declined" in response.json()["error"]["message"]
    assert not Reservation.objects.filter(territory__zip_code="30305").exists()
    assert not Slot.objects.filter(territory__zip_code="30305").exists()
    assert BillingAccount.objects.get(brokerage=acme.brokerage).stripe_subscription_id == ""


def test_the_owner_releases_at_the_end_of_the_paid_period(acme, admin_client, agent,
                                                          localstripe):
    # given
    add_card(admin_client, localstripe, GOOD_CARD)
    client = host_client(acme.host, agent.user)
    reservation_id = client.post("/api/v1/reservations", {"zip_code": "30306"},
                                 content_type="application/json").json()["id"]
    # when
    response = client.delete(f"/api/v1/reservations/{reservation_id}")
    # then
    assert response.status_code == 200
    reservation = Reservation.objects.get(pk=reservation_id)
    assert reservation.status == Reservation.Status.ACTIVE
    assert reservation.release_at == reservation.period_end
    assert reservation.release_at is not None


def test_a_colleague_cannot_release_and_sees_404(acme, admin_client, agent, localstripe):
    # given
    add_card(admin_client, localstripe, GOOD_CARD)
    reservation_id = admin_client.post(
        "/api/v1/reservations", {"zip_code": "30307", "agent_id": agent.pk},
        content_type="application/json").json()["id"]
    colleague = SeatFactory(brokerage=acme.brokerage)
    # when
    response = host_client(acme.host, colleague.user).delete(
        f"/api/v1/reservations/{reservation_id}")
    # then
    assert response.status_code == 404
    assert Reservation.objects.get(pk=reservation_id).release_at is None


def test_another_brokerages_admin_cannot_see_or_release(acme, globex, admin_client, agent,
                                                       localstripe):
    # given
    add_card(admin_client, localstripe, GOOD_CARD)
    reservation_id = admin_client.post(
        "/api/v1/reservations", {"zip_code": "30308", "agent_id": agent.pk},
        content_type="application/json").json()["id"]
    outsider = host_client(globex.host, globex.admin)
    # when
    listed = outsider.get("/api/v1/reservations").json()
    released = outsider.delete(f"/api/v1/reservations/{reservation_id}")
    # then
    assert listed == []
    assert released.status_code == 404


def test_a_past_due_brokerage_cannot_reserve_more_until_the_card_is_fixed(acme, admin_client,
                                                                          agent, localstripe):
    # given
    add_card(admin_client, localstripe, GOOD_CARD)
    BillingAccount.objects.filter(brokerage=acme.brokerage).update(
        status=BillingAccount.Status.PAST_DUE)
    # when
    response = host_client(acme.host, agent.user).post(
        "/api/v1/reservations", {"zip_code": "30303"}, content_type="application/json")
    # then
    assert response.status_code == 402
    assert "update the card" in response.json()["error"]["message"]
    assert not Reservation.objects.filter(territory__zip_code="30303").exists()
