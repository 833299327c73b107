"""Helpers for distribution tests: lead sources, holders of ZIPs, leads taken in."""

from __future__ import annotations

from django.test import Client

from clozings.distribution import services
from clozings.distribution.models import InboundLead
from clozings.tenants.models import Brokerage, Seat
from clozings.territories.models import Reservation, Territory
from tests.tenants.factories import SeatFactory
from tests.territories.factories import active_reservation


def lead_source(name: str = "Portal", **kwargs) -> services.IssuedKey:
    return services.create_lead_source(name=name, cost_per_lead_cents=kwargs.pop("cost", 2500),
                                       adapter=kwargs.pop("adapter", "native"), **kwargs)


def source_client(key: str) -> Client:
    return Client(HTTP_HOST="localhost", HTTP_AUTHORIZATION=f"Bearer {key}")


def holder(brokerage: Brokerage, zip_code: str, **seat_fields) -> Reservation:
    """An agent of `brokerage` with an active reservation on `zip_code`."""
    return active_reservation(SeatFactory(brokerage=brokerage, **seat_fields), zip_code)


def share(zip_code: str, slots: int) -> None:
    Territory.objects.filter(zip_code=zip_code).update(slots=slots)


def lead_data(n: int = 1, **fields) -> dict:
    return {"external_id": f"ext-{n}", "first_name": "Dana", "last_name": "Buyer",
            "email": f"dana{n}@example.test", "phone": f"(212) 555-{n % 10000:04d}",
            "zip_code": "10001", "intent": "buy", **fields}


def take(source, n: int = 1, **fields) -> InboundLead:
    """A lead taken in from `source` (a LeadSource), as the intake API does."""
    data = lead_data(n, **fields)
    return services.receive_lead(source=source, data=data, payload=data).lead


def seat(pk: int) -> Seat:
    return Seat.objects.get(pk=pk)
