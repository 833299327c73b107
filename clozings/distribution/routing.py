"""Routing and delivery: which holder of the ZIP gets a lead, and writing it into that
brokerage's CRM, exactly once.

Leads are routed in small batches, one transaction per batch (`route_waiting`): the
fair-share states of up to half `limit` of the territories the oldest waiting leads are in
are locked, SKIP LOCKED (so two workers route different territories side by side, and
never wait for each other), then up to `limit` waiting leads of those ZIPs (and of ZIPs
nobody holds; the one a task names first, the rest SKIP LOCKED), then every capped
agent's seat in seat id order (a stable order, so two batches never deadlock), and each
lead's decision is taken in memory. (One lead alone, `route_lead`, waits for its
territory's state.) Then
the leads are delivered brokerage by brokerage: one switch into the brokerage's schema,
each lead's CRM lead and its agent's notification written through crm's one service
(which takes no savepoint of its own then), all in one savepoint; should a lead fail, that
savepoint is rolled back and the leads are delivered again each in a savepoint of its own
(a bad lead is rolled back alone, its fair-share credit given back, and it stays
`received` for the sweeper). What the CRMs hold already and their default cadences are
read for the whole batch at once (`crm.selectors.routed_lead_context`). The CRM's
follow-up facts for these lines are kept (`receivers.projections_kept`) and written with
the ledger, every line of the batch in one pipelined statement that also names its
brokerage; the batch's mail and texts go out by one task each after commit
(`notifications.announced_together`). A retry finds the lead delivered and does nothing;
were it to get as far as the CRM again, the unique inbound lead id there gives back the
first CRM lead.
"""

from __future__ import annotations

import logging
import zoneinfo
from collections import defaultdict
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from fractions import Fraction

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import connection, transaction
from django.db.models import Q
from django.utils import timezone

from clozings.crm import selectors as crm_selectors
from clozings.crm import services as crm_services
from clozings.distribution import fair_share, notifications, receivers
from clozings.distribution.models import InboundLead, RoutingState
from clozings.platform.errors import Conflict, NotFound
from clozings.platform.tenancy import enqueue_now, in_schema
from clozings.tenants.models import Seat
from clozings.territories import selectors as territory_selectors
from clozings.territories.models import Reservation, Territory

logger = logging.getLogger(__name__)

