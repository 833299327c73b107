"""Lead intake on the platform host: one lead, a batch, a lead's status; keys checked."""

from __future__ import annotations

import base64
import json

import pytest
import redis

from clozings.distribution.api import LeadInput, _plain_lead
from clozings.distribution.models import InboundLead
from clozings.platform.auth import issue_token
from tests.conftest import host_client
from tests.distribution.factories import lead_data, lead_source, source_client
from tests.tenants.factories import UserFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def source():
    return lead_source()


def post(key: str, body, path: str = "/api/v1/leads"):
    return source_client(key).post(path, body, content_type="application/json")


def test_a_lead_is_taken_normalised_and_kept_as_sent(source):
    consent = {"text": "I agree to be called.", "given_at": "2026-12-01T10:00:00Z",
               "ip": "203.0.113.9", "channels": ["call", "text"],
               "page_url": "https://homes.example/listing/1"}
    body = lead_data(first_name="Zoë", email=" Dana@Example.TEST ", phone="(212) 555-0142",
                     price_min_cents=40_000_000, price_max_cents=55_000_000, consent=consent,
                     extra_field="kept in the payload")

    response = post(source.key, body)

    assert response.status_code == 202
    assert response.json()["status"] == "received"
    lead = InboundLead.objects.get(pk=response.json()["id"])
    assert (lead.first_name, lead.email, lead.phone, lead.zip_code) == (
        "Zoë", "dana@example.test", "+12125550142", "10001")
    assert lead.consent == consent
    assert lead.payload == body
    assert lead.source == source.source


def test_the_same_external_id_again_is_the_same_lead(source):
    first = post(source.key, lead_data(7))

    again = post(source.key, lead_data(7, first_name="Changed"))

    assert again.status_code == 200
    assert again.json()["id"] == first.json()["id"]
    assert InboundLead.objects.count() == 1
    other_source = lead_source("Other")
    assert post(other_source.key, lead_data(7)).status_code == 202


def test_a_lead_with_nothing_to_contact_by_is_rejected_with_a_reason(source):
    response = post(source.key, lead_data(email="", phone="not a phone"))

    assert response.status_code == 202
    body = response.json()
    assert body["status"] == "rejected"
    assert body["reasons"] == ["No way to contact the lead: the phone 'not a phone' is not a "
                               "valid number."]
    assert InboundLead.objects.get(pk=body["id"]).status == "rejected"


def test_a_lead_for_a_zip_outside_the_catalogue_is_rejected(source):
    response = post(source.key, lead_data(zip_code="00000"))

    assert response.json()["status"] == "rejected"
    assert response.json()["reasons"] == ["ZIP 00000 is not in the territory catalogue."]


def test_a_bad_phone_is_dropped_when_the_email_works(source):
    response = post(source.key, lead_data(phone="12"))

    lead = InboundLead.objects.get(pk=response.json()["id"])
    assert (lead.status, lead.phone, lead.email) == ("received", "", "dana1@example.test")


@pytest.mark.parametrize("body,field", [
    (lead_data(price_min_cents="lots"), "price_min_cents"),
    (lead_data(price_min_cents=5, price_max_cents=4), "price_max_cents"),
    (lead_data(intent="rent"), "intent"),
    (lead_data(first_name="x" * 101), "first_name"),
    (lead_data(consent={"channels": ["fax"]}), "consent"),
    (lead_data(message="nul \x00 here"), "message"),
    (lead_data(extra={"nested": "nul \x00"}), "non_field_errors"),
    (lead_data(first_name="lone \ud800 surrogate"), "first_name"),
    (lead_data(extra=["lone \ud800 surrogate"]), "non_field_errors"),
    ([lead_data()], "non_field_errors"),
])
def test_a_malformed_lead_gets_400_with_its_fields_and_nothing_is_kept(source, body, field):
    response = post(source.key, body)

    assert response.status_code == 400
    assert response.json()["error"]["code"] == "validation_error"
    assert field in response.json()["error"]["fields"]
    assert not InboundLead.objects.exists()


@pytest.mark.parametrize("authorization", [
    None, "Bearer lsk_000000000000_wrong", "Bearer nonsense", "Basic dXNlcjpwYXNz",
    "Bearer", "Bearer a b",
])
def test_a_wrong_or_missing_key_gets_401_in_the_error_format(source, authorization):
    headers = {"HTTP_AUTHORIZATION": authorization} if authorization else {}

    response = host_client("localhost").post("/api/v1/leads", lead_data(),
                                             content_type="application/json", **headers)

    assert response.status_code == 401
    assert response.json()["error"]["code"] == "not_authenticated"
    assert not InboundLead.objects.exists()


def test_a_persons_token_cannot_post_leads(source):
    token = issue_token(UserFactory(is_staff=True))

    response = post(token, lead_data())

    assert response.status_code == 403
    assert not InboundLead.objects.exists()


def test_a_batch_takes_the_good_leads_and_says_why_not_for_the_others(source):
    leads = [lead_data(1), lead_data(2, price_min_cents="lots"), "not an object",
             lead_data(3, zip_code="00000"), lead_data(1)]

    response = post(source.key, {"leads": leads}, path="/api/v1/leads/batch")

    assert response.status_code == 207
    results = response.json()["results"]
    assert [r["index"] for r in results] == [0, 1, 2, 3, 4]
    assert results[0]["status"] == "received" and results[0]["created"] is True
    assert results[1]["error"]["fields"] == {"price_min_cents": ["A valid integer is required."]}
    assert results[2]["error"]["fields"] == {
        "non_field_errors": ["Send the lead as a JSON object."]}
    assert results[3]["status"] == "rejected"
    assert results[4]["id"] == results[0]["id"] and results[4]["created"] is False
    assert InboundLead.objects.count() == 2


