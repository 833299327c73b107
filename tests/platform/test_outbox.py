"""The mail outbox: every mail is a row first, sent after commit by a task, and re-sent by
the sweeper when the task was lost or the mail server refused it; never sent twice."""

from __future__ import annotations

import ast
import json
import re
import time
import uuid
from datetime import timedelta

import psycopg
import pytest
import pytest_django.fixtures as pytest_django_fixtures
import redis
from django.db import connection
from django.utils import timezone

from clozings.platform import mail as outbox
from clozings.platform.embedded import free_port
from clozings.platform.models import OutboundMail
from clozings.platform.tasks import send_mail_task
from clozings.tenants import services as tenants
from clozings.tenants.models import Brokerage
from clozings.territories import selectors
from clozings.territories import services as territories
from clozings.territories.models import Slot, WaitlistEntry
from tests.conftest import host_client
from tests.tenants.factories import UserFactory
from tests.territories.factories import active_reservation, agent, run_at_once


def _queue(to: str = "pat@example.test", **extra) -> OutboundMail:
    return outbox.queue_mail(**{"to": to, "subject": "Hello", "text": "Plain body",
                                "kind": "tests.hello", "ref": "1", **extra})


@pytest.fixture
def smtp_down(settings):
    """The mail server is down (nothing listens on its port); `.up()` brings it back."""
    working_port = settings.EMAIL_PORT

    class Outage:
        @staticmethod
        def up() -> None:
            settings.EMAIL_PORT = working_port

    settings.EMAIL_PORT = free_port()
    return Outage


def test_a_mail_is_a_row_sent_by_a_task_after_commit(
        db, settings, mailbox, django_capture_on_commit_callbacks):
    broker = redis.Redis.from_url(settings.CELERY_BROKER_URL)
    broker.delete("celery")

    # when
    with django_capture_on_commit_callbacks(execute=True):
        mail = _queue(html="<p>HTML body</p>", headers={"Reply-To": "desk@example.test"})

    # then: recorded and handed to the worker, not sent yet
    queued = [json.loads(raw) for raw in broker.lrange("celery", 0, -1)]
    assert [m["headers"]["task"] for m in queued] == ["platform.send_mail"]
    assert (mail.state, mail.attempts, mailbox) == ("queued", 0, [])

    # when: the worker runs the task
    send_mail_task.run(mail.pk)

    # then
    [message] = mailbox
    assert (message["To"], message["Subject"], message["Reply-To"]) == (
        "pat@example.test", "Hello", "desk@example.test")
    assert message.get_body(("plain",)).get_content().strip() == "Plain body"
    assert message.get_body(("html",)).get_content().strip() == "<p>HTML body</p>"
    mail.refresh_from_db()
    assert (mail.state, mail.attempts, mail.last_error) == ("sent", 1, "")
    assert mail.sent_at is not None and mail.next_attempt_at is None


def test_a_mail_rolled_back_with_its_transaction_never_goes_out(
        db, mailbox, django_capture_on_commit_callbacks):
    from django.db import transaction

    with django_capture_on_commit_callbacks(execute=True) as callbacks:
        with pytest.raises(RuntimeError), transaction.atomic():
            _queue()
            raise RuntimeError("the caller's work failed")
    outbox.send_due_mail()

    assert (callbacks, mailbox) == ([], [])
    assert not OutboundMail.objects.filter(kind="tests.hello").exists()


def test_mail_queued_together_is_sent_by_one_task_and_one_rolled_back_is_skipped(
        db, settings, mailbox, django_capture_on_commit_callbacks):
    from django.db import transaction

    from clozings.platform.tasks import send_mails_task

    broker = redis.Redis.from_url(settings.CELERY_BROKER_URL)
    broker.delete("celery")

    # when: three mails of one batch, the second rolled back with its savepoint
    with django_capture_on_commit_callbacks(execute=True), outbox.sent_together():
        first = _queue(to="one@example.test")
        with pytest.raises(RuntimeError), transaction.atomic():
            gone = _queue(to="two@example.test")
            raise RuntimeError("this delivery failed")
        third = _queue(to="three@example.test")

    # then: one message for the lot
    queued = [json.loads(raw) for raw in broker.lrange("celery", 0, -1)]
    assert [m["headers"]["task"] for m in queued] == ["platform.send_mails"]
    assert ast.literal_eval(queued[0]["headers"]["argsrepr"]) == (
        [first.pk, gone.pk, third.pk],)

    # when: the worker runs it, the rolled-back mail is not there to send
    send_mails_task.run([first.pk, gone.pk, third.pk])

    assert sorted(message["To"] for message in mailbox) == [
        "one@example.test", "three@example.test"]
    assert not OutboundMail.objects.filter(pk=gone.pk).exists()