STATUS = InboundLead.Status
# The same person (phone or email) again within this many days goes to the agent who
# already has them, as a new inquiry on their CRM lead.
REPEAT_WINDOW_DAYS = 90
# The wake-up intake sends routing with (platform.tenancy.enqueue_after_answer's `wake`).
WAKE = "distribution.route_lead"
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
    is (a retried or duplicate task). Returns the lead, or None when there is no such lead.
    (Waits for a worker that holds the lead; `route_waiting` does not.)"""
    return _route_one(inbound_lead_id)[0]


def _route_one(inbound_lead_id: int) -> tuple[InboundLead | None, bool]:
    """`route_lead`, and whether it routed the lead (False: none, or past `received`)."""
    with transaction.atomic():
        lead = (InboundLead.objects.select_for_update(of=("self",))
                .select_related("source").filter(pk=inbound_lead_id).first())
        if lead is None or lead.status != STATUS.RECEIVED:
            return lead, False
        _route_locked([lead])
    return lead, True


def route_waiting(*, first_id: int | None = None, limit: int | None = None) -> list[InboundLead]:
    """Route and deliver up to `limit` waiting leads in one transaction: `first_id` (the
    lead a task names) first when it is still waiting, then the oldest waiting ones, among
    the ZIPs this batch holds. It holds the fair-share states of at most half `limit` of
    the territories the oldest waiting leads are in (SKIP LOCKED: those another worker
    holds are left to it, so two workers route different territories side by side), and
    ZIPs nobody holds. Leads another worker holds are skipped (SKIP LOCKED), never waited
    for: it is routing them, and should it die they are waiting again for the next task
    or the sweeper.

    Intake wakes routing once for a burst of leads (`WAKE`), so whatever this batch saw
    waiting and did not take is this task's to hand on: with something routed, it sends
    routing again after commit (for the first lead left); with nothing routed (every one
    in a territory another worker holds just now), it routes the first lead left alone,
    waiting for its territory as `route_lead` does, then sends routing again for the rest.
    Returns the leads taken (each delivered, orphaned, or still `received` when its
    delivery failed)."""
    limit = limit or settings.LEAD_ROUTING_BATCH
    waiting = (InboundLead.objects.select_for_update(of=("self",), skip_locked=True)
               .select_related("source").filter(status=STATUS.RECEIVED))
    # The ZIPs of the oldest waiting leads (read without locks, outside the transaction: a
    # task that finds nothing waiting costs one query)
    oldest = dict(InboundLead.objects.filter(status=STATUS.RECEIVED)
                  .order_by("received_at", "id").values_list("id", "zip_code")[:2 * limit])
    first_zip = oldest.get(first_id) if first_id is not None else None
    if first_id is not None and first_zip is None and len(oldest) == 2 * limit:
        first_zip = (InboundLead.objects.filter(pk=first_id, status=STATUS.RECEIVED)
                     .values_list("zip_code", flat=True).first())
    zips = list(dict.fromkeys(([first_zip] if first_zip is not None else [])
                              + list(oldest.values())))
    if not zips:
        return []
    with transaction.atomic():
        batch = _Routing.lock(zip_codes=zips, now=timezone.now(), most=max(1, limit // 2))
        leads = (list(waiting.filter(pk=first_id)) if first_zip in batch.routable else [])
        if len(leads) < limit:
            others = waiting.filter(zip_code__in=batch.routable)
            if leads:
                others = others.exclude(pk=first_id)
            leads += list(others.order_by("received_at", "id")[:limit - len(leads)])
        if leads:
            _route_locked(leads, batch)
    taken = {lead.pk for lead in leads}
    left = [pk for pk in dict.fromkeys(([first_id] if first_zip is not None else [])
                                       + list(oldest)) if pk not in taken]
    if left and not leads:  # nothing else to do: wait for that lead's territory
        lead, routed = _route_one(left.pop(0))
        leads = [lead] if routed else []
    if left:  # seen waiting, not taken: another worker may be routing them, or not
        from clozings.distribution.tasks import route_lead as task  # tasks import this module

        enqueue_now(task, inbound_lead_id=left[0])
    return leads


def _routed_lead(lead: InboundLead, reservation_id: int | None,
                 time_zone: str | None = None) -> crm_services.RoutedLead:
    return crm_services.RoutedLead(
        inbound_lead_id=lead.pk, first_name=lead.first_name, last_name=lead.last_name,
        email=lead.email, phone=lead.phone, zip_code=lead.zip_code, intent=lead.intent,
        price_min_cents=lead.price_min_cents, price_max_cents=lead.price_max_cents,
        timeframe=lead.timeframe, message=lead.message, campaign=lead.campaign,
        consent=lead.consent, source_name=lead.source.name, received_at=lead.received_at,
        reservation_id=reservation_id, cost_cents=lead.source.cost_per_lead_cents,
        routing_note=lead.routing_log[-1].get("why", "") if lead.routing_log else "",
        time_zone=time_zone)


_LEDGER_FIELDS = ("status", "routing_log", "routed_at", "brokerage", "seat", "reservation",
                  "is_repeat", "delivered_at")


def _mark_ledger(leads: list[InboundLead], facts: dict[int, dict] | None = None) -> None:
    """Write the routing outcome of `leads` (locked) in one statement (pipelined), with the
    CRM's follow-up facts kept for them (`receivers.projections_kept`: those of a lead
    delivered to the brokerage whose schema announced them) in the same UPDATE."""
    facts = facts or {}
    for names, rows in ((_LEDGER_FIELDS, [lead for lead in leads if lead.pk not in facts]),
                        (_LEDGER_FIELDS + receivers.PROJECTED_FIELDS,
                         [lead for lead in leads if lead.pk in facts])):
        if not rows:
            continue
        for lead in rows:
            for name, value in facts.get(lead.pk, {}).items():
                setattr(lead, name, value)
        _update_each(InboundLead, rows, names)


def _update_each(model, objects: list, names: tuple[str, ...]) -> None:
    """UPDATE the fields `names` of each of `objects` (saved rows of `model`) by primary
    key, the statements pipelined in one round trip (executemany)."""
    fields = [model._meta.get_field(name) for name in names]
    columns = ", ".join(f'"{f.column}" = %s' for f in fields)
    with connection.cursor() as cursor:
        cursor.executemany(
            f'UPDATE {model._meta.db_table} SET {columns} WHERE "{model._meta.pk.column}" = %s',
            [[f.get_db_prep_save(getattr(obj, f.attname), connection) for f in fields]
             + [obj.pk] for obj in objects])


def _route_locked(leads: list[InboundLead], batch: _Routing | None = None) -> None:
    """Decide for every lead (locked, `received`), then deliver them brokerage by
    brokerage, each in a savepoint of its own; then the ledger (inside the caller's
    transaction). A lead whose delivery fails is rolled back alone and stays `received`.
    `batch`: the routing state already locked for the leads' ZIPs (else locked here)."""
    if batch is None:
        batch = _Routing.lock(zip_codes={lead.zip_code for lead in leads},
                              now=timezone.now())
    now = batch.now
    batch.remember_people(leads)
    groups: dict[int, list[tuple[InboundLead, Decision]]] = defaultdict(list)
    done: list[InboundLead] = []
    decided = []
    for lead in leads:
        decision = batch.decide(lead=lead)
        lead.routing_log = [*lead.routing_log, decision.log]
        lead.routed_at = now
        decided.append((lead, decision))
        if decision.seat is None:
            lead.status = STATUS.ORPHANED
            done.append(lead)
        else:
            batch.know(lead, decision)
            groups[decision.seat.brokerage_id].append((lead, decision))
    known = notifications.announced([(lead, decision.seat) for group in groups.values()
                                     for lead, decision in group]) if groups else None
    contexts = crm_selectors.routed_lead_context(inbound_lead_ids={
        group[0][1].seat.brokerage.schema_name: [lead.pk for lead, _ in group]
        for group in groups.values()})
    with notifications.announced_together(), crm_services.receiving_together():
        try:  # all at once, in one savepoint; should any lead fail, again one by one
            with transaction.atomic():
                delivered, facts = _deliver_groups(groups, batch, known, contexts, alone=False)
        except Exception:  # noqa: BLE001 (one bad lead never undoes its batch)
            for group in groups.values():
                for lead, _ in group:
                    lead.status = STATUS.RECEIVED
            delivered, facts = _deliver_groups(groups, batch, known, contexts, alone=True)
    done += delivered
    batch.save()
    _mark_ledger(done, facts)
    for lead, decision in decided:
        logger.info("lead.routed", extra={
            "inbound_lead": lead.pk, "status": lead.status, "rule": decision.log["rule"],
            "brokerage": lead.brokerage_id, "seat": lead.seat_id})


