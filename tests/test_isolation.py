"""Cross-tenant matrix, built from the URL confs.

Every route of clozings.platform.urls_brokerage (walked recursively, so a new route is
covered the day it is added) is tried with GET, POST, PUT, PATCH and DELETE on acme's host:

- as anonymous: 401, 403, 404, 405 or a redirect to the login page; never data, never 5xx;
- as people whose only seat is in globex (an agent, an admin), as platform staff with no
  seat, and as people whose seat in acme is invited (not accepted; or re-invited after a
  deactivation) or deactivated: 403 or 404 with a session; with their bearer token, every
  API route is a 403;
- as acme's own admin, aimed at globex's objects through acme's host, and as an acme agent
  aimed at a colleague's objects: the same answer as for an object that does not exist
  (a 403 or 404, or a page's redirect with its message), never a 2xx, nothing changed;
- on every spelling of globex's host (upper case, trailing dot, a port, `www.`) with acme's
  admin's session or token: refused, never globex's data, nothing changed; a person with
  seats in both brokerages, on any spelling of acme's host, never sees globex's data;
- with ids of globex's or a colleague's objects in bodies and query strings: refused in
  the error format naming the field (API), or with the form's error (pages), nothing
  changed. Every id field of the brokerage host's OpenAPI schema and of the pages' forms
  must have a case here (test_every_id_field_has_a_case), so a new one cannot go untested.

"Nothing changed" (tests/side_effects.py) covers every table of every schema, found in the
catalogue, work left for after the commit, Celery messages in Redis, mail, and requests to
Stripe, which go through a recording proxy in front of localstripe
(tests/stripe_recorder.py): a refused request makes none.

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
from django import forms as django_forms
from django.core.mail import send_mail
from django.db import connection, transaction
from django.test import Client
from django.urls import URLResolver, get_resolver
from django.urls.converters import IntConverter, PathConverter, SlugConverter, UUIDConverter
from django.urls.resolvers import RoutePattern

from clozings.billing import services as billing
from clozings.billing import stripe_client
from clozings.crm import services as crm_services
from clozings.crm.models import ImportJob
from clozings.platform.auth import issue_token
from clozings.platform.celery import app as celery_app
from clozings.platform.tenancy import in_schema
from clozings.tenants.models import Seat, User
from clozings.tenants.services import invitation_token
from clozings.tenants.views import handover_token
from clozings.territories.models import Reservation, WaitlistEntry
from clozings.territories.services import join_waitlist
from tests import side_effects
from tests.billing.conftest import SECRET_KEY
from tests.side_effects import NothingChanges
from tests.stripe_recorder import StripeRecorder
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
    r"^calendar/<str:token>.ics$": "an agent's private calendar feed, authorised by its secret "
                                   "token (only its hash is stored; guesses are throttled)",
}

# The same on the platform host.
PLATFORM_OPEN_ROUTES = {
    r"^$": "the landing page with sign-up for new brokerages",
    r"^signup/confirm/<str:token>/$": "a sign-up's mailed link, authorised by its signed token",
    r"^healthz$": "load balancers and probes call it without credentials; it shows no data",
    r"^api/schema/$": "the API's description: it names endpoints and holds no data",
    r"^api/v1/auth/token$": "sign-in: exchanging an email and password needs no token",
    r"^api/v1/auth/tokens$": "sign out everywhere: acts on the caller's own tokens only",
    r"^api/v1/territories$": "the territory catalogue: anyone may look (API.md)",
    r"^billing/stripe/webhook$": "Stripe calls it; each event is authorised by its signature",
    r"^login/$": "the sign-in page",
    r"^logout/$": "signing out needs no seat",
    r"^password-reset/": "reset by email is for people who cannot sign in",
    r"^find-brokerage/$": "answers the same for any email; the list goes to that mailbox",
    r"^brokerages/$": "the signed-in person's own brokerages (anyone else: sign in)",
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
    return active_reservation(side["seat"], side["zips"][0])


def _waitlist_entry(side: dict) -> WaitlistEntry:
    ensure_catalogue()  # the ZIP has one slot: a colleague holds it, the side's agent waits
    active_reservation(SeatFactory(brokerage=side["brokerage"]), side["zips"][1])
    return join_waitlist(seat=side["seat"], zip_code=side["zips"][1])


def _do_not_contact(side: dict):
    """An entry on the side's do-not-contact list (ids are per brokerage schema)."""
    from clozings.crm.models import DoNotContact

    with in_schema(side["brokerage"].schema_name):
        return DoNotContact.objects.create(email=f"{MARKER}@{side['brokerage'].slug}.test")


