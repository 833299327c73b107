"""Territory pages: search with Reserve / Join waitlist, My territories, an offer, and the
staff inventory. Forms post to billing's pages for anything that is paid for."""

from __future__ import annotations

import re
from datetime import UTC, datetime

import pytest

from clozings.territories import services
from clozings.territories.models import Territory, TierPrice, WaitlistEntry
from tests.conftest import host_client
from tests.tenants.factories import UserFactory
from tests.territories.factories import active_reservation, agent, snapshot


def _forms(html: str) -> list[str]:
    return re.findall(r"<form\b.*?</form>", html, flags=re.S)


def _no_inline_code(html: str) -> None:
    assert " style=" not in html
    assert re.search(r"<script(?![^>]*\bsrc=)[^>]*>", html) is None


# --- search -----------------------------------------------------------------------------
def test_search_shows_each_zip_with_the_action_it_allows(acme, globex):
    me = agent(acme.brokerage)
    active_reservation(me, "33101")
    active_reservation(agent(globex.brokerage), "33109")

    response = host_client(acme.host, me.user).get("/territories/", {"city": "Miami Beach"})

    html = response.content.decode()
    assert response.status_code == 200
    _no_inline_code(html)
    reserve = [f for f in _forms(html) if 'action="/billing/reserve/"' in f]
    waitlist = [f for f in _forms(html) if 'action="/territories/waitlist/"' in f]
    assert any('name="zip_code" value="33139"' in f for f in reserve)
    assert [re.search(r'name="zip_code" value="(\d+)"', f)[1] for f in waitlist] == ["33109"]
    assert "33139 · Miami Beach, FL" in html and "$49.00/month" in html  # standard tier
    mine = host_client(acme.host, me.user).get("/territories/", {"zip_code": "33101"})
    assert "Yours" in mine.content.decode()


def test_search_near_a_zip_lists_distances(acme):
    response = host_client(acme.host, acme.admin).get(
        "/territories/", {"near": "10001", "radius_miles": "2"})

    html = response.content.decode()
    assert response.status_code == 200
    assert "10001 · New York, NY" in html
    assert "0.0 mi" in html


@pytest.mark.parametrize(("query", "field"), [
    ({"zip_code": "12"}, "zip_code"),
    ({"state": "Texas"}, "state"),
    ({"near": "00000"}, "near"),
    ({"near": "10001", "radius_miles": "500"}, "radius_miles"),
])
def test_bad_search_input_is_shown_beside_its_field(acme, query, field):
    response = host_client(acme.host, acme.admin).get("/territories/", query)

    html = response.content.decode()
    assert response.status_code == 400
    assert f'id="id_{field}_error"' in html
    assert "ZIP code" in html  # the form is shown again to fix it


def test_the_territory_pages_need_a_seat_here(acme, globex):
    anonymous = host_client(acme.host).get("/territories/")
    stranger = host_client(acme.host, globex.admin).get("/territories/mine/")

    assert anonymous.status_code == 302 and "/login/" in anonymous["Location"]
    assert stranger.status_code == 403


# --- my territories and the waitlist ----------------------------------------------------
def test_my_territories_show_price_status_next_charge_and_release(acme, globex):
    me = agent(acme.brokerage)
    reservation = active_reservation(me, "33131",
                                     period_end=datetime(2030, 3, 14, 12, tzinfo=UTC))
    active_reservation(agent(globex.brokerage), "33132")
    services.join_waitlist(seat=me, zip_code="33132")

    html = host_client(acme.host, me.user).get("/territories/mine/").content.decode()

    assert "33131" in html and "$99.00/month" in html
    assert "Active" in html and "Next charge 14 Mar 2030" in html
    assert f'action="/billing/release/{reservation.pk}/"' in html
    assert "33132" in html and "Number 1 in line" in html
    _no_inline_code(html)


def test_joining_a_waitlist_from_the_page(acme, globex):
    active_reservation(agent(globex.brokerage), "33133")
    me = agent(acme.brokerage)

    response = host_client(acme.host, me.user).post("/territories/waitlist/",
                                                    {"zip_code": "33133"})

    assert (response.status_code, response["Location"]) == (302, "/territories/mine/")
    assert WaitlistEntry.objects.get(seat=me).status == "waiting"


def test_an_agent_cannot_join_for_a_colleague_from_the_page(acme, globex):
    active_reservation(agent(globex.brokerage), "33134")
    me, colleague = agent(acme.brokerage), agent(acme.brokerage)

    response = host_client(acme.host, me.user).post(
        "/territories/waitlist/", {"zip_code": "33134", "agent_id": colleague.pk}, follow=True)

    assert "for yourself only" in response.content.decode()
    assert not WaitlistEntry.objects.exists()


# --- an offer ---------------------------------------------------------------------------
@pytest.fixture
def offer(acme, globex):
    holder = active_reservation(agent(globex.brokerage), "33135")
    waiting = agent(acme.brokerage)
    entry = services.join_waitlist(seat=waiting, zip_code="33135")
    services.release_reservation(reservation_id=holder.pk, reason="released_by_owner")
    entry.refresh_from_db()
    return entry


