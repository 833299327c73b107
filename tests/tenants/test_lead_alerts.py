"""The lead alerts page: a person sets the phone new leads are texted to; an admin sets
the brokerage's first-touch time. Bad input shows beside the field and changes nothing."""

from __future__ import annotations

import pytest

from clozings.tenants.models import Brokerage, Seat
from tests.conftest import host_client
from tests.tenants.factories import SeatFactory

pytestmark = pytest.mark.django_db


def _errors(response, field: str) -> list[str]:
    return response.context["phone_form" if field == "phone" else "sla_form"].errors.get(field, [])


def test_an_agent_sets_their_phone_as_e164_and_can_clear_it(acme):
    agent = SeatFactory(brokerage=acme.brokerage)
    client = host_client(acme.host, agent.user)

    page = client.get("/lead-alerts/")
    response = client.post("/lead-alerts/", {"phone": "(212) 555-0199"})

    assert page.status_code == 200 and b"First-touch time" not in page.content
    assert response.status_code == 302
    assert Seat.objects.get(pk=agent.pk).phone == "+12125550199"
    client.post("/lead-alerts/", {"phone": ""})
    assert Seat.objects.get(pk=agent.pk).phone == ""


def test_a_phone_that_is_not_one_is_refused_beside_the_field(acme):
    agent = SeatFactory(brokerage=acme.brokerage, phone="+12125550199")

    response = host_client(acme.host, agent.user).post("/lead-alerts/", {"phone": "12345"})

    assert response.status_code == 400
    assert _errors(response, "phone") == ["'12345' is not a phone number we can text."]
    assert Seat.objects.get(pk=agent.pk).phone == "+12125550199"


def test_an_admin_sets_the_first_touch_time(acme):
    client = host_client(acme.host, acme.admin)

    assert b"First-touch time" in client.get("/lead-alerts/").content
    response = client.post("/lead-alerts/first-touch/", {"first_touch_sla_minutes": "12"})

    assert response.status_code == 302
    assert Brokerage.objects.get(pk=acme.brokerage.pk).first_touch_sla_minutes == 12


@pytest.mark.parametrize("minutes", ["0", "241", "five", ""])
def test_a_first_touch_time_out_of_range_is_refused(acme, minutes):
    response = host_client(acme.host, acme.admin).post(
        "/lead-alerts/first-touch/", {"first_touch_sla_minutes": minutes})

    assert response.status_code == 400
    assert _errors(response, "first_touch_sla_minutes")
    assert Brokerage.objects.get(pk=acme.brokerage.pk).first_touch_sla_minutes == 5


def test_an_agent_cannot_change_the_first_touch_time(acme):
    agent = SeatFactory(brokerage=acme.brokerage)

    response = host_client(acme.host, agent.user).post(
        "/lead-alerts/first-touch/", {"first_touch_sla_minutes": "60"})

    assert response.status_code == 403
    assert Brokerage.objects.get(pk=acme.brokerage.pk).first_touch_sla_minutes == 5
