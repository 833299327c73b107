"""Two workers routing at the same moment, on committed data: an agent's cap holds across
the ZIPs they hold."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

import pytest

from clozings.crm.models import Lead, Task
from clozings.distribution.models import InboundLead, LeadSource, RoutingState
from clozings.distribution.routing import route_lead
from clozings.platform.tenancy import in_schema
from clozings.tenants.models import Seat
from tests.distribution.factories import lead_source, take
from tests.territories.factories import CommittedSeats, active_reservation, run_at_once

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def seats(acme) -> Iterator[CommittedSeats]:
    made = CommittedSeats(brokerage=acme.brokerage)
    yield made
    with in_schema(acme.schema_name):
        Task.objects.all().delete()
        Lead.objects.all().delete()
    InboundLead.objects.all().delete()
    LeadSource.objects.all().delete()
    RoutingState.objects.all().delete()
    made.cleanup()


def test_a_daily_cap_of_one_holds_when_two_of_the_agents_zips_get_a_lead_at_once(seats):
    (agent,) = seats.make(1)
    Seat.objects.filter(pk=agent.pk).update(daily_cap=1)
    for zip_code in ("10001", "60601"):
        active_reservation(agent, zip_code)
    source = lead_source().source
    leads = [take(source, 1, zip_code="10001"), take(source, 2, zip_code="60601")]

    run_at_once([lambda lead=lead: route_lead(inbound_lead_id=lead.pk) for lead in leads])

    assert sorted(InboundLead.objects.values_list("status", flat=True)) == [
        "delivered", "orphaned"]


def _route_lead_messages() -> list[dict]:
    """The route_lead messages waiting in the broker's routing queue (their kwargs)."""
    import ast
    import json

    import redis
    from django.conf import settings

    raw = redis.Redis.from_url(settings.CELERY_BROKER_URL).lrange("routing", 0, -1)
    headers = [json.loads(message)["headers"] for message in raw]
    return [ast.literal_eval(h["kwargsrepr"]) for h in headers
            if h.get("task") == "distribution.route_lead"]


@contextmanager
def _held_by_another_worker(zip_code: str) -> Iterator[None]:
    """The ZIP's fair-share state locked by another connection, as a batch routing it
    would hold it, for the length of the block."""
    import threading

    from django.db import connection, transaction

    from clozings.territories.models import Territory

    territory = Territory.objects.get(zip_code=zip_code)
    RoutingState.objects.get_or_create(territory=territory)
    locked, release = threading.Event(), threading.Event()

    def another_worker() -> None:
        try:
            with transaction.atomic():
                RoutingState.objects.select_for_update().get(territory=territory)
                locked.set()
                release.wait(30)
        finally:
            connection.close()

    thread = threading.Thread(target=another_worker)
    thread.start()
    assert locked.wait(30)
    try:
        yield
    finally:
        release.set()
        thread.join()


def test_a_batch_leaves_a_territory_another_worker_holds_and_sends_its_lead_again(seats):
    from clozings.distribution.routing import route_waiting
    from clozings.platform.celery import app

    first, other = seats.make(2)
    active_reservation(first, "10001")
    active_reservation(other, "60601")
    source = lead_source().source
    busy, free = take(source, 1, zip_code="10001"), take(source, 2, zip_code="60601")
    app.control.purge()

    with _held_by_another_worker("10001"):
        taken = route_waiting(first_id=busy.pk, limit=10)

    # the free territory's lead is routed at once; the busy one's is left, and sent again
    assert [lead.pk for lead in taken] == [free.pk]
    statuses = dict(InboundLead.objects.values_list("pk", "status"))
    assert statuses == {busy.pk: "received", free.pk: "delivered"}
    assert _route_lead_messages() == [{"inbound_lead_id": busy.pk}]
    app.control.purge()
    assert [lead.pk for lead in route_waiting(first_id=busy.pk, limit=10)] == [busy.pk]
    assert InboundLead.objects.get(pk=busy.pk).status == "delivered"


def test_a_task_with_nothing_else_to_route_waits_for_its_leads_busy_territory(seats):
    import threading
    import time

    from django.db import connection

    from clozings.distribution.routing import route_waiting

    (agent,) = seats.make(1)
    active_reservation(agent, "10001")
    busy = take(lead_source().source, 1, zip_code="10001")
    taken: list = []

    def task() -> None:
        try:
            taken.extend(route_waiting(first_id=busy.pk, limit=10))
        finally:
            connection.close()

    with _held_by_another_worker("10001"):
        routing = threading.Thread(target=task)
        routing.start()
        deadline = time.monotonic() + 30
        with connection.cursor() as cursor:  # until the task waits for that lock
            while time.monotonic() < deadline:
                cursor.execute("SELECT count(*) FROM pg_locks WHERE NOT granted")
                if cursor.fetchone()[0]:
                    break
                time.sleep(0.05)
    routing.join()

    assert [lead.pk for lead in taken] == [busy.pk]
    assert InboundLead.objects.get(pk=busy.pk).status == "delivered"


def test_a_full_batch_sends_routing_again_for_the_leads_it_left(seats):
    from clozings.distribution.routing import route_waiting
    from clozings.platform.celery import app

    (agent,) = seats.make(1)
    active_reservation(agent, "10001")
    source = lead_source().source
    leads = [take(source, n, zip_code="10001") for n in range(5)]
    app.control.purge()

    taken = route_waiting(first_id=leads[0].pk, limit=2)

    # intake woke routing once for all five: the batch hands the rest on
    assert [lead.pk for lead in taken] == [leads[0].pk, leads[1].pk]
    assert _route_lead_messages() == [{"inbound_lead_id": leads[2].pk}]
    app.control.purge()
    assert [lead.pk for lead in route_waiting(first_id=leads[2].pk, limit=10)] == [
        lead.pk for lead in leads[2:]]
    assert _route_lead_messages() == []  # nothing left: nothing sent
    assert set(InboundLead.objects.values_list("status", flat=True)) == {"delivered"}
