"""What the sweeper picks up: leads still waiting for routing after a few seconds, only."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone

from clozings.distribution.models import InboundLead
from clozings.distribution.selectors import waiting_lead_ids
from tests.distribution.factories import lead_source

pytestmark = pytest.mark.django_db


def test_only_leads_received_a_while_ago_and_not_yet_routed_are_swept():
    source = lead_source().source
    now = timezone.now()

    def lead(status: str, seconds_ago: int) -> InboundLead:
        return InboundLead.objects.create(source=source, status=status, zip_code="10001",
                                          received_at=now - timedelta(seconds=seconds_ago))

    oldest, older = lead("received", 60), lead("received", 10)
    lead("received", 1)  # still on its way to a worker
    for status in ("delivered", "orphaned", "rejected"):
        lead(status, 60)

    assert waiting_lead_ids(older_than_seconds=5) == [oldest.pk, older.pk]
