"""Every write in a brokerage's CRM. Callers run these in the brokerage's schema."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime

from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils import timezone

from clozings.crm.models import Activity, Lead, Task
from clozings.crm.signals import lead_touched
from clozings.tenants.models import Seat

logger = logging.getLogger(__name__)

FIRST_TASK_TITLE = "Call now"


@dataclass(frozen=True)
class RoutedLead:
    """What distribution hands over: the person, what they asked, and where it came from."""

    inbound_lead_id: int
    first_name: str
    last_name: str
    email: str
    phone: str
    zip_code: str
    intent: str
    price_min_cents: int | None
    price_max_cents: int | None
    timeframe: str
    message: str
    campaign: str
    consent: dict | None
    source_name: str
    received_at: datetime
    reservation_id: int | None = None  # the public reservation it came through (ROI)
    cost_cents: int | None = None  # what the source charged for it (ROI per source)
    routing_note: str = ""  # why this agent, for the lead's timeline


def receive_routed_lead(*, routed: RoutedLead, agent: Seat,
                        repeat_of_inbound_lead_id: int | None = None) -> Lead:
    """Put a routed lead in the agent's CRM with a first task "Call now" due at once.

    Exactly once: the inbound lead id is unique on leads (and on inquiries), so a retried
    delivery finds what the first one made. `repeat_of_inbound_lead_id` names the inbound
    lead that made the CRM lead this person already has: the new inquiry is recorded on it
    instead of a second lead.
    """
    with transaction.atomic():
        existing = Lead.objects.filter(inbound_lead_id=routed.inbound_lead_id).first()
        if existing is not None:
            return existing
        if repeat_of_inbound_lead_id is not None:
            lead = _lead_of_inbound(repeat_of_inbound_lead_id)
            if lead is not None:
                return _record_inquiry(lead=lead, routed=routed)
        now = timezone.now()
        lead = Lead.objects.create(
            inbound_lead_id=routed.inbound_lead_id, agent_id=agent.pk,
            first_name=routed.first_name, last_name=routed.last_name, email=routed.email,
            phone=routed.phone, zip_code=routed.zip_code, intent=routed.intent,
            price_min_cents=routed.price_min_cents, price_max_cents=routed.price_max_cents,
            timeframe=routed.timeframe, message=routed.message,
            source_name=routed.source_name, campaign=routed.campaign, consent=routed.consent,
            reservation_id=routed.reservation_id, cost_cents=routed.cost_cents,
            routing_note=routed.routing_note, created_at=now, last_inquiry_at=now,
            stage_changed_at=now)
        Task.objects.create(lead=lead, agent_id=agent.pk, title=FIRST_TASK_TITLE, due_at=now)
    logger.info("crm.lead_received", extra={"lead": lead.pk, "agent": agent.pk,
                                            "inbound_lead": routed.inbound_lead_id})
    return lead


def _lead_of_inbound(inbound_lead_id: int) -> Lead | None:
    """The CRM lead an inbound lead made, or the one it was recorded on as an inquiry."""
    lead = Lead.objects.select_for_update().filter(inbound_lead_id=inbound_lead_id).first()
    if lead is None:
        activity = Activity.objects.filter(inbound_lead_id=inbound_lead_id).first()
        if activity is not None:
            lead = Lead.objects.select_for_update().get(pk=activity.lead_id)
    return lead


def _record_inquiry(*, lead: Lead, routed: RoutedLead) -> Lead:
    if Activity.objects.filter(inbound_lead_id=routed.inbound_lead_id).exists():
        return lead
    now = timezone.now()
    Activity.objects.create(lead=lead, kind=Activity.Kind.INQUIRY, note=routed.message,
                            inbound_lead_id=routed.inbound_lead_id, created_at=now)
    lead.last_inquiry_at = now
    lead.save(update_fields=["last_inquiry_at"])
    if not lead.tasks.filter(completed_at__isnull=True).exists():
        Task.objects.create(lead=lead, agent_id=lead.agent_id, title=FIRST_TASK_TITLE,
                            due_at=now)
    logger.info("crm.inquiry_received", extra={"lead": lead.pk,
                                               "inbound_lead": routed.inbound_lead_id})
    return lead


def log_activity(*, lead: Lead, by: Seat, kind: str, outcome: str = "",
                 note: str = "") -> Activity:
    """Record a touch (or a note) on a lead; the first real touch stops the first-touch
    clock, here and, through `lead_touched`, in the public ledger, in one transaction."""
    if kind not in Activity.Kind.values or kind == Activity.Kind.INQUIRY:
        raise ValidationError({"kind": ["Choose call, text, email, meeting or note."]})
    if outcome and outcome not in Activity.Outcome.values:
        raise ValidationError({"outcome": ["Choose one of the outcomes offered."]})
    with transaction.atomic():
        lead = Lead.objects.select_for_update().get(pk=lead.pk)
        activity = Activity.objects.create(lead=lead, kind=kind, outcome=outcome,
                                           note=note.strip(), by_id=by.pk)
        if kind in Activity.TOUCHES:
            if lead.first_touch_at is None:
                lead.first_touch_at = activity.created_at
                lead.save(update_fields=["first_touch_at"])
            lead_touched.send(sender=Lead, lead=lead, activity=activity)
    logger.info("crm.activity_logged", extra={"lead": lead.pk, "kind": kind,
                                              "outcome": outcome, "seat": by.pk})
    return activity


def reassign_lead(*, inbound_lead_id: int, to_agent: Seat | None, note: str,
                  now: datetime | None = None) -> Lead | None:
    """Take a lead away from its agent after the first-touch SLA passed untouched: to
    `to_agent` (another agent of this brokerage), with its open task due at once, or, with
    None, closed as reassigned (it went to another brokerage), its open task completed.
    The note says why, on the lead. None when this brokerage has no such lead."""
    now = now or timezone.now()
    with transaction.atomic():
        lead = Lead.objects.select_for_update().filter(inbound_lead_id=inbound_lead_id).first()
        if lead is None:
            return None
        open_tasks = lead.tasks.filter(completed_at__isnull=True)
        if to_agent is not None:
            lead.agent_id = to_agent.pk
            lead.save(update_fields=["agent_id"])
            if not open_tasks.update(agent_id=to_agent.pk, due_at=now):
                Task.objects.create(lead=lead, agent_id=to_agent.pk, title=FIRST_TASK_TITLE,
                                    due_at=now)
        else:
            lead.stage = Lead.Stage.REASSIGNED
            lead.save(update_fields=["stage"])
            open_tasks.update(completed_at=now)
        Activity.objects.create(lead=lead, kind=Activity.Kind.NOTE, note=note, created_at=now)
    logger.info("crm.lead_reassigned", extra={
        "lead": lead.pk, "inbound_lead": inbound_lead_id,
        "agent": to_agent.pk if to_agent is not None else None})
    return lead
