"""The CRM's follow-up facts land on the public ledger line of the lead, in the same
transaction as the CRM's write (distribution's receivers), and only on a line delivered to
the brokerage whose schema writes them."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.db import transaction
from django.utils import timezone

from clozings.crm import services
from clozings.crm.models import Lead, Task
from clozings.distribution.routing import route_lead
from clozings.platform.tenancy import in_schema
from tests.distribution.factories import holder, lead_source, take

pytestmark = pytest.mark.django_db


@pytest.fixture
def delivered(acme):
    """A lead delivered to an acme agent: (inbound lead, CRM lead, agent's seat)."""
    reservation = holder(acme.brokerage, "10001")
    inbound = route_lead(inbound_lead_id=take(lead_source().source).pk)
    with in_schema(acme.schema_name):
        return inbound, Lead.objects.get(), reservation.seat


def test_delivery_projects_the_new_lead_and_its_first_task(acme, delivered):
    inbound, lead, _ = delivered
    with in_schema(acme.schema_name):
        task = Task.objects.get(lead=lead)
    inbound.refresh_from_db()
    assert (inbound.touches, inbound.crm_stage, inbound.next_task_due_at) == (
        0, "new", task.due_at)
    assert inbound.crm_stage_at == lead.stage_changed_at


def test_touches_stage_next_task_and_closing_are_projected(acme, delivered):
    inbound, lead, agent = delivered
    now = timezone.now()
    with in_schema(acme.schema_name):
        activity = services.log_activity(lead=lead, by=agent, kind="call",
                                         outcome="connected", now=now)
    inbound.refresh_from_db()
    assert (inbound.touches, inbound.last_touch_at, inbound.crm_stage, inbound.crm_stage_at,
            inbound.next_task_due_at) == (1, now, "contacted", now, activity.next_task.due_at)

    closed_at = now + timedelta(days=40)
    with in_schema(acme.schema_name):
        services.change_stage(lead=lead, by=agent, stage="closed",
                              sale_price_cents=50_000_000, commission_cents=1_250_000,
                              now=closed_at)
    inbound.refresh_from_db()
    assert (inbound.crm_stage, inbound.crm_stage_at, inbound.closed_at,
            inbound.sale_price_cents, inbound.commission_cents, inbound.next_task_due_at) == (
        "closed", closed_at, closed_at, 50_000_000, 1_250_000, None)


def test_a_write_rolled_back_projects_nothing(acme, delivered):
    inbound, lead, agent = delivered
    inbound.refresh_from_db()
    before = (inbound.touches, inbound.crm_stage, inbound.next_task_due_at, inbound.closed_at)

    with pytest.raises(RuntimeError), in_schema(acme.schema_name), transaction.atomic():
        services.log_activity(lead=lead, by=agent, kind="call", outcome="connected")
        services.change_stage(lead=lead, by=agent, stage="lost", reason="gone quiet")
        raise RuntimeError("the request failed after the writes")

    inbound.refresh_from_db()
    assert (inbound.touches, inbound.crm_stage, inbound.next_task_due_at,
            inbound.closed_at) == before
    assert before[:2] == (0, "new")


def test_another_brokerages_schema_cannot_project_onto_this_line(acme, globex, delivered):
    inbound, _, agent = delivered
    with in_schema(globex.schema_name):
        stray = Lead.objects.create(inbound_lead_id=inbound.pk, agent_id=agent.pk,
                                    phone="+12125550100")
        services.change_stage(lead=stray, by=agent, stage="lost", reason="x")

    inbound.refresh_from_db()
    assert inbound.crm_stage == "new"
