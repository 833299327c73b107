"""Territory pages: search with Reserve / Join waitlist, My territories, an offer, and the
staff inventory. Forms post to billing's pages for anything that is paid for."""

from __future__ import annotations

import re
from collections import Counter
from datetime import UTC, datetime

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from clozings.territories import services
from clozings.territories.models import Territory, TierPrice, WaitlistEntry
from clozings.territories.selectors import haversine_miles
from tests.conftest import host_client
from tests.tenants.factories import UserFactory
from tests.territories.factories import active_reservation, agent, snapshot


def _forms(html: str) -> list[str]:
    return re.findall(r"<form\b.*?</form>", html, flags=re.S)


def _no_inline_code(html: str) -> None:
    assert " style=" not in html
    assert re.search(r"<script(?![^>]*\bsrc=)[^>]*>", html) is None


# --- search -----------------------------------------------------------------------------
def _search(setup, user=None, **params):
    return host_client(setup.host, user or setup.admin).get("/territories/", params)


def _cards(html: str) -> list[tuple[str, str]]:
    """(ZIP, "City, ST") of each result card, in page order."""
    return re.findall(r'<h3 class="t-title">(\d{5}) · ([^<]+)</h3>', html)


def _heading(html: str) -> str:
    return re.search(r'<h2 id="t-count"[^>]*>([^<]+)</h2>', html)[1]


def _box_error(html: str) -> str:
    return re.sub(r"<[^>]+>", "", re.search(r'<ul class="errorlist" id="id_q_error">(.*?)</ul>',
                                             html, flags=re.S)[1])


def _active(**filters) -> list[str]:
    return list(Territory.objects.filter(is_active=True, **filters)
                .order_by("zip_code").values_list("zip_code", flat=True))


def test_search_shows_each_zip_with_the_action_it_allows(acme, globex):
    me = agent(acme.brokerage)
    active_reservation(me, "33101")
    active_reservation(agent(globex.brokerage), "33109")
    services.join_waitlist(seat=me, zip_code="33109")
    active_reservation(agent(globex.brokerage), "33139")

    response = _search(acme, me.user, q="Miami Beach")

    html = response.content.decode()
    assert response.status_code == 200
    _no_inline_code(html)
    reserve = [f for f in _forms(html) if 'action="/billing/reserve/"' in f]
    waitlist = [f for f in _forms(html) if 'action="/territories/waitlist/"' in f]
    assert [zip_code for zip_code, _ in _cards(html)] == _active(city="Miami Beach")
    assert all(place == "Miami Beach, FL" for _, place in _cards(html))
    assert any('name="zip_code" value="33141"' in f for f in reserve)
    assert [re.search(r'name="zip_code" value="(\d+)"', f)[1] for f in waitlist] == ["33139"]
    assert "#1 in line" in html  # 33109: they wait for it, so no button
    assert "$49.00/month" in html and "1/1 taken" in html and "1 waiting" in html
    mine = _search(acme, me.user, q="33101").content.decode()
    assert _cards(mine) == [("33101", "Miami, FL")]
    assert "Yours" in mine and not [f for f in _forms(mine) if "/billing/reserve/" in f]


def test_a_zip_on_offer_to_the_agent_links_to_the_offer(offer, acme):
    html = _search(acme, offer.seat.user, q="33135").content.decode()

    assert _cards(html) == [("33135", "Miami, FL")]
    assert f'href="/territories/offers/{offer.pk}/" aria-label="See the offer for 33135"' in html
    assert [f for f in _forms(html) if 'name="zip_code"' in f] == []


@pytest.mark.parametrize("params", [{}, {"page": "3"}, {"utm_source": "mail", "within": "10"},
                                    {"q": "  "}, {"q": ","}])
def test_a_visit_without_a_search_shows_the_box_and_no_error(acme, params):
    response = _search(acme, **params)

    html = response.content.decode()
    assert response.status_code == 200
    assert 'errorlist' not in html and 'aria-invalid' not in html
    assert '<label for="id_q">ZIP, city or state</label>' in html
    assert '<label for="id_within">Within</label>' in html
    assert 'href="/territories/mine/"' in html  # "My territories"
    assert _cards(html) == []
    _no_inline_code(html)


