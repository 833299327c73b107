"""Reads of a brokerage's CRM (callers are in the brokerage's schema)."""

from __future__ import annotations

from django.db.models import QuerySet

from clozings.crm.models import Lead
from clozings.tenants.models import Seat

MY_LEADS_LIMIT = 100


def leads_of(*, agent: Seat) -> QuerySet[Lead]:
    """An agent's leads, the newest inquiry first (not those reassigned to another
    brokerage after the first-touch SLA passed)."""
    return (Lead.objects.filter(agent_id=agent.pk).exclude(stage=Lead.Stage.REASSIGNED)
            .order_by("-last_inquiry_at", "-id"))


def lead_of(*, agent: Seat, lead_id: int) -> Lead | None:
    """One of the agent's leads (another agent's is answered like one that is not there)."""
    if lead_id > 2**63 - 1:
        return None
    return Lead.objects.filter(agent_id=agent.pk, pk=lead_id).first()


def lead_id_of_inbound(*, inbound_lead_id: int) -> int | None:
    """The id of the CRM lead a public-ledger inbound lead made here, if any."""
    return (Lead.objects.filter(inbound_lead_id=inbound_lead_id)
            .values_list("pk", flat=True).first())
