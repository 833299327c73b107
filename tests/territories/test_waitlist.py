"""The waitlist: join a full ZIP, wait in line, get an offer that holds the freed place,
take it or let it pass to the next in line."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone

from clozings.platform.errors import Conflict, NotFound
from clozings.platform.mail import send_due_mail
from clozings.territories import selectors, services
from clozings.territories.models import Reservation, Slot, WaitlistEntry
from tests.territories.factories import active_reservation, agent, held, snapshot


@pytest.fixture
def full_zip(acme):
    """ZIP 60614 held by an acme agent (one slot)."""
    return active_reservation(agent(acme.brokerage), "60614")


def test_agents_join_a_full_zip_in_order(full_zip, acme, globex):
    first, second = agent(globex.brokerage), agent(acme.brokerage)

    one = services.join_waitlist(seat=first, zip_code="60614")
    two = services.join_waitlist(seat=second, zip_code="60614")
    again = services.join_waitlist(seat=first, zip_code="60614")

    assert again.pk == one.pk
    assert [selectors.waitlist_position(entry=e) for e in (one, two)] == [1, 2]
    assert [e.position for e in selectors.waitlist_for(brokerage=acme.brokerage)] == [2]


def test_joining_a_zip_with_a_free_place_is_refused(acme):
    with pytest.raises(Conflict) as caught:
        services.join_waitlist(seat=agent(acme.brokerage), zip_code="60615")

    assert caught.value.code == "territory_available"
    assert not WaitlistEntry.objects.exists()


def test_the_holder_cannot_join_its_own_zips_waitlist(full_zip):
    with pytest.raises(Conflict) as caught:
        services.join_waitlist(seat=full_zip.seat, zip_code="60614")

    assert caught.value.code == "already_reserved"


def test_a_release_offers_the_place_to_the_first_in_line_and_holds_it(
        full_zip, acme, globex, mailbox, django_capture_on_commit_callbacks):
    first, second = agent(globex.brokerage), agent(acme.brokerage)
    offer = services.join_waitlist(seat=first, zip_code="60614")
    services.join_waitlist(seat=second, zip_code="60614")

    with django_capture_on_commit_callbacks(execute=True):
        services.release_reservation(reservation_id=full_zip.pk, reason="released_by_owner")
    send_due_mail()  # what the outbox's task does after commit

    offer.refresh_from_db()
    assert offer.status == "offered"
    assert offer.offer_expires_at == offer.offered_at + timedelta(hours=48)
    assert Slot.objects.get(territory__zip_code="60614").offer_id == offer.pk
    [mail] = mailbox
    assert mail["To"] == first.email
    assert f"http://globex.localhost/territories/offers/{offer.pk}/" in mail.get_body(
        ("plain",)).get_content()
    # the place is held: nobody else can reserve it, and the next agent is still next
    with pytest.raises(Conflict) as caught:
        services.hold_slot(seat=agent(acme.brokerage), zip_code="60614")
    assert caught.value.code == "territory_full"
    assert [e.position for e in selectors.waitlist_for(brokerage=acme.brokerage)] == [1]


def test_an_expired_offer_passes_to_the_next_in_line(full_zip, acme, globex, mailbox,
                                                    django_capture_on_commit_callbacks):
    first, second = agent(globex.brokerage), agent(acme.brokerage)
    passed = services.join_waitlist(seat=first, zip_code="60614")
    nextone = services.join_waitlist(seat=second, zip_code="60614")
    with django_capture_on_commit_callbacks(execute=True):
        services.release_reservation(reservation_id=full_zip.pk, reason="unpaid")
    passed.refresh_from_db()

    with django_capture_on_commit_callbacks(execute=True):
        early = services.expire_offers(now=passed.offer_expires_at - timedelta(seconds=1))
        expired = services.expire_offers(now=passed.offer_expires_at)
        services.expire_offers(now=passed.offer_expires_at)
    send_due_mail()  # what the outbox's task does after commit

    passed.refresh_from_db()
    nextone.refresh_from_db()
    assert (early, expired) == (0, 1)
    assert (passed.status, nextone.status) == ("expired", "offered")
    assert Slot.objects.get(territory__zip_code="60614").offer_id == nextone.pk
    assert [m["To"] for m in mailbox] == [first.email, second.email]


def test_claiming_an_offer_turns_the_held_place_into_a_hold(full_zip, globex):
    waiting = agent(globex.brokerage)
    entry = services.join_waitlist(seat=waiting, zip_code="60614")
    services.release_reservation(reservation_id=full_zip.pk, reason="released_by_owner")
    number = Slot.objects.get(offer=entry).number

    reservation = services.claim_offer(entry_id=entry.pk, seat=waiting)

    entry.refresh_from_db()
    assert (reservation.status, reservation.seat_id) == ("pending", waiting.pk)
    assert entry.status == "accepted"
    assert (reservation.slot.number, Slot.objects.filter(offer=entry).exists()) == (
        number, False)
    assert held("60614") == [waiting.pk]


def test_a_refused_payment_gives_the_offer_back(full_zip, globex):
    waiting = agent(globex.brokerage)
    entry = services.join_waitlist(seat=waiting, zip_code="60614")
    services.release_reservation(reservation_id=full_zip.pk, reason="released_by_owner")
    reservation = services.claim_offer(entry_id=entry.pk, seat=waiting)

    services.abandon_hold(reservation_id=reservation.pk)

    entry.refresh_from_db()
    assert entry.status == "offered"
    assert Slot.objects.get(territory__zip_code="60614").offer_id == entry.pk
    assert not Reservation.objects.filter(pk=reservation.pk).exists()


def test_an_admin_may_take_an_offer_for_their_agent(full_zip, globex):
    waiting = agent(globex.brokerage)
    entry = services.join_waitlist(seat=waiting, zip_code="60614")
    services.release_reservation(reservation_id=full_zip.pk, reason="released_by_owner")

    reservation = services.claim_offer(entry_id=entry.pk, seat=globex.admin_seat)

    assert reservation.seat_id == waiting.pk


def test_nobody_else_can_take_or_see_an_offer(full_zip, acme, globex):
    waiting = agent(globex.brokerage)
    entry = services.join_waitlist(seat=waiting, zip_code="60614")
    services.release_reservation(reservation_id=full_zip.pk, reason="released_by_owner")
    before = snapshot("60614")

    for intruder in (agent(globex.brokerage), acme.admin_seat):
        with pytest.raises(NotFound) as caught:
            services.claim_offer(entry_id=entry.pk, seat=intruder)
        assert caught.value.code == "not_found"
        assert selectors.open_offer(entry_id=entry.pk, brokerage=intruder.brokerage,
                                    seat=intruder) is None
    assert snapshot("60614") == before


def test_an_offer_past_its_time_cannot_be_taken(full_zip, globex):
    waiting = agent(globex.brokerage)
    entry = services.join_waitlist(seat=waiting, zip_code="60614")
    services.release_reservation(reservation_id=full_zip.pk, reason="released_by_owner")
    WaitlistEntry.objects.filter(pk=entry.pk).update(
        offer_expires_at=timezone.now() - timedelta(seconds=1))
    before = snapshot("60614")

    with pytest.raises(Conflict) as caught:
        services.claim_offer(entry_id=entry.pk, seat=waiting)

    assert caught.value.code == "offer_expired"
    assert snapshot("60614") == before


def test_declining_an_offer_passes_the_place_on(full_zip, acme, globex):
    first, second = agent(globex.brokerage), agent(acme.brokerage)
    declined = services.join_waitlist(seat=first, zip_code="60614")
    nextone = services.join_waitlist(seat=second, zip_code="60614")
    services.release_reservation(reservation_id=full_zip.pk, reason="released_by_owner")

    services.cancel_waitlist_entry(entry_id=declined.pk, seat=first)

    nextone.refresh_from_db()
    assert WaitlistEntry.objects.get(pk=declined.pk).status == "cancelled"
    assert nextone.status == "offered"
    assert Slot.objects.get(territory__zip_code="60614").offer_id == nextone.pk


def test_opening_more_slots_offers_them_to_the_waitlist(full_zip, acme, globex):
    first, second = agent(globex.brokerage), agent(acme.brokerage)
    services.join_waitlist(seat=first, zip_code="60614")
    services.join_waitlist(seat=second, zip_code="60614")

    services.update_territory(zip_code="60614", slots=3)

    statuses = sorted(WaitlistEntry.objects.filter(territory__zip_code="60614").values_list(
        "status", flat=True))
    assert statuses == ["offered", "offered"]
    assert Slot.objects.filter(territory__zip_code="60614").count() == 3
