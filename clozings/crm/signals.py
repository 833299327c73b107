"""Events the CRM announces to other apps (distribution listens), sent inside the
transaction that made them, so a receiver's writes commit or roll back with the CRM's.

- `lead_touched(sender=Lead, lead, activity)`: a person logged a real touch (call, text,
  email, meeting) on a lead; `lead.inbound_lead_id` names its line in the public ledger.
- `stage_changed(sender=Lead, lead, change)`: the lead moved to another stage; `change` is
  the StageChange row (from_stage, to_stage, reason, sale price and commission on closing).
- `followup_changed(sender=Lead, lead, next_task_due_at)`: any of the lead's follow-up facts
  changed (touch_count, last_touch_at, stage, stage_changed_at, closed_at, sale_price_cents,
  commission_cents, or its open next task); `next_task_due_at` is the open task's due time,
  None when the lead has none (closed, lost, reassigned). Sent once at the end of every
  CRM service that changes a lead, after `lead` was saved: a receiver reads the facts from
  `lead` itself.
"""

from django.dispatch import Signal

lead_touched = Signal()
stage_changed = Signal()
followup_changed = Signal()