def _deliver_groups(groups: dict[int, list[tuple[InboundLead, Decision]]], batch: _Routing,
                    known, contexts: dict[str, crm_selectors.RoutedContext], *, alone: bool,
                    ) -> tuple[list[InboundLead], dict[int, dict]]:
    """Deliver the decided leads brokerage by brokerage: (those delivered, the follow-up
    facts kept for them). `alone`: each lead in a savepoint of its own, a failed one rolled
    back alone (its decision given back); else the first failure raises (the caller's
    savepoint undoes them all, and it delivers them again one by one)."""
    done: list[InboundLead] = []
    facts: dict[int, dict] = {}
    for group in groups.values():
        schema = group[0][1].seat.brokerage.schema_name
        with in_schema(schema), receivers.projections_kept(
                schema=schema, inbound_lead_ids=[lead.pk for lead, _ in group]) as kept:
            for lead, decision in group:
                write = {"lead": lead, "decision": decision, "known": known,
                         "time_zone": batch.time_zone(lead.zip_code),
                         "context": contexts[schema]}
                if not alone:
                    _write(**write)
                else:
                    before = dict(kept)
                    try:
                        with transaction.atomic():
                            _write(**write)
                    except Exception:  # noqa: BLE001 (one bad lead never undoes its batch)
                        logger.exception("lead.delivery_failed", extra={
                            "inbound_lead": lead.pk, "seat": decision.seat.pk})
                        kept.clear()
                        kept.update(before)
                        batch.give_back(lead, decision)
                        continue
                _mark_delivered(lead=lead, decision=decision, now=batch.now)
                done.append(lead)
            facts.update(kept)
    return done, facts


