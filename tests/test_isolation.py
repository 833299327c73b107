"""Cross-tenant matrix, built from the URL confs.

Every route of clozings.platform.urls_brokerage (walked recursively, so a new route is
covered the day it is added) is tried with GET, POST, PUT, PATCH and DELETE on acme's host:

- as anonymous: 401, 403, 404, 405 or a redirect to the login page; never data, never 5xx;
- as people whose only seat is in globex (an agent, an admin) and as platform staff with
  no seat: 403 or 404; with a globex admin's bearer token, every API route is a 403;
- as acme's own admin, aimed at globex's objects through acme's host, and as an acme agent
  aimed at a colleague's objects: the same answer as for an object that does not exist
  (a 403 or 404, or a page's redirect with its message), never a 2xx, nothing changed.

Path parameters are filled with real ids where the matrix knows the kind of object
(OBJECT_IDS: seats, reservations, waitlist entries; the objects are made on first use) and
with dummy values of the converter's type otherwise. Routes that are
public by design are listed in OPEN_ROUTES, each with its reason; they are still tried,
and must neither fail with a 5xx nor show another person's data.

The platform host (clozings.platform.urls_public) is walked the same way: every route that
is not public by design (PLATFORM_OPEN_ROUTES) refuses anonymous callers and signed-in
people who are not platform staff.
"""

from __future__ import annotations

import json
import re
from urllib.parse import urlparse

import pytest
from django.test import Client
from django.urls import URLResolver, get_resolver
from django.urls.converters import IntConverter, PathConverter, SlugConverter, UUIDConverter
from django.urls.resolvers import RoutePattern

from clozings.platform.auth import issue_token
from clozings.tenants.models import Seat, User
from clozings.territories.models import Reservation, WaitlistEntry
from clozings.territories.services import join_waitlist
from tests.tenants.factories import SeatFactory, UserFactory
from tests.territories.factories import active_reservation, ensure_catalogue

# Routes anyone may reach, by design. A regular expression over the route template.
OPEN_ROUTES = {
    r"^healthz$": "load balancers and probes call it without credentials; it shows no data",
    r"^api/schema/$": "the API's description: it names endpoints and holds no data",
    r"^api/v1/auth/token$": "sign-in: exchanging an email and password needs no token",
    r"^api/v1/auth/tokens$": "sign out everywhere: acts on the caller's own tokens only",
    r"^login/$": "the sign-in page",
    r"^login/continue/<str:token>/$":
        "the one-time hand-over after sign-up; authorised by its signed, single-use token",
    r"^logout/$": "signing out needs no seat",
    r"^password-reset/": "reset by email is for people who cannot sign in",
    r"^invite/<str:token>/$": "the invitation link, authorised by its signed token",
    r"^static/": "CSS and scripts",
}

# The same on the platform host.
PLATFORM_OPEN_ROUTES = {
    r"^$": "the landing page with sign-up for new brokerages",
    r"^healthz$": "load balancers and probes call it without credentials; it shows no data",
    r"^api/schema/$": "the API's description: it names endpoints and holds no data",
    r"^api/v1/auth/token$": "sign-in: exchanging an email and password needs no token",
    r"^api/v1/auth/tokens$": "sign out everywhere: acts on the caller's own tokens only",
    r"^api/v1/territories$": "the territory catalogue: anyone may look (API.md)",
    r"^billing/stripe/webhook$": "Stripe calls it; each event is authorised by its signature",
    r"^login/$": "the sign-in page",
    r"^logout/$": "signing out needs no seat",
    r"^password-reset/": "reset by email is for people who cannot sign in",
    r"^static/": "CSS and scripts",
}

METHODS = ["GET", "POST", "PUT", "PATCH", "DELETE"]
MARKER = "leakcheck"  # in the names and emails of the people whose data must not show
PROBE = {"email": "probe@example.test", "name": "Probe", "role": "admin"}
_PARAM = re.compile(r"<(?:(?P<converter>[^>:]+):)?(?P<name>[^>]+)>")