def test_the_offer_page_shows_the_zip_and_an_accept_button(offer):
    response = host_client("acme.localhost", offer.seat.user).get(
        f"/territories/offers/{offer.pk}/")

    html = response.content.decode()
    assert response.status_code == 200
    assert "ZIP 33135" in html and "Held until" in html
    assert f'action="/billing/offers/{offer.pk}/accept/"' in html
    _no_inline_code(html)


def test_nobody_else_sees_the_offer(offer, acme, globex):
    colleague = host_client(acme.host, agent(acme.brokerage).user).get(
        f"/territories/offers/{offer.pk}/")
    foreign = host_client(globex.host, globex.admin).get(f"/territories/offers/{offer.pk}/")
    huge = host_client(acme.host, acme.admin).get(f"/territories/offers/{2**70}/")

    assert (colleague.status_code, foreign.status_code, huge.status_code) == (404, 404, 404)


def test_declining_the_offer_from_the_page(offer):
    response = host_client("acme.localhost", offer.seat.user).post(
        f"/territories/waitlist/{offer.pk}/cancel/")

    offer.refresh_from_db()
    assert response.status_code == 302
    assert offer.status == "cancelled"
    assert not Territory.objects.get(zip_code="33135").taken_slots.exists()


# --- staff ------------------------------------------------------------------------------
@pytest.fixture
def staff_client(db):
    return host_client("localhost", UserFactory(is_staff=True))


def test_staff_page_shows_the_inventory_and_edits_a_zip(staff_client):
    page = staff_client.get("/staff/territories/", {"state": "RI", "edit": "02903"})

    html = page.content.decode()
    assert page.status_code == 200
    assert "Waitlisted" in html and "02903" in html
    assert 'action="/staff/territories/02903/"' in html
    _no_inline_code(html)

    saved = staff_client.post("/staff/territories/02903/", {
        "zip-price_cents": "7700", "zip-tier": "premium", "zip-slots": "2",
        "zip-is_active": "on"})

    assert saved.status_code == 302
    t = Territory.objects.get(zip_code="02903")
    assert (t.price_cents, t.tier, t.slots, t.is_active) == (7700, "premium", 2, True)


@pytest.mark.parametrize(("data", "field"), [
    ({"zip-price_cents": "-1", "zip-tier": "standard", "zip-slots": "1"}, "price_cents"),
    ({"zip-price_cents": "", "zip-tier": "standard", "zip-slots": "0"}, "slots"),
    ({"zip-price_cents": "", "zip-tier": "gold", "zip-slots": "1"}, "tier"),
])
def test_bad_zip_settings_show_beside_their_field(staff_client, data, field):
    before = snapshot("02904")

    response = staff_client.post("/staff/territories/02904/", data)

    assert response.status_code == 400
    assert f'id="id_zip-{field}_error"' in response.content.decode()
    assert snapshot("02904") == before


def test_slots_below_the_holders_show_beside_slots(staff_client, acme):
    Territory.objects.filter(zip_code="02905").update(slots=2)
    active_reservation(agent(acme.brokerage), "02905")
    active_reservation(agent(acme.brokerage), "02905")
    before = snapshot("02905")

    response = staff_client.post("/staff/territories/02905/", {
        "zip-price_cents": "", "zip-tier": "standard", "zip-slots": "1", "zip-is_active": "on"})

    html = response.content.decode()
    assert response.status_code == 400
    assert 'id="id_zip-slots_error"' in html and "2 places" in html
    assert snapshot("02905") == before


def test_a_tier_price_from_the_staff_page(staff_client):
    refused = staff_client.post("/staff/tiers/premium/", {"tier-premium-price_cents": "-9"})
    saved = staff_client.post("/staff/tiers/premium/", {"tier-premium-price_cents": "10900"})

    assert refused.status_code == 400
    assert 'id="id_tier-premium-price_cents_error"' in refused.content.decode()
    assert saved.status_code == 302
    assert TierPrice.objects.get(tier="premium").price_cents == 10900


@pytest.mark.parametrize("edit", ["\x00", "1234", "00000", "abcde" * 100])
def test_the_staff_page_ignores_an_edit_of_no_zip(staff_client, edit):
    response = staff_client.get("/staff/territories/", {"edit": edit, "page": "x"})

    assert response.status_code == 200
    assert re.search(r'action="/staff/territories/\d', response.content.decode()) is None


def test_the_staff_page_is_for_staff(acme):
    agent_user = agent(acme.brokerage).user

    page = host_client("localhost", agent_user).get("/staff/territories/")
    post = host_client("localhost", acme.admin).post("/staff/tiers/basic/",
                                                     {"tier-basic-price_cents": "1"})

    assert (page.status_code, post.status_code) == (403, 403)
    assert TierPrice.objects.get(tier="basic").price_cents == 1900
