"""What distribution does when the CRM announces something (clozings.crm.signals)."""

from __future__ import annotations

import logging

from django.db import connection
from django.dispatch import receiver

from clozings.crm.signals import followup_changed, lead_touched
from clozings.distribution.models import InboundLead
from clozings.platform.tenancy import in_schema

logger = logging.getLogger(__name__)


@receiver(lead_touched, dispatch_uid="distribution_record_first_touch")
def record_first_touch(sender, lead, activity, **kwargs) -> None:
    """The first touch stops the first-touch clock in the public ledger (inside the CRM's
    transaction). Only a line delivered to the brokerage whose schema sent it."""
    if lead.inbound_lead_id is None:
        return
    schema = connection.schema_name
    with in_schema("public"):
        stopped = InboundLead.objects.filter(
            pk=lead.inbound_lead_id, brokerage__schema_name=schema,
            first_touch_at__isnull=True).update(first_touch_at=activity.created_at)
    if stopped:
        logger.info("lead.first_touch", extra={"inbound_lead": lead.inbound_lead_id,
                                               "kind": activity.kind})


@receiver(followup_changed, dispatch_uid="distribution_project_followup")
def project_followup(sender, lead, next_task_due_at, **kwargs) -> None:
    """The lead's follow-up facts (touches, last touch, stage and since when, the open next
    task's due time, closing and its money) land on its public ledger line inside the CRM's
    transaction, so staff dashboards read them without looping over schemas. Only a line
    delivered to the brokerage whose schema sent it."""
    if lead.inbound_lead_id is None:
        return
    schema = connection.schema_name
    with in_schema("public"):
        InboundLead.objects.filter(
            pk=lead.inbound_lead_id, brokerage__schema_name=schema).update(
            touches=lead.touch_count, last_touch_at=lead.last_touch_at,
            crm_stage=lead.stage, crm_stage_at=lead.stage_changed_at,
            next_task_due_at=next_task_due_at, closed_at=lead.closed_at,
            sale_price_cents=lead.sale_price_cents, commission_cents=lead.commission_cents)