def _write(*, lead: InboundLead, decision: Decision, known, time_zone: str | None,
           context: crm_selectors.RoutedContext) -> None:
    """The CRM lead (the connection in the brokerage's schema, inside the caller's
    savepoint) and the agent's notification (public tables, found through the search
    path). The ledger line is named for the brokerage when the batch marks it, with the
    follow-up facts the CRM announced (kept: `receivers.projections_kept`)."""
    repeat_of = decision.repeat_of
    crm_lead = crm_services.receive_routed_lead(
        routed=_routed_lead(lead, decision.reservation.pk if decision.reservation else None,
                            time_zone),
        agent=decision.seat, repeat_of_inbound_lead_id=repeat_of.pk if repeat_of else None,
        savepoint=False, context=context)
    notifications.notify_delivery(lead=lead, seat=decision.seat, crm_lead_id=crm_lead.pk,
                                  known=known)


def _name_brokerage(lead: InboundLead, seat: Seat) -> None:
    """The CRM projects its follow-up facts (receivers.project_followup) only onto a ledger
    line of the brokerage whose schema writes them: name the brokerage before it writes
    (inside the delivery's transaction, so a failed delivery leaves the line as it was).
    The batch path names it when it marks the line, the facts kept until then."""
    InboundLead.objects.filter(pk=lead.pk).exclude(brokerage_id=seat.brokerage_id).update(
        brokerage=seat.brokerage)


def _mark_delivered(*, lead: InboundLead, decision: Decision, now: datetime) -> None:
    seat = decision.seat
    lead.status = STATUS.DELIVERED
    lead.brokerage, lead.seat, lead.reservation = seat.brokerage, seat, decision.reservation
    lead.is_repeat = decision.repeat_of is not None
    lead.delivered_at = now


def deliver_to(*, lead: InboundLead, seat: Seat, repeat_of: InboundLead | None = None,
               reservation_id: int | None = None) -> None:
    """Write the lead into the seat's brokerage's CRM and queue the agent's notification
    (inside the caller's transaction, the inbound lead locked)."""
    _name_brokerage(lead, seat)
    with in_schema(seat.brokerage.schema_name):
        crm_lead = crm_services.receive_routed_lead(
            routed=_routed_lead(lead, reservation_id), agent=seat,
            repeat_of_inbound_lead_id=repeat_of.pk if repeat_of else None)
    notifications.notify_delivery(lead=lead, seat=seat, crm_lead_id=crm_lead.pk)


def _deliver(*, lead: InboundLead, decision: Decision, now: datetime) -> None:
    deliver_to(lead=lead, seat=decision.seat, repeat_of=decision.repeat_of,
               reservation_id=decision.reservation.pk if decision.reservation else None)
    _mark_delivered(lead=lead, decision=decision, now=now)
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


def passed_over(reservation: Reservation, now: datetime, count=_leads_since) -> str | None:
    """Why a holder of the ZIP cannot take a lead now (None: it can). `count(seat, since)`:
    the agent's leads routed since a moment (their caps)."""
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
    if seat.daily_cap is not None and count(
            seat, _local_midnight(now, time_zone, month=False)) >= seat.daily_cap:
        return f"the agent reached the daily cap of {seat.daily_cap}"
    if seat.monthly_cap is not None and count(
            seat, _local_midnight(now, time_zone, month=True)) >= seat.monthly_cap:
        return f"the agent reached the monthly cap of {seat.monthly_cap}"
    return None