def _import_job(side: dict) -> ImportJob:
    with in_schema(side["brokerage"].schema_name):
        return ImportJob.objects.create(agent_id=side["seat"].pk, by_id=side["seat"].pk,
                                        filename="leakcheck.csv",
                                        content="Name,Zip\nLeakcheck,10001\n", total_rows=1)


# Which real object a path parameter names, per side: {name: lambda side: id}.
OBJECT_IDS = {
    "seat_id": lambda side: side["seat"].pk,
    "reservation_id": lambda side: _made(side, "reservation", lambda: _reservation(side)).pk,
    "entry_id": lambda side: _made(side, "entry", lambda: _waitlist_entry(side)).pk,
    "dnc_id": lambda side: _made(side, "dnc", lambda: _do_not_contact(side)).pk,
    "import_id": lambda side: _made(side, "import", lambda: _import_job(side)).pk,
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


def body_of(response) -> bytes:
    """The body, a streamed one (a CSV export) read once and kept."""
    if not response.streaming:
        return response.content
    if not hasattr(response, "read_body"):
        response.read_body = b"".join(response.streaming_content)
    return response.read_body


def shows_data(response, marker: str = MARKER) -> bool:
    return marker in body_of(response).decode(errors="replace").lower()


# --- side effects: every table, after-commit work, Celery, mail, Stripe ------------------
@pytest.fixture(scope="session")
def stripe_recorder(localstripe):
    recorder = StripeRecorder(localstripe).start()
    yield recorder
    recorder.stop()


@pytest.fixture(autouse=True)
def _stripe_through_the_recorder(settings, stripe_recorder):
    settings.STRIPE_API_BASE = stripe_recorder.url
    settings.STRIPE_SECRET_KEY = SECRET_KEY
    settings.STRIPE_MAX_NETWORK_RETRIES = 0


@pytest.fixture
def unchanged(stripe_recorder, mailbox):
    """`with unchanged(): ...` fails if the requests inside changed anything."""
    return lambda **options: NothingChanges(stripe=stripe_recorder, mailbox=mailbox, **options)


@pytest.fixture
def acme_side(acme) -> dict:
    """acme's data, as a stranger would aim at it."""
    agent = SeatFactory(brokerage=acme.brokerage, user__name="Ada Leakcheck",
                        user__email="ada.leakcheck@acme.test")
    return {"brokerage": acme.brokerage, "seat": agent, "zips": ("10001", "30303")}


@pytest.fixture
def globex_side(globex) -> dict:
    """globex's data, as acme's admin would aim at it through acme's host."""
    agent = SeatFactory(brokerage=globex.brokerage, user__name="Gus Leakcheck",
                        user__email="gus.leakcheck@globex.test")
    return {"brokerage": globex.brokerage, "seat": agent, "zips": ("10002", "30305")}


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
def test_anonymous_is_refused_on_every_protected_route(acme_side, unchanged, route, method):
    url = url_for(route, acme_side)

    with unchanged():
        response = call(Client(HTTP_HOST="acme.localhost"), method, url)

    assert response.status_code in (401, 403, 404, 405) or redirects_to_login(response), \
        response.status_code
    assert not shows_data(response)


@pytest.mark.parametrize("method", METHODS)
@pytest.mark.parametrize("route", OPEN)
def test_open_routes_give_anonymous_no_data_and_no_server_error(acme_side, unchanged, route,
                                                               method):
    with unchanged():
        response = call(Client(HTTP_HOST="acme.localhost"), method, url_for(route, acme_side))

    assert response.status_code < 500
    assert not shows_data(response)


def _invited_to_acme(acme) -> User:
    """Invited, not accepted yet: the seat has the email and no user."""
    user = UserFactory()
    SeatFactory(brokerage=acme.brokerage, user=None, email=user.email,
                status=Seat.Status.INVITED, activated_at=None)
    return user


def _reinvited_to_acme(acme) -> User:
    """Deactivated, then invited again: the seat still names the user."""
    return SeatFactory(brokerage=acme.brokerage, status=Seat.Status.INVITED,
                       role=Seat.Role.ADMIN).user


def _deactivated_in_acme(acme) -> User:
    return SeatFactory(brokerage=acme.brokerage, status=Seat.Status.DEACTIVATED,
                       role=Seat.Role.ADMIN).user


STRANGERS = ("globex_agent", "globex_admin", "staff_without_seat", "invited_to_acme",
             "reinvited_to_acme", "deactivated_in_acme")


@pytest.fixture
def strangers(acme, globex) -> list[tuple[str, User]]:
    """Everyone signed in who has no active seat in acme, by kind. One test tries a route
    as each of them in turn (made once per test, not one test each: the matrix's fixtures
    cost more than its requests)."""
    people = {
        "globex_agent": lambda: SeatFactory(brokerage=globex.brokerage).user,
        "globex_admin": lambda: globex.admin,
        "staff_without_seat": lambda: UserFactory(is_staff=True, is_superuser=True),
        "invited_to_acme": lambda: _invited_to_acme(acme),
        "reinvited_to_acme": lambda: _reinvited_to_acme(acme),
        "deactivated_in_acme": lambda: _deactivated_in_acme(acme),
    }
    return [(kind, people[kind]()) for kind in STRANGERS]


@pytest.mark.parametrize("method", METHODS)
@pytest.mark.parametrize("route", PROTECTED)
def test_people_without_a_seat_in_acme_are_refused_on_acmes_host(
        acme_side, strangers, unchanged, route, method):
    url = url_for(route, acme_side)
    for kind, stranger in strangers:
        client = session(stranger)

        with unchanged():
            response = call(client, method, url)

        assert response.status_code in (403, 404), (kind, response.status_code)
        assert not shows_data(response), kind


@pytest.mark.parametrize("method", METHODS)
@pytest.mark.parametrize("route", OPEN)
def test_open_routes_give_strangers_no_data_and_no_server_error(
        acme_side, strangers, route, method):
    for kind, stranger in strangers:
        response = call(session(stranger), method, url_for(route, acme_side))

        assert response.status_code < 500, (kind, response.status_code)
        assert not shows_data(response), kind


@pytest.mark.parametrize("method", METHODS)
@pytest.mark.parametrize("route", API)
def test_a_strangers_token_gets_403_on_every_acme_api_route(strangers, acme_side, unchanged,
                                                            route, method):
    url = url_for(route, acme_side)
    for kind, stranger in strangers:
        client = Client(HTTP_HOST="acme.localhost",
                        HTTP_AUTHORIZATION=f"Bearer {issue_token(stranger)}")

        with unchanged():
            response = call(client, method, url)

        assert response.status_code == 403, (kind, response.status_code)
        assert response.json()["error"]["code"] == "permission_denied", kind


@pytest.mark.parametrize("method", METHODS)
@pytest.mark.parametrize("route", ROUTES_WITH_OBJECTS)
def test_acmes_admin_cannot_reach_globex_objects_through_acmes_host(
        acme, globex_side, unchanged, route, method):
    """Another brokerage's object is answered exactly like one that does not exist (a 404,
    or a page's redirect with its message), so its id reveals nothing, and nothing changes."""
    url, missing_url = url_for(route, globex_side), url_for(route, {})
    client = session(acme.admin)

    with unchanged():
        response = call(client, method, url)
        missing = call(client, method, missing_url)

    assert not 200 <= response.status_code < 300, response.status_code
    assert (response.status_code, response.get("Location")) == (
        missing.status_code, missing.get("Location"))
    assert not shows_data(response)


@pytest.mark.parametrize("method", METHODS)
@pytest.mark.parametrize("route", ROUTES_WITH_OBJECTS)
def test_an_agent_cannot_reach_a_colleagues_objects(acme, acme_side, unchanged, route, method):
    """An agent (not an admin) aimed at a colleague's seat, reservation or waitlist entry
    gets the answer an object that does not exist gets, and nothing changes."""
    agent = SeatFactory(brokerage=acme.brokerage).user
    url, missing_url = url_for(route, acme_side), url_for(route, {})
    client = session(agent)

    with unchanged():
        response = call(client, method, url)
        missing = call(client, method, missing_url)

    assert not 200 <= response.status_code < 300, response.status_code
    assert (response.status_code, response.get("Location")) == (
        missing.status_code, missing.get("Location"))
    assert not shows_data(response)


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
        acme_side, platform_caller, unchanged, route, method):
    url = url_for(route, acme_side)

    with unchanged():
        response = call(platform_caller, method, url)

    assert response.status_code in (401, 403, 404, 405) or redirects_to_login(response), \
        response.status_code
    assert not shows_data(response)