def test_a_mail_whose_task_was_lost_is_sent_by_the_sweeper(db, mailbox):
    # given: queued, but its task never reached a worker (broker down, worker killed)
    mail = _queue()

    # when: beat's sweep runs
    tried = outbox.send_due_mail()

    # then
    assert tried == 1
    assert [m["To"] for m in mailbox] == ["pat@example.test"]
    mail.refresh_from_db()
    assert mail.state == "sent"


def test_a_mail_server_that_is_down_then_up_delays_the_mail_and_shows_why(
        db, mailbox, smtp_down):
    # given: the mail server is down when the task runs
    mail = _queue()
    send_mail_task.run(mail.pk)

    # then: nothing sent; the failure is on the row, with the next attempt backed off
    mail.refresh_from_db()
    assert mailbox == []
    assert (mail.state, mail.attempts) == ("failing", 1)
    assert mail.last_error.startswith("ConnectionRefusedError")
    assert mail.next_attempt_at == mail.last_attempt_at + timedelta(seconds=30)
    # the task again, or a sweep, before then: no new attempt
    send_mail_task.run(mail.pk)
    assert outbox.send_due_mail(now=mail.next_attempt_at - timedelta(seconds=1)) == 0

    # when: still down at the next attempt, the back-off doubles
    outbox.send_due_mail(now=mail.next_attempt_at)
    mail.refresh_from_db()
    assert (mail.attempts, mail.next_attempt_at - mail.last_attempt_at) == (
        2, timedelta(seconds=60))

    # when: the server is back and the sweeper's time comes
    smtp_down.up()
    outbox.send_due_mail(now=mail.next_attempt_at)

    # then: it arrives once, and the row says so
    assert [m["To"] for m in mailbox] == ["pat@example.test"]
    mail.refresh_from_db()
    assert (mail.state, mail.attempts) == ("sent", 3)


def test_after_the_last_attempt_the_mail_is_given_up_and_listed_for_staff(
        db, mailbox, smtp_down):
    mail = _queue()
    OutboundMail.objects.filter(pk=mail.pk).update(attempts=outbox.MAX_ATTEMPTS - 1)

    outbox.send_due_mail()

    mail.refresh_from_db()
    assert (mail.state, mail.attempts, mail.next_attempt_at) == (
        "failed", outbox.MAX_ATTEMPTS, None)
    assert outbox.send_due_mail(now=timezone.now() + timedelta(days=30)) == 0
    assert mail in list(outbox.failing_mail())


def test_control_characters_in_a_subject_or_header_are_cleaned_when_queued(db, mailbox):
    # a subject that would otherwise raise BadHeaderError (or inject a Bcc) at send time
    mail = _queue(subject="Offer\r\nBcc: evil@example.test\x00 for\u2028you\t!",
                  headers={"X-Ref": "a\nb"})

    outbox.send_due_mail()

    assert (mail.subject, mail.headers) == ("Offer Bcc: evil@example.test for you !",
                                            {"X-Ref": "a b"})
    [message] = mailbox
    assert message["Subject"] == "Offer Bcc: evil@example.test for you !"
    assert message["Bcc"] is None
    assert message["X-Envelope-To"] == "pat@example.test"


def test_an_invitation_from_a_brokerage_whose_name_has_a_line_break_is_sent(
        acme, mailbox, django_capture_on_commit_callbacks):
    # given: a name stored before names were checked
    Brokerage.objects.filter(pk=acme.brokerage.pk).update(name="Acme\r\nRealty")
    acme.brokerage.refresh_from_db()

    with django_capture_on_commit_callbacks(execute=True):
        tenants.invite_seat(brokerage=acme.brokerage, email="nl@example.test")
    outbox.send_due_mail()

    [message] = mailbox
    assert message["Subject"] == "You're invited to Acme Realty on Clozings"