@pytest.mark.parametrize(("typed", "filters", "heading"), [
    ("Chicago, IL", {"city": "Chicago", "state": "IL"}, "ZIPs in Chicago, IL"),
    ("chicago il", {"city": "Chicago", "state": "IL"}, "ZIPs in Chicago, IL"),
    ("Chicago , Illinois", {"city": "Chicago", "state": "IL"}, "ZIPs in Chicago, IL"),
    ("  Chicago  ", {"city": "Chicago", "state": "IL"}, "ZIPs in Chicago, IL"),
    ("Chicago,, IL", {"city": "Chicago", "state": "IL"}, "ZIPs in Chicago, IL"),
    ("St. Louis, MO", {"city": "Saint Louis", "state": "MO"}, "ZIPs in Saint Louis, MO"),
    ("RI", {"state": "RI"}, "ZIPs in Rhode Island (RI)"),
    ("ri", {"state": "RI"}, "ZIPs in Rhode Island (RI)"),
    ("Rhode Island", {"state": "RI"}, "ZIPs in Rhode Island (RI)"),
    (", RI", {"state": "RI"}, "ZIPs in Rhode Island (RI)"),
    ("60606", {"zip_code": "60606"}, "1 ZIP for 60606"),
    ("60606-1234", {"zip_code": "60606"}, "1 ZIP for 60606"),
])
def test_the_box_reads_a_zip_a_city_with_or_without_its_state_and_a_state(
        acme, typed, filters, heading):
    expected = _active(**filters)

    response = _search(acme, q=typed)

    html = response.content.decode()
    assert response.status_code == 200
    assert heading in _heading(html)
    assert _heading(html).startswith(f"{len(expected):,} ZIP")
    assert [zip_code for zip_code, _ in _cards(html)] == expected[:25]


def test_a_zip_with_a_radius_lists_the_zips_around_it_nearest_first(acme):
    centre = Territory.objects.get(zip_code="60606")
    around = sorted(
        (haversine_miles(centre.latitude, centre.longitude, t.latitude, t.longitude), t.zip_code)
        for t in Territory.objects.filter(is_active=True, state__in=["IL", "IN"]))
    within = [zip_code for miles, zip_code in around if miles <= 5]

    response = _search(acme, q="60606", within="5")

    html = response.content.decode()
    assert response.status_code == 200
    assert f"{len(within):,} ZIPs within 5 miles of 60606" in _heading(html)
    assert [zip_code for zip_code, _ in _cards(html)] == within[:25]
    assert _cards(html)[0] == ("60606", "Chicago, IL") and "0.0 mi" in html
    assert '<option value="5" selected>5 miles</option>' in html


def test_an_unknown_zip_with_a_radius_is_explained_beside_the_box(acme):
    response = _search(acme, q="00000", within=" 10 ")

    assert response.status_code == 400
    assert "There is no territory for ZIP 00000." in _box_error(response.content.decode())


def test_a_radius_with_a_city_is_explained_not_applied(acme):
    response = _search(acme, q="Chicago, IL", within="50")

    html = response.content.decode()
    assert response.status_code == 200
    assert [zip_code for zip_code, _ in _cards(html)] == _active(city="Chicago")[:25]
    assert "The distance applies when you search a ZIP." in html


def test_a_city_in_several_states_lists_them_all_and_offers_each_state(acme):
    per_state = Counter(Territory.objects.filter(city="Springfield", is_active=True)
                        .values_list("state", flat=True))
    states = sorted(per_state, key=lambda state: (-per_state[state], state))

    response = _search(acme, q="springfield")

    html = response.content.decode()
    assert response.status_code == 200
    assert _heading(html).startswith(f"{len(_active(city='Springfield')):,} ZIPs in Springfield")
    assert f"There is a Springfield in {len(states)} states" in html
    assert re.findall(r'href="\?q=Springfield%2C%20([A-Z]{2})"', html) == states[:3]
    assert f"like Springfield, {states[0]}, to see one" in html


