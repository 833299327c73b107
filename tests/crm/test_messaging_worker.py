"""A real Celery worker sends an automated email and an automated text exactly once, woken
by the sweeper through the public wake-up column, despite a duplicate run message."""

from __future__ import annotations

import time
import zoneinfo
from collections.abc import Iterator
from datetime import UTC, datetime

import pytest

from clozings.crm import tasks
from clozings.crm.models import Activity, ConsentEvent, Lead, LeadText, Task
from clozings.platform.tenancy import enqueue_now, in_schema
from clozings.tenants.models import Brokerage
from tests.billing.conftest import wait_until
from tests.distribution.conftest import Workers

CONSENT = {"text": "I agree to automated texts and emails from Acme.", "channels":
           ["call", "text", "email"], "given_at": "2026-11-30T15:00:00Z"}
# Zones far apart, so that one of them is inside 10:00-19:00 at any moment of the day.
ZONES = ("Europe/London", "Asia/Kolkata", "Asia/Tokyo", "Pacific/Guam", "America/New_York",
         "America/Los_Angeles", "Pacific/Honolulu")


def zone_in_daytime() -> str:
    now = datetime.now(UTC)
    return next(z for z in ZONES if 10 <= now.astimezone(zoneinfo.ZoneInfo(z)).hour < 19)


@pytest.fixture
def workers(transactional_db, tmp_path) -> Iterator[Workers]:
    from clozings.platform.celery import app

    app.control.purge()
    started = Workers(tmp_path)
    yield started
    started.stop_all()


@pytest.fixture
def crm_cleanup(acme) -> Iterator[None]:
    yield
    with in_schema(acme.schema_name):
        for model in (LeadText, Task, Activity, ConsentEvent, Lead):
            model.objects.all().delete()


@pytest.mark.worker
@pytest.mark.slow
def test_a_real_worker_sends_an_automated_email_and_text_once(
        acme, workers, crm_cleanup, twilio, mailbox, monkeypatch, settings):
    for name in ("SMS_BACKEND", "TWILIO_ACCOUNT_SID", "TWILIO_AUTH_TOKEN",
                 "TWILIO_FROM_NUMBER", "TWILIO_API_BASE", "EMAIL_PORT"):
        monkeypatch.setenv(name, str(getattr(settings, name)))
    Brokerage.objects.filter(pk=acme.brokerage.pk).update(
        postal_address="Acme Realty, 100 Main St, Springfield, IL 62701",
        next_automated_due_at=None)
    zone = zone_in_daytime()
    workers.start()
    now = datetime.now(UTC)
    with in_schema(acme.schema_name):
        # a number with no US area code: the lead's own zone decides the window
        texted = Lead.objects.create(agent_id=acme.admin_seat.pk, first_name="Tess",
                                     phone="+447700900123", time_zone=zone, consent=CONSENT)
        mailed = Lead.objects.create(agent_id=acme.admin_seat.pk, first_name="Mel",
                                     email="mel@example.com", time_zone=zone)
        for lead, channel in ((texted, "auto_text"), (mailed, "auto_email")):
            Task.objects.create(lead=lead, agent_id=lead.agent_id, title="Market update",
                                channel=channel, due_at=now)

    assert tasks.sweep_automated() == 1  # the wake-up column names acme
    enqueue_now(tasks.run_automated, schema_name=acme.schema_name)  # a duplicate message
    wait_until(lambda: len(twilio) == 1 and len(mailbox) == 1, what="the text and the email")
    # the duplicate run goes after the first; let it finish, then nothing more has gone out
    deadline = time.monotonic() + 5
    while time.monotonic() < deadline and Brokerage.objects.get(
            pk=acme.brokerage.pk).next_automated_due_at is not None:
        time.sleep(0.2)
    time.sleep(1)

    assert len(twilio) == 1 and len(mailbox) == 1
    assert twilio[0]["form"]["To"] == ["+447700900123"]
    assert "Tess" in twilio[0]["form"]["Body"][0]
    assert mailbox[0]["To"] == "mel@example.com" and mailbox[0]["List-Unsubscribe-Post"]
    with in_schema(acme.schema_name):
        sent = Activity.objects.filter(automated=True).order_by("kind")
        assert [a.kind for a in sent] == ["email", "text"]
        assert sent[1].provider_id.startswith("SM")
        assert LeadText.objects.get().sent_at is not None
        assert not Task.objects.filter(channel__in=("auto_text", "auto_email"),
                                       completed_at__isnull=True).exists()
