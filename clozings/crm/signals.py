"""Events the CRM announces to other apps (distribution listens), sent inside the
transaction that made them, so a receiver's writes commit or roll back with the CRM's.

- `lead_touched(sender=Lead, lead, activity)`: a person logged a real touch (call, text,
  email, meeting) on a lead; `lead.inbound_lead_id` names its line in the public ledger.
"""

from django.dispatch import Signal

lead_touched = Signal()
