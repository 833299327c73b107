"""Territory API: the catalogue search, the waitlist, the staff inventory."""

from __future__ import annotations

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from clozings.platform.auth import issue_token
from clozings.territories.models import Territory, TierPrice, WaitlistEntry
from clozings.territories.selectors import haversine_miles
from tests.conftest import host_client
from tests.tenants.factories import UserFactory
from tests.territories.factories import active_reservation, agent, snapshot

pytestmark = pytest.mark.django_db


def _error(response) -> tuple[int, str]:
    return response.status_code, response.json()["error"]["code"]


# --- the catalogue ----------------------------------------------------------------------
def test_anyone_can_look_up_a_zip_on_the_platform_host(platform_client):
    response = platform_client.get("/api/v1/territories", {"zip_code": "10001"})

    assert response.status_code == 200
    [row] = response.json()["results"]
    assert row == {
        "zip_code": "10001", "city": "New York", "state": "NY", "county": "New York County",
        "time_zone": "America/New_York", "latitude": 40.7484, "longitude": -73.9967,
        "tier": "premium", "slots": 1, "taken": 0, "price_cents": 9900, "waitlist": 0,
        "distance_miles": None,
    }


def test_rows_show_places_taken_and_waitlist_length(acme, globex, platform_client):
    active_reservation(agent(acme.brokerage), "30303")
    from clozings.territories.services import join_waitlist

    join_waitlist(seat=agent(globex.brokerage), zip_code="30303")

    [row] = platform_client.get("/api/v1/territories", {"zip_code": "30303"}).json()["results"]
    assert (row["taken"], row["slots"], row["waitlist"]) == (1, 1, 1)


def test_search_by_state_and_city(platform_client):
    by_state = platform_client.get("/api/v1/territories",
                                   {"state": "de", "page_size": 200}).json()
    by_city = platform_client.get("/api/v1/territories", {"city": "beverly hills"}).json()

    assert by_state["count"] == Territory.objects.filter(state="DE").count() > 50
    assert {r["state"] for r in by_state["results"]} == {"DE"}
    assert "90210" in {r["zip_code"] for r in by_city["results"]}
    assert {r["city"] for r in by_city["results"]} == {"Beverly Hills"}


def test_near_finds_exactly_the_zips_within_the_radius(platform_client):
    origin = Territory.objects.get(zip_code="94103")
    expected = sorted(
        t.zip_code for t in Territory.objects.filter(is_active=True)
        if haversine_miles(origin.latitude, origin.longitude, t.latitude, t.longitude) <= 25)

    body = platform_client.get("/api/v1/territories",
                               {"near": "94103", "radius_miles": 25, "page_size": 200}).json()

    assert body["count"] == len(expected) > 100
    found = [r["zip_code"] for r in body["results"]]
    distances = [r["distance_miles"] for r in body["results"]]
    assert distances == sorted(distances) and distances[0] == 0.0
    assert all(d <= 25 for d in distances)
    assert set(found) <= set(expected)


def test_near_uses_great_circle_distance(platform_client):
    # ZIP 10001 (Manhattan) to 19103 (Philadelphia): 82.9 miles between the two ZIP
    # centroids; New York to Philadelphia is about 81 miles city hall to city hall.
    inside = platform_client.get("/api/v1/territories",
                                 {"near": "10001", "radius_miles": 84, "page_size": 200,
                                  "state": "PA", "city": "Philadelphia"}).json()
    outside = platform_client.get("/api/v1/territories",
                                  {"near": "10001", "radius_miles": 82, "page_size": 200,
                                   "state": "PA", "city": "Philadelphia"}).json()

    rows = {r["zip_code"]: r["distance_miles"] for r in inside["results"]}
    assert rows["19103"] == pytest.approx(82.93, abs=0.01)
    assert "19103" not in {r["zip_code"] for r in outside["results"]}


def _selects(client, query: dict) -> tuple[int, int]:
    """(rows returned, SELECT statements run) for one catalogue request."""
    with CaptureQueriesContext(connection) as captured:
        body = client.get("/api/v1/territories", query).json()
    selects = [q for q in captured.captured_queries if q["sql"].startswith("SELECT")]
    return len(body["results"]), len(selects)


def test_a_page_costs_the_same_queries_whatever_its_size(platform_client):
    small = _selects(platform_client, {"near": "60601", "radius_miles": 40, "page_size": 5})
    large = _selects(platform_client, {"near": "60601", "radius_miles": 40, "page_size": 200})

    # the origin ZIP, the count, the page: three, not one per ZIP
    assert (small, large) == ((5, 3), (200, 3))


