"""Lead sources on the platform host: made, rotated and revoked by staff; keys shown once
and stored hashed."""

from __future__ import annotations

import hashlib

import pytest

from clozings.distribution.models import LeadSource
from clozings.platform.auth import issue_token
from tests.conftest import host_client
from tests.distribution.factories import lead_data, lead_source, source_client
from tests.tenants.factories import UserFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def staff():
    return host_client("localhost", UserFactory(is_staff=True))


def test_staff_make_a_source_and_see_its_key_once(staff):
    response = staff.post("/api/v1/lead-sources", {
        "name": "Zillow-ish portal", "cost_per_lead_cents": 3500, "adapter": "native"},
        content_type="application/json")

    assert response.status_code == 201
    body = response.json()
    assert body["name"] == "Zillow-ish portal" and body["adapter"] == "native"
    assert body["webhook_url"].endswith("/api/v1/leads")
    key = body["key"]
    source = LeadSource.objects.get(pk=body["id"])
    assert source.key_hash == hashlib.sha256(key.encode()).hexdigest()
    assert key not in repr(LeadSource.objects.filter(pk=source.pk).values().get())
    assert source_client(key).post("/api/v1/leads", lead_data(),
                                   content_type="application/json").status_code == 202


def test_a_bad_source_is_refused_with_its_fields(staff):
    response = staff.post("/api/v1/lead-sources", {
        "name": "", "cost_per_lead_cents": -1, "adapter": "fax"},
        content_type="application/json")

    assert response.status_code == 400
    assert set(response.json()["error"]["fields"]) == {"name", "cost_per_lead_cents",
                                                       "adapter"}
    assert not LeadSource.objects.exists()


@pytest.mark.parametrize("value", [{"google_key": "nul \x00"}, {"key": "\ud800"}])
def test_settings_the_database_cannot_keep_are_refused(staff, value):
    response = staff.post("/api/v1/lead-sources", {
        "name": "X", "cost_per_lead_cents": 1, "settings": value},
        content_type="application/json")

    assert response.status_code == 400
    assert list(response.json()["error"]["fields"]) == ["settings"]
    assert not LeadSource.objects.exists()


def test_people_who_are_not_staff_cannot_make_sources(acme):
    client = host_client("localhost")
    token = issue_token(acme.admin)

    response = client.post("/api/v1/lead-sources", {"name": "X", "cost_per_lead_cents": 1},
                           content_type="application/json", HTTP_AUTHORIZATION=f"Bearer {token}")

    assert response.status_code == 403
    assert response.json()["error"]["code"] == "permission_denied"
    assert not LeadSource.objects.exists()


def test_rotating_a_key_stops_the_old_one_at_once(staff):
    old = lead_source()

    response = staff.post(f"/api/v1/lead-sources/{old.source.pk}/rotate-key")

    assert response.status_code == 200
    new_key = response.json()["key"]
    assert new_key != old.key
    refused = source_client(old.key).post("/api/v1/leads", lead_data(),
                                          content_type="application/json")
    assert refused.status_code == 401
    assert refused.json()["error"]["code"] == "not_authenticated"
    assert source_client(new_key).post("/api/v1/leads", lead_data(),
                                       content_type="application/json").status_code == 202


def test_a_revoked_source_cannot_post_nor_get_a_new_key(staff):
    issued = lead_source()

    assert staff.delete(f"/api/v1/lead-sources/{issued.source.pk}").status_code == 204
    assert staff.delete(f"/api/v1/lead-sources/{issued.source.pk}").status_code == 204

    assert source_client(issued.key).post("/api/v1/leads", lead_data(),
                                          content_type="application/json").status_code == 401
    rotate = staff.post(f"/api/v1/lead-sources/{issued.source.pk}/rotate-key")
    assert rotate.status_code == 409
    assert rotate.json()["error"]["code"] == "lead_source_revoked"


def test_an_unknown_source_is_not_found(staff):
    assert staff.post("/api/v1/lead-sources/987654/rotate-key").status_code == 404
    assert staff.delete(f"/api/v1/lead-sources/{2**63}").status_code == 404
