"""CSV export of leads: the agent's own (an admin: the brokerage's), with stage, touches,
last touch and next task, streamed a few thousand rows at a time.

Spreadsheets run a cell starting with = + - @ (or a tab or carriage return before one) as
a formula: such a cell is written with a leading apostrophe (OWASP's CSV injection advice).
"""

from __future__ import annotations

import csv
import io
from collections.abc import Iterator

from django.db.models import OuterRef, QuerySet, Subquery

from clozings.crm.models import Lead, Task
from clozings.tenants.models import Seat

HEADERS = ["Lead id", "First name", "Last name", "Email", "Phone", "ZIP", "Intent", "Stage",
           "Source", "Touches", "Last touch (UTC)", "Next task", "Next task due (UTC)",
           "Created (UTC)", "Agent"]
_FORMULA_START = ("=", "+", "-", "@", "\t", "\r")
CHUNK = 2000


def safe_cell(value) -> str:
    if value is None:
        return ""
    text = value.isoformat() if hasattr(value, "isoformat") else str(value)
    return f"'{text}" if text.startswith(_FORMULA_START) else text


def leads_to_export(*, scope: Seat | None) -> QuerySet[Lead]:
    """Leads with their next open task: `scope` an agent's seat, or None for all."""
    next_task = Task.objects.filter(lead=OuterRef("pk"), completed_at__isnull=True).order_by(
        "due_at", "id")
    leads = Lead.objects.all() if scope is None else Lead.objects.filter(agent_id=scope.pk)
    return (leads.annotate(next_task_title=Subquery(next_task.values("title")[:1]),
                           next_task_due=Subquery(next_task.values("due_at")[:1]))
            .order_by("id"))


def export_lines(*, leads: QuerySet[Lead], agent_names: dict[int, str]) -> Iterator[str]:
    """The CSV's lines, header first (the body of a streamed response)."""
    buffer = io.StringIO()
    writer = csv.writer(buffer)

    def flush() -> str:
        text = buffer.getvalue()
        buffer.seek(0)
        buffer.truncate()
        return text

    writer.writerow(HEADERS)
    yield flush()
    for count, lead in enumerate(leads.iterator(chunk_size=CHUNK), start=1):
        writer.writerow([safe_cell(value) for value in (
            lead.pk, lead.first_name, lead.last_name, lead.email, lead.phone, lead.zip_code,
            lead.intent, lead.get_stage_display(), lead.source_name, lead.touch_count,
            lead.last_touch_at, lead.next_task_title, lead.next_task_due, lead.created_at,
            agent_names.get(lead.agent_id, ""))])
        if count % 200 == 0:
            yield flush()
    yield flush()