def _template(pattern) -> str:
    if isinstance(pattern, RoutePattern):
        return str(pattern)
    # A re_path(): turn its named groups into <str:name> and drop the anchors.
    regex = str(pattern).lstrip("^").rstrip("$")
    return re.sub(r"\(\?P<(\w+)>[^)]*\)", r"<str:\1>", regex).replace("\\", "")


def _walk(resolver: URLResolver, prefix: str = "") -> list[tuple[str, dict]]:
    routes = []
    for entry in resolver.url_patterns:
        route = prefix + _template(entry.pattern)
        converters = dict(getattr(entry.pattern, "converters", {}))
        if isinstance(entry, URLResolver):
            routes += [(inner, {**converters, **more}) for inner, more in _walk(entry, route)]
        else:
            routes.append((route, converters))
    return routes


ROUTES = dict(_walk(get_resolver("clozings.platform.urls_brokerage")))
OPEN = sorted(route for route in ROUTES if any(re.search(r, route) for r in OPEN_ROUTES))
PROTECTED = sorted(route for route in ROUTES if route not in OPEN)
API = [route for route in PROTECTED if route.startswith("api/")]

PLATFORM_ROUTES = dict(_walk(get_resolver("clozings.platform.urls_public")))
PLATFORM_OPEN = sorted(route for route in PLATFORM_ROUTES
                       if any(re.search(r, route) for r in PLATFORM_OPEN_ROUTES))
PLATFORM_PROTECTED = sorted(route for route in PLATFORM_ROUTES if route not in PLATFORM_OPEN)

def _made(side: dict, key: str, make):
    """One object of a kind per side and test, made the first time a route asks for it."""
    if key not in side:
        side[key] = make()
    return side[key]


def _reservation(side: dict) -> Reservation:
    ensure_catalogue()
    return active_reservation(side["seat"], "10001")


def _waitlist_entry(side: dict) -> WaitlistEntry:
    ensure_catalogue()  # 30303 has one slot: a colleague holds it, the side's agent waits
    active_reservation(SeatFactory(brokerage=side["brokerage"]), "30303")
    return join_waitlist(seat=side["seat"], zip_code="30303")


# Which real object a path parameter names, per side: {name: lambda side: id}.
OBJECT_IDS = {
    "seat_id": lambda side: side["seat"].pk,
    "reservation_id": lambda side: _made(side, "reservation", lambda: _reservation(side)).pk,
    "entry_id": lambda side: _made(side, "entry", lambda: _waitlist_entry(side)).pk,
}
ROUTES_WITH_OBJECTS = [route for route in PROTECTED
                       if any(m["name"] in OBJECT_IDS for m in _PARAM.finditer(route))]


def _dummy(converter) -> str:
    return {IntConverter: "987654321", SlugConverter: "no-such-thing",
            UUIDConverter: "00000000-0000-4000-8000-000000000000",
            PathConverter: "no/such/thing"}.get(type(converter), "no-such-thing")


def url_for(route: str, side: dict) -> str:
    converters = {**PLATFORM_ROUTES, **ROUTES}[route]

    def value(match: re.Match) -> str:
        name = match["name"]
        if side and name in OBJECT_IDS:
            return str(OBJECT_IDS[name](side))
        return _dummy(converters.get(name))

    return "/" + _PARAM.sub(value, route)


def call(client: Client, method: str, url: str):
    if url.startswith("/api/"):
        return client.generic(method, url, json.dumps(PROBE), "application/json")
    if method == "GET":
        return client.get(url)
    return client.generic(method, url, "&".join(f"{k}={v}" for k, v in PROBE.items()),
                          "application/x-www-form-urlencoded")


def redirects_to_login(response) -> bool:
    return response.status_code == 302 and urlparse(response["Location"]).path == "/login/"


def shows_data(response) -> bool:
    return MARKER in response.content.decode(errors="replace").lower()