@pytest.mark.parametrize(("query", "field"), [
    ({"zip_code": "1234"}, "zip_code"),
    ({"zip_code": "abcde"}, "zip_code"),
    ({"state": "New York"}, "state"),
    ({"near": "00000"}, "near"),
    ({"near": "10001", "radius_miles": 500}, "radius_miles"),
    ({"near": "10001", "radius_miles": -3}, "radius_miles"),
    ({"near": "10001", "radius_miles": "far"}, "radius_miles"),
    ({"radius_miles": 5}, "radius_miles"),
    ({"page_size": 0}, "page_size"),
])
def test_bad_search_input_is_a_validation_error(platform_client, query, field):
    response = platform_client.get("/api/v1/territories", query)

    assert _error(response) == (400, "validation_error")
    assert list(response.json()["error"]["fields"]) == [field]


def test_a_page_past_the_end_is_not_found(platform_client):
    response = platform_client.get("/api/v1/territories", {"zip_code": "10001", "page": 3})

    assert _error(response) == (404, "not_found")


def test_on_a_brokerage_host_the_catalogue_needs_a_seat(acme, globex):
    anonymous = host_client(acme.host).get("/api/v1/territories", {"zip_code": "10001"})
    stranger = host_client(acme.host, globex.admin).get("/api/v1/territories",
                                                         {"zip_code": "10001"})
    member = host_client(acme.host, acme.admin).get("/api/v1/territories",
                                                     {"zip_code": "10001"})

    assert anonymous.status_code in (401, 403)
    assert stranger.status_code == 403
    assert member.json()["results"][0]["zip_code"] == "10001"


# --- the waitlist -----------------------------------------------------------------------
@pytest.fixture
def full_zip(globex):
    return active_reservation(agent(globex.brokerage), "30305")


def test_an_agent_joins_a_waitlist_and_sees_their_position(full_zip, acme, globex):
    ahead = agent(globex.brokerage)
    host_client(globex.host, ahead.user).post("/api/v1/waitlist", {"zip_code": "30305"},
                                              content_type="application/json")
    me = agent(acme.brokerage)

    response = host_client(acme.host, me.user).post(
        "/api/v1/waitlist", {"zip_code": "30305"}, content_type="application/json")

    assert response.status_code == 201
    assert (response.json()["position"], response.json()["agent_id"]) == (2, me.pk)
    listed = host_client(acme.host, me.user).get("/api/v1/waitlist").json()
    assert [(e["zip_code"], e["position"]) for e in listed] == [("30305", 2)]


def test_with_a_bearer_token_too(full_zip, acme):
    me = agent(acme.brokerage)
    client = host_client(acme.host)

    response = client.post("/api/v1/waitlist", {"zip_code": "30305"},
                           content_type="application/json",
                           HTTP_AUTHORIZATION=f"Bearer {issue_token(me.user)}")

    assert (response.status_code, response.json()["position"]) == (201, 1)


def test_an_admin_joins_for_an_agent_of_the_brokerage(full_zip, acme):
    someone = agent(acme.brokerage)

    response = host_client(acme.host, acme.admin).post(
        "/api/v1/waitlist", {"zip_code": "30305", "agent_id": someone.pk},
        content_type="application/json")

    assert (response.status_code, response.json()["agent_id"]) == (201, someone.pk)


def test_an_agent_cannot_join_for_a_colleague(full_zip, acme):
    me, colleague = agent(acme.brokerage), agent(acme.brokerage)

    response = host_client(acme.host, me.user).post(
        "/api/v1/waitlist", {"zip_code": "30305", "agent_id": colleague.pk},
        content_type="application/json")

    assert _error(response) == (403, "permission_denied")
    assert not WaitlistEntry.objects.exists()


def test_an_agent_of_another_brokerage_is_not_an_agent_here(full_zip, acme, globex):
    theirs = agent(globex.brokerage)

    response = host_client(acme.host, acme.admin).post(
        "/api/v1/waitlist", {"zip_code": "30305", "agent_id": theirs.pk},
        content_type="application/json")

    assert _error(response) == (400, "validation_error")
    assert list(response.json()["error"]["fields"]) == ["agent_id"]
    assert not WaitlistEntry.objects.exists()


@pytest.mark.parametrize(("body", "expected"), [
    ({"zip_code": "303"}, (400, "validation_error")),
    ({}, (400, "validation_error")),
    ({"zip_code": "00000"}, (404, "not_found")),
    ({"zip_code": "30306"}, (409, "territory_available")),
    ({"zip_code": "30305", "agent_id": 2**70}, (400, "validation_error")),
])
def test_bad_waitlist_requests_are_clear_errors(full_zip, acme, body, expected):
    response = host_client(acme.host, acme.admin).post("/api/v1/waitlist", body,
                                                        content_type="application/json")

    assert _error(response) == expected
    assert not WaitlistEntry.objects.exists()


def test_leaving_the_waitlist_and_nobody_elses(full_zip, acme, globex):
    me = agent(acme.brokerage)
    entry_id = host_client(acme.host, me.user).post(
        "/api/v1/waitlist", {"zip_code": "30305"}, content_type="application/json").json()["id"]

    foreign = host_client(globex.host, globex.admin).delete(f"/api/v1/waitlist/{entry_id}")
    colleague = host_client(acme.host, agent(acme.brokerage).user).delete(
        f"/api/v1/waitlist/{entry_id}")
    own = host_client(acme.host, me.user).delete(f"/api/v1/waitlist/{entry_id}")

    assert _error(foreign) == (404, "not_found")
    assert _error(colleague) == (404, "not_found")
    assert (own.status_code, own.json()["status"], own.json()["position"]) == (
        200, "cancelled", None)


