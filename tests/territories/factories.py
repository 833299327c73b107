"""Helpers for territory tests: agents, ZIPs from the real catalogue, committed data."""

from __future__ import annotations

import queue
import threading
from collections.abc import Callable
from dataclasses import dataclass, field

from django.db import connection

from clozings.tenants.models import Brokerage, Seat, User
from clozings.territories import services
from clozings.territories.catalogue import load_catalogue
from clozings.territories.models import Reservation, Slot, Territory, WaitlistEntry
from tests.tenants.factories import SeatFactory

# The catalogue as the migrations loaded it into the test database, kept (by
# snapshot_catalogue, at the start of the session) where a flush does not reach: Django's
# flush empties only the models' tables.
SNAPSHOT_SCHEMA = "clozings_tests"
_SNAPSHOTS = {"territories_territory": "territory", "territories_tierprice": "tierprice"}


def snapshot_catalogue() -> None:
    """Keep a copy of the catalogue the migrations loaded, for ensure_catalogue."""
    with connection.cursor() as cursor:
        cursor.execute(f"DROP SCHEMA IF EXISTS {SNAPSHOT_SCHEMA} CASCADE; "
                       f"CREATE SCHEMA {SNAPSHOT_SCHEMA}")
        for table, copy in _SNAPSHOTS.items():
            cursor.execute(f"CREATE TABLE {SNAPSHOT_SCHEMA}.{copy} AS TABLE public.{table}")


def ensure_catalogue() -> None:
    """The catalogue comes with the migrations; a flush by some transactional test
    elsewhere empties it, so put it back when it is gone: the same rows the migrations
    loaded, copied back inside the database (loading it from the `zipcodes` package again
    costs seconds, and a test session flushes dozens of times)."""
    if Territory.objects.exists():
        return
    with connection.cursor() as cursor:
        cursor.execute("SELECT to_regclass(%s)", [f"{SNAPSHOT_SCHEMA}.territory"])
        if cursor.fetchone()[0] is None:
            load_catalogue()
            return
        cursor.execute(f"INSERT INTO public.territories_tierprice "
                       f"SELECT * FROM {SNAPSHOT_SCHEMA}.tierprice ON CONFLICT DO NOTHING")
        cursor.execute(f"INSERT INTO public.territories_territory "
                       f"SELECT * FROM {SNAPSHOT_SCHEMA}.territory")


def agent(brokerage: Brokerage, **kwargs) -> Seat:
    return SeatFactory(brokerage=brokerage, **kwargs)


def territory(zip_code: str) -> Territory:
    return Territory.objects.get(zip_code=zip_code)


def held(zip_code: str) -> list[int]:
    """Seat ids holding a place in a ZIP (any status that keeps a slot)."""
    return sorted(Reservation.objects.filter(territory__zip_code=zip_code).exclude(
        status="released").values_list("seat_id", flat=True))


def active_reservation(seat: Seat, zip_code: str, **activate) -> Reservation:
    reservation = services.hold_slot(seat=seat, zip_code=zip_code)
    return services.activate_reservation(reservation_id=reservation.pk,
                                         stripe_item_id=f"si_{reservation.pk}", **activate)


def snapshot(zip_code: str) -> dict:
    """Everything about a ZIP that a refused request must leave unchanged."""
    t = Territory.objects.get(zip_code=zip_code)
    return {
        "territory": (t.price_cents, t.tier, t.slots, t.is_active),
        "reservations": sorted(Reservation.objects.filter(territory=t).values_list(
            "pk", "seat_id", "status")),
        "slots": sorted(Slot.objects.filter(territory=t).values_list(
            "number", "reservation_id", "offer_id")),
        "waitlist": sorted(WaitlistEntry.objects.filter(territory=t).values_list(
            "pk", "seat_id", "status")),
    }


@dataclass
class CommittedSeats:
    """Seats written with real commits (so other connections see them), removed at the
    end together with whatever reservations they got, and ZIP settings put back."""

    brokerage: Brokerage
    seats: list[Seat] = field(default_factory=list)
    zips: dict[str, tuple] = field(default_factory=dict)

    def make(self, count: int) -> list[Seat]:
        made = [SeatFactory(brokerage=self.brokerage) for _ in range(count)]
        self.seats.extend(made)
        return made

    def set_slots(self, zip_code: str, slots: int) -> None:
        t = territory(zip_code)
        self.zips.setdefault(zip_code, (t.slots, t.price_cents, t.tier))
        Territory.objects.filter(pk=t.pk).update(slots=slots)

    def cleanup(self) -> None:
        connection.set_schema_to_public()
        ids = [s.pk for s in self.seats]
        Slot.objects.filter(reservation__seat_id__in=ids).delete()
        Slot.objects.filter(offer__seat_id__in=ids).delete()
        Reservation.objects.filter(seat_id__in=ids).delete()
        WaitlistEntry.objects.filter(seat_id__in=ids).delete()
        user_ids = [s.user_id for s in self.seats]
        Seat.objects.filter(pk__in=ids).delete()
        User.objects.filter(pk__in=user_ids).delete()
        for zip_code, (slots, price, tier) in self.zips.items():
            Territory.objects.filter(zip_code=zip_code).update(slots=slots, price_cents=price,
                                                               tier=tier)


def run_at_once(calls: list[Callable[[], object]]) -> list[object]:
    """Run each call in its own thread (its own database connection), all released at
    the same moment by a barrier. Returns each call's result or the exception it raised."""
    barrier = threading.Barrier(len(calls))
    results: list[object] = [None] * len(calls)

    def worker(index: int, call: Callable[[], object]) -> None:
        try:
            barrier.wait()
            results[index] = call()
        except Exception as exc:  # noqa: BLE001 (the test inspects what each call raised)
            results[index] = exc
        finally:
            connection.close()

    threads = [threading.Thread(target=worker, args=(i, c)) for i, c in enumerate(calls)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return results


def run_pooled(calls: list[Callable[[], object]], *, workers: int) -> list[object]:
    """Run the calls on `workers` threads (one database connection each, so the server's
    connection limit holds), all workers starting at the same moment and each taking
    the next call as soon as it is free. Returns each call's result or exception."""
    pending: queue.Queue = queue.Queue()
    for index, call in enumerate(calls):
        pending.put((index, call))
    results: list[object] = [None] * len(calls)
    barrier = threading.Barrier(workers)

    def worker() -> None:
        try:
            barrier.wait()
            while True:
                try:
                    index, call = pending.get_nowait()
                except queue.Empty:
                    return
                try:
                    results[index] = call()
                except Exception as exc:  # noqa: BLE001 (the test inspects each outcome)
                    results[index] = exc
        finally:
            connection.close()

    threads = [threading.Thread(target=worker) for _ in range(workers)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return results
