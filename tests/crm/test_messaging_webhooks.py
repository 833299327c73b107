"""Inbound webhooks and the unsubscribe page: signatures checked before anything is read
(403 in the API's error format, nothing stored), an unknown sender answered like a known
one, STOP by text opts out, the unsubscribe link and RFC 8058's one-click POST work without
a CSRF token; the do-not-contact page for admins."""

from __future__ import annotations

import json

import pytest
from twilio.request_validator import RequestValidator

from clozings.crm.models import Activity, ConsentEvent, DoNotContact, Lead, LeadText
from clozings.platform import sms
from clozings.platform.tenancy import in_schema
from tests.conftest import host_client
from tests.tenants.factories import SeatFactory
from tests.twilio_standin import AUTH_TOKEN

pytestmark = pytest.mark.django_db

TWILIO_URL = "/api/v1/inbound/text/twilio"
SECRET = "inbound-secret"


@pytest.fixture(autouse=True)
def _secrets(settings):
    settings.TWILIO_AUTH_TOKEN = AUTH_TOKEN
    settings.SMS_INBOUND_SECRET = SECRET
    settings.INBOUND_EMAIL_SECRET = SECRET


@pytest.fixture
def lead(acme) -> Lead:
    with in_schema(acme.schema_name):
        return Lead.objects.create(agent_id=acme.admin_seat.pk, first_name="Pat",
                                   phone="+12125550100", email="pat@example.com",
                                   unsubscribe_token="k" * 43)


def twilio_post(acme, form: dict, signature: str | None = None):
    url = f"http://{acme.host}{TWILIO_URL}"
    if signature is None:
        signature = RequestValidator(AUTH_TOKEN).compute_signature(url, form)
    headers = {"HTTP_X_TWILIO_SIGNATURE": signature} if signature else {}
    return host_client(acme.host).post(TWILIO_URL, form, **headers)


def signed_json(acme, url: str, body: dict, secret: str = SECRET):
    raw = json.dumps(body).encode()
    signature = "sha256=" + sms.hmac_signature(secret=secret, body=raw)
    return host_client(acme.host).post(url, raw, content_type="application/json",
                                       HTTP_X_CLOZINGS_SIGNATURE=signature)


@pytest.mark.parametrize("signature", ["", "bm90IGEgc2lnbmF0dXJl"])
def test_a_twilio_post_without_a_good_signature_is_refused_and_stores_nothing(
        acme, lead, signature):
    response = twilio_post(acme, {"From": lead.phone, "Body": "STOP"}, signature=signature)

    assert response.status_code == 403
    assert response.json()["error"]["code"] == "permission_denied"
    with in_schema(acme.schema_name):
        assert not Activity.objects.exists()
        assert Lead.objects.get(pk=lead.pk).opted_out_at is None


def test_a_twilio_signature_for_another_body_is_refused(acme, lead):
    url = f"http://{acme.host}{TWILIO_URL}"
    signature = RequestValidator(AUTH_TOKEN).compute_signature(
        url, {"From": lead.phone, "Body": "Hello"})

    response = twilio_post(acme, {"From": lead.phone, "Body": "STOP"}, signature=signature)

    assert response.status_code == 403


@pytest.mark.parametrize("url", ["/api/v1/inbound/text/generic", "/api/v1/inbound/email"])
def test_generic_webhooks_refuse_a_wrong_secret_or_none(acme, lead, url):
    body = {"sender": lead.phone, "body": "STOP", "subject": "", "text": "STOP"}

    wrong = signed_json(acme, url, body, secret="not-it")
    missing = host_client(acme.host).post(url, body, content_type="application/json")

    assert wrong.status_code == missing.status_code == 403
    assert wrong.json()["error"]["code"] == "permission_denied"
    with in_schema(acme.schema_name):
        assert not Activity.objects.exists()


def test_a_webhook_with_no_secret_configured_refuses_everything(acme, lead, settings):
    settings.SMS_INBOUND_SECRET = ""

    response = signed_json(acme, "/api/v1/inbound/text/generic",
                           {"sender": lead.phone, "body": "STOP"}, secret="")

    assert response.status_code == 403


def test_an_unknown_sender_gets_200_and_nothing_happens(acme, lead):
    response = twilio_post(acme, {"From": "+13125550199", "Body": "STOP"})
    email = signed_json(acme, "/api/v1/inbound/email",
                        {"sender": "stranger@example.com", "subject": "Unsubscribe"})

    assert response.status_code == 200 and response["Content-Type"] == "text/xml"
    assert email.status_code == 200 and email.json() == {"received": True}
    with in_schema(acme.schema_name):
        assert not Activity.objects.exists() and not ConsentEvent.objects.exists()