# --- staff ------------------------------------------------------------------------------
@pytest.fixture
def staff(db):
    return UserFactory(is_staff=True)


def test_staff_see_the_inventory_with_figures(staff, full_zip, acme):
    from clozings.territories.services import join_waitlist

    join_waitlist(seat=agent(acme.brokerage), zip_code="30305")
    client = host_client("localhost", staff)

    body = client.get("/api/v1/staff/territories", {"availability": "waitlisted"}).json()

    assert [r["zip_code"] for r in body["results"]] == ["30305"]
    summary = body["summary"]
    assert (summary["reserved"], summary["full"], summary["waitlisted"]) == (1, 1, 1)
    assert summary["free"] == summary["territories"] - 1


def test_staff_set_a_zips_price_tier_and_slots(staff):
    client = host_client("localhost", staff)

    response = client.patch("/api/v1/staff/territories/30307",
                            {"price_cents": 2500, "tier": "premium", "slots": 4},
                            content_type="application/json")

    assert response.status_code == 200
    assert {k: response.json()[k] for k in ("price_cents", "own_price_cents", "tier",
                                             "slots")} == {
        "price_cents": 2500, "own_price_cents": 2500, "tier": "premium", "slots": 4}
    cleared = client.patch("/api/v1/staff/territories/30307", {"price_cents": None},
                           content_type="application/json").json()
    assert (cleared["own_price_cents"], cleared["price_cents"]) == (None, 9900)


@pytest.mark.parametrize(("body", "field"), [
    ({"price_cents": -1}, "price_cents"),
    ({"slots": 0}, "slots"),
    ({"tier": "gold"}, "tier"),
    ({"price_cents": "lots"}, "price_cents"),
])
def test_bad_staff_changes_are_refused_and_change_nothing(staff, body, field):
    before = snapshot("30308")

    response = host_client("localhost", staff).patch("/api/v1/staff/territories/30308", body,
                                                     content_type="application/json")

    assert _error(response) == (400, "validation_error")
    assert list(response.json()["error"]["fields"]) == [field]
    assert snapshot("30308") == before


def test_slots_below_the_current_holders_are_refused(staff, full_zip):
    Territory.objects.filter(zip_code="30305").update(slots=2)
    active_reservation(agent(full_zip.brokerage), "30305")
    before = snapshot("30305")

    refused = host_client("localhost", staff).patch("/api/v1/staff/territories/30305",
                                                    {"slots": 1},
                                                    content_type="application/json")

    assert _error(refused) == (400, "validation_error")
    assert "2 places" in refused.json()["error"]["fields"]["slots"][0]
    assert snapshot("30305") == before


def test_unknown_or_malformed_zips_for_staff(staff):
    client = host_client("localhost", staff)

    unknown = client.patch("/api/v1/staff/territories/00000", {"slots": 2},
                           content_type="application/json")
    malformed = client.patch("/api/v1/staff/territories/abc", {"slots": 2},
                             content_type="application/json")

    assert _error(unknown) == (404, "not_found")
    assert _error(malformed) == (400, "validation_error")


def test_staff_set_a_tier_price(staff):
    client = host_client("localhost", staff)

    ok = client.patch("/api/v1/staff/tiers/basic", {"price_cents": 2100},
                      content_type="application/json")
    negative = client.patch("/api/v1/staff/tiers/basic", {"price_cents": -5},
                            content_type="application/json")
    unknown = client.patch("/api/v1/staff/tiers/gold", {"price_cents": 5},
                           content_type="application/json")

    assert ok.json() == {"tier": "basic", "price_cents": 2100}
    assert _error(negative) == (400, "validation_error")
    assert _error(unknown) == (404, "not_found")
    assert TierPrice.objects.get(tier="basic").price_cents == 2100
    assert [t["tier"] for t in client.get("/api/v1/staff/tiers").json()] == [
        "basic", "standard", "premium"]


def test_the_staff_api_is_for_staff_only(acme):
    agent_user = agent(acme.brokerage).user

    responses = [
        host_client("localhost").get("/api/v1/staff/territories"),
        host_client("localhost", agent_user).get("/api/v1/staff/territories"),
        host_client("localhost", acme.admin).patch("/api/v1/staff/territories/30309",
                                                   {"slots": 5},
                                                   content_type="application/json"),
        host_client("localhost", acme.admin).patch("/api/v1/staff/tiers/basic",
                                                   {"price_cents": 1},
                                                   content_type="application/json"),
    ]

    assert [r.status_code for r in responses][1:] == [403, 403, 403]
    assert responses[0].status_code in (401, 403)
    assert Territory.objects.get(zip_code="30309").slots == 1
    assert TierPrice.objects.get(tier="basic").price_cents == 1900