@pytest.mark.parametrize("to, headers", [
    ("not-an-address", None),
    ("a" * 64 + "@" + ".".join(["b" * 60] * 4) + ".test", None),  # 313 characters
    ("a@example.test\nBcc: b@example.test", None),
    ("pat@example.test", {"Bcc": "spy@example.test"}),
    ("pat@example.test", {"Bad Name:": "x"}),
])
def test_a_bad_address_or_header_name_is_refused_and_nothing_is_queued(db, to, headers):
    with pytest.raises(ValueError):
        _queue(to=to, headers=headers)

    assert not OutboundMail.objects.filter(kind="tests.hello").exists()


def test_a_waitlist_offer_made_while_mail_is_down_is_kept_and_mailed_once_it_is_back(
        acme, globex, mailbox, smtp_down, django_capture_on_commit_callbacks):
    # given: ZIP 60614 is taken and a globex agent waits for it
    holding = active_reservation(agent(acme.brokerage), "60614")
    waiting = agent(globex.brokerage)
    entry = territories.join_waitlist(seat=waiting, zip_code="60614")

    # when: the place is freed while the mail server is down
    with django_capture_on_commit_callbacks(execute=True):
        territories.release_reservation(reservation_id=holding.pk, reason="released_by_owner")
    outbox.send_due_mail()  # the outbox's task tries at once

    # then: the offer stands, holds the place, and the agent can open and take it
    entry.refresh_from_db()
    assert entry.status == WaitlistEntry.Status.OFFERED
    assert Slot.objects.get(territory__zip_code="60614").offer_id == entry.pk
    assert selectors.open_offer(entry_id=entry.pk, brokerage=globex.brokerage,
                                seat=waiting) == entry
    [mail] = OutboundMail.objects.filter(kind="territories.offer", ref=str(entry.pk))
    assert (mail.state, mail.attempts, mailbox) == ("failing", 1, [])

    # when: the server is back and the sweeper's time comes
    smtp_down.up()
    outbox.send_due_mail(now=mail.next_attempt_at)

    # then: the offer's mail arrives with its link
    [message] = mailbox
    assert message["To"] == waiting.email
    assert f"http://globex.localhost/territories/offers/{entry.pk}/" in message.get_body(
        ("plain",)).get_content()


def test_beat_sweeps_the_outbox_well_within_a_minute(settings):
    from clozings.platform.celery import app

    entry = settings.CELERY_BEAT_SCHEDULE["platform.sweep_outbox"]

    assert entry["task"] in app.tasks
    assert entry["schedule"] <= 30
    assert outbox.SWEEP_SECONDS < app.tasks[entry["task"]].soft_time_limit


# --- what people see ------------------------------------------------------------------
def test_the_seats_pages_show_whether_an_invitation_mail_is_failing_or_sent(
        acme, mailbox, smtp_down, django_capture_on_commit_callbacks):
    # given: an invitation made while the mail server is down
    with django_capture_on_commit_callbacks(execute=True):
        seat = tenants.invite_seat(brokerage=acme.brokerage, email="wait@example.test",
                                   name="Wai Ting", invited_by=acme.admin)
    outbox.send_due_mail()
    admin = host_client(acme.host, acme.admin)

    # then: the admin sees it is not delivered yet, and why on the seat's page
    listing = admin.get("/seats/").content.decode()
    assert "Invitation mail not delivered yet; retrying (tried 1 time)" in listing
    detail = admin.get(f"/seats/{seat.pk}/").content.decode()
    assert "ConnectionRefusedError" in detail
    assert "Resend invitation" in detail

    # when: the mail server is back and the sweeper sends it
    smtp_down.up()
    outbox.send_due_mail(now=timezone.now() + timedelta(minutes=1))

    # then
    assert [m["To"] for m in mailbox] == ["wait@example.test"]
    assert "Invitation mail sent" in admin.get("/seats/").content.decode()