def test_a_city_named_like_a_state_offers_the_whole_state(acme):
    html = _search(acme, q="New York").content.decode()

    assert {place for _, place in _cards(html)} == {"New York, NY"}
    assert 'href="?q=NY">All of New York</a>' in html


@pytest.mark.parametrize(("typed", "message"), [
    ("999", "A ZIP code has 5 digits, like 60606."),
    ("1234567", "A ZIP code has 5 digits, like 60606."),
    ("00000", "There is no territory for ZIP 00000."),
    ("ZZ", "“ZZ” is not a US state."),
    ("Atlantis", "We know no city called “Atlantis”."),
    ("Chicago, ZZ", "“ZZ” is not a US state."),
    ("Chicago, CA", "There is no Chicago in California."),
    ("Chicago\x00", "Null characters are not allowed."),
    ("x" * 101, "That is too long for a ZIP, city or state."),
])
def test_bad_input_is_explained_beside_the_box(acme, typed, message):
    response = _search(acme, q=typed)

    html = response.content.decode()
    assert response.status_code == 400
    assert message in _box_error(html)
    assert 'aria-invalid="true" aria-describedby="id_q_error"' in html
    assert _cards(html) == []
    assert 'id="t-count"' not in html


def test_a_misspelt_city_offers_the_cities_it_may_mean(acme):
    html = _search(acme, q="Chicgo").content.decode()

    assert "We know no city called “Chicgo”" in _box_error(html)
    assert 'href="?q=Chicago%2C%20IL">Chicago, IL</a>' in html


def test_a_misspelt_city_with_its_state_offers_cities_of_that_state(acme):
    html = _search(acme, q="Springfeld, MA").content.decode()

    assert "We know no city called “Springfeld”" in _box_error(html)
    assert re.findall(r'href="\?q=[^"]+">([^<]+)</a>', html)[:1] == ["Springfield, MA"]
    assert {place[-2:] for place in re.findall(r'href="\?q=[^"]+">([^<]+)</a>', html)} == {"MA"}


@pytest.mark.parametrize(("params", "expected"), [
    ({"zip_code": "60606"}, ["60606"]),
    ({"city": "Miami Beach", "state": "FL"}, "Miami Beach"),
    ({"city": "miami beach"}, "Miami Beach"),
    ({"state": "Texas"}, "TX"),
])
def test_old_links_still_search(acme, params, expected):
    zips = expected if isinstance(expected, list) else (
        _active(state=expected) if len(expected) == 2 else _active(city=expected))

    response = _search(acme, **params)

    assert response.status_code == 200
    assert [zip_code for zip_code, _ in _cards(response.content.decode())] == zips[:25]


def test_an_old_near_link_keeps_its_exact_radius(acme):
    response = _search(acme, near="10001", radius_miles="2")

    html = response.content.decode()
    centre = Territory.objects.get(zip_code="10001")
    assert response.status_code == 200
    assert "ZIPs within 2 miles of 10001" in _heading(html)
    assert _cards(html)[0] == ("10001", "New York, NY") and "0.0 mi" in html
    assert all(haversine_miles(centre.latitude, centre.longitude, t.latitude, t.longitude) <= 2
               for t in Territory.objects.filter(zip_code__in=[z for z, _ in _cards(html)]))
    assert '<option value="2" selected>2 miles</option>' in html


@pytest.mark.parametrize(("params", "field", "message"), [
    ({"zip_code": "12"}, "q", "A ZIP code has 5 digits"),
    ({"near": "00000"}, "q", "There is no territory for ZIP 00000."),
    ({"near": "10001", "radius_miles": "500"}, "within", "Choose a distance from the list."),
    ({"q": "10001", "within": "-5"}, "within", "Choose a distance from the list."),
    ({"q": "10001", "within": "nan"}, "within", "Choose a distance from the list."),
    ({"q": "10001", "within": "1e308"}, "within", "Choose a distance from the list."),
])
def test_bad_old_links_are_explained_beside_their_field(acme, params, field, message):
    response = _search(acme, **params)

    html = response.content.decode()
    assert response.status_code == 400
    assert re.search(rf'<ul class="errorlist" id="id_{field}_error"><li>{re.escape(message)}',
                     html)
    assert _cards(html) == []


