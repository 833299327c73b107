"""Exclusivity under a rush: many agents reserve one ZIP at the same instant, each on
its own database connection. Exactly `slots` win; the rest get territory_full."""

from __future__ import annotations

import pytest
from django.db import connection

from clozings.platform.errors import Conflict
from clozings.territories import services
from clozings.territories.models import Reservation, Slot
from tests.territories.factories import run_at_once, run_pooled

pytestmark = pytest.mark.slow


def _rush(committed_seats, zip_code: str, slots: int, agents: int):
    committed_seats.set_slots(zip_code, slots)
    seats = committed_seats.make(agents)
    results = run_at_once([
        (lambda seat=seat: services.hold_slot(seat=seat, zip_code=zip_code)) for seat in seats])
    connection.close()  # read what the threads committed on a fresh connection
    return results


@pytest.mark.parametrize(("zip_code", "slots"), [("73301", 1), ("73344", 3)])
def test_fifty_agents_reserving_one_zip_at_once_get_exactly_slots_holds(committed_seats,
                                                                       zip_code, slots):
    results = _rush(committed_seats, zip_code, slots, agents=50)

    winners = [r for r in results if isinstance(r, Reservation)]
    losers = [r for r in results if not isinstance(r, Reservation)]
    assert len(winners) == slots
    assert len(losers) == 50 - slots
    assert {(type(r), r.code) for r in losers} == {(Conflict, "territory_full")}
    assert Reservation.objects.filter(territory__zip_code=zip_code).count() == slots
    assert sorted(Slot.objects.filter(territory__zip_code=zip_code).values_list(
        "number", flat=True)) == list(range(1, slots + 1))


def test_a_thousand_attempts_over_ten_zips_never_exceed_any_zips_slots(committed_seats):
    zips = {"78701": 1, "78702": 1, "78703": 3, "78704": 1, "78705": 2,
            "78721": 1, "78722": 1, "78723": 3, "78724": 1, "78725": 5}
    for zip_code, slots in zips.items():
        committed_seats.set_slots(zip_code, slots)
    seats = committed_seats.make(100)
    calls = [(lambda seat=seat, zip_code=zip_code: services.hold_slot(seat=seat,
                                                                        zip_code=zip_code))
             for seat in seats for zip_code in zips]

    results = run_pooled(calls, workers=20)
    connection.close()

    refusals = [r for r in results if not isinstance(r, Reservation)]
    assert len(results) - len(refusals) == sum(zips.values())
    assert {(type(r), r.code) for r in refusals} == {(Conflict, "territory_full")}
    for zip_code, slots in zips.items():
        assert sorted(Slot.objects.filter(territory__zip_code=zip_code).values_list(
            "number", flat=True)) == list(range(1, slots + 1))
        assert Reservation.objects.filter(territory__zip_code=zip_code).count() == slots