def snapshot() -> list[list[tuple]]:
    """What a refused request must leave as it was: seats, reservations, waitlists."""
    return [
        list(Seat.objects.order_by("pk").values_list("pk", "brokerage_id", "email", "role",
                                                      "status", "user_id")),
        list(Reservation.objects.order_by("pk").values_list("pk", "seat_id", "status",
                                                             "release_at")),
        list(WaitlistEntry.objects.order_by("pk").values_list("pk", "seat_id", "status")),
    ]


@pytest.fixture
def acme_side(acme) -> dict:
    """acme's data, as a stranger would aim at it."""
    agent = SeatFactory(brokerage=acme.brokerage, user__name="Ada Leakcheck",
                        user__email="ada.leakcheck@acme.test")
    return {"brokerage": acme.brokerage, "seat": agent}


@pytest.fixture
def globex_side(globex) -> dict:
    """globex's data, as acme's admin would aim at it through acme's host."""
    agent = SeatFactory(brokerage=globex.brokerage, user__name="Gus Leakcheck",
                        user__email="gus.leakcheck@globex.test")
    return {"brokerage": globex.brokerage, "seat": agent}


def session(user: User, host: str = "acme.localhost") -> Client:
    client = Client(HTTP_HOST=host)
    client.force_login(user)
    return client


def test_the_matrix_is_built_from_the_url_conf():
    assert {"api/v1/seats", "api/v1/seats/<int:seat_id>"} <= set(API)
    assert "api/v1/seats/<int:seat_id>" in ROUTES_WITH_OBJECTS
    assert "api/v1/reservations/<int:reservation_id>" in ROUTES_WITH_OBJECTS
    assert "api/v1/waitlist/<int:entry_id>" in ROUTES_WITH_OBJECTS
    assert url_for("api/v1/seats/<int:seat_id>", {"seat": Seat(pk=7)}) == "/api/v1/seats/7"
    assert not set(OPEN) & set(PROTECTED)
    assert "api/v1/brokerages" in PLATFORM_PROTECTED
    assert "api/v1/seats" not in PLATFORM_ROUTES


@pytest.mark.parametrize("method", METHODS)
@pytest.mark.parametrize("route", PROTECTED)
def test_anonymous_is_refused_on_every_protected_route(acme_side, route, method):
    url = url_for(route, acme_side)
    before = snapshot()

    response = call(Client(HTTP_HOST="acme.localhost"), method, url)

    assert response.status_code in (401, 403, 404, 405) or redirects_to_login(response), \
        response.status_code
    assert not shows_data(response)
    assert snapshot() == before


@pytest.mark.parametrize("method", METHODS)
@pytest.mark.parametrize("route", OPEN)
def test_open_routes_give_anonymous_no_data_and_no_server_error(acme_side, route, method):
    response = call(Client(HTTP_HOST="acme.localhost"), method, url_for(route, acme_side))

    assert response.status_code < 500
    assert not shows_data(response)


@pytest.fixture(params=["globex_agent", "globex_admin", "staff_without_seat"])
def stranger(request, globex) -> User:
    """Someone signed in who has no seat in acme."""
    people = {
        "globex_agent": lambda: SeatFactory(brokerage=globex.brokerage).user,
        "globex_admin": lambda: globex.admin,
        "staff_without_seat": lambda: UserFactory(is_staff=True, is_superuser=True),
    }
    return people[request.param]()


@pytest.mark.parametrize("method", METHODS)
@pytest.mark.parametrize("route", PROTECTED)
def test_people_without_a_seat_in_acme_are_refused_on_acmes_host(
        acme_side, stranger, route, method):
    url = url_for(route, acme_side)
    before = snapshot()

    response = call(session(stranger), method, url)

    assert response.status_code in (403, 404), response.status_code
    assert not shows_data(response)
    assert snapshot() == before