def test_a_whole_state_comes_in_pages(acme):
    zips = _active(state="IL")
    pages = -(-len(zips) // 25)

    first = _search(acme, q="IL").content.decode()
    second = _search(acme, q="IL", page="2").content.decode()
    junk = _search(acme, q="IL", page="abc").content.decode()
    beyond = _search(acme, q="IL", page="99999").content.decode()

    assert len(zips) > 1000
    assert f"Page 1 of {pages}" in first
    assert 'href="?q=IL&amp;page=2" rel="next">Next</a>' in first
    assert [z for z, _ in _cards(first)] == zips[:25]
    assert [z for z, _ in _cards(second)] == zips[25:50]
    assert 'href="?q=IL&amp;page=1" rel="prev">Previous</a>' in second
    assert _cards(junk) == _cards(first)
    assert [z for z, _ in _cards(beyond)] == zips[(pages - 1) * 25:]


def test_an_old_link_pages_on_as_a_new_search(acme):
    html = _search(acme, state="RI", utm_source="mail").content.decode()

    assert 'href="?q=RI&amp;page=2" rel="next">Next</a>' in html


def test_the_number_of_queries_does_not_grow_with_the_results(acme):
    _search(acme, q="NY")  # the connection's schema set once, as for any later request
    with CaptureQueriesContext(connection) as many:
        full_page = _search(acme, q="IL")
    with CaptureQueriesContext(connection) as one:
        single = _search(acme, q="AS")

    assert (len(_cards(full_page.content.decode())), len(_cards(single.content.decode()))) == (
        25, 1)
    assert len(many) == len(one)


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
    assert "Active" in html and "Next charge Mar 14, 2030" in html
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
    assert "ZIP 33135" in html and "held for you until" in html
    assert f'action="/billing/offers/{offer.pk}/accept/"' in html
    _no_inline_code(html)


def test_the_offer_page_says_when_the_place_is_held_until_and_offers_a_claim(offer):
    deadline = datetime(2031, 5, 6, 14, 30, tzinfo=UTC)
    WaitlistEntry.objects.filter(pk=offer.pk).update(offer_expires_at=deadline)

    html = host_client("acme.localhost", offer.seat.user).get(
        f"/territories/offers/{offer.pk}/").content.decode()

    assert "held for you until May 6, 2031, 10:30 AM EDT" in _text(html)
    assert "Claim for $99.00 a month" in _text(html)
    assert 'aria-label="Claim ZIP 33135 for $99.00 a month"' in html
    assert "can no longer be taken" not in html


@pytest.mark.parametrize(("state", "says", "link"), [
    ("waiting", "You are number 2 in line for ZIP 33135", "Leave the waitlist"),
    ("accepted", "You claimed this place on", "My territories"),
    ("expired", "This offer ran out on", "Join the waitlist again"),
    ("cancelled", "You left this waitlist on", "Join the waitlist again"),
    ("lapsed", "This offer ran out on", "Join the waitlist again"),
])
def test_the_offer_page_says_what_became_of_the_entry(offer, acme, state, says, link):
    if state == "waiting":
        WaitlistEntry.objects.filter(pk=offer.pk).update(status="cancelled")
        services.join_waitlist(seat=agent(acme.brokerage), zip_code="33135")
        entry = services.join_waitlist(seat=offer.seat, zip_code="33135")
    elif state == "accepted":
        entry = offer
        services.claim_offer(entry_id=offer.pk, seat=offer.seat)
    elif state == "lapsed":  # past its deadline, before the sweeper has closed it
        entry = offer
        WaitlistEntry.objects.filter(pk=offer.pk).update(
            offer_expires_at=datetime(2020, 1, 2, tzinfo=UTC))
    else:
        entry = offer
        WaitlistEntry.objects.filter(pk=offer.pk).update(
            status=state, closed_at=datetime(2030, 1, 2, tzinfo=UTC))

    response = host_client("acme.localhost", offer.seat.user).get(
        f"/territories/offers/{entry.pk}/")

    text = _text(response.content.decode())
    assert response.status_code == 200
    assert says in text and link in text
    assert "can no longer be taken" not in text
    assert ("Claim for" in text) is False


def test_my_territories_show_an_open_offer_with_its_deadline_and_a_claim_button(offer):
    WaitlistEntry.objects.filter(pk=offer.pk).update(
        offer_expires_at=datetime(2031, 5, 6, 14, 30, tzinfo=UTC))

    html = host_client("acme.localhost", offer.seat.user).get(
        "/territories/mine/").content.decode()

    offers = re.search(r'<section class="offers[^"]*".*?</section>', html, flags=re.S)[0]
    assert "33135" in offers and "$99.00/month" in offers
    assert "Held for you until May 6, 2031, 10:30 AM EDT" in _text(offers)
    assert f'href="/territories/offers/{offer.pk}/"' in offers and ">Claim<" in offers


def _text(html: str) -> str:
    return " ".join(re.sub(r"<[^>]+>", " ", html).split())


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
        "zip-price": "77", "zip-tier": "premium", "zip-slots": "2",
        "zip-is_active": "on"})

    assert saved.status_code == 302
    t = Territory.objects.get(zip_code="02903")
    assert (t.price_cents, t.tier, t.slots, t.is_active) == (7700, "premium", 2, True)
    again = staff_client.get("/staff/territories/", {"edit": "02903"}).content.decode()
    assert 'name="zip-price" value="77.00"' in again
    assert "Own price (dollars a month)" in again


