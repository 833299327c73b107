"""Leads for CRM tests, made through the CRM's own services (in the caller's schema)."""

from __future__ import annotations

import itertools
from datetime import datetime

from clozings.crm.models import Lead
from clozings.crm.services import RoutedLead, receive_routed_lead
from clozings.tenants.models import Seat

_ids = itertools.count(900_000_001)


def routed(**fields) -> RoutedLead:
    """What distribution would hand over (an inbound lead id no public line has)."""
    data = {"inbound_lead_id": next(_ids), "first_name": "Dana", "last_name": "Buyer",
            "email": "dana@example.test", "phone": "+12125550101", "zip_code": "10001",
            "intent": "buy", "price_min_cents": 40_000_000, "price_max_cents": 55_000_000,
            "timeframe": "", "message": "", "campaign": "", "consent": None,
            "source_name": "Portal", "received_at": fields.get("received_at")}
    data.update(fields)
    return RoutedLead(**data)


def new_lead(agent: Seat, *, now: datetime, **fields) -> Lead:
    """A routed lead received at `now` by `agent` (enrolled in the default cadence)."""
    return receive_routed_lead(routed=routed(received_at=now, **fields), agent=agent, now=now)