def _candidate(reservation: Reservation, weight: int, reason: str | None) -> dict:
    return {"reservation_id": reservation.pk, "seat_id": reservation.seat_id,
            "brokerage": reservation.brokerage.slug, "weight": weight,
            "reservation_status": reservation.status, "passed_over": reason}


def _locked_state(territory: Territory) -> RoutingState:
    RoutingState.objects.bulk_create([RoutingState(territory=territory)],
                                     ignore_conflicts=True)
    return RoutingState.objects.select_for_update().get(territory=territory)


MISSED_SLA = "the agent had this lead and did not touch it within the first-touch SLA"


def _skip_locked_states(territory_ids: list[int], holders: dict[str, list[Reservation]],
                        first_zip: str, most: int) -> dict[int, RoutingState]:
    """At most `most` of these territories' states, none another transaction holds: the
    first ZIP's first, then in territory id order (SKIP LOCKED: never waits)."""
    locked = RoutingState.objects.select_for_update(skip_locked=True)
    states: dict[int, RoutingState] = {}
    first = holders.get(first_zip)
    if first:
        states = {state.territory_id: state
                  for state in locked.filter(territory_id=first[0].territory_id)}
    rest = [pk for pk in territory_ids if pk not in states]
    if rest and len(states) < most:
        states.update((state.territory_id, state) for state in locked.filter(
            territory_id__in=rest).order_by("territory_id")[:most - len(states)])
    return states


