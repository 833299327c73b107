"""Territory services: holds, payment outcomes, releases, lapses, seats leaving, staff."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.core.exceptions import ValidationError
from django.utils import timezone

from clozings.platform.errors import Conflict, NotFound, status_for
from clozings.tenants import services as tenants
from clozings.tenants.models import Seat
from clozings.territories import selectors, services
from clozings.territories.models import Reservation, Slot, Territory, TierPrice
from clozings.territories.signals import reservation_released
from tests.territories.factories import active_reservation, agent, held, snapshot, territory


@pytest.fixture
def released_signals():
    """Reservations announced as released (billing removes their Stripe items)."""
    seen: list[int] = []

    def listener(sender, reservation, **kwargs):
        seen.append(reservation.pk)

    reservation_released.connect(listener, dispatch_uid="test-released")
    yield seen
    reservation_released.disconnect(dispatch_uid="test-released")


# --- holding ----------------------------------------------------------------------------
def test_hold_slot_makes_a_pending_reservation_at_the_tier_price(acme):
    seat = agent(acme.brokerage)

    reservation = services.hold_slot(seat=seat, zip_code="10001")

    assert (reservation.status, reservation.brokerage_id, reservation.seat_id) == (
        "pending", acme.brokerage.pk, seat.pk)
    assert reservation.price_cents == TierPrice.objects.get(tier="premium").price_cents == 9900
    assert reservation.slot.number == 1
    assert held("10001") == [seat.pk]


def test_a_zips_own_price_overrides_its_tier(acme):
    services.update_territory(zip_code="10002", price_cents=12345)

    reservation = services.hold_slot(seat=agent(acme.brokerage), zip_code="10002")

    assert reservation.price_cents == 12345


def test_the_same_agent_cannot_hold_a_zip_twice(acme):
    seat = agent(acme.brokerage)
    services.update_territory(zip_code="10003", slots=3)
    services.hold_slot(seat=seat, zip_code="10003")
    before = snapshot("10003")

    with pytest.raises(Conflict) as caught:
        services.hold_slot(seat=seat, zip_code="10003")

    assert caught.value.code == "already_reserved"
    assert snapshot("10003") == before


def test_a_full_zip_refuses_with_territory_full(acme, globex):
    services.hold_slot(seat=agent(acme.brokerage), zip_code="10004")
    before = snapshot("10004")

    with pytest.raises(Conflict) as caught:
        services.hold_slot(seat=agent(globex.brokerage), zip_code="10004")

    assert (caught.value.code, status_for(caught.value)) == ("territory_full", 409)
    assert snapshot("10004") == before


@pytest.mark.parametrize("zip_code", ["", "1000", "100011", "abcde", "10 01", None, "１０００１"])
def test_a_malformed_zip_is_a_field_error(acme, zip_code):
    with pytest.raises(ValidationError) as caught:
        services.hold_slot(seat=agent(acme.brokerage), zip_code=zip_code)

    assert list(caught.value.message_dict) == ["zip_code"]
    assert not Reservation.objects.exists()


def test_an_unknown_or_withdrawn_zip_is_not_found(acme):
    services.update_territory(zip_code="10005", is_active=False)
    seat = agent(acme.brokerage)

    for zip_code in ("00000", "10005"):
        with pytest.raises(NotFound) as caught:
            services.hold_slot(seat=seat, zip_code=zip_code)
        assert caught.value.code == "not_found"
    assert not Reservation.objects.exists()


def test_a_deactivated_seat_cannot_hold(acme):
    seat = agent(acme.brokerage, status=Seat.Status.DEACTIVATED)

    with pytest.raises(ValidationError) as caught:
        services.hold_slot(seat=seat, zip_code="10006")

    assert list(caught.value.message_dict) == ["agent_id"]
    assert held("10006") == []


# --- payment outcomes -------------------------------------------------------------------
def test_activation_makes_the_hold_active_and_is_idempotent(acme):
    reservation = services.hold_slot(seat=agent(acme.brokerage), zip_code="10007")
    period_end = timezone.now() + timedelta(days=30)

    first = services.activate_reservation(reservation_id=reservation.pk, stripe_item_id="si_1",
                                          period_end=period_end)
    again = services.activate_reservation(reservation_id=reservation.pk, stripe_item_id="si_1")

    assert (first.status, first.stripe_item_id, first.period_end) == (
        "active", "si_1", period_end)
    assert (again.status, again.activated_at, again.period_end) == (
        "active", first.activated_at, period_end)


def test_abandoning_a_hold_leaves_no_trace_and_frees_the_place(acme, globex):
    reservation = services.hold_slot(seat=agent(acme.brokerage), zip_code="10008")

    services.abandon_hold(reservation_id=reservation.pk)
    services.abandon_hold(reservation_id=reservation.pk)

    assert not Reservation.objects.filter(pk=reservation.pk).exists()
    assert not Slot.objects.filter(territory__zip_code="10008").exists()
    assert services.hold_slot(seat=agent(globex.brokerage), zip_code="10008").status == "pending"


def test_abandon_leaves_an_active_reservation_alone(acme):
    reservation = active_reservation(agent(acme.brokerage), "10009")

    services.abandon_hold(reservation_id=reservation.pk)

    assert Reservation.objects.get(pk=reservation.pk).status == "active"


# --- releasing --------------------------------------------------------------------------
def test_a_scheduled_release_keeps_the_zip_until_its_time(acme, released_signals):
    period_end = timezone.now() + timedelta(days=12)
    reservation = active_reservation(agent(acme.brokerage), "10010", period_end=period_end)

    scheduled = services.schedule_release(reservation=reservation, at=period_end)
    early = services.release_due(now=period_end - timedelta(minutes=1))

    assert (scheduled.status, scheduled.release_at, early) == ("active", period_end, 0)
    assert released_signals == []

    assert services.release_due(now=period_end) == 1
    released = Reservation.objects.get(pk=reservation.pk)
    assert (released.status, released.release_reason) == ("released", "released_by_owner")
    assert held("10010") == []
    assert released_signals == [reservation.pk]


def test_leads_stop_once_a_scheduled_release_is_due_even_before_the_task_runs(acme):
    reservation = active_reservation(agent(acme.brokerage), "10026")
    services.schedule_release(reservation=reservation,
                              at=timezone.now() + timedelta(days=3))
    assert [r.pk for r in selectors.eligible_reservations(zip_code="10026")] == [reservation.pk]

    Reservation.objects.filter(pk=reservation.pk).update(
        release_at=timezone.now() - timedelta(seconds=1))

    assert list(selectors.eligible_reservations(zip_code="10026")) == []


def test_release_is_idempotent(acme, released_signals):
    reservation = active_reservation(agent(acme.brokerage), "10011")

    first = services.release_reservation(reservation_id=reservation.pk, reason="unpaid")
    second = services.release_reservation(reservation_id=reservation.pk, reason="other")

    assert (second.status, second.released_at, second.release_reason) == (
        "released", first.released_at, "unpaid")
    assert released_signals == [reservation.pk]
    assert not Slot.objects.filter(territory__zip_code="10011").exists()


def test_releasing_a_hold_never_paid_for_happens_at_once(acme):
    reservation = services.hold_slot(seat=agent(acme.brokerage), zip_code="10012")

    result = services.schedule_release(reservation=reservation,
                                       at=timezone.now() + timedelta(days=20))

    assert result.status == "released"
    assert held("10012") == []


def test_a_renewal_moves_the_next_charge_forward_never_back(acme, globex):
    first_end = timezone.now() + timedelta(days=3)
    mine = active_reservation(agent(acme.brokerage), "10028", period_end=first_end)
    theirs = active_reservation(agent(globex.brokerage), "10029", period_end=first_end)
    renewed = first_end + timedelta(days=30)

    services.record_period_end(brokerage_id=acme.brokerage.pk, period_end=renewed)
    services.record_period_end(brokerage_id=acme.brokerage.pk, period_end=first_end)

    assert Reservation.objects.get(pk=mine.pk).period_end == renewed
    assert Reservation.objects.get(pk=theirs.pk).period_end == first_end


# --- lapses -----------------------------------------------------------------------------
def test_lapse_runs_past_due_then_suspended_then_released_and_each_step_is_idempotent(
        acme, globex, released_signals):
    now = timezone.now()
    mine = active_reservation(agent(acme.brokerage), "10013")
    other = active_reservation(agent(globex.brokerage), "10014")

    services.mark_brokerage_past_due(brokerage_id=acme.brokerage.pk, since=now)
    services.mark_brokerage_past_due(brokerage_id=acme.brokerage.pk,
                                     since=now + timedelta(days=1))
    mine.refresh_from_db()
    assert (mine.status, mine.past_due_since) == ("past_due", now)
    assert [r.pk for r in selectors.eligible_reservations(zip_code="10013")] == [mine.pk]

    assert services.suspend_overdue(now=now + timedelta(days=6, hours=23)) == 0
    assert services.suspend_overdue(now=now + timedelta(days=7)) == 1
    assert services.suspend_overdue(now=now + timedelta(days=8)) == 0
    mine.refresh_from_db()
    assert mine.status == "suspended"
    assert list(selectors.eligible_reservations(zip_code="10013")) == []
    assert held("10013") == [mine.seat_id]  # the place is kept while suspended

    suspended_at = mine.suspended_at
    assert services.release_suspended(now=suspended_at + timedelta(days=13)) == 0
    assert services.release_suspended(now=suspended_at + timedelta(days=14)) == 1
    assert services.release_suspended(now=suspended_at + timedelta(days=15)) == 0
    assert Reservation.objects.get(pk=mine.pk).status == "released"
    assert held("10013") == []
    assert released_signals == [mine.pk]
    assert Reservation.objects.get(pk=other.pk).status == "active"


def test_recovery_restores_past_due_and_suspended_but_not_released(acme):
    now = timezone.now()
    late = active_reservation(agent(acme.brokerage), "10025")
    later = active_reservation(agent(acme.brokerage), "10016")
    gone = active_reservation(agent(acme.brokerage), "10017")
    services.mark_brokerage_past_due(brokerage_id=acme.brokerage.pk, since=now)
    Reservation.objects.filter(pk=later.pk).update(status="suspended", suspended_at=now)
    services.release_reservation(reservation_id=gone.pk, reason="unpaid")

    services.restore_brokerage(brokerage_id=acme.brokerage.pk)
    services.restore_brokerage(brokerage_id=acme.brokerage.pk)

    statuses = dict(Reservation.objects.filter(brokerage=acme.brokerage).values_list(
        "pk", "status"))
    assert statuses == {late.pk: "active", later.pk: "active", gone.pk: "released"}
    assert Reservation.objects.get(pk=late.pk).past_due_since is None


# --- seats leaving ----------------------------------------------------------------------
def test_a_deactivated_agents_territories_go_to_the_colleague_named(acme):
    leaving, taking = agent(acme.brokerage), agent(acme.brokerage)
    reservation = active_reservation(leaving, "10018")

    tenants.deactivate_seat(seat=leaving, by=acme.admin, reassign_to=taking)

    reservation.refresh_from_db()
    assert (reservation.seat_id, reservation.status) == (taking.pk, "active")


def test_a_colleague_waiting_for_a_handed_over_zip_stops_waiting(acme):
    leaving, taking = agent(acme.brokerage), agent(acme.brokerage)
    reservation = active_reservation(leaving, "10027")
    entry = services.join_waitlist(seat=taking, zip_code="10027")

    tenants.deactivate_seat(seat=leaving, by=acme.admin, reassign_to=taking)

    entry.refresh_from_db()
    assert Reservation.objects.get(pk=reservation.pk).seat_id == taking.pk
    assert entry.status == "cancelled"
    assert held("10027") == [taking.pk]


def test_a_zip_the_colleague_already_holds_is_released_at_the_end_of_its_period(acme):
    leaving, taking = agent(acme.brokerage), agent(acme.brokerage)
    services.update_territory(zip_code="10019", slots=2)
    period_end = timezone.now() + timedelta(days=9)
    reservation = active_reservation(leaving, "10019", period_end=period_end)
    active_reservation(taking, "10019")

    tenants.deactivate_seat(seat=leaving, by=acme.admin, reassign_to=taking)

    reservation.refresh_from_db()
    assert (reservation.seat_id, reservation.release_at) == (leaving.pk, period_end)
    assert [r.seat_id for r in selectors.eligible_reservations(zip_code="10019")] == [taking.pk]


def test_without_a_colleague_territories_are_released_and_waitlists_left(acme, globex):
    leaving = agent(acme.brokerage)
    pending = services.hold_slot(seat=leaving, zip_code="10020")
    services.hold_slot(seat=agent(globex.brokerage), zip_code="10021")
    entry = services.join_waitlist(seat=leaving, zip_code="10021")

    tenants.deactivate_seat(seat=leaving, by=acme.admin)

    assert Reservation.objects.get(pk=pending.pk).status == "released"
    assert held("10020") == []
    entry.refresh_from_db()
    assert entry.status == "cancelled"


# --- staff ------------------------------------------------------------------------------
@pytest.mark.parametrize(("changes", "field"), [
    ({"price_cents": -1}, "price_cents"),
    ({"price_cents": "12"}, "price_cents"),
    ({"tier": "gold"}, "tier"),
    ({"slots": 0}, "slots"),
    ({"slots": True}, "slots"),
    ({"is_active": "yes"}, "is_active"),
])
def test_bad_staff_settings_are_field_errors_and_change_nothing(db, changes, field):
    before = snapshot("10022")

    with pytest.raises(ValidationError) as caught:
        services.update_territory(zip_code="10022", **changes)

    assert list(caught.value.message_dict) == [field]
    assert snapshot("10022") == before


def test_slots_cannot_go_below_the_places_taken(acme):
    services.update_territory(zip_code="10023", slots=3)
    services.hold_slot(seat=agent(acme.brokerage), zip_code="10023")
    services.hold_slot(seat=agent(acme.brokerage), zip_code="10023")
    before = snapshot("10023")

    with pytest.raises(ValidationError) as caught:
        services.update_territory(zip_code="10023", slots=1)

    assert "2 places" in caught.value.message_dict["slots"][0]
    assert snapshot("10023") == before
    assert services.update_territory(zip_code="10023", slots=2).slots == 2


def test_a_tier_price_applies_to_new_holds_not_to_existing_ones(acme):
    standard = territory("10024")
    services.update_territory(zip_code=standard.zip_code, tier="standard")
    existing = services.hold_slot(seat=agent(acme.brokerage), zip_code="10024")
    services.update_territory(zip_code="10024", slots=2)

    services.set_tier_price(tier="standard", price_cents=5500)
    newer = services.hold_slot(seat=agent(acme.brokerage), zip_code="10024")

    assert (existing.price_cents, newer.price_cents) == (4900, 5500)
    assert Reservation.objects.get(pk=existing.pk).price_cents == 4900


@pytest.mark.parametrize("price", [-100, None, "9", 10.5])
def test_a_bad_tier_price_is_refused(db, price):
    with pytest.raises(ValidationError):
        services.set_tier_price(tier="basic", price_cents=price)

    assert TierPrice.objects.get(tier="basic").price_cents == 1900


def test_an_unknown_tier_is_not_found(db):
    with pytest.raises(NotFound) as caught:
        services.set_tier_price(tier="gold", price_cents=100)

    assert caught.value.code == "not_found"
    assert not TierPrice.objects.filter(tier="gold").exists()
    assert Territory.objects.filter(tier="gold").count() == 0
