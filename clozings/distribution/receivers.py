"""What distribution does when the CRM announces something (clozings.crm.signals)."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass, field

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


@dataclass
class _Kept:
    schema: str
    inbound_lead_ids: frozenset[int]
    facts: dict[int, dict] = field(default_factory=dict)


_kept: ContextVar[_Kept | None] = ContextVar("projections_kept", default=None)


@contextmanager
def projections_kept(*, schema: str, inbound_lead_ids) -> Iterator[dict[int, dict]]:
    """For a batch of deliveries into `schema` whose ledger lines the batch marks itself
    (routing): the follow-up facts that schema announces for those lines are kept in the
    dict yielded (inbound lead id: {field: value}) instead of written one UPDATE each; the
    caller writes them in the statement that marks the lines delivered to that brokerage,
    in the same transaction (so the rule "only a line delivered to the brokerage whose
    schema sent it" holds). Any other line is projected at once, as ever."""
    kept = _Kept(schema=schema, inbound_lead_ids=frozenset(inbound_lead_ids))
    token = _kept.set(kept)
    try:
        yield kept.facts
    finally:
        _kept.reset(token)


def _facts(lead, next_task_due_at) -> dict:
    return {"touches": lead.touch_count, "last_touch_at": lead.last_touch_at,
            "crm_stage": lead.stage, "crm_stage_at": lead.stage_changed_at,
            "next_task_due_at": next_task_due_at, "closed_at": lead.closed_at,
            "sale_price_cents": lead.sale_price_cents,
            "commission_cents": lead.commission_cents}


PROJECTED_FIELDS = (
    "touches", "last_touch_at", "crm_stage", "crm_stage_at", "next_task_due_at",
    "closed_at", "sale_price_cents", "commission_cents")


@receiver(followup_changed, dispatch_uid="distribution_project_followup")
def project_followup(sender, lead, next_task_due_at, **kwargs) -> None:
    """The lead's follow-up facts (touches, last touch, stage and since when, the open next
    task's due time, closing and its money) land on its public ledger line inside the CRM's
    transaction, so staff dashboards read them without looping over schemas. Only a line
    delivered to the brokerage whose schema sent it (kept for a batch marking the line
    itself: `projections_kept`)."""
    if lead.inbound_lead_id is None:
        return
    schema = connection.schema_name
    kept = _kept.get()
    if kept is not None and kept.schema == schema and (
            lead.inbound_lead_id in kept.inbound_lead_ids):
        kept.facts[lead.inbound_lead_id] = _facts(lead, next_task_due_at)
        return
    with in_schema("public"):
        InboundLead.objects.filter(
            pk=lead.inbound_lead_id, brokerage__schema_name=schema).update(
            **_facts(lead, next_task_due_at))