@pytest.mark.parametrize("method", METHODS)
@pytest.mark.parametrize("route", PLATFORM_OPEN)
def test_the_platform_hosts_open_routes_give_no_data_and_no_server_error(
        acme_side, platform_caller, route, method):
    response = call(platform_caller, method, url_for(route, acme_side))

    assert response.status_code < 500
    assert not shows_data(response)


# --- "nothing changed" catches what it claims to --------------------------------------------
def test_the_side_effect_check_sees_every_schemas_tables(acme, globex):
    tables = set(side_effects.tables())
    assert {("public", "tenants_seat"), ("public", "territories_territory"),
            ("public", "django_session"), (acme.schema_name, "django_migrations"),
            (globex.schema_name, "django_migrations")} <= tables


@pytest.mark.parametrize("change", ["a row of the catalogue", "a brokerage schema's row",
                                    "a new table", "after-commit work", "a Celery message",
                                    "a mail", "a Stripe call"])
def test_the_side_effect_check_fails_on_any_change(acme, unchanged, change):
    def run(sql: str):
        with connection.cursor() as cursor:
            cursor.execute(sql)

    make = {
        "a row of the catalogue": lambda: run(
            "UPDATE territories_territory SET slots = slots + 1 WHERE zip_code = '10001'"),
        "a brokerage schema's row": lambda: run(
            f"DELETE FROM {acme.schema_name}.django_migrations WHERE id = "
            f"(SELECT min(id) FROM {acme.schema_name}.django_migrations)"),
        "a new table": lambda: run("CREATE SCHEMA brk_sneaky; CREATE TABLE brk_sneaky.t (x int)"),
        "after-commit work": lambda: transaction.on_commit(lambda: None),
        "a Celery message": lambda: celery_app.send_task("isolation.probe"),
        "a mail": lambda: send_mail("Hello", "Body", None, ["someone@example.test"]),
        "a Stripe call": lambda: session(acme.admin).post("/api/v1/billing/setup-intent"),
    }
    expected = {
        "a row of the catalogue": "table public.territories_territory: ",
        "a brokerage schema's row": f"{acme.schema_name}.django_migrations",
        "a new table": "table brk_sneaky.t appeared",
        "after-commit work": "work left for after the commit",
        "a Celery message": "Redis list b'celery': 0 -> 1",
        "a mail": "mail to someone@example.test: Hello",
        "a Stripe call": "Stripe call POST /v1/customers",
    }

    with pytest.raises(AssertionError, match=re.escape(expected[change])), unchanged():
        make[change]()


