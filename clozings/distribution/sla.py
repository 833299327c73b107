"""The first-touch SLA: a delivered lead nobody touched within its brokerage's minutes.

Beat runs the watchdog every 20 s. Each overdue lead is handled in its own transaction,
the inbound lead locked: on a shared ZIP it is re-routed to the next eligible holder (the
fair share's decision, without the agents who had it; status `rerouted`), its CRM lead
closed as reassigned (or, within one brokerage, moved to the new agent) and the new agent
notified; on an exclusive ZIP, or with no other holder able to take it, the agent and
their brokerage's admins are mailed. Either way an SlaBreach row records it, once per lead
(its inbound lead is unique), so a second watchdog run does nothing.

Repeat inquiries (a person the agent already has) are not watched: their touch is logged
on the CRM lead the first inquiry made.
"""

from __future__ import annotations

import logging
from datetime import datetime, timedelta

from django.db import transaction
from django.db.models import DateTimeField, ExpressionWrapper, F
from django.utils import timezone

from clozings.crm import selectors as crm_selectors
from clozings.crm import services as crm_services
from clozings.distribution import routing
from clozings.distribution.models import InboundLead, SlaBreach
from clozings.platform.mail import queue_mail
from clozings.platform.models import OutboundMail
from clozings.platform.tenancy import in_schema
from clozings.tenants.models import Seat
from clozings.tenants.services import brokerage_url
from clozings.territories.models import Territory

logger = logging.getLogger(__name__)

STATUS = InboundLead.Status
SLA_ALERT = "distribution.sla_breach"  # kind of the alert mails; ref "<lead>:<seat>"
WATCH_BATCH = 500


def overdue_lead_ids(*, now: datetime) -> list[int]:
    """Delivered leads untouched past their brokerage's first-touch SLA, not yet handled,
    the longest overdue first."""
    due = ExpressionWrapper(
        F("delivered_at") + F("brokerage__first_touch_sla_minutes") * timedelta(minutes=1),
        output_field=DateTimeField())
    return list(InboundLead.objects.filter(
        status=STATUS.DELIVERED, first_touch_at__isnull=True, is_repeat=False,
        sla_breach__isnull=True,
    ).annotate(due=due).filter(due__lte=now).order_by("due", "pk")
        .values_list("pk", flat=True)[:WATCH_BATCH])


def watch_first_touch(*, now: datetime | None = None) -> int:
    """The watchdog: handle every overdue lead; how many breaches were recorded."""
    now = now or timezone.now()
    handled = 0
    for inbound_lead_id in overdue_lead_ids(now=now):
        if handle_breach(inbound_lead_id=inbound_lead_id, now=now) is not None:
            handled += 1
    return handled


def handle_breach(*, inbound_lead_id: int, now: datetime) -> SlaBreach | None:
    """Re-route or alert one overdue lead and record the breach; None when the lead is not
    (or no longer) overdue: touched meanwhile, handled already, or not delivered."""
    with transaction.atomic():
        lead = (InboundLead.objects.select_for_update(of=("self",))
                .select_related("source", "brokerage", "seat__brokerage", "seat__user")
                .filter(pk=inbound_lead_id).first())
        if (lead is None or lead.status != STATUS.DELIVERED or lead.first_touch_at
                or lead.is_repeat or SlaBreach.objects.filter(inbound_lead=lead).exists()):
            return None
        minutes = lead.brokerage.first_touch_sla_minutes
        if lead.delivered_at + timedelta(minutes=minutes) > now:
            return None
        missed = lead.seat
        breach = SlaBreach(inbound_lead=lead, brokerage=lead.brokerage, seat=missed,
                           sla_minutes=minutes, delivered_at=lead.delivered_at,
                           breached_at=now)
        slots = (Territory.objects.filter(zip_code=lead.zip_code)
                 .values_list("slots", flat=True).first())
        decision = None
        if slots is not None and slots > 1:
            decision = routing.decide(lead=lead, now=now,
                                      exclude_seat_ids=frozenset({missed.pk}))
            decision.log["reroute"] = f"no first touch within {minutes} minutes"
            lead.routing_log = [*lead.routing_log, decision.log]
        if decision is not None and decision.seat is not None:
            _reroute(lead=lead, missed=missed, decision=decision, minutes=minutes, now=now)
            breach.action, breach.rerouted_to = SlaBreach.Action.REROUTED, decision.seat
        else:
            lead.save(update_fields=["routing_log"])
            _alert(lead=lead, minutes=minutes)
            breach.action = SlaBreach.Action.ALERTED
        breach.save()
    logger.info("lead.sla_breach", extra={
        "inbound_lead": lead.pk, "action": breach.action, "seat": missed.pk,
        "rerouted_to": breach.rerouted_to_id, "sla_minutes": minutes})
    return breach


def _reroute(*, lead: InboundLead, missed: Seat, decision: routing.Decision, minutes: int,
             now: datetime) -> None:
    seat = decision.seat
    same_brokerage = seat.brokerage_id == missed.brokerage_id
    note = (f"No first touch within {minutes} minutes: reassigned to "
            f"{seat.name or seat.email if same_brokerage else 'another agent'}.")
    with in_schema(missed.brokerage.schema_name):
        crm_services.reassign_lead(inbound_lead_id=lead.pk,
                                   to_agent=seat if same_brokerage else None,
                                   note=note, now=now)
    routing.deliver_to(lead=lead, seat=seat)
    lead.status = STATUS.REROUTED
    lead.brokerage, lead.seat, lead.reservation = seat.brokerage, seat, decision.reservation
    # routed_at is when the agent who has it now got it (their caps count it from then).
    lead.routed_at = now
    lead.save(update_fields=["routing_log", "status", "brokerage", "seat", "reservation",
                             "routed_at"])


def _alert(*, lead: InboundLead, minutes: int) -> None:
    """Mail the agent who missed the SLA and every active admin of their brokerage."""
    agent = lead.seat
    brokerage = lead.brokerage
    with in_schema(brokerage.schema_name):
        crm_lead_id = crm_selectors.lead_id_of_inbound(inbound_lead_id=lead.pk)
    name = " ".join(p for p in (lead.first_name, lead.last_name) if p) or "A lead"
    admins = Seat.objects.filter(brokerage=brokerage, role=Seat.Role.ADMIN,
                                 status=Seat.Status.ACTIVE).select_related("user")
    recipients = {agent.pk: (agent, brokerage_url(brokerage, f"/leads/#lead-{crm_lead_id}"))}
    for admin in admins:
        recipients.setdefault(admin.pk, (admin, brokerage_url(brokerage,
                                                              f"/seats/{agent.pk}/")))
    agent_name = agent.name or agent.email
    for seat, link in recipients.values():
        ref = f"{lead.pk}:{seat.pk}"
        if OutboundMail.objects.filter(kind=SLA_ALERT, ref=ref).exists():
            continue
        you = seat.pk == agent.pk
        text = (
            f"{'You have' if you else agent_name + ' has'} not logged a first touch on "
            f"{name} (ZIP {lead.zip_code}, phone {lead.phone or 'none'}, email "
            f"{lead.email or 'none'}) within {brokerage.name}'s first-touch time of "
            f"{minutes} minutes.\n\n"
            f"{'Call now and log the call on the lead' if you else 'See the agent'}: "
            f"{link}\n")
        queue_mail(to=seat.user.email if seat.user_id else seat.email,
                   subject=f"First-touch time missed: {name} in {lead.zip_code}",
                   text=text, kind=SLA_ALERT, ref=ref)