@pytest.mark.parametrize("method", METHODS)
@pytest.mark.parametrize("route", OPEN)
def test_open_routes_give_strangers_no_data_and_no_server_error(
        acme_side, stranger, route, method):
    response = call(session(stranger), method, url_for(route, acme_side))

    assert response.status_code < 500
    assert not shows_data(response)


@pytest.mark.parametrize("method", METHODS)
@pytest.mark.parametrize("route", API)
def test_a_globex_admins_token_gets_403_on_every_acme_api_route(globex, acme_side, route,
                                                                method):
    client = Client(HTTP_HOST="acme.localhost",
                    HTTP_AUTHORIZATION=f"Bearer {issue_token(globex.admin)}")
    url = url_for(route, acme_side)
    before = snapshot()

    response = call(client, method, url)

    assert response.status_code == 403
    assert response.json()["error"]["code"] == "permission_denied"
    assert snapshot() == before


@pytest.mark.parametrize("method", METHODS)
@pytest.mark.parametrize("route", ROUTES_WITH_OBJECTS)
def test_acmes_admin_cannot_reach_globex_objects_through_acmes_host(
        acme, globex_side, route, method):
    """Another brokerage's object is answered exactly like one that does not exist (a 404,
    or a page's redirect with its message), so its id reveals nothing, and nothing changes."""
    url, missing_url = url_for(route, globex_side), url_for(route, {})
    before = snapshot()

    response = call(session(acme.admin), method, url)
    missing = call(session(acme.admin), method, missing_url)

    assert not 200 <= response.status_code < 300, response.status_code
    assert (response.status_code, response.get("Location")) == (
        missing.status_code, missing.get("Location"))
    assert not shows_data(response)
    assert snapshot() == before


@pytest.mark.parametrize("method", METHODS)
@pytest.mark.parametrize("route", ROUTES_WITH_OBJECTS)
def test_an_agent_cannot_reach_a_colleagues_objects(acme, acme_side, route, method):
    """An agent (not an admin) aimed at a colleague's seat, reservation or waitlist entry
    gets the answer an object that does not exist gets, and nothing changes."""
    agent = SeatFactory(brokerage=acme.brokerage).user
    url, missing_url = url_for(route, acme_side), url_for(route, {})
    before = snapshot()

    response = call(session(agent), method, url)
    missing = call(session(agent), method, missing_url)

    assert not 200 <= response.status_code < 300, response.status_code
    assert (response.status_code, response.get("Location")) == (
        missing.status_code, missing.get("Location"))
    assert not shows_data(response)
    assert snapshot() == before


# --- the platform host ----------------------------------------------------------------------
@pytest.fixture(params=["anonymous", "brokerage_admin_session", "brokerage_admin_token"])
def platform_caller(request, acme) -> Client:
    """Someone who is not platform staff, on the platform host."""
    callers = {
        "anonymous": lambda: Client(HTTP_HOST="localhost"),
        "brokerage_admin_session": lambda: session(acme.admin, host="localhost"),
        "brokerage_admin_token": lambda: Client(
            HTTP_HOST="localhost", HTTP_AUTHORIZATION=f"Bearer {issue_token(acme.admin)}"),
    }
    return callers[request.param]()


@pytest.mark.parametrize("method", METHODS)
@pytest.mark.parametrize("route", PLATFORM_PROTECTED)
def test_the_platform_hosts_protected_routes_refuse_everyone_but_staff(
        acme_side, platform_caller, route, method):
    url = url_for(route, acme_side)
    before = snapshot()

    response = call(platform_caller, method, url)

    assert response.status_code in (401, 403, 404, 405) or redirects_to_login(response), \
        response.status_code
    assert not shows_data(response)
    assert snapshot() == before


@pytest.mark.parametrize("method", METHODS)
@pytest.mark.parametrize("route", PLATFORM_OPEN)
def test_the_platform_hosts_open_routes_give_no_data_and_no_server_error(
        acme_side, platform_caller, route, method):
    response = call(platform_caller, method, url_for(route, acme_side))

    assert response.status_code < 500
    assert not shows_data(response)