def test_a_write_that_leaves_the_rows_as_they_were_is_no_change(db, unchanged):
    with unchanged(), connection.cursor() as cursor:
        cursor.execute("UPDATE territories_territory SET slots = slots WHERE zip_code = '10001'")
        cursor.execute("INSERT INTO territories_tierprice (tier, price_cents, updated_at) "
                       "VALUES ('probe', 1, now())")
        cursor.execute("DELETE FROM territories_tierprice WHERE tier = 'probe'")


# --- another brokerage's host, however it is spelled ----------------------------------------
def host_variants(host: str) -> dict[str, str]:
    return {"as is": host, "upper case": host.upper(), "trailing dot": f"{host}.",
            "with a port": f"{host}:8000", "www.": f"www.{host}",
            "upper case, dot and port": f"{host.upper()}.:8000"}


ACME_DATA, GLOBEX_DATA = ("ada leakcheck", "ada.leakcheck"), ("gus leakcheck", "gus.leakcheck")


def shows_any(response, markers) -> bool:
    return any(shows_data(response, marker) for marker in markers)


def refused(response) -> bool:
    return response.status_code in (400, 401, 403, 404, 405) or redirects_to_login(response)


@pytest.mark.parametrize("route", PROTECTED)
def test_acmes_session_or_token_on_globexs_host_in_any_spelling_is_refused(
        acme, globex, globex_side, unchanged, route):
    """Whether a spelling is served as globex or not at all, acme's admin gets nothing of
    globex's and changes nothing, with every method, by session and by token."""
    url = url_for(route, globex_side)
    token = issue_token(acme.admin)
    answers = {}
    for variant, host in host_variants(globex.host).items():
        clients = {"session": session(acme.admin, host),
                   "token": Client(HTTP_HOST=host, HTTP_AUTHORIZATION=f"Bearer {token}")}
        for credential, client in clients.items():
            with unchanged():
                answers |= {(variant, credential, method): call(client, method, url)
                            for method in METHODS}

    assert not [(key, response.status_code) for key, response in answers.items()
                if not refused(response) or shows_any(response, GLOBEX_DATA)]


