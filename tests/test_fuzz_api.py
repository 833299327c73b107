"""Property-based fuzzing of both hosts' APIs (QUALITY.md: "schemathesis over
/api/schema/: at least 1,000 generated requests, no 5xx, no response outside the schema").

Each host's schema is read from the running app (`/api/schema/` on `localhost` and on
`acme.localhost`); schemathesis generates valid and invalid requests for every operation
in it, as platform staff, as acme's admin, as an acme agent and anonymously, and sends them
through the real WSGI entry point (clozings.platform.wsgi.application). Every answer must be
below 500, carry a status the schema documents for the operation, be JSON, and match the
documented body. A second property sends raw requests schemathesis would not write (any
method, odd charsets, broken bodies and query strings) and wants no 500 and the JSON error
format under /api/.

The Stripe webhook (`POST /billing/stripe/webhook`, platform host) is fuzzed like the rest:
no generated request carries a valid signature, so every answer is its documented 400
(`bad_signature`), 405 or 413; tests/billing/test_webhooks.py covers signed events.
Stripe calls (setup intent, payment method, reservations) reach a real localstripe.
Requests run inside the test's transaction, so what the fuzzer writes (brokerages with
their schemas, seats, reservations) is rolled back; the seeds are fixed (derandomize).
"""

from __future__ import annotations

import json
import re
import string
import traceback
import urllib.parse
from dataclasses import dataclass, field
from encodings.aliases import aliases

import pytest
import schemathesis
from django.conf import settings as django_settings
from django.test import Client
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st
from schemathesis import GenerationMode
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    ignored_auth,
    response_schema_conformance,
    status_code_conformance,
)

from clozings.platform.auth import issue_token
from clozings.platform.wsgi import application
from clozings.tenants.models import Seat
from tests.billing.conftest import _stripe_settings  # noqa: F401 (a fixture)
from tests.tenants.factories import SeatFactory, UserFactory
from tests.territories.factories import ensure_catalogue
from tests.wsgi_client import InTestTransaction, call_wsgi

pytestmark = pytest.mark.slow

# No 5xx; a status the operation documents; JSON; the documented body; and an operation
# that needs credentials refuses the same request without them or with made-up ones.
# (negative_data_rejection is left out: DRF reads an empty query or form value as "not
# given" and trims strings, where the schema's minLength says "invalid".)
CHECKS = [not_a_server_error, status_code_conformance, content_type_conformance,
          response_schema_conformance, ignored_auth]
# Fixed seeds (derandomize) so that CI repeats the same requests; no deadline, since the
# machine is shared; generation may filter a lot for some operations.
FUZZ_SETTINGS = settings(derandomize=True, database=None, deadline=None,
                         suppress_health_check=list(HealthCheck),
                         phases=[Phase.explicit, Phase.generate, Phase.shrink])


@dataclass
class FuzzReport:
    requests: int = 0
    by_operation: dict[str, int] = field(default_factory=dict)
    failures: dict[str, str] = field(default_factory=dict)

    def summary(self) -> str:
        return f"{self.requests} requests over {len(self.by_operation)} operations"


def schema_document(host: str) -> dict:
    """The OpenAPI schema the app serves on `host`."""
    response = Client(HTTP_HOST=host).get("/api/schema/", {"format": "json"})
    assert response.status_code == 200
    return json.loads(response.content)


def fuzz_operations(host: str, *, token: str | None, max_examples: int) -> FuzzReport:
    """Run schemathesis over every operation of the host's schema, valid and invalid data.

    A failing operation is recorded (with the request that reproduces it) and the others
    still run, so one report names every operation that misbehaves.
    """
    app = InTestTransaction(application)
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    report = FuzzReport()

    def send(operation, case) -> None:
        report.requests += 1
        report.by_operation[operation.label] = report.by_operation.get(operation.label, 0) + 1
        app.errors.clear()
        response = case.call(base_url=f"http://{host}", headers=headers)
        assert not app.errors, app.errors[-1]  # the traceback behind a 500
        case.validate_response(response, checks=CHECKS, headers=headers, transport_kwargs={
            "base_url": f"http://{host}", "headers": headers})

    schema = schemathesis.openapi.from_dict(schema_document(host))
    schema.app = app  # requests (and the checks' own probes) go to the app in-process
    for result in schema.get_all_operations():
        operation = result.ok()
        for mode in (GenerationMode.POSITIVE, GenerationMode.NEGATIVE):
            try:
                property_of(operation, mode, max_examples, send)()
            except Exception as exc:  # noqa: BLE001 (collected, and reported by the test)
                # with where it was raised: an error in the harness or in schemathesis (not
                # an answer of the app's) names its file and line, not only its message
                where = "".join(traceback.format_exception(exc)[-6:])
                report.failures[f"{operation.label} ({mode})"] = \
                    f"{type(exc).__name__}: {exc}\n{where}"
    return report


