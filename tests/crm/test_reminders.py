"""Reminders: the digest at the agent's own local hour, once a local day; an overdue task
reminds its agent once and, past the brokerage's threshold, the admins once; the sweepers
find nothing to do without looking into a schema."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

import pytest

from clozings.crm import reminders
from clozings.crm.models import Lead, Task
from clozings.platform.mail import send_due_mail
from clozings.platform.models import OutboundMail
from clozings.platform.tenancy import in_schema
from clozings.tenants.models import Brokerage, Seat
from tests.tenants.factories import SeatFactory

pytestmark = pytest.mark.django_db


def utc(*args) -> datetime:
    return datetime(*args, tzinfo=UTC)


@pytest.fixture
def agent(acme) -> Seat:
    seat = SeatFactory(brokerage=acme.brokerage, name="Dana Lee", digest_hour=7)
    seat.user.time_zone = "America/Los_Angeles"
    seat.user.save()
    return seat


def _task(acme, agent, due_at, title="Call back") -> Task:
    with in_schema(acme.schema_name):
        lead = Lead.objects.create(agent_id=agent.pk, first_name="Pat", last_name="Buyer",
                                   phone="+12125550100")
        return Task.objects.create(lead=lead, agent_id=agent.pk, title=title, due_at=due_at)


def test_the_digest_goes_out_at_the_agents_local_hour_once_a_day(acme, agent, mailbox):
    _task(acme, agent, utc(2026, 12, 2, 18, 0))  # 10:00 Pacific today
    _task(acme, agent, utc(2026, 12, 4, 18, 0), title="Later")  # not today

    assert reminders.send_due_digests(now=utc(2026, 12, 2, 14, 59)) == 0  # 06:59 Pacific
    assert reminders.send_due_digests(now=utc(2026, 12, 2, 15, 0)) == 1  # 07:00 Pacific
    assert reminders.send_due_digests(now=utc(2026, 12, 2, 15, 5)) == 0
    assert reminders.send_due_digests(now=utc(2026, 12, 3, 2, 0)) == 0  # 18:00, same day
    send_due_mail()

    assert len(mailbox) == 1
    message = mailbox[0]
    assert message["To"] == agent.user.email and message["Subject"] == "Today: 1 follow-up"
    body = message.get_content()
    assert "10:00 Call back: Pat Buyer" in body and "Later" not in body
    assert "/leads/" in body and "#lead-" not in body
    agent.refresh_from_db()
    assert agent.digest_sent_on == date(2026, 12, 2)
    # the next local day, at 07:00 Pacific again
    assert reminders.send_due_digests(now=utc(2026, 12, 3, 15, 0)) == 1


def test_an_agent_who_chose_no_digest_gets_none(acme, agent):
    _task(acme, agent, utc(2026, 12, 2, 18, 0))
    Seat.objects.filter(pk=agent.pk).update(digest_hour=None)

    due = [seat_id for seat_id, _ in reminders.due_digests(now=utc(2026, 12, 2, 20, 0))]
    assert acme.admin_seat.pk in due and agent.pk not in due


def test_an_overdue_task_reminds_the_agent_once_then_the_admins_once(acme, agent, mailbox):
    Brokerage.objects.filter(pk=acme.brokerage.pk).update(overdue_escalation_hours=24,
                                                          next_reminder_due_at=None)
    due = utc(2026, 12, 2, 15, 0)
    task = _task(acme, agent, due)
    woke = Brokerage.objects.get(pk=acme.brokerage.pk).next_reminder_due_at
    assert woke == due + timedelta(minutes=60)

    with in_schema(acme.schema_name):
        assert reminders.remind_overdue(now=due + timedelta(minutes=59)) == 0
        assert reminders.remind_overdue(now=due + timedelta(minutes=61)) == 1
        assert reminders.remind_overdue(now=due + timedelta(hours=2)) == 0
        assert reminders.remind_overdue(now=due + timedelta(hours=24, minutes=1)) == 1
        assert reminders.remind_overdue(now=due + timedelta(hours=30)) == 0
        task.refresh_from_db()
    send_due_mail()

    assert task.reminded_at == due + timedelta(minutes=61)
    assert task.escalated_at == due + timedelta(hours=24, minutes=1)
    assert [(m["To"], m["Subject"]) for m in mailbox] == [
        (agent.user.email, "Overdue: Call back"),
        (acme.admin.email, "Overdue for 24 h: Call back")]
    assert "Dana Lee's follow-up is overdue" in mailbox[1].get_content()


def test_the_overdue_sweeper_skips_brokerages_with_nothing_due(acme, agent):
    Brokerage.objects.filter(pk=acme.brokerage.pk).update(next_reminder_due_at=None)
    due = utc(2026, 12, 2, 15, 0)
    _task(acme, agent, due)

    assert acme.schema_name not in reminders.brokerages_with_overdue_work(
        now=due + timedelta(minutes=59))
    assert acme.schema_name in reminders.brokerages_with_overdue_work(
        now=due + timedelta(minutes=60))
    with in_schema(acme.schema_name):
        reminders.remind_overdue(now=due + timedelta(minutes=60))
    # after the run, the next wake-up is the escalation's
    assert Brokerage.objects.get(pk=acme.brokerage.pk).next_reminder_due_at == (
        due + timedelta(hours=6, minutes=60))
    assert not OutboundMail.objects.filter(kind=reminders.ESCALATION).exists()
