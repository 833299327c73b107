"""Reads about lead sources and inbound leads."""

from __future__ import annotations

from datetime import timedelta

from django.utils import timezone

from clozings.distribution.models import InboundLead, LeadSource

SWEEP_BATCH = 1000


def waiting_lead_ids(*, older_than_seconds: float) -> list[int]:
    """Leads received more than `older_than_seconds` ago and still not routed, oldest first."""
    cutoff = timezone.now() - timedelta(seconds=older_than_seconds)
    return list(InboundLead.objects.filter(status=InboundLead.Status.RECEIVED,
                                           received_at__lt=cutoff)
                .order_by("received_at").values_list("pk", flat=True)[:SWEEP_BATCH])


def lead_source(*, source_id: int) -> LeadSource | None:
    return LeadSource.objects.filter(pk=source_id).first()


def inbound_lead_for(*, lead_id: int, source: LeadSource | None) -> InboundLead | None:
    """A lead as its source (or, with source None, staff) may see it."""
    leads = InboundLead.objects.select_related("brokerage")
    if source is not None:
        leads = leads.filter(source=source)
    return leads.filter(pk=lead_id).first()