def property_of(operation, mode: GenerationMode, max_examples: int, send):
    @given(case=operation.as_strategy(generation_mode=mode))
    @settings(FUZZ_SETTINGS, max_examples=max_examples)
    def each_case_is_answered_within_the_schema(case):
        send(operation, case)

    return each_case_is_answered_within_the_schema


# --- who sends the requests ---------------------------------------------------------------
def staff_token(acme) -> str:
    return issue_token(UserFactory(is_staff=True))


def admin_token(acme) -> str:
    return issue_token(acme.admin)


def agent_token(acme) -> str:
    return issue_token(SeatFactory(brokerage=acme.brokerage, role=Seat.Role.AGENT).user)


def anonymous(acme) -> None:
    return None


@pytest.fixture
def catalogue(db) -> None:
    ensure_catalogue()  # a transactional test elsewhere may have flushed the ZIPs


# At least 1,000 requests in all: the minimums below add up to 1,400. Operations: 9 on the
# platform host (the Stripe webhook included), 15 on a brokerage host; each gets
# max_examples valid and as many invalid.
# `fuzzed` is an operation that must be among those fuzzed (the schema is read, not listed).
WEBHOOK = "POST /billing/stripe/webhook"
RESERVE = "POST /api/v1/reservations"


@pytest.mark.parametrize("host,identity,max_examples,minimum,fuzzed", [
    ("localhost", staff_token, 30, 400, WEBHOOK),
    ("localhost", anonymous, 6, 80, WEBHOOK),
    ("acme.localhost", admin_token, 25, 650, RESERVE),
    ("acme.localhost", agent_token, 6, 150, RESERVE),
    ("acme.localhost", anonymous, 6, 120, RESERVE),
], ids=["platform-staff", "platform-anonymous", "acme-admin", "acme-agent", "acme-anonymous"])
def test_every_operation_answers_within_its_schema(acme, catalogue, host, identity,
                                                   max_examples, minimum, fuzzed):
    report = fuzz_operations(host, token=identity(acme), max_examples=max_examples)

    print(f"{host} {identity.__name__}: {report.summary()}")
    assert report.failures == {}
    assert report.requests >= minimum
    assert report.by_operation.get(fuzzed, 0) >= max_examples


# --- raw requests ---------------------------------------------------------------------------
RAW_EXAMPLES = 400
METHODS = ["GET", "POST", "PUT", "PATCH", "DELETE", "OPTIONS", "HEAD"]
CHARSETS = sorted({*aliases, *aliases.values(), "bz2_codec", "rot13", "base64", "hex",
                   "punycode", "undefined", "idna", "no-such-charset", "utf\x00-8", ""})
CONTENT_TYPES = st.one_of(
    st.sampled_from(["", "application/json", "application/x-www-form-urlencoded",
                     "multipart/form-data", "multipart/form-data; boundary=zz", "text/plain",
                     "application/xml", "application/json; name*=bogus''x", "*/*", ";;"]),
    st.builds(lambda main, charset: f"{main}; charset={charset}",
              st.sampled_from(["application/json", "application/x-www-form-urlencoded",
                               "multipart/form-data; boundary=zz"]),
              st.sampled_from(CHARSETS)),
)
JSON_VALUES = st.recursive(
    st.none() | st.booleans() | st.integers(min_value=-(2**70), max_value=2**70)
    | st.floats(allow_nan=False) | st.text(max_size=30),
    lambda children: st.lists(children, max_size=4)
    | st.dictionaries(st.text(max_size=12), children, max_size=4),
    max_leaves=12)
FIELD_NAMES = ["email", "password", "name", "slug", "admin_email", "admin_name",
               "admin_password", "time_zone", "role", "zip_code", "agent_id", "price_cents",
               "tier", "slots", "is_active", "payment_method_id", "status", "state", "city",
               "near", "radius_miles", "page", "page_size", "availability", "reassign_to"]
PATH_VALUES = st.one_of(
    st.integers(min_value=-(2**70), max_value=2**70).map(str),
    st.text(alphabet=string.printable + "é\u2028\x00", max_size=12),
    st.sampled_from(["10001", "urban", "rural", "premium", "0", "1"]),
)
BODIES = st.one_of(
    st.binary(max_size=64),
    st.integers(min_value=1, max_value=100_000).map(lambda depth: b"[" * depth),
    st.integers(min_value=1, max_value=1_200).map(
        lambda count: "&".join(f"f{number}=1" for number in range(count)).encode()),
    JSON_VALUES.map(lambda value: json.dumps(value).encode()),
    st.dictionaries(st.sampled_from(FIELD_NAMES), JSON_VALUES, max_size=5)
    .map(lambda value: json.dumps(value).encode()),
    st.dictionaries(st.sampled_from(FIELD_NAMES), st.text(max_size=20), max_size=5)
    .map(lambda value: urllib.parse.urlencode(value).encode()),
)


