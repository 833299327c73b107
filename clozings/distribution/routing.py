"""Routing and delivery: which holder of the ZIP gets a lead, and writing it into that
brokerage's CRM, exactly once.

One transaction per lead, in the public schema: the inbound lead is locked, the decision
taken (the territory's fair-share state locked too), the CRM lead written in the
brokerage's schema through crm's one service, and the ledger marked delivered. A retry
finds the lead delivered and does nothing; were it to get as far as the CRM again, the
unique inbound lead id there gives back the first CRM lead.
"""

from __future__ import annotations

import logging
import zoneinfo
from dataclasses import dataclass
from datetime import datetime, timedelta

from django.core.exceptions import ValidationError
from django.db import transaction
from django.db.models import Q
from django.utils import timezone

from clozings.crm import services as crm_services
from clozings.distribution import fair_share, notifications
from clozings.distribution.models import InboundLead, RoutingState
from clozings.platform.errors import Conflict, NotFound
from clozings.platform.tenancy import in_schema
from clozings.tenants.models import Seat
from clozings.territories import selectors as territory_selectors
from clozings.territories.models import Reservation, Territory

logger = logging.getLogger(__name__)

STATUS = InboundLead.Status
# The same person (phone or email) again within this many days goes to the agent who
# already has them, as a new inquiry on their CRM lead.
REPEAT_WINDOW_DAYS = 90
# A lead re-routed after its first agent missed the first-touch SLA counts for the agent
# who has it now.
COUNTED = (STATUS.ROUTED, STATUS.DELIVERED, STATUS.REROUTED)


@dataclass
class Decision:
    """The agent a lead goes to (None: orphaned), with the reservation it came through
    (None for a repeat to an agent who does not hold this ZIP), and the log entry."""

    log: dict
    seat: Seat | None = None
    reservation: Reservation | None = None
    repeat_of: InboundLead | None = None


def route_lead(*, inbound_lead_id: int) -> InboundLead | None:
    """Route a received lead and deliver it; a lead already past `received` is left as it
    is (a retried or duplicate task). Returns the lead, or None when there is no such lead."""
    with transaction.atomic():
        lead = (InboundLead.objects.select_for_update(of=("self",))
                .select_related("source").filter(pk=inbound_lead_id).first())
        if lead is None or lead.status != STATUS.RECEIVED:
            return lead
        now = timezone.now()
        decision = decide(lead=lead, now=now)
        lead.routing_log = [*lead.routing_log, decision.log]
        lead.routed_at = now
        if decision.seat is None:
            lead.status = STATUS.ORPHANED
            lead.save(update_fields=["routing_log", "routed_at", "status"])
        else:
            _deliver(lead=lead, decision=decision, now=now)
    logger.info("lead.routed", extra={
        "inbound_lead": lead.pk, "status": lead.status, "rule": decision.log["rule"],
        "brokerage": lead.brokerage_id, "seat": lead.seat_id})
    return lead


def deliver_to(*, lead: InboundLead, seat: Seat, repeat_of: InboundLead | None = None,
               reservation_id: int | None = None) -> None:
    """Write the lead into the seat's brokerage's CRM and queue the agent's notification
    (inside the caller's transaction, the inbound lead locked)."""
    routed = crm_services.RoutedLead(
        inbound_lead_id=lead.pk, first_name=lead.first_name, last_name=lead.last_name,
        email=lead.email, phone=lead.phone, zip_code=lead.zip_code, intent=lead.intent,
        price_min_cents=lead.price_min_cents, price_max_cents=lead.price_max_cents,
        timeframe=lead.timeframe, message=lead.message, campaign=lead.campaign,
        consent=lead.consent, source_name=lead.source.name, received_at=lead.received_at,
        reservation_id=reservation_id, cost_cents=lead.source.cost_per_lead_cents,
        routing_note=lead.routing_log[-1].get("why", "") if lead.routing_log else "")
    if lead.brokerage_id != seat.brokerage_id:
        # The CRM projects its follow-up facts (receivers.project_followup) only onto a line
        # of the brokerage whose schema writes them: name the brokerage before it writes.
        InboundLead.objects.filter(pk=lead.pk).update(brokerage=seat.brokerage)
    with in_schema(seat.brokerage.schema_name):
        crm_lead = crm_services.receive_routed_lead(
            routed=routed, agent=seat,
            repeat_of_inbound_lead_id=repeat_of.pk if repeat_of else None)
    notifications.notify_delivery(lead=lead, seat=seat, crm_lead_id=crm_lead.pk)


