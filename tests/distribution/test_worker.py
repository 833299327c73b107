"""With a real Celery worker: a lead posted through the API lands in the agent's CRM; the
sweeper sends a lead whose message was lost; a worker SIGKILLed mid-batch loses nothing
and duplicates nothing once a new worker and the sweeper have run."""

from __future__ import annotations

import time
from datetime import timedelta

import pytest
from django.utils import timezone

from clozings.crm.models import Lead, Task
from clozings.distribution import tasks
from clozings.distribution.models import InboundLead
from clozings.platform.tenancy import in_schema
from tests.billing.conftest import wait_until
from tests.distribution.factories import holder, lead_data, lead_source, source_client

pytestmark = [pytest.mark.worker, pytest.mark.slow]

ZIP = "10001"


def delivered(count: int):
    return lambda: InboundLead.objects.filter(status="delivered").count() >= count


def test_a_lead_posted_through_the_api_is_in_the_agents_crm_moments_later(
        acme, workers, crm_cleanup):
    reservation = holder(acme.brokerage, ZIP)
    source = lead_source()
    workers.start()

    response = source_client(source.key).post("/api/v1/leads", lead_data(),
                                              content_type="application/json")

    assert response.status_code == 202
    wait_until(delivered(1), what="the lead to be delivered")
    lead = InboundLead.objects.get(pk=response.json()["id"])
    assert (lead.seat_id, lead.brokerage_id) == (reservation.seat_id, acme.brokerage.pk)
    with in_schema(acme.schema_name):
        crm = Lead.objects.get()
        assert Task.objects.get(lead=crm).title == "Call now"
    assert crm.inbound_lead_id == lead.pk and crm.agent_id == reservation.seat_id


def test_a_burst_of_leads_wakes_routing_once_and_every_lead_is_delivered_once(
        acme, workers, crm_cleanup):
    import redis
    from django.conf import settings

    holder(acme.brokerage, ZIP)
    client = source_client(lead_source().key)
    broker = redis.Redis.from_url(settings.CELERY_BROKER_URL)

    # twenty leads posted one after another while no worker runs
    for n in range(20):
        assert client.post("/api/v1/leads", lead_data(n),
                           content_type="application/json").status_code == 202

    # one wake-up is on its way for all of them
    assert broker.llen("routing") == 1
    # a worker taking 4 at a time hands the rest on, batch after batch
    workers.start(LEAD_ROUTING_BATCH="4")
    wait_until(delivered(20), what="the twenty leads to be delivered")
    with in_schema(acme.schema_name):
        assert sorted(Lead.objects.values_list("inbound_lead_id", flat=True)) == sorted(
            InboundLead.objects.values_list("pk", flat=True))
        assert Task.objects.count() == 20


class _SlowMailServer:
    """A real SMTP server on loopback taking a tenth of a second over each mail."""

    def __init__(self):
        from aiosmtpd.controller import Controller

        from clozings.platform.embedded import free_port

        self.controller = Controller(self, hostname="127.0.0.1", port=free_port())

    async def handle_DATA(self, server, session, envelope):  # noqa: N802 (aiosmtpd's name)
        import asyncio

        await asyncio.sleep(0.1)
        return "250 Message accepted"


def test_a_lead_is_routed_before_a_backlog_of_mail(acme, workers, crm_cleanup):
    from clozings.platform import mail
    from clozings.platform.models import OutboundMail

    holder(acme.brokerage, ZIP)
    server = _SlowMailServer()
    server.controller.start()
    try:
        # twenty mails waiting for the worker (a task each), then a lead
        for n in range(20):
            mail.queue_mail(to=f"someone{n}@example.test", subject="Hello", text="Hi",
                            kind="tests.backlog", ref=str(n))
        response = source_client(lead_source().key).post(
            "/api/v1/leads", lead_data(), content_type="application/json")
        assert response.status_code == 202

        workers.start(EMAIL_PORT=str(server.controller.port))
        wait_until(lambda: delivered(1)() and OutboundMail.objects.filter(
            kind="tests.backlog", sent_at__isnull=False).count() == 20,
            what="the lead to be delivered and the mail to go out")
        # the lead went first: of the mail queued before it (two seconds of sending), none
        # went out before it was routed (one at most, had the worker taken a message while
        # still declaring its queues)
        routed_at = InboundLead.objects.get(pk=response.json()["id"]).delivered_at
        assert OutboundMail.objects.filter(kind="tests.backlog",
                                           sent_at__lt=routed_at).count() <= 1
    finally:
        server.controller.stop()


def test_the_sweeper_sends_a_lead_whose_message_was_lost(acme, workers, crm_cleanup):
    holder(acme.brokerage, ZIP)
    source = lead_source().source
    # committed without a routing message, as when the broker was down at intake
    lost = InboundLead.objects.create(
        source=source, zip_code=ZIP, phone="+12125550100", payload={},
        received_at=timezone.now() - timedelta(seconds=30))
    workers.start()

    assert tasks.sweep_waiting_leads() == 1

    wait_until(delivered(1), what="the swept lead to be delivered")
    with in_schema(acme.schema_name):
        assert list(Lead.objects.values_list("inbound_lead_id", flat=True)) == [lost.pk]


def test_a_worker_killed_mid_batch_loses_and_duplicates_nothing(
        acme, workers, crm_cleanup, settings):
    settings.LEAD_SWEEP_AFTER_SECONDS = 1
    holder(acme.brokerage, ZIP)
    source = lead_source()
    # small batches (a task takes its lead and a few waiting ones), so that the kill
    # lands while leads are still waiting
    first = workers.start(LEAD_ROUTING_BATCH="5")
    response = source_client(source.key).post(
        "/api/v1/leads/batch", {"leads": [lead_data(n) for n in range(60)]},
        content_type="application/json")
    assert response.status_code == 207

    wait_until(delivered(5), what="the first leads to be delivered")
    first.kill()  # SIGKILL: its message in hand is neither acknowledged nor finished
    first.wait()
    assert InboundLead.objects.filter(status="delivered").count() < 60  # killed mid-batch
    workers.start(LEAD_ROUTING_BATCH="5")
    deadline = time.monotonic() + 90
    while not delivered(60)() and time.monotonic() < deadline:
        tasks.sweep_waiting_leads()  # what beat does every few seconds
        time.sleep(1)

    assert InboundLead.objects.filter(status="delivered").count() == 60
    with in_schema(acme.schema_name):
        assert Lead.objects.count() == 60
        assert Task.objects.count() == 60
        assert set(Lead.objects.values_list("inbound_lead_id", flat=True)) == set(
            InboundLead.objects.values_list("pk", flat=True))
