"""Opt-out and the do-not-contact list: STOP and its plain-language kin, one confirmation
text and nothing after it, START back in; the brokerage's list validated and honoured."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from django.core.exceptions import ValidationError

from clozings.crm import messaging
from clozings.crm.models import ConsentEvent, DoNotContact, Lead, LeadText, Task
from clozings.platform.errors import NotFound
from clozings.platform.tenancy import in_schema

pytestmark = pytest.mark.django_db

NOW = datetime(2026, 12, 2, 17, 0, tzinfo=UTC)


@pytest.mark.parametrize("message", [
    "STOP", "stop", "Stop.", "STOPALL", "Quit", "END", "revoke", "OPT OUT", "opt-out",
    "Cancel", "UNSUBSCRIBE", "Stop please", "please stop", "Please stop texting me",
    "remove me from your list", "don't text me", "Don’t text me again", "stpo", "Sotp",
    "unsubcribe", "STOP!!!", "no more texts please", "take me off your list",
])
def test_these_replies_opt_out(message):
    assert messaging.is_opt_out(message)


@pytest.mark.parametrize("message", [
    "Yes, Saturday works", "Can you send me the listing?", "What's the price?",
    "I'll stop by the open house", "at the end of the month", "START",
])
def test_these_replies_do_not(message):
    assert not messaging.is_opt_out(message)


def test_start_and_unstop_opt_back_in():
    assert messaging.is_opt_in("START") and messaging.is_opt_in("unstop")
    assert not messaging.is_opt_in("Let's start looking next week")


@pytest.fixture
def lead(acme) -> Lead:
    with in_schema(acme.schema_name):
        lead = Lead.objects.create(agent_id=acme.admin_seat.pk, first_name="Pat",
                                   phone="+12125550100", email="pat@example.com",
                                   consent={"text": "Yes", "channels": ["text", "email"]})
        Task.objects.create(lead=lead, agent_id=acme.admin_seat.pk, title="Market update",
                            channel="auto_text", due_at=NOW)
        yield lead


def test_an_opt_out_stops_everything_with_one_confirmation_text(acme, lead):
    queued = LeadText.objects.create(lead=lead, kind="step", to=lead.phone, body="Homes!",
                                     next_attempt_at=NOW)

    messaging.opt_out(lead, via="text_reply", now=NOW, evidence={"message": "Stop please"})
    messaging.opt_out(lead, via="text_reply", now=NOW)  # a second STOP

    lead.refresh_from_db()
    assert (lead.opted_out_at, lead.opted_out_via) == (NOW, "text_reply")
    event = ConsentEvent.objects.get(lead=lead)
    assert event.kind == "revoked" and event.evidence == {"message": "Stop please"}
    confirmations = LeadText.objects.filter(lead=lead, kind="opt_out")
    assert confirmations.count() == 1
    assert "no more automated messages" in confirmations.get().body
    assert "START" in confirmations.get().body
    queued.refresh_from_db()
    assert queued.next_attempt_at is None and "opted out" in queued.cancelled_reason
    assert Task.objects.get(lead=lead).hold_reason == "The lead opted out."


def test_an_agents_opt_out_keeps_who_and_why(acme, lead):
    messaging.opt_out(lead, by=acme.admin_seat, via="agent", note="Asked on the phone",
                      now=NOW)

    event = ConsentEvent.objects.get(lead=lead)
    assert (event.by_id, event.via, event.evidence) == (
        acme.admin_seat.pk, "agent", {"note": "Asked on the phone"})
    assert lead.activities.get(kind="note").note == "Opted out (agent). Asked on the phone"


def test_start_restores_consent_and_clears_the_hold(acme, lead):
    messaging.opt_out(lead, via="text_reply", now=NOW)

    messaging.opt_in(lead, via="text_reply", now=NOW)

    lead.refresh_from_db()
    assert lead.opted_out_at is None
    restored = ConsentEvent.objects.filter(lead=lead).order_by("-id").first()
    assert restored.kind == "restored" and restored.channels == ["email", "text"]
    assert Task.objects.get(lead=lead).hold_reason == ""
    assert LeadText.objects.filter(lead=lead, kind="opt_in").count() == 1


def test_an_unsubscribe_token_opts_out_and_a_wrong_one_is_not_found(acme, lead):
    Lead.objects.filter(pk=lead.pk).update(unsubscribe_token="t" * 43)

    messaging.unsubscribe(token="t" * 43, now=NOW)

    assert Lead.objects.get(pk=lead.pk).opted_out_via == "email_unsubscribe"
    with pytest.raises(NotFound):
        messaging.unsubscribe(token="u" * 43, now=NOW)


def test_the_do_not_contact_list_takes_phones_and_emails_normalised(acme, lead):
    by_phone = messaging.add_do_not_contact(value="(212) 555-0100", reason="asked",
                                            by=acme.admin_seat)
    by_email = messaging.add_do_not_contact(value="Someone@Example.COM")
    again = messaging.add_do_not_contact(value="+1 212 555 0100")

    assert (by_phone.phone, by_email.email, again.pk) == (
        "+12125550100", "someone@example.com", by_phone.pk)
    assert Task.objects.get(lead=lead).hold_reason == "On the do-not-contact list."
    for bad in ("", "call me", "12", "a@b"):
        with pytest.raises(ValidationError):
            messaging.add_do_not_contact(value=bad)
    messaging.remove_do_not_contact(entry_id=by_email.pk)
    assert list(DoNotContact.objects.values_list("phone", flat=True)) == ["+12125550100"]
    with pytest.raises(NotFound):
        messaging.remove_do_not_contact(entry_id=by_email.pk)