def _deliver(*, lead: InboundLead, decision: Decision, now: datetime) -> None:
    seat = decision.seat
    deliver_to(lead=lead, seat=seat, repeat_of=decision.repeat_of,
               reservation_id=decision.reservation.pk if decision.reservation else None)
    lead.status = STATUS.DELIVERED
    lead.brokerage, lead.seat, lead.reservation = seat.brokerage, seat, decision.reservation
    lead.is_repeat = decision.repeat_of is not None
    lead.delivered_at = now
    lead.save(update_fields=["routing_log", "routed_at", "status", "brokerage", "seat",
                             "reservation", "is_repeat", "delivered_at"])


# --- the decision ---------------------------------------------------------------------------
def _local_midnight(moment: datetime, time_zone: str, *, month: bool) -> datetime:
    local = moment.astimezone(zoneinfo.ZoneInfo(time_zone or "UTC"))
    start = local.replace(hour=0, minute=0, second=0, microsecond=0)
    if month:
        start = start.replace(day=1)
    return start


def _leads_since(seat: Seat, since: datetime) -> int:
    return InboundLead.objects.filter(seat=seat, routed_at__gte=since, is_repeat=False,
                                      status__in=COUNTED).count()


def passed_over(reservation: Reservation, now: datetime) -> str | None:
    """Why a holder of the ZIP cannot take a lead now (None: it can)."""
    seat = reservation.seat
    if reservation.status == Reservation.Status.PENDING:
        return "the reservation awaits its first payment"
    if reservation.status == Reservation.Status.SUSPENDED:
        return "the reservation is suspended for an unpaid invoice"
    if reservation.release_at is not None and reservation.release_at <= now:
        return "the reservation is released"
    if seat.status != Seat.Status.ACTIVE:
        return "the agent's seat is not active"
    if seat.is_paused_at(now):
        until = seat.paused_until.isoformat() if seat.paused_until else "further notice"
        return f"the agent is paused until {until}"
    time_zone = reservation.brokerage.time_zone
    if seat.daily_cap is not None and _leads_since(
            seat, _local_midnight(now, time_zone, month=False)) >= seat.daily_cap:
        return f"the agent reached the daily cap of {seat.daily_cap}"
    if seat.monthly_cap is not None and _leads_since(
            seat, _local_midnight(now, time_zone, month=True)) >= seat.monthly_cap:
        return f"the agent reached the monthly cap of {seat.monthly_cap}"
    return None


def _candidate(reservation: Reservation, weight: int, reason: str | None) -> dict:
    return {"reservation_id": reservation.pk, "seat_id": reservation.seat_id,
            "brokerage": reservation.brokerage.slug, "weight": weight,
            "reservation_status": reservation.status, "passed_over": reason}


def _same_person(lead: InboundLead, eligible: list[Reservation],
                 now: datetime) -> InboundLead | None:
    """The latest lead of the same person delivered to a brokerage that may take this
    one, within the repeat window, whose agent can still take it."""
    if not (lead.phone or lead.email) or not eligible:
        return None
    person = Q()
    if lead.phone:
        person |= Q(phone=lead.phone)
    if lead.email:
        person |= Q(email=lead.email)
    prior = (InboundLead.objects.filter(
        person, status__in=(STATUS.DELIVERED, STATUS.REROUTED),
        brokerage_id__in={r.brokerage_id for r in eligible},
        received_at__gte=now - timedelta(days=REPEAT_WINDOW_DAYS),
    ).exclude(pk=lead.pk).select_related("seat__brokerage").order_by("-received_at", "-id").first())
    if prior is None or prior.seat.status != Seat.Status.ACTIVE or prior.seat.is_paused_at(now):
        return None
    return prior


