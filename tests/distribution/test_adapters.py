"""The three source adapters, each into the same intake: Follow Up Boss-compatible events
(`POST /v1/events`), Meta Lead Ads (handshake, signed notifications, the lead read from a
loopback stand-in for the Graph API) and Google Ads lead forms."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import threading
import time
from collections.abc import Iterator
from datetime import timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlsplit

import pytest
from django.utils import timezone

from clozings.distribution import adapters, selectors, services, tasks
from clozings.distribution.models import InboundLead, MetaLeadNotification
from clozings.platform.embedded import free_port
from tests.conftest import host_client
from tests.distribution.factories import lead_source

pytestmark = pytest.mark.django_db
HUGE = "x" * (3 * 1024 * 1024)


def client():
    return host_client("localhost")


def post_json(path: str, body, **headers):
    raw = body if isinstance(body, bytes | str) else json.dumps(body)
    return client().post(path, raw, content_type="application/json", **headers)


def nothing_kept() -> bool:
    return not InboundLead.objects.exists() and not MetaLeadNotification.objects.exists()


# --- Follow Up Boss events -------------------------------------------------------------------
def basic(key: str, password: str = "") -> str:
    return "Basic " + base64.b64encode(f"{key}:{password}".encode()).decode()


@pytest.fixture
def fub():
    return lead_source("IDX site", adapter="follow_up_boss")


def event(**fields) -> dict:
    return {"source": "homes-idx.example", "system": "IDX", "type": "Property Inquiry",
            "message": "Is the open house still on?",
            "person": {"firstName": "Zoë", "lastName": "Ng",
                       "emails": [{"value": "Zoe@Example.test"}],
                       "phones": [{"value": "(212) 555-0142", "type": "mobile"}],
                       "tags": ["Buyer"]},
            "property": {"street": "1 Main St", "code": "10001", "price": 450000}, **fields}


def send_event(key: str, body, password: str = ""):
    return post_json("/v1/events", body, HTTP_AUTHORIZATION=basic(key, password))


def test_a_follow_up_boss_event_is_a_new_lead_201_mapped_and_kept_as_sent(fub):
    body = event()

    response = send_event(fub.key, body)

    assert response.status_code == 201
    assert response.json()["status"] == "received"
    lead = InboundLead.objects.get(pk=response.json()["id"])
    assert (lead.first_name, lead.last_name, lead.email, lead.phone, lead.zip_code) == (
        "Zoë", "Ng", "zoe@example.test", "+12125550142", "10001")
    assert (lead.price_min_cents, lead.price_max_cents, lead.intent) == (
        45_000_000, 45_000_000, "buy")
    assert (lead.message, lead.campaign) == ("Is the open house still on?", "homes-idx.example")
    assert lead.payload == body
    assert lead.source == fub.source


def test_property_zip_is_taken_like_property_code_and_a_whole_name_is_split(fub):
    body = event(property={"zip": "10001-2345"}, type="Seller Inquiry",
                 person={"name": "Ana María Ruiz", "phones": [{"value": "212-555-0100"}]})

    lead = InboundLead.objects.get(pk=send_event(fub.key, body).json()["id"])

    assert (lead.zip_code, lead.first_name, lead.last_name) == ("10001", "Ana", "María Ruiz")
    assert (lead.intent, lead.email, lead.phone) == ("sell", "", "+12125550100")


def test_the_same_event_id_again_is_200_with_the_first_lead(fub):
    first = send_event(fub.key, event(id="evt-1"))

    again = send_event(fub.key, event(id="evt-1", message="changed"))
    other_event = send_event(fub.key, event(id="evt-2"))

    assert (first.status_code, again.status_code, other_event.status_code) == (201, 200, 201)
    assert again.json()["id"] == first.json()["id"] != other_event.json()["id"]
    assert InboundLead.objects.count() == 2


def test_without_an_event_id_the_same_person_is_known(fub):
    first = send_event(fub.key, event())

    again = send_event(fub.key, event(type="Registration"))

    assert (first.status_code, again.status_code) == (201, 200)
    assert again.json()["id"] == first.json()["id"]
    assert InboundLead.objects.get().external_id == "person:zoe@example.test"


@pytest.mark.parametrize("authorization", [
    None, "Basic", "Basic !!!not-base64", basic("lsk_000000000000_wrong"), basic(""),
    "Bearer lsk_000000000000_wrong",
])
def test_a_wrong_or_missing_key_gets_401_with_www_authenticate_basic(fub, authorization):
    headers = {"HTTP_AUTHORIZATION": authorization} if authorization else {}

    response = post_json("/v1/events", event(), **headers)

    assert response.status_code == 401
    assert response["WWW-Authenticate"].startswith("Basic")
    assert response.json()["error"]["code"] == "not_authenticated"
    assert nothing_kept()


def test_a_rotated_or_revoked_key_and_another_adapters_key_are_refused(fub):
    native = lead_source("Native")
    rotated = services.rotate_lead_source_key(source=fub.source)

    old_key = send_event(fub.key, event())
    native_key = send_event(native.key, event())
    services.revoke_lead_source(source=fub.source)
    revoked = send_event(rotated.key, event())

    assert (old_key.status_code, native_key.status_code, revoked.status_code) == (401, 403, 401)
    assert native_key.json()["error"]["code"] == "permission_denied"
    assert nothing_kept()


@pytest.mark.parametrize("body,field", [
    ({"type": "Inquiry"}, "person"),
    (event(person={"emails": "zoe@example.test"}), "person"),
    (event(property={"code": "1" * 11}), "property"),
    (event(property={"price": "lots"}), "property"),
    (event(message="nul \x00 here"), "non_field_errors"),
    (event(person={"firstName": "lone \ud800"}), "non_field_errors"),
    ([event()], "non_field_errors"),
])
def test_a_malformed_event_gets_400_with_its_fields_and_nothing_is_kept(fub, body, field):
    response = send_event(fub.key, body)

    assert response.status_code == 400
    assert response.json()["error"]["code"] == "validation_error"
    assert field in response.json()["error"]["fields"]
    assert nothing_kept()


def test_an_event_that_is_not_json_or_too_big_is_refused_in_the_error_format(fub):
    broken = send_event(fub.key, b'{"person": ')
    huge = send_event(fub.key, event(message=HUGE))

    assert (broken.status_code, broken.json()["error"]["code"]) == (400, "parse_error")
    assert (huge.status_code, huge.json()["error"]["code"]) == (413, "payload_too_large")
    assert nothing_kept()


# --- Meta Lead Ads ---------------------------------------------------------------------------
APP_SECRET = "meta-app-secret-for-tests"
VERIFY_TOKEN = "meta-verify-token-for-tests"
PAGE_TOKEN = "EAAB-page-token-for-tests"


class GraphStandIn:
    """A loopback Graph API: leads by id; every request kept; a status to fail with."""

    def __init__(self):
        self.leads: dict[str, dict] = {}
        self.requests: list[dict] = []
        self.fail_with: int | None = None
        self.base = ""


@pytest.fixture
def graph(settings) -> Iterator[GraphStandIn]:
    stand_in = GraphStandIn()

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self):  # noqa: N802
            url = urlsplit(self.path)
            query = {key: values[0] for key, values in parse_qs(url.query).items()}
            stand_in.requests.append({"path": url.path, **query})
            lead = stand_in.leads.get(url.path.rsplit("/", 1)[-1])
            if stand_in.fail_with:
                status, body = stand_in.fail_with, {"error": {"message": "down"}}
            elif query.get("access_token") != PAGE_TOKEN:
                status, body = 400, {"error": {"message": "Invalid OAuth access token."}}
            elif lead is None:
                status, body = 404, {"error": {"message": "Unsupported get request."}}
            else:
                status, body = 200, lead
            raw = json.dumps(body).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(raw)))
            self.end_headers()
            self.wfile.write(raw)

        def log_message(self, *args):
            pass

    server = ThreadingHTTPServer(("127.0.0.1", free_port()), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    stand_in.base = f"http://127.0.0.1:{server.server_port}/v19.0"
    settings.META_GRAPH_API_BASE = stand_in.base
    yield stand_in
    server.shutdown()


def meta_settings(**extra) -> dict:
    return {"app_secret": APP_SECRET, "verify_token": VERIFY_TOKEN,
            "page_access_token": PAGE_TOKEN, **extra}


@pytest.fixture
def meta():
    return lead_source("Meta ads", adapter="meta", settings=meta_settings()).source


def graph_lead(leadgen_id: str = "900001", form_id: str = "555", **fields) -> dict:
    return {"id": leadgen_id, "created_time": "2026-12-01T10:00:00+0000", "form_id": form_id,
            "campaign_name": "Spring buyers",
            "field_data": [{"name": "full_name", "values": ["Zoë Ng"]},
                           {"name": "email", "values": ["Zoe@Example.test"]},
                           {"name": "phone_number", "values": ["+12125550142"]},
                           {"name": "zip_code", "values": ["10001"]}],
            "custom_disclaimer_responses": [
                {"checkbox_key": "call_me", "is_checked": "1"}], **fields}


def notification(*leadgen_ids: str, form_id: str = "555") -> dict:
    return {"object": "page", "entry": [{"id": "123", "time": 1764583200, "changes": [
        {"field": "leadgen", "value": {"leadgen_id": leadgen_id, "form_id": form_id,
                                       "page_id": "123", "created_time": 1764583200}}
        for leadgen_id in leadgen_ids]}]}


def signed(body: bytes, secret: str = APP_SECRET) -> str:
    return "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


def notify(source, body, signature: str | None = "sign"):
    raw = body if isinstance(body, bytes) else json.dumps(body).encode()
    headers = {}
    if signature == "sign":
        headers["HTTP_X_HUB_SIGNATURE_256"] = signed(raw)
    elif signature is not None:
        headers["HTTP_X_HUB_SIGNATURE_256"] = signature
    return client().post(f"/api/v1/intake/meta/{source.pk}", raw,
                         content_type="application/json", **headers)


def handshake(source, **params):
    query = {"hub.mode": "subscribe", "hub.verify_token": VERIFY_TOKEN,
             "hub.challenge": "1158201444", **params}
    return client().get(f"/api/v1/intake/meta/{source.pk}",
                        {key: value for key, value in query.items() if value is not None})


def test_the_meta_handshake_answers_the_challenge_as_text(meta):
    response = handshake(meta)

    assert response.status_code == 200
    assert response["Content-Type"].startswith("text/plain")
    assert response.content == b"1158201444"


def test_a_wrong_handshake_gets_403_and_an_unknown_source_404(meta):
    other = lead_source("Other Meta", adapter="meta",
                        settings=meta_settings(verify_token="the-other-token")).source
    google = lead_source("Google", adapter="google").source
    no_token = lead_source("No token", adapter="meta", settings={}).source

    refused = [handshake(meta, **{"hub.verify_token": "wrong"}),
               handshake(meta, **{"hub.verify_token": None}),
               handshake(meta, **{"hub.mode": "unsubscribe"}),
               handshake(other),  # our token is not the other source's
               handshake(no_token, **{"hub.verify_token": ""})]

    assert [r.status_code for r in refused] == [403] * 5
    assert {r.json()["error"]["code"] for r in refused} == {"permission_denied"}
    assert handshake(google).status_code == 404
    assert client().get("/api/v1/intake/meta/99999999").status_code == 404
    services.revoke_lead_source(source=meta)
    assert handshake(meta).status_code == 404


def test_a_signed_notification_is_kept_then_the_lead_is_read_from_the_graph_api(meta, graph):
    graph.leads["900001"] = graph_lead()

    response = notify(meta, notification("900001"))

    assert response.status_code == 200
    assert response.json() == {"received": 1, "known": 0}
    kept = MetaLeadNotification.objects.get()
    assert (kept.leadgen_id, kept.form_id, kept.fetched_at) == ("900001", "555", None)
    assert not InboundLead.objects.exists()  # not fetched inside the webhook's request

    lead = services.take_meta_lead(notification_id=kept.pk)

    assert graph.requests[0]["path"] == "/v19.0/900001"
    assert graph.requests[0]["access_token"] == PAGE_TOKEN
    assert (lead.external_id, lead.first_name, lead.last_name, lead.email, lead.phone,
            lead.zip_code, lead.campaign, lead.status) == (
        "900001", "Zoë", "Ng", "zoe@example.test", "+12125550142", "10001", "Spring buyers",
        "received")
    assert lead.consent == {"custom_disclaimer_responses": [
        {"checkbox_key": "call_me", "is_checked": "1"}],
        "given_at": "2026-12-01T10:00:00+0000"}
    assert lead.payload == {"notification": kept.payload, "lead": graph.leads["900001"]}
    kept.refresh_from_db()
    assert kept.fetched_at is not None and kept.inbound_lead == lead
    assert services.take_meta_lead(notification_id=kept.pk) == lead
    assert len(graph.requests) == 1 and InboundLead.objects.count() == 1


def test_a_forms_field_map_says_which_meta_field_is_which(graph):
    source = lead_source("Meta mapped", adapter="meta", settings=meta_settings(field_map={
        "777": {"what_zip_are_you_looking_in?": "zip_code", "best_number": "phone",
                "when_do_you_want_to_move?": "timeframe"}})).source
    graph.leads["900002"] = graph_lead("900002", form_id="777", field_data=[
        {"name": "first_name", "values": ["Dana"]},
        {"name": "last_name", "values": ["Buyer"]},
        {"name": "best_number", "values": ["212 555 0199"]},
        {"name": "what_zip_are_you_looking_in?", "values": ["10001"]},
        {"name": "when_do_you_want_to_move?", "values": ["3-6 months"]}])
    notify(source, notification("900002", form_id="777"))

    lead = services.take_meta_lead(notification_id=MetaLeadNotification.objects.get().pk)

    assert (lead.first_name, lead.last_name, lead.phone, lead.zip_code, lead.timeframe) == (
        "Dana", "Buyer", "+12125550199", "10001", "3-6 months")


def test_the_same_leadgen_id_again_is_one_notification(meta):
    notify(meta, notification("900001"))

    again = notify(meta, notification("900001", "900003"))

    assert again.json() == {"received": 1, "known": 1}
    assert sorted(MetaLeadNotification.objects.values_list("leadgen_id", flat=True)) == [
        "900001", "900003"]


@pytest.mark.parametrize("signature,status", [
    (None, 401), ("", 401), ("sha256=" + "0" * 64, 403), ("sha1=abc", 403),
    (signed(json.dumps(notification("900001")).encode(), "another-apps-secret"), 403),
])
def test_a_bad_or_missing_signature_is_refused_and_nothing_kept(meta, signature, status):
    response = notify(meta, notification("900001"), signature=signature)

    assert response.status_code == status
    assert response.json()["error"]["code"] == (
        "not_authenticated" if status == 401 else "permission_denied")
    assert nothing_kept()


def test_another_sources_signature_is_refused(meta):
    other = lead_source("Other Meta", adapter="meta",
                        settings=meta_settings(app_secret="the-other-secret")).source
    no_secret = lead_source("No secret", adapter="meta", settings={}).source
    raw = json.dumps(notification("900001")).encode()

    mine_on_theirs = notify(other, raw)  # signed with our secret
    unsigned_ok = notify(no_secret, raw, signature=signed(raw, ""))

    assert (mine_on_theirs.status_code, unsigned_ok.status_code) == (403, 403)
    assert nothing_kept()


@pytest.mark.parametrize("body,code", [
    (b'{"object": "page", "entry": [', "parse_error"),
    (notification("not a/valid id"), "validation_error"),
    ({"object": "page", "entry": [{"changes": [{"field": "leadgen", "value": "900001"}]}]},
     "validation_error"),
    ({"object": "page", "entry": "nope"}, "validation_error"),
    ([notification("900001")], "validation_error"),
    ({**notification("900001"), "note": "nul \x00"}, "validation_error"),
])
def test_a_malformed_signed_notification_gets_400_and_nothing_is_kept(meta, body, code):
    response = notify(meta, body)

    assert response.status_code == 400
    assert response.json()["error"]["code"] == code
    assert nothing_kept()


def test_a_huge_notification_gets_413(meta):
    response = notify(meta, {**notification("900001"), "padding": HUGE})

    assert (response.status_code, response.json()["error"]["code"]) == (413, "payload_too_large")
    assert nothing_kept()


def test_changes_other_than_leadgen_are_ignored(meta):
    body = {"object": "page", "entry": [{"changes": [{"field": "feed", "value": {"x": 1}}]}]}

    assert notify(meta, body).json() == {"received": 0, "known": 0}
    assert nothing_kept()


def test_a_failed_graph_fetch_is_recorded_and_the_sweep_tries_it_again(meta, graph):
    graph.leads["900001"] = graph_lead()
    notify(meta, notification("900001"))
    kept = MetaLeadNotification.objects.get()
    graph.fail_with = 500

    assert services.take_meta_lead(notification_id=kept.pk) is None

    kept.refresh_from_db()
    assert (kept.attempts, kept.fetched_at) == (1, None)
    assert "500" in kept.last_error
    assert kept.next_attempt_at > timezone.now()
    assert services.claim_due_meta_notifications() == []  # not due yet
    MetaLeadNotification.objects.update(next_attempt_at=timezone.now() - timedelta(seconds=1))
    assert services.claim_due_meta_notifications() == [kept.pk]
    assert services.claim_due_meta_notifications() == []  # claimed: not sent twice
    graph.fail_with = None
    lead = services.take_meta_lead(notification_id=kept.pk)
    assert lead is not None and lead.external_id == "900001"


def test_a_graph_refusal_is_recorded_with_its_reason(graph):
    source = lead_source("Bad token", adapter="meta",
                         settings=meta_settings(page_access_token="expired")).source
    notify(source, notification("900001"))

    assert services.take_meta_lead(
        notification_id=MetaLeadNotification.objects.get().pk) is None
    assert "Invalid OAuth access token" in MetaLeadNotification.objects.get().last_error
    assert not InboundLead.objects.exists()


@pytest.mark.django_db(transaction=True)
def test_a_real_worker_fetches_the_lead_after_commit_and_the_sweep_finishes_lost_ones(
        graph, workers, monkeypatch):
    monkeypatch.setenv("META_GRAPH_API_BASE", graph.base)
    source = lead_source("Meta live", adapter="meta", settings=meta_settings()).source
    graph.leads["900001"] = graph_lead()
    graph.leads["900004"] = graph_lead("900004", field_data=[
        {"name": "email", "values": ["lost@example.test"]},
        {"name": "zip_code", "values": ["10001"]}])
    workers.start()

    assert notify(source, notification("900001")).status_code == 200
    # a notification whose task was lost: only the sweep sends it
    lost = MetaLeadNotification.objects.create(
        source=source, leadgen_id="900004", form_id="555", payload={"leadgen_id": "900004"},
        next_attempt_at=timezone.now())
    tasks.sweep_meta_notifications()

    deadline = time.monotonic() + 30
    while MetaLeadNotification.objects.filter(fetched_at__isnull=True).exists():
        assert time.monotonic() < deadline, "the worker did not fetch the leads"
        time.sleep(0.2)
    assert sorted(InboundLead.objects.values_list("external_id", flat=True)) == [
        "900001", "900004"]
    lost.refresh_from_db()
    assert lost.inbound_lead.email == "lost@example.test"


# --- Google Ads lead forms -------------------------------------------------------------------
GOOGLE_KEY = "google-key-for-tests"


@pytest.fixture
def google():
    return lead_source("Google ads", adapter="google", settings={"google_key": GOOGLE_KEY}).source


def google_body(lead_id: str = "TeSter-123-ABCDEFGHIJKLMNOPQRSTUVWXYZ", **fields) -> dict:
    return {"lead_id": lead_id, "api_version": "1.0", "form_id": 40000000000,
            "campaign_id": 20000000000, "google_key": GOOGLE_KEY, "is_test": False,
            "gcl_id": "gcl-1", "adgroup_id": 1, "creative_id": 2,
            "user_column_data": [
                {"column_name": "Full Name", "string_value": "Zoë Ng", "column_id": "FULL_NAME"},
                {"column_name": "User Email", "string_value": "Zoe@Example.test",
                 "column_id": "EMAIL"},
                {"column_name": "User Phone", "string_value": "+1 212 555 0142",
                 "column_id": "PHONE_NUMBER"},
                {"column_name": "Postal Code", "string_value": "10001",
                 "column_id": "POSTAL_CODE"},
                {"column_name": "Price range", "string_value": "$300k-$500k",
                 "column_id": "PRICE_RANGE"},
                {"column_name": "Timeline", "string_value": "Within 3 months",
                 "column_id": "PURCHASE_TIMELINE"}], **fields}


def send_google(source, body):
    return post_json(f"/api/v1/intake/google/{source.pk}", body)


def test_a_google_lead_is_mapped_and_kept_as_sent(google):
    body = google_body()

    response = send_google(google, body)

    assert response.status_code == 200
    lead = InboundLead.objects.get(pk=response.json()["id"])
    assert (lead.first_name, lead.last_name, lead.email, lead.phone, lead.zip_code) == (
        "Zoë", "Ng", "zoe@example.test", "+12125550142", "10001")
    assert (lead.price_min_cents, lead.price_max_cents, lead.timeframe, lead.status) == (
        30_000_000, 50_000_000, "Within 3 months", "received")
    assert lead.payload == body
    assert lead.external_id == body["lead_id"]


def test_the_same_google_lead_id_is_one_lead(google):
    first = send_google(google, google_body())

    again = send_google(google, google_body())

    assert again.status_code == 200 and again.json()["id"] == first.json()["id"]
    assert InboundLead.objects.count() == 1


def test_a_google_test_lead_is_kept_apart_and_never_routed(google):
    response = send_google(google, google_body(is_test=True))

    assert response.status_code == 200
    assert response.json()["status"] == "test"
    lead = InboundLead.objects.get()
    assert lead.status == InboundLead.Status.TEST
    InboundLead.objects.update(received_at=timezone.now() - timedelta(minutes=5))
    assert selectors.waiting_lead_ids(older_than_seconds=0) == []


@pytest.mark.parametrize("key,status", [
    (None, 401), ("", 401), ("wrong", 403), ("another-sources-key", 403), (12, 403),
])
def test_a_wrong_or_missing_google_key_is_refused_and_nothing_kept(google, key, status):
    lead_source("Other Google", adapter="google", settings={"google_key": "another-sources-key"})
    body = google_body()
    if key is None:
        del body["google_key"]
    else:
        body["google_key"] = key

    response = send_google(google, body)

    assert response.status_code == status
    assert response.json()["error"]["code"] == (
        "not_authenticated" if status == 401 else "permission_denied")
    assert nothing_kept()


def test_a_google_source_without_a_key_accepts_nothing_and_other_adapters_are_404():
    keyless = lead_source("Keyless", adapter="google").source
    meta = lead_source("Meta", adapter="meta", settings=meta_settings()).source

    assert send_google(keyless, google_body(google_key="")).status_code == 401
    assert send_google(keyless, google_body(google_key="anything")).status_code == 403
    assert send_google(meta, google_body()).status_code == 404
    assert nothing_kept()


@pytest.mark.parametrize("body,status,code", [
    (b'{"lead_id": ', 400, "parse_error"),
    (google_body(user_column_data="FULL_NAME"), 400, "validation_error"),
    (google_body(user_column_data=[{"string_value": "x"}]), 400, "validation_error"),
    ({k: v for k, v in google_body().items() if k != "lead_id"}, 400, "validation_error"),
    (google_body(lead_id="nul \x00"), 400, "validation_error"),
    ([google_body()], 400, "validation_error"),
    (google_body(padding=HUGE), 413, "payload_too_large"),
])
def test_a_malformed_or_huge_google_lead_is_refused_and_nothing_kept(google, body, status,
                                                                     code):
    response = send_google(google, body)

    assert response.status_code == status
    assert response.json()["error"]["code"] == code
    assert nothing_kept()


@pytest.mark.parametrize("text,expected", [
    ("$300k-$500k", (30_000_000, 50_000_000)),
    ("$300,000 - $500,000", (30_000_000, 50_000_000)),
    ("Under $200K", (None, 20_000_000)),
    ("$1M+", (100_000_000, None)),
    ("1.5m to 2m", (150_000_000, 200_000_000)),
    ("Not sure yet", (None, None)),
])
def test_price_ranges_are_read_as_people_type_them(text, expected):
    assert adapters.price_range(text) == expected