@pytest.mark.parametrize("route", PROTECTED)
def test_a_person_with_seats_in_both_is_served_by_the_brokerage_the_host_names(
        acme, globex, acme_side, globex_side, route):
    """On any spelling of acme's host, an admin of both brokerages sees acme's data (or is
    refused), never globex's, even aimed at globex's objects."""
    both = SeatFactory(brokerage=acme.brokerage, role=Seat.Role.ADMIN).user
    SeatFactory(brokerage=globex.brokerage, user=both, role=Seat.Role.ADMIN)
    url, globex_url = url_for(route, acme_side), url_for(route, globex_side)
    answers = {}
    for variant, host in host_variants(acme.host).items():
        client = session(both, host)
        answers[variant] = (client.get(url), client.get(globex_url))

    for variant, (response, aimed_at_globex) in answers.items():
        assert response.status_code < 500, variant
        assert not shows_any(response, GLOBEX_DATA), variant
        assert url == globex_url or not 200 <= aimed_at_globex.status_code < 300, variant
        assert not shows_any(aimed_at_globex, GLOBEX_DATA), variant


def test_a_spelling_served_as_acme_shows_acmes_data(acme, globex, acme_side, globex_side):
    both = SeatFactory(brokerage=acme.brokerage, role=Seat.Role.ADMIN).user
    SeatFactory(brokerage=globex.brokerage, user=both, role=Seat.Role.ADMIN)

    response = session(both, host_variants(acme.host)["with a port"]).get("/api/v1/seats")

    assert response.status_code == 200
    assert shows_any(response, ACME_DATA) and not shows_any(response, GLOBEX_DATA)


# --- ids in bodies and query strings --------------------------------------------------------
ID_FIELD = re.compile(r"(^|_)id$|_to$")


def api_id_fields() -> set[tuple[str, str, str]]:
    """(method, path, field) of every id the brokerage host's API takes in a body or a
    query string, read from its OpenAPI schema."""
    schema = Client(HTTP_HOST="acme.localhost").get("/api/schema/?format=json").json()
    components = schema["components"]["schemas"]
    found = set()
    for path_, operations in schema["paths"].items():
        for method, operation in operations.items():
            names = [p["name"] for p in operation.get("parameters", []) if p["in"] == "query"]
            for content in operation.get("requestBody", {}).get("content", {}).values():
                ref = content["schema"].get("$ref", "")
                names += list(components.get(ref.rsplit("/", 1)[-1], {}).get("properties", {}))
            found |= {(method.upper(), path_, name) for name in names if ID_FIELD.search(name)}
    return found


def page_id_fields() -> set[tuple[str, str]]:
    """(form, field) of every id a page's form takes: a field named like an id, or a
    choice of model objects."""
    def subclasses(cls):
        for sub in cls.__subclasses__():
            yield sub
            yield from subclasses(sub)

    return {(form.__name__, name) for form in subclasses(django_forms.Form)
            if form.__module__.startswith("clozings.")
            for name, field in form.base_fields.items()
            if ID_FIELD.search(name) or isinstance(field, django_forms.ModelChoiceField)}


def _colleagues_lead(people: dict) -> int:
    """A lead of the colleague's, in acme's CRM (an admin may work it, an agent may not)."""
    colleague = people["colleague"]
    with in_schema(colleague.brokerage.schema_name):
        return crm_services.create_lead(by=None, agent=colleague,
                                        fields={"phone": "(212) 555-0111"}).pk