def _locked_state(territory: Territory) -> RoutingState:
    RoutingState.objects.bulk_create([RoutingState(territory=territory)],
                                     ignore_conflicts=True)
    return RoutingState.objects.select_for_update().get(territory=territory)


MISSED_SLA = "the agent had this lead and did not touch it within the first-touch SLA"


def decide(*, lead: InboundLead, now: datetime, zip_code: str | None = None,
           exclude_seat_ids: frozenset[int] = frozenset()) -> Decision:
    """Pick the holder for a lead (inside route_lead's transaction), with the log entry
    that explains it. `zip_code`: among that ZIP's holders instead of the lead's own.
    `exclude_seat_ids`: agents who had the lead already (a re-route after a missed
    first-touch SLA; the same-person rule does not apply then)."""
    zip_code = zip_code or lead.zip_code
    holders = list(Reservation.objects.filter(territory__zip_code=zip_code)
                   .exclude(status=Reservation.Status.RELEASED)
                   .select_related("seat__brokerage", "brokerage", "territory")
                   .order_by("activated_at", "id"))
    log: dict = {"at": now.isoformat(), "zip_code": zip_code, "chosen": None}
    if not holders:
        log.update(rule="no_holder", why="nobody holds this ZIP", candidates=[])
        return Decision(log=log)

    territory = holders[0].territory
    state = _locked_state(territory)
    # A capped agent may hold other ZIPs routed at this moment by other workers: their
    # count and this decision are taken under the seat's lock (always in id order).
    capped = sorted({r.seat_id for r in holders
                     if r.seat.daily_cap is not None or r.seat.monthly_cap is not None})
    if capped:
        list(Seat.objects.select_for_update().filter(pk__in=capped).order_by("pk")
             .values_list("pk", flat=True))
    reasons = {r.pk: MISSED_SLA if r.seat_id in exclude_seat_ids else passed_over(r, now)
               for r in holders}
    eligible = [r for r in holders if reasons[r.pk] is None]
    weight = {r.pk: int(state.weights.get(str(r.pk), 1)) for r in holders}
    log["candidates"] = [_candidate(r, weight[r.pk], reasons[r.pk]) for r in holders]

    prior = None if exclude_seat_ids else _same_person(lead, eligible, now)
    if prior is not None:
        decision = Decision(log=log, seat=prior.seat, repeat_of=prior, reservation=next(
            (r for r in eligible if r.seat_id == prior.seat_id), None))
        log.update(rule="same_person", why=(
            f"the same person came on {prior.received_at.date().isoformat()} (inbound lead "
            f"{prior.pk}); they go to the agent who already has them"))
    elif not eligible:
        log.update(rule="no_holder", why="no holder of this ZIP can take a lead now")
        return Decision(log=log)
    elif len(eligible) == 1:
        decision = Decision(log=log, seat=eligible[0].seat, reservation=eligible[0])
        log.update(rule="exclusive" if territory.slots == 1 else "shared",
                   why="the only holder who can take a lead now")
    else:
        key, state.credits = fair_share.pick(
            candidates=[(str(r.pk), weight[r.pk]) for r in eligible], credits=state.credits)
        chosen = next(r for r in eligible if str(r.pk) == key)
        decision = Decision(log=log, seat=chosen.seat, reservation=chosen)
        log.update(rule="shared", why=(
            f"owed the most leads under the fair share (weight {weight[chosen.pk]} of "
            f"{sum(weight[r.pk] for r in eligible)})"))
    if prior is None:
        held = {str(r.pk) for r in holders}
        state.credits = {key: value for key, value in state.credits.items() if key in held}
        state.decisions += 1
        state.updated_at = now
        state.save(update_fields=["credits", "decisions", "updated_at"])
    log["chosen"] = {"reservation_id": decision.reservation.pk if decision.reservation else None,
                     "seat_id": decision.seat.pk, "brokerage": decision.seat.brokerage.slug}
    return decision


def set_holder_weight(*, reservation: Reservation, weight: int) -> RoutingState:
    """A holder's weight in its territory's fair share (1 unless set)."""
    if weight < 1:
        raise ValueError("a weight is at least 1")
    with transaction.atomic():
        state = _locked_state(reservation.territory)
        state.weights = {**state.weights, str(reservation.pk): weight}
        state.save(update_fields=["weights"])
    return state


