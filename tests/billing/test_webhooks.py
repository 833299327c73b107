"""`POST /billing/stripe/webhook`: signed, stored once, processed from Stripe's current state."""

from __future__ import annotations

import json
import time

import pytest
from django.conf import settings
from django.test import Client

from clozings.billing import services, webhooks
from clozings.billing.models import BillingAccount, WebhookEvent
from clozings.territories.models import Reservation
from tests.billing.conftest import add_card, sign, stripe_api
from tests.conftest import host_client
from tests.tenants.factories import SeatFactory

pytestmark = pytest.mark.django_db

WEBHOOK = "/billing/stripe/webhook"


def event_body(event_id: str = "evt_test_1", customer: str = "cus_unknown",
               type_: str = "invoice.payment_failed") -> bytes:
    return json.dumps({"id": event_id, "object": "event", "type": type_,
                       "created": int(time.time()),
                       "data": {"object": {"object": "invoice", "id": "in_1",
                                           "customer": customer}}}).encode()


def post(client, body: bytes, signature: str):
    return client.post(WEBHOOK, data=body, content_type="application/json",
                       HTTP_STRIPE_SIGNATURE=signature)


@pytest.mark.parametrize("signature", [
    "",
    "t=1,v1=deadbeef",
    sign(event_body(), secret="whsec_someone_else"),
    sign(event_body(), timestamp=int(time.time()) - 3600),
], ids=["missing", "wrong-digest", "another-secret", "an-hour-old"])  # the same in every
# process (pytest-xdist compares the ids the workers collected; a signature carries a time)
def test_a_bad_signature_is_400_and_nothing_is_stored(platform_client, signature):
    # when
    response = post(platform_client, event_body(), signature)
    # then
    assert response.status_code == 400
    assert response.json()["error"]["code"] == "bad_signature"
    assert WebhookEvent.objects.count() == 0


@pytest.mark.parametrize("body", [b"[1, 2]", b"null", b'"text"', b"not json", b"{}",
                                  b'{"id": 5, "type": "invoice.paid"}', b"\xff\xfe"])
def test_a_signed_body_that_is_not_an_event_is_400(platform_client, body):
    # when
    response = post(platform_client, body, sign(body))
    # then
    assert response.status_code == 400
    assert response.json()["error"]["code"] in {"bad_event", "bad_signature"}
    assert WebhookEvent.objects.count() == 0


def test_a_tampered_body_is_400(platform_client):
    # given
    signature = sign(event_body())
    # when
    response = post(platform_client, event_body(type_="invoice.paid"), signature)
    # then
    assert response.status_code == 400
    assert WebhookEvent.objects.count() == 0


def test_an_event_is_stored_once_and_a_duplicate_is_200(platform_client,
                                                        django_capture_on_commit_callbacks):
    # given
    body = event_body("evt_dup")
    # when
    with django_capture_on_commit_callbacks() as first_callbacks:
        first = post(platform_client, body, sign(body))
    with django_capture_on_commit_callbacks() as second_callbacks:
        second = post(platform_client, body, sign(body))
    # then
    assert (first.status_code, first.json()["duplicate"]) == (200, False)
    assert (second.status_code, second.json()["duplicate"]) == (200, True)
    assert WebhookEvent.objects.filter(stripe_event_id="evt_dup").count() == 1
    assert len(first_callbacks) == 1  # the processing task is sent once
    assert second_callbacks == []


def test_only_post_is_accepted(platform_client):
    # when
    response = platform_client.get(WEBHOOK)
    # then
    assert response.status_code == 405
    assert response.json()["error"]["code"] == "method_not_allowed"


def test_the_webhook_is_only_on_the_platform_host(acme):
    # given
    body = event_body("evt_wrong_host")
    # when
    response = post(host_client(acme.host), body, sign(body))
    # then
    assert response.status_code == 404
    assert WebhookEvent.objects.count() == 0