# (method, path in the schema, field) -> the request: (method, url, JSON body or None)
API_ID_CASES = {
    ("POST", "/api/v1/reservations", "agent_id"): lambda people, seat_id: (
        "POST", "/api/v1/reservations", {"zip_code": "10001", "agent_id": seat_id}),
    ("POST", "/api/v1/waitlist", "agent_id"): lambda people, seat_id: (
        "POST", "/api/v1/waitlist", {"zip_code": "30303", "agent_id": seat_id}),
    ("DELETE", "/api/v1/seats/{seat_id}", "reassign_to"): lambda people, seat_id: (
        "DELETE", f"/api/v1/seats/{people['subject'].pk}?reassign_to={seat_id}", None),
    ("POST", "/api/v1/leads/import", "agent_id"): lambda people, seat_id: (
        "POST", "/api/v1/leads/import", {"csv": "Name,Phone,Zip\nAl,212-555-0101,10001\n",
                                         "agent_id": seat_id}),
    ("POST", "/api/v1/leads", "agent_id"): lambda people, seat_id: (
        "POST", "/api/v1/leads", {"phone": "(212) 555-0100", "agent_id": seat_id}),
    # a cadence is the brokerage's own (its schema): another's id names none here
    ("POST", "/api/v1/leads/{lead_id}/cadence", "cadence_id"): lambda people, seat_id: (
        "POST", f"/api/v1/leads/{_colleagues_lead(people)}/cadence", {"cadence_id": seat_id}),
    ("GET", "/api/v1/reports/follow-up", "agent_id"): lambda people, seat_id: (
        "GET", f"/api/v1/reports/follow-up?agent_id={seat_id}", None),
}
# A Stripe object's id: test_another_brokerages_card_cannot_be_made_acmes
STRIPE_ID_FIELDS = {("POST", "/api/v1/billing/payment-method", "payment_method_id")}

# (form, field) -> the page's request: (url, form data)
PAGE_ID_CASES = {
    ("WaitlistForm", "agent_id"): lambda people, seat_id: (
        "/territories/waitlist/", {"zip_code": "30303", "agent_id": seat_id}),
    ("ImportUploadForm", "agent_id"): lambda people, seat_id: (
        "/leads/import/", {"agent_id": seat_id}),
    ("DeactivateForm", "reassign_to"): lambda people, seat_id: (
        f"/seats/{people['subject'].pk}/deactivate/", {"reassign_to": seat_id}),
}

# Staff pages on the platform host, where staff may name any brokerage's seat: the orphan
# queue (tests/distribution/test_staff_pages.py refuses seats that are not active).
STAFF_PAGE_ID_FIELDS = {("OrphanAssignForm", "agent_id")}

# Who sends whose id: acme's admin a globex seat, an acme agent a colleague's or globex's.
SENDERS = {"admin sends globex's": ("admin", "globex_seat"),
           "agent sends a colleague's": ("agent", "colleague"),
           "agent sends globex's": ("agent", "globex_seat")}


@pytest.fixture
def people(acme, globex) -> dict:
    ensure_catalogue()  # 30303 is full (one slot), so joining its waitlist is the next step
    active_reservation(SeatFactory(brokerage=acme.brokerage), "30303")
    return {"admin": acme.admin, "agent": SeatFactory(brokerage=acme.brokerage).user,
            "colleague": SeatFactory(brokerage=acme.brokerage),
            "subject": SeatFactory(brokerage=acme.brokerage),
            "globex_seat": SeatFactory(brokerage=globex.brokerage)}


def test_every_id_field_has_a_case(db):
    assert api_id_fields() == set(API_ID_CASES) | STRIPE_ID_FIELDS
    assert page_id_fields() == set(PAGE_ID_CASES) | STAFF_PAGE_ID_FIELDS


@pytest.mark.parametrize("sender", SENDERS)
@pytest.mark.parametrize("case", API_ID_CASES, ids=lambda case: f"{case[0]} {case[1]} {case[2]}")
def test_ids_of_others_in_api_bodies_and_queries_are_refused(people, unchanged, case, sender):
    caller, whose = SENDERS[sender]
    method, url, body = API_ID_CASES[case](people, people[whose].pk)
    client = session(people[caller])

    with unchanged():
        response = client.generic(method, url, json.dumps(body) if body else "",
                                  "application/json")

    assert response.status_code in (400, 403, 404), response.status_code
    error = response.json()["error"]
    assert error["code"] and error["message"]
    if response.status_code == 400:
        assert case[2] in error["fields"], error


