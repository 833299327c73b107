"""The agent hears of a delivered lead exactly once: one mail through the outbox and one
text through the text outbox, however often routing runs; the text goes out through
Twilio's own client to a loopback stand-in of Twilio's API, once."""

from __future__ import annotations

import base64

import pytest

from clozings.crm.models import Lead
from clozings.distribution import notifications, tasks
from clozings.distribution.models import InboundLead, OutboundText
from clozings.platform.mail import send_due_mail
from clozings.platform.models import OutboundMail
from clozings.platform.tenancy import in_schema
from tests.billing.conftest import wait_until
from tests.distribution.factories import holder, lead_data, lead_source, source_client, take
from tests.twilio_standin import SID

pytestmark = pytest.mark.django_db

ZIP = "10001"


@pytest.fixture
def source():
    return lead_source("Zillow Flex").source


def test_a_delivered_lead_queues_one_mail_and_one_text_however_often_routing_runs(
        acme, source, settings):
    settings.CLOZINGS_PUBLIC_PORT = "8000"
    reservation = holder(acme.brokerage, ZIP, phone="+12125550199", name="Ada Agent")
    inbound = take(source, first_name="Dana", last_name="Buyer", phone="(212) 555-0142",
                   price_min_cents=45000000, price_max_cents=60000000, timeframe="3 months")

    tasks.route_lead(inbound_lead_id=inbound.pk)
    tasks.route_lead(inbound_lead_id=inbound.pk)  # a retried task
    # a delivery whose ledger write was lost: routed again from the start
    InboundLead.objects.filter(pk=inbound.pk).update(status="received")
    tasks.route_lead(inbound_lead_id=inbound.pk)

    with in_schema(acme.schema_name):
        crm = Lead.objects.get(inbound_lead_id=inbound.pk)
    mail = OutboundMail.objects.get(kind=notifications.NEW_LEAD)
    text = OutboundText.objects.get()
    assert mail.to == reservation.seat.user.email
    assert mail.subject == "New lead: Dana Buyer in 10001, call now"
    assert "Phone: +12125550142" in mail.text
    assert "Call: tel:+12125550142" in mail.text
    assert "Price: $450,000.00 to $600,000.00" in mail.text
    link = f"http://acme.localhost:8000/leads/#lead-{crm.pk}"
    assert f"Open the lead: {link}" in mail.text
    assert (text.to, text.kind, text.ref) == (
        "+12125550199", notifications.NEW_LEAD, f"{inbound.pk}:{reservation.seat_id}")
    assert text.body == f"New lead: Dana Buyer, ZIP 10001. Call +12125550142 now. {link}"


def test_the_mail_reaches_the_agent_through_the_outbox(acme, source, mailbox):
    reservation = holder(acme.brokerage, ZIP)
    inbound = take(source)
    tasks.route_lead(inbound_lead_id=inbound.pk)

    assert send_due_mail() == 1

    assert [m["To"] for m in mailbox] == [reservation.seat.user.email]
    assert "tel:+12125550001" in mailbox[0].get_content()


def test_an_agent_without_a_phone_gets_the_mail_and_no_text(acme, source):
    holder(acme.brokerage, ZIP)
    tasks.route_lead(inbound_lead_id=take(source).pk)

    assert OutboundMail.objects.filter(kind=notifications.NEW_LEAD).count() == 1
    assert not OutboundText.objects.exists()


def test_twilio_receives_the_text_once_through_its_client(acme, source, twilio):
    reservation = holder(acme.brokerage, ZIP, phone="+12125550199")
    inbound = take(source, first_name="Zoë", last_name="")
    tasks.route_lead(inbound_lead_id=inbound.pk)
    text = OutboundText.objects.get()

    tasks.send_text(text_id=text.pk)
    assert notifications.send_due_texts() == 0  # the sweeper finds nothing left to send
    tasks.send_text(text_id=text.pk)  # a duplicate message

    assert len(twilio) == 1
    post = twilio[0]
    assert post["path"] == f"/2010-04-01/Accounts/{SID}/Messages.json"
    assert post["form"]["To"] == ["+12125550199"]
    assert post["form"]["From"] == ["+15005550006"]
    assert post["form"]["Body"][0].startswith("New lead: Zoë, ZIP 10001. Call +12125550001 now.")
    assert post["auth"] == "Basic " + base64.b64encode(f"{SID}:stand-in-token".encode()).decode()
    text.refresh_from_db()
    assert (text.sent_at is not None, text.next_attempt_at, text.attempts) == (True, None, 1)
    assert text.provider_id == "SM" + "1".zfill(32)
    assert reservation.seat.phone == text.to


def test_a_refused_text_is_kept_with_the_error_and_retried_by_the_sweeper(
        acme, source, settings):
    holder(acme.brokerage, ZIP, phone="+12125550199")
    tasks.route_lead(inbound_lead_id=take(source).pk)
    settings.SMS_BACKEND = "twilio"
    settings.TWILIO_API_BASE = "http://127.0.0.1:9"  # nothing listens: the send fails
    settings.TWILIO_ACCOUNT_SID, settings.TWILIO_AUTH_TOKEN = SID, "token"
    text = OutboundText.objects.get()

    tasks.send_text(text_id=text.pk)

    text.refresh_from_db()
    assert text.sent_at is None and text.attempts == 1
    assert text.last_error and text.next_attempt_at > text.last_attempt_at


def test_the_console_backend_prints_the_text(acme, source, capsys):
    holder(acme.brokerage, ZIP, phone="+12125550199")
    tasks.route_lead(inbound_lead_id=take(source).pk)

    assert notifications.send_due_texts() == 1

    assert "SMS to +12125550199: New lead: Dana Buyer, ZIP 10001." in capsys.readouterr().out


@pytest.mark.worker
@pytest.mark.slow
def test_a_real_worker_texts_and_mails_the_agent_once_despite_a_duplicate_message(
        acme, workers, crm_cleanup, twilio, mailbox, monkeypatch, settings):
    for name in ("SMS_BACKEND", "TWILIO_ACCOUNT_SID", "TWILIO_AUTH_TOKEN",
                 "TWILIO_FROM_NUMBER", "TWILIO_API_BASE", "EMAIL_PORT"):
        monkeypatch.setenv(name, str(getattr(settings, name)))
    reservation = holder(acme.brokerage, ZIP, phone="+12125550199")
    client = source_client(lead_source().key)
    workers.start()

    first = client.post("/api/v1/leads", lead_data(1), content_type="application/json")
    wait_until(lambda: len(twilio) == 1, what="the first lead's text")
    tasks.route_lead.delay(inbound_lead_id=first.json()["id"])  # a duplicate message
    # the worker takes messages in order: once the second lead's text is out, the
    # duplicate has been handled
    client.post("/api/v1/leads", lead_data(2), content_type="application/json")
    wait_until(lambda: OutboundText.objects.filter(sent_at__isnull=False).count() == 2
               and len(mailbox) == 2, what="the second lead's text and both mails")

    assert [post["form"]["To"] for post in twilio] == [["+12125550199"]] * 2
    assert ["+12125550001" in post["form"]["Body"][0] for post in twilio] == [True, False]
    assert "+12125550002" in twilio[1]["form"]["Body"][0]
    assert [m["To"] for m in mailbox] == [reservation.seat.user.email] * 2
    assert OutboundText.objects.count() == 2