@st.composite
def raw_requests(draw, *, paths: list[str]):
    template = draw(st.sampled_from([*paths, "/api/v1/", "/api/v1/nothing-here"]))
    path = template
    while "{" in path:  # fill each {param} of the template with a drawn value
        start, end = path.index("{"), path.index("}")
        value = urllib.parse.quote(draw(PATH_VALUES), safe="")
        path = path[:start] + value + path[end + 1:]
    query = draw(st.one_of(
        st.just(""),
        st.lists(st.tuples(st.sampled_from(FIELD_NAMES) | st.text(max_size=6),
                           st.text(max_size=20)), max_size=4).map(urllib.parse.urlencode),
        st.binary(max_size=20).map(lambda raw: urllib.parse.quote_from_bytes(raw, safe="=&%")),
        st.integers(min_value=1, max_value=1_200).map(
            lambda count: "&".join(f"f{number}=1" for number in range(count))),
    ))
    headers = {"Content-Type": draw(CONTENT_TYPES),
               "Accept": draw(st.sampled_from(["application/json", "*/*", "text/html", ""]))}
    # PATH_INFO as a WSGI server hands it over: the raw bytes, read as latin-1
    return {"method": draw(st.sampled_from(METHODS)),
            "path": urllib.parse.unquote_to_bytes(path).decode("latin-1"),
            "query": query, "headers": headers, "body": draw(BODIES)}


@pytest.mark.parametrize("host,identity", [
    ("localhost", staff_token), ("acme.localhost", admin_token),
], ids=["platform-staff", "acme-admin"])
def test_no_raw_request_gets_a_server_error(acme, catalogue, host, identity):
    app = InTestTransaction(application)
    token = identity(acme)
    sent: list[int] = []
    files = file_answers(host)

    @given(request=raw_requests(paths=sorted(schema_document(host)["paths"])))
    @settings(FUZZ_SETTINGS, max_examples=RAW_EXAMPLES)
    def send(request):
        request["headers"]["Authorization"] = f"Bearer {token}"
        app.errors.clear()
        response = call_wsgi(app, host=host, **request)
        sent.append(response.status_code)

        assert not app.errors, app.errors[-1]
        assert response.status_code < 500
        if response.status_code < 300 and request["path"] in files:  # a CSV download
            assert response.content_type.split(";")[0] in files[request["path"]]
        else:
            assert response.content_type == "application/json"
        assert response.status_code < 400 or set(response.json()["error"]) >= {"code", "message"}

    send()

    assert len(sent) == RAW_EXAMPLES


def file_answers(host: str) -> dict[str, set[str]]:
    """Paths whose success answer the schema documents as a file (a CSV export), with the
    media types documented."""
    found: dict[str, set[str]] = {}
    for path, operations in schema_document(host)["paths"].items():
        for operation in operations.values():
            for status, response in operation.get("responses", {}).items():
                media = set(response.get("content", {})) - {"application/json"}
                if status.startswith("2") and media:
                    found.setdefault(path, set()).update(media)
    return found


# --- the kernel's refusals of a body --------------------------------------------------------
def body_operations(host: str) -> list[tuple[str, str, dict]]:
    """(method, path template, operation) of every operation that takes a body."""
    return [(method.upper(), path, operation)
            for path, operations in schema_document(host)["paths"].items()
            for method, operation in operations.items() if method in ("post", "put", "patch")]


def fill(template: str, values: dict[str, str]) -> str:
    return re.sub(r"\{(\w+)\}", lambda match: values.get(match.group(1), "1"), template)


# ApiView answers 413 to a body over DATA_UPLOAD_MAX_MEMORY_SIZE and DRF 415 to a media type
# no parser reads; schemathesis sends neither, so each operation is tried here.
@pytest.mark.parametrize("host,identity", [
    ("localhost", staff_token), ("acme.localhost", admin_token),
], ids=["platform-staff", "acme-admin"])
def test_refusals_of_a_body_are_documented_by_each_operation(acme, catalogue, host, identity):
    app = InTestTransaction(application)
    auth = {"Authorization": f"Bearer {identity(acme)}"}
    values = {"seat_id": str(acme.admin_seat.pk), "zip_code": "10001", "tier": "urban"}
    limit = django_settings.DATA_UPLOAD_MAX_MEMORY_SIZE
    answers = {
        f"{method} {path}": (
            # an upload (a CSV import) documents its own, larger limit
            call_wsgi(app, host=host, method=method, path=fill(path, values),
                      body=b" " * (operation.get("x-max-body-bytes", limit) + 1),
                      headers={**auth, "Content-Type": "application/json"}).status_code,
            call_wsgi(app, host=host, method=method, path=fill(path, values), body=b"x",
                      headers={**auth, "Content-Type": "text/plain"}).status_code,
            set(operation["responses"]),
        )
        for method, path, operation in body_operations(host)
    }

    assert {label: huge for label, (huge, _, _) in answers.items() if huge != 413} == {}
    assert {label: (huge, plain) for label, (huge, plain, documented) in answers.items()
            if not {str(huge), str(plain)} <= documented} == {}
    assert app.errors == []