@pytest.mark.parametrize("sender", SENDERS)
@pytest.mark.parametrize("case", PAGE_ID_CASES, ids=lambda case: f"{case[0]}.{case[1]}")
def test_ids_of_others_in_page_forms_are_refused(people, unchanged, case, sender):
    caller, whose = SENDERS[sender]
    url, data = PAGE_ID_CASES[case](people, people[whose].pk)
    client = session(people[caller])

    with unchanged():
        response = client.post(url, data)

    if response.status_code == 302:  # back where the form was, with the scoping rule's
        page = client.get(response["Location"]).content.decode()  # message (tenants.scoping)
        assert "yourself only" in page or "no active seat with this id" in page
    elif response.status_code == 400:
        assert case[1] in response.context["form"].errors
    else:
        assert response.status_code in (403, 404), response.status_code


@pytest.mark.parametrize("route", PROTECTED)
def test_ids_of_others_in_query_strings_show_nothing_of_theirs(acme, globex_side, acme_side,
                                                               unchanged, route):
    """Every route, with every id-like query parameter set to another's object: acme's
    admin sees nothing of globex's, an agent nothing of a colleague's, and an agent's
    requests change nothing."""
    def query(side):
        ids = {name: OBJECT_IDS[name](side) for name in OBJECT_IDS}
        ids |= {"agent_id": side["seat"].pk, "reassign_to": side["seat"].pk,
                "id": side["seat"].pk}
        return "&".join(f"{name}={value}" for name, value in ids.items())

    url = url_for(route, {})
    globex_ids, colleague_ids = query(globex_side), query(acme_side)
    agent = session(SeatFactory(brokerage=acme.brokerage).user)

    as_admin = session(acme.admin).get(f"{url}?{globex_ids}")
    with unchanged():
        as_agent = agent.get(f"{url}?{colleague_ids}")

    assert as_admin.status_code < 500 and as_agent.status_code < 500
    assert not shows_any(as_admin, GLOBEX_DATA)
    assert not shows_any(as_agent, ACME_DATA)


def test_another_brokerages_card_cannot_be_made_acmes(acme, globex, unchanged):
    """A Stripe id in the body: globex's card, sent by acme's admin. Stripe is asked what
    the card is (a read, the only way to know whose it is); nothing is written anywhere."""
    globex_customer = billing.ensure_customer(brokerage=globex.brokerage).stripe_customer_id
    methods = stripe_client.client().v1.payment_methods
    card = methods.create(params={"type": "card", "card": {
        "number": "4242424242424242", "exp_month": 12, "exp_year": 2034, "cvc": "123"}})
    methods.attach(card.id, params={"customer": globex_customer})
    billing.ensure_customer(brokerage=acme.brokerage)
    client = session(acme.admin)

    with unchanged(stripe_reads_allowed=True):
        response = client.post("/api/v1/billing/payment-method", {"payment_method_id": card.id},
                               content_type="application/json")
    page = client.post("/billing/card/", {"payment_method_id": card.id})

    assert response.status_code == 400
    assert "payment_method_id" in response.json()["error"]["fields"]
    assert page.status_code == 400
    assert "belongs to someone else" in page.content.decode()
    assert billing.account_for(brokerage=acme.brokerage).default_payment_method_id in ("", None)


# --- another brokerage's signed links, used on acme's host ----------------------------------
def test_another_brokerages_invitation_link_does_nothing_on_acmes_host(acme, globex, unchanged):
    seat = SeatFactory(brokerage=globex.brokerage, user=None, email="new.leakcheck@globex.test",
                       status=Seat.Status.INVITED, activated_at=None)
    url = f"/invite/{invitation_token(seat)}/"
    client = Client(HTTP_HOST=acme.host)

    with unchanged():
        shown = client.get(url)
        posted = client.post(url, {"name": "New Person", "password": "a-long-new-password"})

    assert (shown.status_code, posted.status_code) == (400, 400)
    assert not shows_data(shown) and not shows_data(posted)


def test_another_brokerages_sign_up_hand_over_does_not_sign_in_on_acmes_host(
        acme, globex, unchanged):
    client = Client(HTTP_HOST=acme.host)
    token = handover_token(user=globex.admin, brokerage=globex.brokerage)

    with unchanged():
        response = client.get(f"/login/continue/{token}/")

    assert response.status_code == 400
    assert client.get("/").status_code == 302  # still signed out: to the sign-in page
