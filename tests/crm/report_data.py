"""Generated CRM data whose true figures are known, for the report tests: leads with a
chosen number of touches, first touches a chosen number of minutes after arrival, stage
histories and closings. Written in bulk inside a brokerage's schema."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from itertools import count

from clozings.crm.models import Lead, StageChange
from clozings.platform.tenancy import in_schema

NOW = datetime(2026, 6, 1, 12, 0, tzinfo=UTC)
_inbound_ids = count(9_000_000)

STAGE_ORDER = ["new", "contacted", "appointment", "agreement", "under_contract", "closed"]


def make_leads(schema: str, *, agent_id: int, touches: list[int], arrived: datetime | None = None,
               first_touch_minutes: list[float | None] | None = None,
               stages: list[str] | None = None, source_name: str = "Portal",
               cost_cents: int | None = 2_000, reservation_id: int | None = None,
               routed: bool = True) -> list[Lead]:
    """One lead per entry of `touches`, arrived at `arrived` (10 days before NOW by
    default); first touched after the given minutes (None: never; default: 1 minute when
    touched); moved through the stages in order up to the given one, with a history row
    per step."""
    arrived = arrived or NOW - timedelta(days=10)
    minutes = first_touch_minutes or [1 if n else None for n in touches]
    stages = stages or ["contacted" if n else "new" for n in touches]
    leads = []
    for n, (touch_count, after, stage) in enumerate(zip(touches, minutes, stages, strict=True)):
        first_touch = None if after is None else arrived + timedelta(minutes=after)
        leads.append(Lead(
            inbound_lead_id=next(_inbound_ids) if routed else None, agent_id=agent_id,
            first_name=f"Lead{n}", phone=f"+1212555{n:04d}", zip_code="10001",
            stage=stage, created_at=arrived, last_inquiry_at=arrived,
            first_touch_at=first_touch, touch_count=touch_count,
            last_touch_at=first_touch, source_name=source_name, cost_cents=cost_cents,
            reservation_id=reservation_id))
    with in_schema(schema):
        Lead.objects.bulk_create(leads)
        history = []
        for lead in leads:
            if lead.stage == "lost":
                path = ["lost"]
            else:
                path = STAGE_ORDER[1:STAGE_ORDER.index(lead.stage) + 1]
            previous = "new"
            for step, stage in enumerate(path):
                history.append(StageChange(lead=lead, from_stage=previous, to_stage=stage,
                                           created_at=arrived + timedelta(hours=step + 1)))
                previous = stage
        StageChange.objects.bulk_create(history)
    return leads


def close(schema: str, lead: Lead, *, commission_cents: int, at: datetime) -> None:
    """The lead closes with a commission (history and the lead's own fields)."""
    with in_schema(schema):
        StageChange.objects.create(lead=lead, from_stage=lead.stage, to_stage="closed",
                                   commission_cents=commission_cents, created_at=at)
        Lead.objects.filter(pk=lead.pk).update(stage="closed", closed_at=at,
                                               commission_cents=commission_cents,
                                               sale_price_cents=commission_cents * 40)