def test_an_event_for_an_unknown_customer_is_processed_and_changes_nothing(platform_client):
    # given
    body = event_body("evt_unknown")
    post(platform_client, body, sign(body))
    event = WebhookEvent.objects.get(stripe_event_id="evt_unknown")
    # when
    processed = services.process_webhook_event(event_pk=event.pk)
    # then
    assert processed.processed_at is not None
    assert processed.error == ""


def test_processing_reads_current_state_not_the_event(acme, localstripe, platform_client):
    # given a brokerage whose subscription is paid up
    admin_client = host_client(acme.host, acme.admin)
    add_card(admin_client, localstripe, "4242424242424242")
    agent = SeatFactory(brokerage=acme.brokerage)
    admin_client.post("/api/v1/reservations", {"zip_code": "30310", "agent_id": agent.pk},
                      content_type="application/json")
    account = BillingAccount.objects.get(brokerage=acme.brokerage)
    # and a stale "payment failed" event about it
    body = event_body("evt_stale", customer=account.stripe_customer_id)
    post(platform_client, body, sign(body))
    event = WebhookEvent.objects.get(stripe_event_id="evt_stale")
    # when it is processed, twice
    services.process_webhook_event(event_pk=event.pk)
    services.process_webhook_event(event_pk=event.pk)
    # then the current (paid) state wins
    assert BillingAccount.objects.get(pk=account.pk).status == BillingAccount.Status.ACTIVE
    assert Reservation.objects.get(territory__zip_code="30310").status == "active"
    assert stripe_api().subscriptions.retrieve(account.stripe_subscription_id).status == "active"




def test_the_signature_is_checked_on_the_exact_bytes_sent(platform_client):
    # given a signed event laid out as no JSON encoder here would write it again
    body = (b'{ "type" :"invoice.paid",\n  "id":"evt_\\u0072aw", "object": "event",'
            b' "data": {"object": {"object": "invoice", "id": "in_1"}} }  \n')
    # when
    response = post(platform_client, body, sign(body))
    # then
    assert response.status_code == 200
    assert response.json() == {"received": True, "id": "evt_raw", "duplicate": False}
    assert WebhookEvent.objects.get().stripe_event_id == "evt_raw"


def test_no_session_bearer_token_or_csrf_token_is_asked_for(acme, platform_client):
    # given a client that enforces CSRF, signed in, with a made-up bearer token
    client = Client(HTTP_HOST="localhost", enforce_csrf_checks=True)
    client.force_login(acme.admin)
    body = event_body("evt_no_auth")
    # when
    response = client.post(WEBHOOK, data=body, content_type="application/json",
                           HTTP_STRIPE_SIGNATURE=sign(body), HTTP_AUTHORIZATION="Bearer made-up")
    # then
    assert response.status_code == 200
    assert WebhookEvent.objects.filter(stripe_event_id="evt_no_auth").count() == 1


@pytest.mark.parametrize("size", [webhooks.MAX_PAYLOAD_BYTES + 1,
                                  settings.DATA_UPLOAD_MAX_MEMORY_SIZE + 1])
def test_an_oversized_body_is_413_before_it_is_read(platform_client, size):
    # given a signed body of `size` bytes
    body = event_body("evt_big")[:-1] + b" " * (size - len(event_body("evt_big"))) + b"}"
    # when
    response = post(platform_client, body, sign(body))
    # then
    assert (len(body), response.status_code) == (size, 413)
    assert response.json() == {"error": {"code": "payload_too_large",
                                         "message": "The event is too large."}}
    assert WebhookEvent.objects.count() == 0


@pytest.mark.parametrize("method", ["get", "put", "patch", "delete", "options", "head"])
def test_every_other_method_is_405_naming_post(platform_client, method):
    # when
    response = getattr(platform_client, method)(WEBHOOK)
    # then
    assert (response.status_code, response["Allow"]) == (405, "POST")