def test_a_field_of_the_wrong_kind_is_a_400_naming_it(source):
    response = post(source.key, lead_data(intent=["buy"], email={"address": "x"}))

    assert response.status_code == 400
    assert set(response.json()["error"]["fields"]) == {"intent", "email"}
    assert not InboundLead.objects.exists()


def test_each_lead_of_a_batch_gets_its_own_id_known_or_new_in_order(source):
    earlier = post(source.key, lead_data(5)).json()["id"]
    leads = [lead_data(1, external_id=""), lead_data(5), lead_data(6),
             lead_data(2, external_id=""), lead_data(6, first_name="Again"), lead_data(7)]

    results = post(source.key, {"leads": leads}, path="/api/v1/leads/batch").json()["results"]

    assert [r["created"] for r in results] == [True, False, True, True, False, True]
    assert results[1]["id"] == earlier and results[4]["id"] == results[2]["id"]
    new = [results[n]["id"] for n in (0, 2, 3, 5)]
    assert new == sorted(new) and earlier not in new
    stored = {lead.pk: lead for lead in InboundLead.objects.filter(pk__in=new)}
    assert [stored[pk].email for pk in new] == [
        "dana1@example.test", "dana6@example.test", "dana2@example.test",
        "dana7@example.test"]
    assert stored[results[2]["id"]].first_name == "Dana"


def test_a_batch_over_500_leads_is_refused_whole(source):
    response = post(source.key, {"leads": [lead_data(n) for n in range(501)]},
                    path="/api/v1/leads/batch")

    assert response.status_code == 400
    assert "leads" in response.json()["error"]["fields"]
    assert not InboundLead.objects.exists()


def test_a_lead_is_shown_to_its_source_and_staff_only(source):
    lead_id = post(source.key, lead_data()).json()["id"]
    other = lead_source("Other")
    staff = host_client("localhost", UserFactory(is_staff=True))

    mine = source_client(source.key).get(f"/api/v1/leads/{lead_id}")
    theirs = source_client(other.key).get(f"/api/v1/leads/{lead_id}")

    assert mine.status_code == 200
    assert mine.json()["status"] == "received" and mine.json()["zip_code"] == "10001"
    assert theirs.status_code == 404
    assert staff.get(f"/api/v1/leads/{lead_id}").json()["id"] == lead_id


def test_a_batch_is_one_insert_and_a_routing_message_per_few_leads_sent_on_commit(
        source, settings, django_capture_on_commit_callbacks):
    settings.LEAD_ROUTING_BATCH = 10  # a message per 5 received leads covers them twice
    broker = redis.Redis.from_url(settings.CELERY_BROKER_URL)
    broker.delete("routing")
    leads = [lead_data(n) for n in range(25)] + [lead_data(99, zip_code="00000")]

    with django_capture_on_commit_callbacks() as on_commit:
        response = post(source.key, {"leads": leads}, path="/api/v1/leads/batch")
        assert broker.llen("routing") == 0  # nothing is sent before the commit
    for callback in on_commit:
        callback()

    assert response.status_code == 207
    results = response.json()["results"]
    assert [r["status"] for r in results] == ["received"] * 25 + ["rejected"]
    assert len({r["id"] for r in results}) == 26
    queued = [json.loads(raw) for raw in broker.lrange("routing", 0, -1)]
    routed = sorted(json.loads(base64.b64decode(m["body"]))[1]["inbound_lead_id"]
                    for m in queued if m["headers"]["task"] == "distribution.route_lead")
    # routing for leads 0, 5, 10, 15 and 20; the rejected one never
    assert routed == [results[n]["id"] for n in (0, 5, 10, 15, 20)]
    assert InboundLead.objects.filter(status="received").count() == 25


@pytest.mark.parametrize("lead", [
    lead_data(),
    lead_data(external_id="", first_name="  Dana  ", intent="", price_min_cents=None,
              price_max_cents=0, consent=None, timeframe="3-6 months", other="kept"),
    lead_data(price_min_cents=10, price_max_cents=10**12, message="x" * 5000),
    {"email": "dana@example.test"},
    {},
])
def test_a_plain_lead_is_checked_as_lead_input_checks_it(lead):
    assert _plain_lead(lead) == dict(LeadInput().run_validation(lead))


@pytest.mark.parametrize("lead", [
    lead_data(first_name="Zoë"), lead_data(first_name="a\x00b"), lead_data(zip_code=10001),
    lead_data(first_name=None), lead_data(message="x" * 5001), lead_data(intent="rent"),
    lead_data(intent=1), lead_data(intent=["buy"]), lead_data(email={"a": 1}),
    lead_data(price_min_cents=True), lead_data(price_min_cents="10"),
    lead_data(price_min_cents=-1), lead_data(price_max_cents=10**12 + 1),
    lead_data(price_min_cents=2, price_max_cents=1), lead_data(consent={"text": "yes"}),
])
def test_any_other_lead_is_left_to_lead_input(lead):
    assert _plain_lead(lead) is None