def test_the_unsubscribe_link_asks_then_the_post_unsubscribes(acme, lead):
    client = host_client(acme.host)
    client.handler.enforce_csrf_checks = True

    page = client.get(f"/unsubscribe/{'k' * 43}")
    done = client.post(f"/unsubscribe/{'k' * 43}", {"List-Unsubscribe": "One-Click"})

    assert page.status_code == 200 and b"Unsubscribe</button>" in page.content
    assert done.status_code == 200 and b"You are unsubscribed" in done.content
    with in_schema(acme.schema_name):
        lead.refresh_from_db()
        assert lead.opted_out_via == "email_unsubscribe"
        assert ConsentEvent.objects.get(lead=lead).kind == "revoked"
    again = client.get(f"/unsubscribe/{'k' * 43}")
    assert b"already unsubscribed" in again.content


def test_a_wrong_unsubscribe_token_is_not_found(acme, lead):
    response = host_client(acme.host).post(f"/unsubscribe/{'x' * 43}")

    assert response.status_code == 404
    with in_schema(acme.schema_name):
        assert Lead.objects.get(pk=lead.pk).opted_out_at is None


def test_an_admin_adds_and_removes_do_not_contact_entries(acme):
    client = host_client(acme.host, acme.admin)

    bad = client.post("/settings/do-not-contact/", {"value": "call me maybe"})
    added = client.post("/settings/do-not-contact/", {"value": "(212) 555-0100",
                                                      "reason": "asked"})

    assert bad.status_code == 200 and b"Enter a phone number or an email" in bad.content
    assert added.status_code == 302
    page = client.get("/settings/do-not-contact/")
    assert b"+12125550100" in page.content
    with in_schema(acme.schema_name):
        entry = DoNotContact.objects.get()
    assert client.post(f"/settings/do-not-contact/{entry.pk}/remove/").status_code == 302
    with in_schema(acme.schema_name):
        assert not DoNotContact.objects.exists()


def test_an_agent_cannot_open_the_do_not_contact_page(acme):
    agent = SeatFactory(brokerage=acme.brokerage).user

    response = host_client(acme.host, agent).post("/settings/do-not-contact/",
                                                  {"value": "a@example.com"})

    assert response.status_code == 403
    with in_schema(acme.schema_name):
        assert not DoNotContact.objects.exists()


def test_a_signed_stop_from_twilio_lands_on_the_timeline_and_opts_out_once(acme, lead):
    form = {"From": lead.phone, "Body": "Please stop texting me", "MessageSid": "SM1"}

    first = twilio_post(acme, form)
    again = twilio_post(acme, form)  # Twilio retries a webhook it thinks failed

    assert first.status_code == again.status_code == 200
    with in_schema(acme.schema_name):
        lead.refresh_from_db()
        assert lead.opted_out_via == "text_reply"
        (reply,) = Activity.objects.filter(lead=lead, inbound=True)
        assert (reply.kind, reply.body, reply.provider_id) == (
            "text", "Please stop texting me", "SM1")
        assert LeadText.objects.filter(lead=lead, kind="opt_out").count() == 1


def test_a_signed_generic_start_and_an_email_unsubscribe(acme, lead):
    with in_schema(acme.schema_name):
        lead.opted_out_at = lead.created_at
        lead.save()

    start = signed_json(acme, "/api/v1/inbound/text/generic",
                        {"sender": "+1 (212) 555-0100", "body": "START"})
    with in_schema(acme.schema_name):
        lead.refresh_from_db()
        assert start.status_code == 200 and lead.opted_out_at is None
    email = signed_json(acme, "/api/v1/inbound/email",
                        {"sender": "PAT@example.com", "subject": "Unsubscribe",
                         "text": "Thanks, but we bought already."})

    assert email.status_code == 200
    with in_schema(acme.schema_name):
        lead.refresh_from_db()
        assert lead.opted_out_via == "email_reply"
        assert Activity.objects.get(lead=lead, inbound=True, kind="email").subject == \
            "Unsubscribe"


def test_an_admin_sets_a_states_rule_and_it_applies(acme):
    client = host_client(acme.host, acme.admin)
    rule = {"state": "NY", "start": "09:00", "end": "20:00", "max_per_24h": "2",
            "source": "our counsel"}

    outside = client.post("/settings/contact-rules/", {**rule, "start": "07:00"})
    saved = client.post("/settings/contact-rules/", rule)

    assert outside.status_code == 200 and b"within 08:00-21:00" in outside.content
    assert saved.status_code == 302
    page = client.get("/settings/contact-rules/")
    assert b"our counsel" in page.content and b"501.059" in page.content  # FL's default
    with in_schema(acme.schema_name):
        from clozings.crm.contact_rules import RuleBook

        assert RuleBook().for_state("NY").max_per_24h == 2
    assert client.post("/settings/contact-rules/NY/delete/").status_code == 302
    assert client.post("/settings/contact-rules/NY/delete/").status_code == 404
