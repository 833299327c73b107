"""Helpers for the CRM page tests: leads with tasks made straight in a brokerage's schema."""

from __future__ import annotations

import datetime as dt
import itertools

from django.utils import timezone

from clozings.crm.models import Lead, Task
from clozings.platform.tenancy import in_schema

_numbers = itertools.count(100)


def make_lead(schema: str, agent, *, first_name: str = "Ann", task_title: str = "Call now",
              channel: str = "call", due_in: dt.timedelta = dt.timedelta(0),
              touched: bool = False, now: dt.datetime | None = None, task: bool = True,
              **fields) -> Lead:
    """A lead of `agent` with one open task due `due_in` from now; `touched`: not new."""
    now = now or timezone.now()
    n = next(_numbers)
    values = {"first_name": first_name, "last_name": "Buyer", "zip_code": "10001",
              "phone": f"+1212555{n:04d}", "email": f"lead{n}@example.test",
              "created_at": now, "last_inquiry_at": now, "stage_changed_at": now,
              **fields}
    if touched:
        values.setdefault("first_touch_at", now - dt.timedelta(days=1))
        values.setdefault("last_touch_at", now - dt.timedelta(days=1))
        values.setdefault("touch_count", 1)
        values.setdefault("stage", Lead.Stage.CONTACTED)
    with in_schema(schema):
        lead = Lead.objects.create(agent_id=agent.pk, **values)
        if task:
            Task.objects.create(lead=lead, agent_id=agent.pk, title=task_title, channel=channel,
                                due_at=now + due_in)
    return lead