# --- the orphan queue -----------------------------------------------------------------------
MAX_RADIUS_MILES = 250


def assign_orphan(*, inbound_lead_id: int, by, seat: Seat | None = None,
                  within_miles: float | None = None) -> InboundLead:
    """Staff send an orphaned lead to an agent: `seat` (any active seat), or the nearest
    eligible holder of a ZIP within `within_miles` of the lead's (nearest ZIP first, its
    holders under the usual rules). Delivered through the same path as a routed lead, with
    "assigned by staff" in the routing log; a lead no longer orphaned is refused."""
    if (seat is None) == (within_miles is None):
        raise ValidationError("Give an agent seat or a radius, not both.")
    if within_miles is not None and not 0 < within_miles <= MAX_RADIUS_MILES:
        raise ValidationError({"nearest_within_miles": [
            f"Give a radius above 0 and at most {MAX_RADIUS_MILES} miles."]})
    with transaction.atomic():
        lead = (InboundLead.objects.select_for_update(of=("self",))
                .select_related("source").filter(pk=inbound_lead_id).first())
        if lead is None:
            raise NotFound("No such lead.")
        if lead.status != STATUS.ORPHANED:
            raise Conflict(f"This lead is {lead.get_status_display().lower()}, not orphaned.",
                           code="not_orphaned")
        now = timezone.now()
        who = getattr(by, "email", "") or str(by)
        if seat is not None:
            decision = _staff_choice(lead=lead, seat=seat, now=now, who=who)
        else:
            decision = _nearest(lead=lead, within_miles=within_miles, now=now, who=who)
        lead.routing_log = [*lead.routing_log, decision.log]
        lead.routed_at = now
        _deliver(lead=lead, decision=decision, now=now)
    logger.info("lead.assigned_by_staff", extra={
        "inbound_lead": lead.pk, "rule": decision.log["rule"], "brokerage": lead.brokerage_id,
        "seat": lead.seat_id})
    return lead


def _staff_choice(*, lead: InboundLead, seat: Seat, now: datetime, who: str) -> Decision:
    seat = Seat.objects.select_related("brokerage").get(pk=seat.pk)
    if seat.status != Seat.Status.ACTIVE:
        raise ValidationError({"agent_id": ["This agent's seat is not active."]})
    reservation = (Reservation.objects.filter(seat=seat, territory__zip_code=lead.zip_code)
                   .exclude(status=Reservation.Status.RELEASED).first())
    log = {"at": now.isoformat(), "zip_code": lead.zip_code, "rule": "assigned_by_staff",
           "why": f"assigned by staff ({who})", "by": who, "candidates": [],
           "chosen": {"reservation_id": reservation.pk if reservation else None,
                      "seat_id": seat.pk, "brokerage": seat.brokerage.slug}}
    return Decision(log=log, seat=seat, reservation=reservation)


def _nearest(*, lead: InboundLead, within_miles: float, now: datetime, who: str) -> Decision:
    territory = Territory.objects.filter(zip_code=lead.zip_code).first()
    if territory is None:
        raise Conflict(f"ZIP {lead.zip_code or '(none)'} is not in the catalogue.",
                       code="no_holder_nearby")
    nearby = territory_selectors.territory_rows(near=territory, radius_miles=within_miles,
                                                include_inactive=True)
    held = set(Reservation.objects.filter(territory__zip_code__in=nearby.values("zip_code"))
               .exclude(status=Reservation.Status.RELEASED)
               .values_list("territory__zip_code", flat=True))
    for place in nearby.filter(zip_code__in=held):
        decision = decide(lead=lead, now=now, zip_code=place.zip_code)
        if decision.seat is not None:
            decision.log.update(
                rule="nearest_by_staff", by=who,
                why=(f"sent by staff ({who}) to the nearest eligible holder within "
                     f"{within_miles:g} miles: ZIP {place.zip_code}, "
                     f"{place.distance_miles:.1f} miles away; {decision.log['why']}"))
            return decision
    raise Conflict(f"No holder within {within_miles:g} miles of ZIP {lead.zip_code} can "
                   "take a lead now.", code="no_holder_nearby")
