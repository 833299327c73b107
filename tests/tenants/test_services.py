import pytest
from django.core.exceptions import ValidationError
from django.db import connection

from clozings.platform.embedded import free_port
from clozings.platform.mail import send_due_mail
from clozings.platform.models import OutboundMail
from clozings.tenants import services
from clozings.tenants.models import Brokerage, Domain, Seat
from tests.tenants.factories import PASSWORD


def _schema_tables(schema: str) -> set[str]:
    with connection.cursor() as cursor:
        cursor.execute("SELECT table_name FROM information_schema.tables WHERE table_schema = %s",
                       [schema])
        return {row[0] for row in cursor.fetchall()}


def test_provisioning_creates_schema_domain_and_admin_seat(db):
    brokerage = services.provision_brokerage(
        name="Sunrise Realty", slug="sunrise", admin_email="Boss@Sunrise.test",
        admin_name="Sam Boss", admin_password=PASSWORD)

    assert brokerage.schema_name == "brk_sunrise"
    assert "django_migrations" in _schema_tables("brk_sunrise")
    assert Domain.objects.get(tenant=brokerage).domain == "sunrise.localhost"
    seat = Seat.objects.get(brokerage=brokerage)
    assert (seat.email, seat.role, seat.status) == ("boss@sunrise.test", "admin", "active")
    assert seat.user.check_password(PASSWORD)


@pytest.mark.parametrize("slug", ["", "UPPER space", "-lead", "trail-", "www", "a" * 41, "acme"])
def test_provisioning_rejects_bad_or_taken_slugs_and_changes_nothing(acme, slug):
    before = Brokerage.objects.count()

    with pytest.raises(ValidationError) as caught:
        services.provision_brokerage(name="X", slug=slug, admin_email="x@example.test",
                                     admin_name="X", admin_password=PASSWORD)

    assert "slug" in caught.value.message_dict
    assert Brokerage.objects.count() == before


def test_an_invitation_survives_a_mail_server_that_is_down(
        acme, settings, mailbox, django_capture_on_commit_callbacks):
    working_port = settings.EMAIL_PORT
    settings.EMAIL_PORT = free_port()  # nothing listens there

    with django_capture_on_commit_callbacks(execute=True):
        seat = services.invite_seat(brokerage=acme.brokerage, email="late@example.test")
    send_due_mail()  # the outbox's task tries it at once

    [mail] = OutboundMail.objects.filter(kind="tenants.invitation", ref=str(seat.pk))
    assert (mail.state, mail.attempts) == ("failing", 1)
    assert "ConnectionRefusedError" in mail.last_error
    assert Seat.objects.get(pk=seat.pk).status == Seat.Status.INVITED
    assert mailbox == []

    settings.EMAIL_PORT = working_port  # the mail server is back; the sweeper retries
    send_due_mail(now=mail.next_attempt_at)

    assert [message["X-Envelope-To"] for message in mailbox] == ["late@example.test"]
    assert "/invite/" in mailbox[0].get_body(("plain",)).get_content()
    mail.refresh_from_db()
    assert (mail.state, mail.attempts) == ("sent", 2)