def test_staff_home_lists_mail_that_keeps_failing(db, smtp_down):
    failing = _queue(to="bounce@example.test")
    _queue(to="fine@example.test")
    OutboundMail.objects.filter(pk=failing.pk).update(
        attempts=outbox.FAILING_AFTER_ATTEMPTS - 1)
    outbox.send_due_mail()  # one more failure each: the first reaches the threshold
    staff = UserFactory(is_staff=True)

    page = host_client("localhost", staff).get("/staff/").content.decode()

    assert "Mail that keeps failing" in page
    assert "bounce@example.test" in page and "ConnectionRefusedError" in page
    assert "fine@example.test" not in page


def test_a_password_reset_asked_while_mail_is_down_is_mailed_once_it_is_back(
        acme, mailbox, smtp_down):
    client = host_client(acme.host)

    # when: someone asks for a reset link while the mail server is down
    asked = client.post("/password-reset/", {"email": "admin@acme.test"})
    outbox.send_due_mail()

    # then: they are told it is on its way (not an error page), and it is retried
    assert (asked.status_code, asked["Location"]) == (302, "/password-reset/sent/")
    [mail] = OutboundMail.objects.filter(kind="tenants.password_reset")
    assert (mail.state, mail.to) == ("failing", "admin@acme.test")

    # when: the server is back and the sweeper's time comes
    smtp_down.up()
    outbox.send_due_mail(now=mail.next_attempt_at)

    # then: the link arrives and works
    [message] = mailbox
    link = re.search(r"http://acme\.localhost(/password-reset/\S+/)",
                     message.get_body(("plain",)).get_content()).group(1)
    assert client.get(link, follow=True).status_code == 200


# --- with real commits: several connections racing, a worker dying mid-send -------------
# pytest-django sets up the test database for tests that ask for `db` (which would wrap
# these in a transaction other connections cannot see); these ask for it by this name.
_databases_for_test = pytest_django_fixtures._get_databases_for_test


def _databases_with_committed_mail(test):
    if "committed_mail" in getattr(test, "fixturenames", ()):
        return {"default"}, False
    return _databases_for_test(test)


pytest_django_fixtures._get_databases_for_test = _databases_with_committed_mail


@pytest.fixture
def committed_mail(django_db_setup, django_db_blocker):
    """Mail committed for real (other connections see it), removed afterwards."""
    kind = f"tests.{uuid.uuid4().hex[:8]}"
    with django_db_blocker.unblock():
        yield kind
        OutboundMail.objects.filter(kind=kind).delete()


def test_the_task_and_sweepers_racing_send_each_mail_exactly_once(committed_mail, mailbox):
    # given: 20 committed mails
    mails = [outbox.queue_mail(to=f"r{i}@example.test", subject="Race", text=".",
                               kind=committed_mail) for i in range(20)]

    # when: the tasks run while two sweeps run, all at once
    def tasks() -> None:
        for mail in mails:
            outbox.send_queued_mail(mail_id=mail.pk)

    run_at_once([tasks, outbox.send_due_mail, outbox.send_due_mail, tasks])

    # then: each mail arrived exactly once, after one attempt
    received = sorted(m["To"] for m in mailbox)
    assert received == sorted(f"r{i}@example.test" for i in range(20))
    assert set(OutboundMail.objects.filter(kind=committed_mail).values_list(
        "attempts", flat=True)) == {1}


def test_a_mail_held_by_a_worker_that_dies_is_sent_by_the_sweeper(committed_mail, mailbox):
    # given: a worker has claimed the mail (its connection holds the row's lock)
    mail = outbox.queue_mail(to="held@example.test", subject="Held", text=".",
                             kind=committed_mail)
    db = connection.settings_dict
    worker = psycopg.connect(dbname=db["NAME"], user=db["USER"], password=db["PASSWORD"],
                             host=db["HOST"], port=db["PORT"] or None)
    worker.execute("SELECT id FROM platform_outboundmail WHERE id = %s FOR UPDATE",
                   [mail.pk])

    # then: a sweep leaves it alone while that worker is sending it
    assert outbox.send_due_mail() == 0
    assert mailbox == []

    # when: the worker dies (its connection goes, and with it the lock, once the server
    # has ended that backend: closing only asks it to)
    backend_pid = worker.info.backend_pid
    worker.close()
    deadline = time.monotonic() + 30
    with connection.cursor() as cursor:
        while time.monotonic() < deadline:
            cursor.execute("SELECT 1 FROM pg_stat_activity WHERE pid = %s", [backend_pid])
            if cursor.fetchone() is None:
                break
            time.sleep(0.02)

    # then: the next sweep sends it
    assert outbox.send_due_mail() == 1
    assert [m["To"] for m in mailbox] == ["held@example.test"]