@pytest.mark.parametrize(("typed", "cents"), [
    ("49", 4900), ("49.00", 4900), ("49.5", 4950), ("$1,049.99", 104999), (" 0 ", 0),
    ("", None),
])
def test_staff_type_a_zips_price_in_dollars(staff_client, typed, cents):
    response = staff_client.post("/staff/territories/02906/", {
        "zip-price": typed, "zip-tier": "standard", "zip-slots": "1", "zip-is_active": "on"})

    assert response.status_code == 302
    assert Territory.objects.get(zip_code="02906").price_cents == cents


@pytest.mark.parametrize(("data", "field"), [
    ({"zip-price": "-1", "zip-tier": "standard", "zip-slots": "1"}, "price"),
    ({"zip-price": "4.999", "zip-tier": "standard", "zip-slots": "1"}, "price"),
    ({"zip-price": "forty", "zip-tier": "standard", "zip-slots": "1"}, "price"),
    ({"zip-price": "100001", "zip-tier": "standard", "zip-slots": "1"}, "price"),
    ({"zip-price": "4e3", "zip-tier": "standard", "zip-slots": "1"}, "price"),
    ({"zip-price": "", "zip-tier": "standard", "zip-slots": "0"}, "slots"),
    ({"zip-price": "", "zip-tier": "gold", "zip-slots": "1"}, "tier"),
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
        "zip-price": "", "zip-tier": "standard", "zip-slots": "1", "zip-is_active": "on"})

    html = response.content.decode()
    assert response.status_code == 400
    assert 'id="id_zip-slots_error"' in html and "2 places" in html
    assert snapshot("02905") == before


@pytest.mark.parametrize("typed", ["-9", "9.999", "nine", "", "1e2", "0x10"])
def test_a_bad_tier_price_is_explained_beside_the_field(staff_client, typed):
    refused = staff_client.post("/staff/tiers/premium/", {"tier-premium-price": typed})

    html = refused.content.decode()
    assert refused.status_code == 400
    assert 'id="id_tier-premium-price_error"' in html
    assert TierPrice.objects.get(tier="premium").price_cents == 9900


def test_a_tier_price_from_the_staff_page_in_dollars(staff_client):
    page = staff_client.get("/staff/territories/").content.decode()
    saved = staff_client.post("/staff/tiers/premium/", {"tier-premium-price": "109"})

    assert 'name="tier-premium-price" value="99.00"' in page
    assert "Premium price (dollars a month)" in page
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
                                                     {"tier-basic-price": "1"})

    assert (page.status_code, post.status_code) == (403, 403)
    assert TierPrice.objects.get(tier="basic").price_cents == 1900
