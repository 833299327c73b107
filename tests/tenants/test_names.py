"""Names refuse control characters (issue 6, item 9): a line break in a brokerage name made
every invitation mail fail. Each name field is tried through its page, its API and its
service; each refusal is a clear field error and changes nothing."""

from __future__ import annotations

import json

import pytest
from django.core.exceptions import ValidationError
from django.test import Client

from clozings.platform.auth import issue_token
from clozings.tenants import services
from clozings.tenants.models import Brokerage, Seat, User
from clozings.tenants.validators import CONTROL_CHARACTER_MESSAGE, has_control_characters
from tests.conftest import host_client
from tests.tenants.factories import UserFactory

STRONG = "a-long-enough-pass-phrase"

# Line feed, carriage return, tab, DEL, C1 next-line, C1 CSI, line and paragraph
# separators, right-to-left override, left-to-right isolate, byte-order mark.
BAD = ["\n", "\r", "\t", "\x7f", "\x85", "\x9b", "\u2028", "\u2029", "\u202e", "\u2066",
       "\ufeff"]


def _named(char: str) -> str:
    return f"Harbor{char}Homes"


def test_the_rule_allows_ordinary_names_in_any_script():
    for name in ["Harbor Homes", "O'Brien & Daughters", "Zoë Ñúñez", "李小龍", "محمد‌رضا",
                 "👩‍👩‍👧 Family Realty", "Ångström-Brokers, Inc."]:
        assert not has_control_characters(name), name
    for char in BAD:
        assert has_control_characters(_named(char)), repr(char)


# --- pages ------------------------------------------------------------------------------
def _signup(**overrides) -> dict:
    data = {"brokerage_name": "Harbor Homes", "slug": "harbor", "name": "Hana Harbor",
            "email": "hana@harbor.test", "password": STRONG, "time_zone": "America/Chicago"}
    data.update(overrides)
    return data


@pytest.mark.parametrize("char", BAD)
@pytest.mark.parametrize("field", ["brokerage_name", "name"])
def test_sign_up_page_refuses_control_characters_in_names(db, platform_client, mailbox,
                                                          field, char):
    response = platform_client.post("/", _signup(**{field: _named(char)}))

    assert response.status_code == 400
    assert response.context["form"].errors[field] == [CONTROL_CHARACTER_MESSAGE]
    assert f'id="id_{field}_error"' in response.content.decode()
    assert not Brokerage.objects.filter(slug="harbor").exists()
    assert mailbox == []


@pytest.mark.parametrize("char", ["\n", "\u2028", "\x85"])
def test_seat_invite_page_refuses_control_characters_in_the_name(acme, mailbox, char):
    client = host_client(acme.host, acme.admin)

    response = client.post("/seats/", {"email": "nia@example.test", "name": _named(char),
                                       "role": "agent"})

    assert response.status_code == 400
    assert response.context["form"].errors["name"] == [CONTROL_CHARACTER_MESSAGE]
    assert not Seat.objects.filter(email="nia@example.test").exists()
    assert mailbox == []


@pytest.mark.parametrize("char", ["\r\n", "\u2029", "\u202e"])
def test_invitation_page_refuses_control_characters_in_the_new_persons_name(acme, char):
    seat = services.invite_seat(brokerage=acme.brokerage, email="nia@example.test",
                                invited_by=acme.admin, notify=False)
    client = host_client(acme.host)

    response = client.post(f"/invite/{services.invitation_token(seat)}/",
                           {"name": f"Nia{char}Agent", "password": STRONG})

    assert response.status_code == 400
    assert response.context["form"].errors["name"] == [CONTROL_CHARACTER_MESSAGE]
    assert Seat.objects.get(pk=seat.pk).status == "invited"
    assert not User.objects.filter(email="nia@example.test").exists()


# --- API ----------------------------------------------------------------------------------
def _post(host: str, user: User, url: str, body: dict):
    client = Client(HTTP_HOST=host, HTTP_AUTHORIZATION=f"Bearer {issue_token(user)}")
    return client.post(url, data=json.dumps(body), content_type="application/json")


@pytest.mark.parametrize("char", ["\n", "\x85", "\u2028", "\u202e"])
@pytest.mark.parametrize("field", ["name", "admin_name"])
def test_brokerage_api_refuses_control_characters_in_names(db, field, char):
    body = {"name": "Harbor Homes", "slug": "harbor", "admin_email": "hana@harbor.test",
            "admin_name": "Hana Harbor", "admin_password": STRONG, field: _named(char)}

    response = _post("localhost", UserFactory(is_staff=True), "/api/v1/brokerages", body)

    assert response.status_code == 400
    error = response.json()["error"]
    assert error["code"] == "validation_error"
    assert error["fields"] == {field: [CONTROL_CHARACTER_MESSAGE]}
    assert not Brokerage.objects.filter(slug="harbor").exists()


@pytest.mark.parametrize("char", ["\n", "\x9b", "\u2029"])
def test_seat_api_refuses_control_characters_in_the_name(acme, mailbox, char):
    response = _post(acme.host, acme.admin, "/api/v1/seats",
                     {"email": "nia@example.test", "name": _named(char)})

    assert response.status_code == 400
    error = response.json()["error"]
    assert (error["code"], error["fields"]) == ("validation_error",
                                                {"name": [CONTROL_CHARACTER_MESSAGE]})
    assert not Seat.objects.filter(email="nia@example.test").exists()
    assert mailbox == []


# --- services (whatever calls them) ---------------------------------------------------
def test_services_refuse_control_characters_in_every_name(acme):
    with pytest.raises(ValidationError) as brokerage_name:
        services.provision_brokerage(name="Harbor\nHomes", slug="harbor",
                                     admin_email="hana@harbor.test", admin_name="Hana",
                                     admin_password=STRONG)
    with pytest.raises(ValidationError) as admin_name:
        services.provision_brokerage(name="Harbor Homes", slug="harbor",
                                     admin_email="hana@harbor.test", admin_name="Hana\rH",
                                     admin_password=STRONG)
    with pytest.raises(ValidationError) as seat_name:
        services.invite_seat(brokerage=acme.brokerage, email="nia@example.test",
                             name="Nia\u2028Agent", notify=False)
    seat = services.invite_seat(brokerage=acme.brokerage, email="nia@example.test",
                                notify=False)
    with pytest.raises(ValidationError) as person_name:
        services.accept_invitation(token=services.invitation_token(seat), name="Nia\x85Agent",
                                   password=STRONG)
    with pytest.raises(ValidationError) as signup_names:
        services.start_signup(brokerage_name="Harbor\nHomes", slug="harbor",
                              admin_name="Hana\nHarbor", email="hana@harbor.test",
                              password=STRONG, time_zone="America/Chicago", ip="192.0.2.1")

    assert brokerage_name.value.message_dict == {"name": [CONTROL_CHARACTER_MESSAGE]}
    assert admin_name.value.message_dict == {"admin_name": [CONTROL_CHARACTER_MESSAGE]}
    assert seat_name.value.message_dict == {"name": [CONTROL_CHARACTER_MESSAGE]}
    assert person_name.value.message_dict == {"name": [CONTROL_CHARACTER_MESSAGE]}
    assert signup_names.value.message_dict == {"name": [CONTROL_CHARACTER_MESSAGE],
                                               "admin_name": [CONTROL_CHARACTER_MESSAGE]}
    assert not Brokerage.objects.filter(slug="harbor").exists()
    assert Seat.objects.get(pk=seat.pk).status == "invited"