@pytest.mark.django_db
def test_a_private_mail_leaves_nothing_of_the_contact_in_the_public_outbox(mailbox):
    # given: a mail to a brokerage's contact, and an ordinary one
    private = outbox.queue_mail(to="lead@example.com", subject="Homes in Austin",
                                text="Hi Pat, three new listings.", kind="test.private",
                                headers={"List-Unsubscribe": "<https://x.test/u/1>"},
                                private=True)
    ordinary = outbox.queue_mail(to="agent@example.com", subject="New lead",
                                 text="Call them.", kind="test.ordinary")

    # when
    outbox.send_due_mail()

    # then: both went out; only the ordinary one is still readable in the outbox
    assert sorted(m["X-Envelope-To"] for m in mailbox) == ["agent@example.com",
                                                           "lead@example.com"]
    private.refresh_from_db()
    ordinary.refresh_from_db()
    assert private.sent_at is not None and ordinary.sent_at is not None
    assert (private.to, private.subject, private.text, private.headers) == ("", "", "", {})
    assert (ordinary.to, ordinary.text) == ("agent@example.com", "Call them.")


class _CountingServer:
    """An SMTP server on loopback that counts its sessions; `drop_after_each`: it closes
    the connection just after taking each mail (a server that drops kept connections)."""

    def __init__(self, *, drop_after_each: bool = False):
        from aiosmtpd.controller import Controller

        self.sessions, self.received, self.drop_after_each = 0, [], drop_after_each
        self.controller = Controller(self, hostname="127.0.0.1", port=free_port())

    async def handle_EHLO(self, server, session, envelope, hostname, responses):  # noqa: N802
        self.sessions += 1
        session.host_name = hostname
        return responses

    async def handle_DATA(self, server, session, envelope):  # noqa: N802
        import asyncio

        self.received.extend(envelope.rcpt_tos)
        if self.drop_after_each:
            asyncio.get_running_loop().call_later(0.05, server.transport.close)
        return "250 Message accepted"


@pytest.fixture
def counting_server(settings):
    servers = []

    def start(**options) -> _CountingServer:
        server = _CountingServer(**options)
        server.controller.start()
        servers.append(server)
        settings.EMAIL_PORT = server.controller.port
        return server

    yield start
    for server in servers:
        server.controller.stop()


def test_a_batch_of_mail_goes_out_over_one_connection_to_the_mail_server(
        db, counting_server):
    server = counting_server()
    mails = [_queue(to=f"agent{n}@example.test") for n in range(3)]

    assert outbox.send_queued_mails(mail_ids=[mail.pk for mail in mails]) == []

    assert server.received == [f"agent{n}@example.test" for n in range(3)]
    assert server.sessions == 1
    assert {m.state for m in OutboundMail.objects.filter(pk__in=[m.pk for m in mails])} == {
        "sent"}


def test_a_kept_connection_the_server_dropped_is_opened_again_and_nothing_is_lost(
        db, counting_server):
    server = counting_server(drop_after_each=True)
    mails = [_queue(to=f"agent{n}@example.test") for n in range(3)]

    with outbox._one_server_session() as backend:
        for mail in mails:
            time.sleep(0.2)  # the server has closed the kept connection by now
            outbox._send_claimed(outbox._due(timezone.now()).filter(pk=mail.pk), backend)

    assert server.received == [f"agent{n}@example.test" for n in range(3)]
    assert server.sessions == 3
    assert {(m.state, m.attempts) for m in OutboundMail.objects.filter(
        pk__in=[m.pk for m in mails])} == {("sent", 1)}
