"""One rule for "who is acting, for which seat" and "this object is the caller's brokerage's"
(clozings.tenants.scoping), the same answer on every endpoint and page that takes a seat."""

from __future__ import annotations

import pytest

from clozings.tenants.models import Seat
from clozings.territories.models import Reservation, WaitlistEntry
from tests.conftest import host_client
from tests.territories.factories import active_reservation, agent

pytestmark = pytest.mark.django_db

ACTING_ENDPOINTS = ["/api/v1/reservations", "/api/v1/waitlist"]


def _error(response) -> tuple[int, str]:
    return response.status_code, response.json()["error"]["code"]


@pytest.fixture
def full_zip(globex):
    return active_reservation(agent(globex.brokerage), "30305")


@pytest.mark.parametrize("url", ACTING_ENDPOINTS)
@pytest.mark.parametrize("whose", ["colleague", "globex", "nobody", "deactivated"])
def test_an_agent_naming_anyone_but_themselves_is_refused_alike(full_zip, acme, globex,
                                                                url, whose):
    """An agent acts only for themselves: any other seat id, wherever it is (or is not),
    is the same 403, so an agent cannot tell a colleague's id from nobody's."""
    me = agent(acme.brokerage)
    other = {"colleague": lambda: agent(acme.brokerage).pk,
             "globex": lambda: agent(globex.brokerage).pk,
             "nobody": lambda: 2**40,
             "deactivated": lambda: agent(acme.brokerage,
                                          status=Seat.Status.DEACTIVATED).pk}[whose]()

    response = host_client(acme.host, me.user).post(
        url, {"zip_code": "30305", "agent_id": other}, content_type="application/json")

    assert _error(response) == (403, "permission_denied")
    assert "for yourself only" in response.json()["error"]["message"]
    assert not WaitlistEntry.objects.filter(seat__brokerage=acme.brokerage).exists()
    assert not Reservation.objects.filter(brokerage=acme.brokerage).exists()


@pytest.mark.parametrize("whose", ["globex", "nobody", "deactivated"])
def test_an_admin_naming_a_seat_not_active_here_gets_one_field_error(full_zip, acme, globex,
                                                                   whose):
    """An admin acts for any active seat of the brokerage; another id is the same field
    error, word for word, on every endpoint that takes one."""
    other = {"globex": lambda: agent(globex.brokerage).pk,
             "nobody": lambda: 2**40,
             "deactivated": lambda: agent(acme.brokerage,
                                          status=Seat.Status.DEACTIVATED).pk}[whose]()
    client = host_client(acme.host, acme.admin)

    answers = [client.post(url, {"zip_code": "30305", "agent_id": other},
                           content_type="application/json") for url in ACTING_ENDPOINTS]

    bodies = [(r.status_code, r.json()["error"]) for r in answers]
    assert bodies[0] == bodies[1]
    assert bodies[0][0] == 400
    assert bodies[0][1]["code"] == "validation_error"
    assert bodies[0][1]["fields"] == {
        "agent_id": ["There is no active seat with this id in this brokerage."]}


def test_the_waitlist_page_answers_an_agent_with_the_same_rule(full_zip, acme):
    me, colleague = agent(acme.brokerage), agent(acme.brokerage)

    response = host_client(acme.host, me.user).post(
        "/territories/waitlist/", {"zip_code": "30305", "agent_id": colleague.pk}, follow=True)

    assert "You can act for yourself only" in response.content.decode()
    assert not WaitlistEntry.objects.filter(seat__brokerage=acme.brokerage).exists()


def test_the_waitlist_page_answers_an_admin_with_the_same_field_error(full_zip, acme, globex):
    theirs = agent(globex.brokerage)

    response = host_client(acme.host, acme.admin).post(
        "/territories/waitlist/", {"zip_code": "30305", "agent_id": theirs.pk}, follow=True)

    assert "There is no active seat with this id in this brokerage." in \
        response.content.decode()
    assert not WaitlistEntry.objects.filter(seat__brokerage=acme.brokerage).exists()


@pytest.mark.parametrize(("method", "url"), [
    ("patch", "/api/v1/seats/{globex_seat}"),
    ("delete", "/api/v1/seats/{globex_seat}"),
    ("delete", "/api/v1/reservations/{globex_reservation}"),
])
def test_another_brokerages_object_is_not_found_the_same_way(acme, globex, method, url):
    globex_seat = agent(globex.brokerage)
    globex_reservation = active_reservation(globex_seat, "30306")
    client = host_client(acme.host, acme.admin)

    response = getattr(client, method)(
        url.format(globex_seat=globex_seat.pk, globex_reservation=globex_reservation.pk),
        {"role": "admin"}, content_type="application/json")

    assert response.json() == {"error": {"code": "not_found", "message": "Not found."}}
    assert response.status_code == 404


def test_an_agents_scope_is_their_own_seat_and_a_colleagues_object_is_not_found(acme):
    me, colleague = agent(acme.brokerage), agent(acme.brokerage)
    theirs = active_reservation(colleague, "30307")

    response = host_client(acme.host, me.user).delete(f"/api/v1/reservations/{theirs.pk}")

    assert response.json() == {"error": {"code": "not_found", "message": "Not found."}}
    assert Reservation.objects.get(pk=theirs.pk).release_at is None


@pytest.mark.parametrize(("host", "path", "who", "message"), [
    ("acme", "/seats/", "agent", "Only an admin of this brokerage can manage seats."),
    ("acme", "/billing/", "agent", "Only an admin of this brokerage can see its billing."),
    ("platform", "/staff/", "admin", "Only platform staff can see this."),
    ("platform", "/staff/territories/", "admin", "Only platform staff can see this."),
])
def test_a_page_refused_by_its_decorator_says_why(acme, host, path, who, message):
    user = acme.admin if who == "admin" else agent(acme.brokerage).user

    response = host_client(acme.host if host == "acme" else "localhost", user).get(path)

    assert response.status_code == 403
    assert message in response.content.decode()
