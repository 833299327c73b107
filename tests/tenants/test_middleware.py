"""Which schema a host reaches, and what an unknown host gets."""

from django.test import Client


def test_a_host_outside_allowed_hosts_gets_a_json_400_on_the_api(db):
    response = Client(HTTP_HOST="attacker.example").get("/api/v1/seats")

    assert response.status_code == 400
    assert response.json()["error"]["code"] == "bad_request"


def test_a_host_outside_allowed_hosts_gets_a_plain_400_on_pages(db):
    response = Client(HTTP_HOST="attacker.example").get("/login/")

    assert response.status_code == 400


def test_an_unknown_brokerage_host_is_a_404_never_the_platform(db):
    response = Client(HTTP_HOST="nobody.localhost").get("/api/v1/brokerages")

    assert response.status_code == 404
    assert response.json()["error"]["code"] == "not_found"