@dataclass
class _Routing:
    """What the decisions of one transaction share: the ZIPs' holders, their territories'
    fair-share states and their capped agents' seats (locked, in a stable order), the
    agents' lead counts and the people already known (the same-person rule). Decisions
    taken here count for the next ones at once, before anything is written."""

    now: datetime
    holders: dict[str, list[Reservation]]
    states: dict[int, RoutingState]  # by territory id
    counted: dict[tuple[int, datetime], int] = field(default_factory=dict)
    taken: dict[int, int] = field(default_factory=lambda: defaultdict(int))  # seat: leads
    known: list[InboundLead] = field(default_factory=list)  # delivered leads, people
    touched: set[int] = field(default_factory=set)  # territories whose state changed
    given: dict[int, tuple[int, dict[str, Fraction]]] = field(default_factory=dict)
    routable: frozenset[str] = frozenset()  # the ZIPs whose leads this batch may route

    @classmethod
    def lock(cls, *, zip_codes, now: datetime, most: int | None = None) -> _Routing:
        """Lock the fair-share states of the ZIPs' territories (in territory id order,
        waiting for them) and their capped agents' seats. `most`: at most that many
        states, skipping those another transaction holds (first ZIP first): only the
        ZIPs in `routable` may be routed then."""
        holders: dict[str, list[Reservation]] = defaultdict(list)
        for reservation in (Reservation.objects.filter(territory__zip_code__in=set(zip_codes))
                            .exclude(status=Reservation.Status.RELEASED)
                            .select_related("seat__brokerage", "seat__user", "brokerage",
                                            "territory").order_by("activated_at", "id")):
            holders[reservation.territory.zip_code].append(reservation)
        unheld = set(zip_codes) - set(holders)
        every = [r for rows in holders.values() for r in rows]
        territory_ids = sorted({r.territory_id for r in every})
        states = {}
        if territory_ids:
            RoutingState.objects.bulk_create(
                [RoutingState(territory_id=pk) for pk in territory_ids], ignore_conflicts=True)
            if most is None:
                states = {state.territory_id: state for state in RoutingState.objects
                          .select_for_update().filter(territory_id__in=territory_ids)
                          .order_by("territory_id")}
            else:
                states = _skip_locked_states(territory_ids, holders, list(zip_codes)[0],
                                             most)
                holders = defaultdict(list, {
                    zip_code: rows for zip_code, rows in holders.items()
                    if rows[0].territory_id in states})
                every = [r for rows in holders.values() for r in rows]
        # A capped agent may hold other ZIPs routed at this moment by other workers: their
        # count and these decisions are taken under the seat's lock (always in id order,
        # after the territories').
        capped = sorted({r.seat_id for r in every
                         if r.seat.daily_cap is not None or r.seat.monthly_cap is not None})
        if capped:
            list(Seat.objects.select_for_update().filter(pk__in=capped).order_by("pk")
                 .values_list("pk", flat=True))
        return cls(now=now, holders=holders, states=states,
                   routable=frozenset(holders) | unheld)

    def time_zone(self, zip_code: str) -> str | None:
        """The ZIP's time zone from the catalogue (None: no holder, not loaded here)."""
        holders = self.holders.get(zip_code)
        return (holders[0].territory.time_zone or "") if holders else None

    def count(self, seat: Seat, since: datetime) -> int:
        """The agent's leads routed since `since`, with those given them in this batch."""
        key = (seat.pk, since)
        if key not in self.counted:
            self.counted[key] = _leads_since(seat, since)
        return self.counted[key] + self.taken[seat.pk]

    def remember_people(self, leads: list[InboundLead]) -> None:
        """The delivered leads of the same people as `leads` within the repeat window, to
        any holder's brokerage (one query for the batch)."""
        phones = sorted({lead.phone for lead in leads if lead.phone})
        emails = sorted({lead.email for lead in leads if lead.email})
        brokerages = {r.brokerage_id for rows in self.holders.values() for r in rows}
        if not (phones or emails) or not brokerages:
            return
        person = Q(phone__in=phones) if phones else Q()
        if emails:
            person |= Q(email__in=emails)
        self.known = list(InboundLead.objects.filter(
            person, status__in=(STATUS.DELIVERED, STATUS.REROUTED),
            brokerage_id__in=brokerages,
            received_at__gte=self.now - timedelta(days=REPEAT_WINDOW_DAYS),
        ).select_related("seat__brokerage", "seat__user").order_by("-received_at", "-id"))

    def same_person(self, lead: InboundLead, eligible: list[Reservation]) -> InboundLead | None:
        """The latest lead of the same person delivered to a brokerage that may take this
        one, within the repeat window, whose agent can still take it."""
        if not (lead.phone or lead.email) or not eligible:
            return None
        brokerages = {r.brokerage_id for r in eligible}
        cutoff = self.now - timedelta(days=REPEAT_WINDOW_DAYS)
        prior = max((known for known in self.known
                     if known.pk != lead.pk and known.brokerage_id in brokerages
                     and known.received_at >= cutoff
                     and ((lead.phone and known.phone == lead.phone)
                          or (lead.email and known.email == lead.email))),
                    key=lambda known: (known.received_at, known.pk), default=None)
        if prior is None or prior.seat.status != Seat.Status.ACTIVE or prior.seat.is_paused_at(
                self.now):
            return None
        return prior

    def decide(self, *, lead: InboundLead, zip_code: str | None = None,
               exclude_seat_ids: frozenset[int] = frozenset()) -> Decision:
        now = self.now
        zip_code = zip_code or lead.zip_code
        holders = self.holders.get(zip_code, [])
        log: dict = {"at": now.isoformat(), "zip_code": zip_code, "chosen": None}
        if not holders:
            log.update(rule="no_holder", why="nobody holds this ZIP", candidates=[])
            return Decision(log=log)
        territory = holders[0].territory
        state = self.states[territory.pk]
        reasons = {r.pk: MISSED_SLA if r.seat_id in exclude_seat_ids
                   else passed_over(r, now, self.count) for r in holders}
        eligible = [r for r in holders if reasons[r.pk] is None]
        weight = {r.pk: int(state.weights.get(str(r.pk), 1)) for r in holders}
        log["candidates"] = [_candidate(r, weight[r.pk], reasons[r.pk]) for r in holders]

        prior = None if exclude_seat_ids else self.same_person(lead, eligible)
        if prior is not None:
            decision = Decision(log=log, seat=prior.seat, repeat_of=prior, reservation=next(
                (r for r in eligible if r.seat_id == prior.seat_id), None))
            log.update(rule="same_person", why=(
                f"the same person came on {prior.received_at.date().isoformat()} (inbound "
                f"lead {prior.pk}); they go to the agent who already has them"))
        elif not eligible:
            log.update(rule="no_holder", why="no holder of this ZIP can take a lead now")
            return Decision(log=log)
        elif len(eligible) == 1:
            decision = Decision(log=log, seat=eligible[0].seat, reservation=eligible[0])
            log.update(rule="exclusive" if territory.slots == 1 else "shared",
                       why="the only holder who can take a lead now")
        else:
            key, state.credits = fair_share.pick(
                candidates=[(str(r.pk), weight[r.pk]) for r in eligible],
                credits=state.credits)
            chosen = next(r for r in eligible if str(r.pk) == key)
            decision = Decision(log=log, seat=chosen.seat, reservation=chosen)
            log.update(rule="shared", why=(
                f"owed the most leads under the fair share (weight {weight[chosen.pk]} of "
                f"{sum(weight[r.pk] for r in eligible)})"))
        if prior is None:
            self._count(decision, territory.pk, state, holders, eligible, weight)
        log["chosen"] = {"reservation_id": decision.reservation.pk if decision.reservation
                         else None, "seat_id": decision.seat.pk,
                         "brokerage": decision.seat.brokerage.slug}
        return decision

    def _count(self, decision: Decision, territory_id: int, state: RoutingState,
               holders: list[Reservation], eligible: list[Reservation],
               weight: dict[int, int]) -> None:
        """A routed lead in the territory's state and the agent's count, remembering what
        to give back should its delivery fail."""
        held = {str(r.pk) for r in holders}
        state.credits = {key: value for key, value in state.credits.items() if key in held}
        state.decisions += 1
        state.updated_at = self.now
        self.touched.add(territory_id)
        self.taken[decision.seat.pk] += 1
        change: dict[str, Fraction] = {}
        if len(eligible) > 1:
            total = sum(weight[r.pk] for r in eligible)
            change = {str(r.pk): Fraction(weight[r.pk], total) for r in eligible}
            change[str(decision.reservation.pk)] -= 1
        self.given[id(decision)] = (territory_id, change)

    def know(self, lead: InboundLead, decision: Decision) -> None:
        """The lead, about to be delivered, is its person's latest for the rest of the
        batch."""
        lead.brokerage_id, lead.seat = decision.seat.brokerage_id, decision.seat
        self.known.append(lead)

    def give_back(self, lead: InboundLead, decision: Decision) -> None:
        """Undo a decision whose delivery failed: its fair-share credits, the territory's
        decision count, the agent's count, and the person it made known."""
        self.known = [known for known in self.known if known is not lead]
        given = self.given.pop(id(decision), None)
        if given is None:
            return
        territory_id, change = given
        state = self.states[territory_id]
        state.credits = {key: str(Fraction(value) - change.get(key, 0))
                         for key, value in state.credits.items()}
        state.decisions -= 1
        self.taken[decision.seat.pk] -= 1

    def save(self) -> None:
        """The changed fair-share states, in one statement (pipelined)."""
        states = [self.states[territory_id] for territory_id in sorted(self.touched)]
        if states:
            _update_each(RoutingState, states, ("credits", "decisions", "updated_at"))


def decide(*, lead: InboundLead, now: datetime, zip_code: str | None = None,
           exclude_seat_ids: frozenset[int] = frozenset()) -> Decision:
    """Pick the holder for a lead (inside the caller's transaction, the lead locked), with
    the log entry that explains it. `zip_code`: among that ZIP's holders instead of the
    lead's own. `exclude_seat_ids`: agents who had the lead already (a re-route after a
    missed first-touch SLA; the same-person rule does not apply then)."""
    batch = _Routing.lock(zip_codes={zip_code or lead.zip_code}, now=now)
    if not exclude_seat_ids:
        batch.remember_people([lead])
    decision = batch.decide(lead=lead, zip_code=zip_code, exclude_seat_ids=exclude_seat_ids)
    batch.save()
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
