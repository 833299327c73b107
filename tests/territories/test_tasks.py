"""The periodic territory tasks: scheduled by beat under the names they are registered
with, and each runs its service."""

from __future__ import annotations

from datetime import timedelta

from django.conf import settings
from django.utils import timezone

from clozings.platform.celery import app
from clozings.territories import services, tasks
from clozings.territories.models import Reservation, WaitlistEntry
from tests.territories.factories import active_reservation, agent


def test_beat_runs_every_territory_task_under_its_registered_name():
    names = {"territories.expire_offers", "territories.suspend_overdue",
             "territories.release_suspended", "territories.release_due"}

    scheduled = {entry["task"] for entry in settings.CELERY_BEAT_SCHEDULE.values()}

    assert names <= scheduled
    assert names <= set(app.tasks)
    assert {app.tasks[name].run.__module__ for name in names} == {tasks.__name__}


def test_the_release_task_releases_what_is_due(acme):
    reservation = active_reservation(agent(acme.brokerage), "80202")
    Reservation.objects.filter(pk=reservation.pk).update(
        release_at=timezone.now() - timedelta(minutes=1))

    released = tasks.release_due.apply().get()

    assert released == 1
    assert Reservation.objects.get(pk=reservation.pk).status == "released"


def test_the_expiry_task_passes_a_lapsed_offer_on(acme, globex):
    holder = active_reservation(agent(acme.brokerage), "80203")
    first = services.join_waitlist(seat=agent(globex.brokerage), zip_code="80203")
    second = services.join_waitlist(seat=agent(acme.brokerage), zip_code="80203")
    services.release_reservation(reservation_id=holder.pk, reason="released_by_owner")
    WaitlistEntry.objects.filter(pk=first.pk).update(
        offer_expires_at=timezone.now() - timedelta(seconds=1))

    expired = tasks.expire_offers.apply().get()

    assert expired == 1
    assert dict(WaitlistEntry.objects.filter(territory__zip_code="80203").values_list(
        "pk", "status")) == {first.pk: "expired", second.pk: "offered"}


def test_the_lapse_tasks_suspend_then_release(acme):
    reservation = active_reservation(agent(acme.brokerage), "80204")
    services.mark_brokerage_past_due(brokerage_id=acme.brokerage.pk,
                                     since=timezone.now() - timedelta(days=8))

    suspended = tasks.suspend_overdue.apply().get()
    Reservation.objects.filter(pk=reservation.pk).update(
        suspended_at=timezone.now() - timedelta(days=15))
    released = tasks.release_suspended.apply().get()

    assert (suspended, released) == (1, 1)
    assert Reservation.objects.get(pk=reservation.pk).status == "released"
