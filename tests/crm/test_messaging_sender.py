"""The automated sender on a frozen clock: each automated step goes out only when and if
the contact rules allow, once; held steps wait with their reason; emails carry the
one-click unsubscribe, the postal address and the agent's name; a "Stop please" reply gets
one confirmation text and nothing after it, START brings the lead back."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from clozings.crm import messaging
from clozings.crm.models import Activity, DoNotContact, Lead, LeadText, Task
from clozings.platform.mail import send_due_mail
from clozings.platform.models import OutboundMail
from clozings.platform.tenancy import in_schema
from clozings.tenants.models import Brokerage
from tests.conftest import host_client
from tests.tenants.factories import SeatFactory

pytestmark = pytest.mark.django_db

CONSENT = {"text": "I agree to calls and texts, including automated ones, from Acme Realty.",
           "given_at": "2026-11-30T15:00:00Z", "ip": "203.0.113.9", "user_agent": "Mozilla",
           "page_url": "https://homes.example/form", "channels": ["call", "text", "email"],
           "certificate_url": ""}
ADDRESS = "Acme Realty, 100 Main St, Springfield, IL 62701"


def utc(*args) -> datetime:
    return datetime(*args, tzinfo=UTC)


@pytest.fixture
def agent(acme):
    Brokerage.objects.filter(pk=acme.brokerage.pk).update(postal_address=ADDRESS,
                                                          next_automated_due_at=None)
    return SeatFactory(brokerage=acme.brokerage, name="Dana Lee")


@pytest.fixture
def step(acme, agent):
    """An automated step due at `due` for a new lead: (lead, task)."""
    def make(channel: str, due: datetime, **fields) -> tuple[Lead, Task]:
        fields.setdefault("consent", CONSENT)
        fields.setdefault("email", "pat@example.com")
        fields.setdefault("phone", "+12125550100")
        fields.setdefault("zip_code", "10001")
        lead = Lead.objects.create(agent_id=agent.pk, first_name="Pat", **fields)
        task = Task.objects.create(lead=lead, agent_id=agent.pk, title="Market update",
                                   channel=channel, due_at=due)
        return lead, task

    with in_schema(acme.schema_name):
        yield make


def run(now: datetime) -> Task | None:
    return messaging.process_next_step(now=now)


def test_a_florida_text_due_at_8_30_pm_waits_until_8_am_and_goes_once(step):
    evening = utc(2026, 12, 3, 1, 30)  # 20:30 in Miami
    lead, task = step("auto_text", evening, zip_code="33101", phone="+13055550100")

    held = run(evening)

    held.refresh_from_db()
    assert held.completed_at is None and held.not_before == utc(2026, 12, 3, 13, 0)
    assert "Outside the calling window" in held.hold_reason
    assert not Activity.objects.filter(lead=lead).exists()
    assert run(evening + timedelta(hours=6)) is None  # not yet due again
    sent = run(utc(2026, 12, 3, 13, 0))
    assert sent.pk == task.pk
    task.refresh_from_db()
    assert task.completed_at == utc(2026, 12, 3, 13, 0)
    activity = Activity.objects.get(lead=lead, automated=True)
    assert activity.kind == "text" and activity.task_id == task.pk
    assert "Reply STOP to opt out." in activity.body and "Pat" in activity.body
    text = LeadText.objects.get(lead=lead)
    assert (text.to, text.body, text.activity_id) == (lead.phone, activity.body, activity.pk)
    run(utc(2026, 12, 3, 13, 1))  # a retried run
    assert LeadText.objects.filter(lead=lead).count() == 1


def test_a_texas_text_on_sunday_morning_waits_until_noon(step):
    sunday = utc(2026, 12, 6, 16, 0)  # 10:00 in Dallas
    lead, task = step("auto_text", sunday, zip_code="75201", phone="+12145550100")

    run(sunday)

    task.refresh_from_db()
    assert task.not_before == utc(2026, 12, 6, 18, 0)
    run(utc(2026, 12, 6, 18, 0))
    task.refresh_from_db()
    assert task.completed_at == utc(2026, 12, 6, 18, 0)


def test_a_seattle_number_in_a_miami_zip_is_texted_only_in_the_overlap(step):
    morning = utc(2026, 12, 2, 14, 0)  # 09:00 Miami, 06:00 Seattle
    lead, task = step("auto_text", morning, zip_code="33101", phone="+12065550100")

    run(morning)

    task.refresh_from_db()
    assert task.not_before == utc(2026, 12, 2, 16, 0)  # 08:00 Seattle, 11:00 Miami


def test_without_consent_the_text_is_skipped_and_the_email_goes(step):
    noon = utc(2026, 12, 2, 17, 0)
    lead, text_task = step("auto_text", noon, consent=None)

    run(noon)

    text_task.refresh_from_db()
    assert text_task.completed_at == noon
    assert "No consent on file" in text_task.skipped_reason
    assert not LeadText.objects.filter(lead=lead).exists()
    other, email_task = step("auto_email", noon, consent=None, email="sam@example.com",
                             phone="+12125550111")
    run(noon)
    email_task.refresh_from_db()
    assert email_task.completed_at == noon and not email_task.skipped_reason
    assert OutboundMail.objects.filter(kind=messaging.AUTOMATED_MAIL,
                                       to="sam@example.com").count() == 1


def test_the_do_not_contact_list_skips_the_email(step):
    noon = utc(2026, 12, 2, 17, 0)
    lead, task = step("auto_email", noon)
    DoNotContact.objects.create(email="pat@example.com")

    run(noon)

    task.refresh_from_db()
    assert "do-not-contact" in task.skipped_reason
    assert not OutboundMail.objects.filter(kind=messaging.AUTOMATED_MAIL).exists()


def test_a_fourth_text_in_24_hours_waits(step):
    noon = utc(2026, 12, 2, 17, 0)
    lead, task = step("auto_text", noon)
    for hours in (1, 2, 3):
        Activity.objects.create(lead=lead, kind="text", automated=True,
                                created_at=noon - timedelta(hours=hours))

    run(noon)

    task.refresh_from_db()
    assert task.not_before == noon + timedelta(hours=21) and task.completed_at is None


def test_an_email_is_truthful_and_carries_the_one_click_unsubscribe(acme, step, mailbox):
    noon = utc(2026, 12, 2, 17, 0)
    lead, task = step("auto_email", noon)

    run(noon)
    send_due_mail()

    (message,) = mailbox
    lead.refresh_from_db()
    link = f"http://{acme.host}/unsubscribe/{lead.unsubscribe_token}"
    assert message["List-Unsubscribe"].strip() == f"<{link}>"  # folded when long
    assert message["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
    assert message["From"].addresses[0].display_name == "Dana Lee via Acme"
    assert message["Subject"] == Activity.objects.get(lead=lead).subject
    body = message.get_content()
    assert link in body and ADDRESS in body and "Dana Lee" in body
    # the mail client's one-click POST, without cookie or CSRF token
    client = host_client(acme.host)
    client.handler.enforce_csrf_checks = True
    response = client.post(f"/unsubscribe/{lead.unsubscribe_token}",
                           "List-Unsubscribe=One-Click",
                           content_type="application/x-www-form-urlencoded")
    assert response.status_code == 200
    lead.refresh_from_db()
    assert lead.opted_out_via == "email_unsubscribe"


def test_an_email_waits_for_the_brokerages_postal_address(acme, step):
    Brokerage.objects.filter(pk=acme.brokerage.pk).update(postal_address="")
    noon = utc(2026, 12, 2, 17, 0)
    lead, task = step("auto_email", noon)

    run(noon)

    task.refresh_from_db()
    assert task.completed_at is None and "postal address" in task.hold_reason


def test_stop_please_gets_one_confirmation_and_nothing_after_start_restores(
        acme, step, twilio):
    noon = utc(2026, 12, 2, 17, 0)
    lead, task = step("auto_text", noon + timedelta(days=1))

    messaging.receive_text(from_number="(212) 555-0100", body="Stop please", now=noon)
    messaging.receive_text(from_number="+12125550100", body="STOP", now=noon)
    messaging.run_automated(now=noon)

    lead.refresh_from_db()
    assert lead.opted_out_via == "text_reply"
    assert [p["form"]["Body"][0] for p in twilio] == [
        "Acme: you are unsubscribed and will get no more automated messages from us. "
        "Reply START to opt back in."]
    inbound = Activity.objects.filter(lead=lead, inbound=True).order_by("id")
    assert [a.body for a in inbound] == ["Stop please", "STOP"]
    # whatever is open and automated later is skipped, never sent
    Task.objects.filter(lead=lead, completed_at__isnull=True).delete()
    later = Task.objects.create(lead=lead, agent_id=lead.agent_id, title="Market update",
                                channel="auto_text", due_at=noon + timedelta(days=2))
    messaging.run_automated(now=noon + timedelta(days=2))
    later.refresh_from_db()
    assert "opted out" in later.skipped_reason and len(twilio) == 1

    messaging.receive_text(from_number="+12125550100", body="START",
                           now=noon + timedelta(days=3))
    lead.refresh_from_db()
    assert lead.opted_out_at is None
    messaging.run_automated(now=noon + timedelta(days=3))
    assert len(twilio) == 2 and "subscribed again" in twilio[1]["form"]["Body"][0]


def test_writing_an_automated_step_wakes_the_brokerage_and_a_run_settles_it(acme, step):
    due = utc(2026, 12, 2, 17, 0)

    step("auto_email", due)

    assert Brokerage.objects.get(pk=acme.brokerage.pk).next_automated_due_at == due
    assert acme.schema_name not in messaging.brokerages_with_due_work(
        now=due - timedelta(seconds=1))
    assert acme.schema_name in messaging.brokerages_with_due_work(now=due)
    messaging.run_automated(now=due)
    # the step went out: the next one is the lead's (none: no cadence here)
    woke = Brokerage.objects.get(pk=acme.brokerage.pk).next_automated_due_at
    assert woke is None or woke > due
