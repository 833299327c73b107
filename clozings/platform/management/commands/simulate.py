"""`clozings simulate`: leads posted through the real HTTP API of a running `clozings run`,
the way each kind of lead source sends them.

N leads at R per second, through one adapter or all of them (`--adapter mixed`, the
default, takes turns):
- native: one by one to `POST /api/v1/leads`, a share in groups to `/api/v1/leads/batch`;
- fub: Follow Up Boss events to `POST /v1/events` (HTTP Basic, the key as user name);
- meta: the lead is left with the Graph API stand-in (`clozings run` starts one when
  META_GRAPH_API_BASE is unset; it serves the files in CLOZINGS_HOME/graph-leads), then a
  `leadgen` notification signed with the source's app secret goes to
  `POST /api/v1/intake/meta/<source id>`; the app reads the lead back from the stand-in;
- google: Google Ads lead form webhooks to `POST /api/v1/intake/google/<source id>` with
  the source's google_key.
All go to the demo ZIP(s). A progress line while sending; then each accepted lead is
followed through `GET /api/v1/leads/<id>` with its source's key until it is delivered (or
--wait runs out; a Meta lead's id is looked up in the database by its leadgen id, as the
webhook answers before the lead is read), and a summary is printed: accepted, rejected,
delivered, per adapter too, and the intake latency's p50/p99.

The keys and secrets are the demo sources' (CLOZINGS_HOME/demo-lead-sources.json, written
by `clozings demo`) unless --sources names another such file; `--adapter native --key K`
sends with any native source's key.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import math
import secrets
import threading
import time
import urllib.error
import urllib.request
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError, CommandParser

from clozings.distribution import selectors as distribution_selectors
from clozings.platform import embedded
from clozings.platform.graph_standin import lead_path, put_lead
from clozings.platform.management.commands.demo import (
    DEMO_ZIP,
    demo_key_path,
    demo_sources_path,
    read_demo_sources,
)

MAX_LEADS = 100_000
MAX_RATE = 1000.0
BATCH_SIZE = 10
SENDERS = 16
ADAPTERS = ("native", "fub", "meta", "google")
CHOICES = (*ADAPTERS, "mixed")
# What each adapter needs besides its key.
NEEDS = {"native": (), "fub": (), "meta": ("app_secret", "page_access_token"),
         "google": ("google_key",)}
REQUEST_TIMEOUT_SECONDS = 30
ACCEPTED = ("received", "routed", "delivered", "orphaned")


def percentile(values: list[float], share: float) -> float:
    if not values:
        return 0.0
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, math.ceil(share * len(ordered)) - 1))]


@dataclass
class Counts:
    sent: int = 0
    accepted: int = 0
    rejected: int = 0
    delivered: int = 0
    orphaned: int = 0


@dataclass
class Tally:
    """What the sends have come back with so far (shared by the sender threads)."""

    sent: int = 0
    accepted: list[tuple[str, int]] = field(default_factory=list)  # (adapter, lead id)
    notified: list[str] = field(default_factory=list)  # Meta leadgen ids, ids not known yet
    rejected: int = 0
    failed: list[str] = field(default_factory=list)
    latencies_ms: list[float] = field(default_factory=list)
    by_adapter: dict[str, Counts] = field(default_factory=dict)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def counts(self, adapter: str) -> Counts:
        return self.by_adapter.setdefault(adapter, Counts())


class Api:
    def __init__(self, host: str):
        self.host = host.rstrip("/")

    def call(self, method: str, path: str, body=None, *, headers: dict | None = None
             ) -> tuple[int, dict]:
        data = body if isinstance(body, bytes) else (
            json.dumps(body).encode() if body is not None else None)
        request = urllib.request.Request(self.host + path, data=data, method=method, headers={
            "Accept": "application/json",
            **({"Content-Type": "application/json"} if data is not None else {}),
            **(headers or {})})
        try:
            with urllib.request.urlopen(request, timeout=REQUEST_TIMEOUT_SECONDS) as answer:
                return answer.status, json.loads(answer.read() or b"{}")
        except urllib.error.HTTPError as error:
            try:
                return error.code, json.loads(error.read() or b"{}")
            except ValueError:
                return error.code, {}


def bearer(key: str) -> dict:
    return {"Authorization": f"Bearer {key}"}


def lead(run: str, number: int, zip_code: str) -> dict:
    return {"external_id": f"sim-{run}-{number}", "first_name": "Sim",
            "last_name": f"Buyer {number}", "email": f"sim-{run}-{number}@example.test",
            "phone": f"(212) 555-{number % 10000:04d}", "zip_code": zip_code,
            "intent": "buy", "timeframe": "0-3 months", "campaign": "clozings simulate",
            "message": "Posted by clozings simulate."}


# --- each adapter's shape of the same lead --------------------------------------------------
def fub_event(body: dict) -> dict:
    return {"id": body["external_id"], "type": "Property Inquiry", "source": "clozings simulate",
            "system": "clozings simulate", "message": body["message"],
            "person": {"firstName": body["first_name"], "lastName": body["last_name"],
                       "emails": [{"value": body["email"]}],
                       "phones": [{"value": body["phone"], "type": "mobile"}],
                       "tags": ["Buyer"]},
            "property": {"street": "1 Simulated St", "code": body["zip_code"],
                         "price": 450000}}


def google_lead(body: dict, google_key: str) -> dict:
    columns = (("FULL_NAME", f"{body['first_name']} {body['last_name']}"),
               ("EMAIL", body["email"]), ("PHONE_NUMBER", body["phone"]),
               ("POSTAL_CODE", body["zip_code"]), ("PRICE_RANGE", "$300k-$500k"),
               ("PURCHASE_TIMELINE", body["timeframe"]))
    return {"lead_id": body["external_id"], "api_version": "1.0", "form_id": 40000000001,
            "campaign_id": 20000000001, "google_key": google_key, "is_test": False,
            "user_column_data": [{"column_id": column, "string_value": value}
                                 for column, value in columns]}


def graph_lead(body: dict) -> dict:
    return {"id": body["external_id"], "created_time": time.strftime("%Y-%m-%dT%H:%M:%S+0000",
                                                                     time.gmtime()),
            "form_id": "555000", "campaign_name": "clozings simulate",
            "field_data": [{"name": "full_name",
                            "values": [f"{body['first_name']} {body['last_name']}"]},
                           {"name": "email", "values": [body["email"]]},
                           {"name": "phone_number", "values": [body["phone"]]},
                           {"name": "zip_code", "values": [body["zip_code"]]}],
            "custom_disclaimer_responses": [{"checkbox_key": "contact_me", "is_checked": "1"}]}


def meta_notification(leadgen_id: str, page_id: str = "100000") -> bytes:
    now = int(time.time())
    return json.dumps({"object": "page", "entry": [{"id": page_id, "time": now, "changes": [
        {"field": "leadgen", "value": {"leadgen_id": leadgen_id, "form_id": "555000",
                                       "page_id": page_id, "created_time": now}}]}]}).encode()


class Command(BaseCommand):
    help = ("Post leads at a steady rate through the HTTP API of a running `clozings run`, "
            "through the native API and the Follow Up Boss, Meta and Google adapters, and "
            "report accepted, rejected, delivered and intake latency.")

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--leads", type=int, default=200, help="how many (default 200)")
        parser.add_argument("--rate", type=float, default=20.0,
                            help="leads per second (default 20)")
        parser.add_argument("--host", default=None,
                            help=f"the running app (default http://{settings.CLOZINGS_DOMAIN}"
                                 ":8000)")
        parser.add_argument("--adapter", choices=CHOICES, default="mixed",
                            help="how the leads are sent: one adapter, or mixed (each in "
                                 "turn; the default)")
        parser.add_argument("--sources", type=Path, default=None,
                            help="the sources' keys and secrets (default: the demo's, "
                                 f"{demo_sources_path()})")
        parser.add_argument("--key", default=None,
                            help="with --adapter native: a native source's key to send with")
        parser.add_argument("--graph-dir", type=Path, default=None,
                            help="where the Graph API stand-in reads the Meta leads "
                                 f"(default {embedded.graph_leads_directory()})")
        parser.add_argument("--zip", action="append", dest="zips", default=None,
                            help=f"a ZIP to send leads to, repeatable (default {DEMO_ZIP})")
        parser.add_argument("--batch-share", type=float, default=0.2,
                            help="share of the native leads sent through /api/v1/leads/batch "
                                 f"in groups of {BATCH_SIZE} (default 0.2)")
        parser.add_argument("--wait", type=float, default=60.0,
                            help="seconds to wait for deliveries after sending (default 60)")

    def handle(self, *args, leads: int, rate: float, host: str | None, adapter: str,
               sources: Path | None, key: str | None, graph_dir: Path | None,
               zips: list[str] | None, batch_share: float, wait: float, **options) -> None:
        if not 1 <= leads <= MAX_LEADS:
            raise CommandError(f"--leads must be between 1 and {MAX_LEADS}, not {leads}.")
        if not 0 < rate <= MAX_RATE:
            raise CommandError(f"--rate must be above 0 and at most {MAX_RATE:.0f}.")
        if not 0 <= batch_share <= 1:
            raise CommandError("--batch-share must be between 0 and 1.")
        if wait < 0:
            raise CommandError("--wait cannot be negative.")
        if key is not None and adapter != "native":
            raise CommandError("--key is a native source's key: give it with --adapter "
                               "native; the other adapters' keys come from --sources.")
        adapters = ADAPTERS if adapter == "mixed" else (adapter,)
        self.credentials = self._credentials(adapters, sources, key)
        self.graph_dir = graph_dir or embedded.graph_leads_directory()
        api = Api(host or f"http://{settings.CLOZINGS_DOMAIN}:8000")
        self._check(api, adapters)

        run = secrets.token_hex(4)
        zips = zips or [DEMO_ZIP]
        bodies = [lead(run, n, zips[n % len(zips)]) for n in range(leads)]
        sends = self._plan(bodies, adapters, batch_share)
        tally = Tally()
        started = time.monotonic()
        with ThreadPoolExecutor(SENDERS) as pool:
            for first, via, group in sends:
                due = started + first / rate
                while (pause := due - time.monotonic()) > 0:
                    self._progress(tally, leads)
                    time.sleep(min(pause, 0.25))
                pool.submit(self._send, api, via, group, tally)
            self._progress(tally, leads)
        self._progress(tally, leads, final=True)
        delivered, orphaned, waiting = self._follow(api, tally, wait)
        self._summary(tally, leads, delivered, orphaned, waiting, time.monotonic() - started)

    # --- before sending -------------------------------------------------------------
    def _credentials(self, adapters: tuple[str, ...], sources: Path | None,
                     key: str | None) -> dict[str, dict]:
        if key is not None:
            return {"native": {"key": key}}
        path = sources or demo_sources_path()
        stored = read_demo_sources(path)
        if not stored and adapters == ("native",) and sources is None \
                and demo_key_path().exists():  # a CLOZINGS_HOME from before the adapters
            stored = {"native": {"key": demo_key_path().read_text().strip()}}
        missing = [name for name in adapters if not isinstance(stored.get(name), dict)
                   or not all(stored[name].get(need) for need in ("key", *NEEDS[name]))
                   or (name in ("meta", "google") and not stored[name].get("id"))]
        if missing:
            raise CommandError(
                f"No credentials for {', '.join(missing)} in {path}. Run `clozings demo` "
                "(`clozings run` does), give --sources, or --adapter native --key KEY.")
        return {name: stored[name] for name in adapters}

    def _check(self, api: Api, adapters: tuple[str, ...]) -> None:
        """The app answers and takes each key (a lead id nobody has: 404, not 401)."""
        for name in adapters:
            try:
                status, body = api.call("GET", "/api/v1/leads/0",
                                        headers=bearer(self.credentials[name]["key"]))
            except OSError as error:
                raise CommandError(f"Nothing answers at {api.host} ({error}); start it with "
                                   "`clozings run` or give --host.") from None
            if status in (401, 403):
                raise CommandError(f"{api.host} refused the {name} source's key: "
                                   f"{body.get('error', {}).get('message', status)}")

    @staticmethod
    def _plan(bodies: list[dict], adapters: tuple[str, ...], batch_share: float
              ) -> list[tuple[int, str, list[dict]]]:
        """(index of the first lead, adapter, the leads) per request. Leads take the
        adapters in turn; native leads go one by one, the last `batch_share` of them in
        groups of BATCH_SIZE."""
        native = [(n, body) for n, body in enumerate(bodies)
                  if adapters[n % len(adapters)] == "native"]
        singles = len(native) - round(len(native) * batch_share)
        sends = [(n, "native", [body]) for n, body in native[:singles]]
        sends += [(native[i][0], "native", [body for _, body in native[i:i + BATCH_SIZE]])
                  for i in range(singles, len(native), BATCH_SIZE)]
        sends += [(n, adapters[n % len(adapters)], [body]) for n, body in enumerate(bodies)
                  if adapters[n % len(adapters)] != "native"]
        return sorted(sends, key=lambda send: send[0])

    # --- sending --------------------------------------------------------------------
    def _post(self, api: Api, via: str, group: list[dict]) -> tuple[int, dict, list, bool]:
        """Send; (status, body, the per-lead results, whether it was taken)."""
        credentials = self.credentials[via]
        if via == "native" and len(group) == 1:
            status, body = api.call("POST", "/api/v1/leads", group[0],
                                    headers=bearer(credentials["key"]))
            return status, body, [body], status in (200, 202)
        if via == "native":
            status, body = api.call("POST", "/api/v1/leads/batch", {"leads": group},
                                    headers=bearer(credentials["key"]))
            return status, body, body.get("results", []), status == 207
        if via == "fub":
            basic = base64.b64encode(f"{credentials['key']}:".encode()).decode()
            status, body = api.call("POST", "/v1/events", fub_event(group[0]),
                                    headers={"Authorization": f"Basic {basic}"})
            return status, body, [body], status in (200, 201)
        if via == "google":
            status, body = api.call("POST", f"/api/v1/intake/google/{credentials['id']}",
                                    google_lead(group[0], credentials["google_key"]))
            return status, body, [body], status == 200
        leadgen_id = group[0]["external_id"]
        put_lead(self.graph_dir, leadgen_id=leadgen_id,
                 access_token=credentials["page_access_token"], lead=graph_lead(group[0]))
        raw = meta_notification(leadgen_id)
        signature = "sha256=" + hmac.new(credentials["app_secret"].encode(), raw,
                                         hashlib.sha256).hexdigest()
        status, body = api.call("POST", f"/api/v1/intake/meta/{credentials['id']}", raw,
                                headers={"X-Hub-Signature-256": signature})
        return status, body, [], status == 200

    def _send(self, api: Api, via: str, group: list[dict], tally: Tally) -> None:
        began = time.perf_counter()
        try:
            status, body, results, taken = self._post(api, via, group)
        except OSError as error:
            status, body, results, taken = 0, {"error": {"message": str(error)}}, [], False
        ms = (time.perf_counter() - began) * 1000
        with tally.lock:
            counts = tally.counts(via)
            tally.sent += len(group)
            counts.sent += len(group)
            tally.latencies_ms.append(ms)
            if not taken:
                tally.failed.append(f"{via}: HTTP {status}: "
                                    f"{body.get('error', {}).get('message', body)}")
                tally.rejected += len(group)
                counts.rejected += len(group)
                return
            if via == "meta":  # the lead is read from the Graph API after the answer
                tally.notified.append(group[0]["external_id"])
                counts.accepted += 1
                return
            for result in results:
                if result.get("status") in ACCEPTED:
                    tally.accepted.append((via, result["id"]))
                    counts.accepted += 1
                else:
                    tally.rejected += 1
                    counts.rejected += 1

    def _progress(self, tally: Tally, total: int, *, final: bool = False) -> None:
        with tally.lock:
            line = (f"\rsimulate: sent {tally.sent}/{total}  accepted "
                    f"{len(tally.accepted) + len(tally.notified)}  rejected {tally.rejected}")
        self.stdout.write(line, ending="\n" if final else "")
        self.stdout.flush()

    # --- after sending --------------------------------------------------------------
    def _follow(self, api: Api, tally: Tally, wait: float) -> tuple[int, int, int]:
        """(delivered, orphaned, still waiting) among the accepted leads."""
        pending = set(tally.accepted)
        unread = set(tally.notified)  # Meta leads not read from the Graph API yet
        delivered = orphaned = 0
        deadline = time.monotonic() + wait
        while pending or unread:
            if unread:
                found = distribution_selectors.inbound_lead_ids(
                    source_id=self.credentials["meta"]["id"], external_ids=sorted(unread))
                pending |= {("meta", lead_id) for lead_id in found.values()}
                unread -= set(found)
                for leadgen_id in found:  # read by the app: the stand-in's copy can go
                    lead_path(self.graph_dir, leadgen_id).unlink(missing_ok=True)
            for via, lead_id in sorted(pending):
                status, body = api.call("GET", f"/api/v1/leads/{lead_id}",
                                        headers=bearer(self.credentials[via]["key"]))
                if status == 200 and body["status"] in ("delivered", "orphaned"):
                    pending.discard((via, lead_id))
                    counts = tally.counts(via)
                    if body["status"] == "delivered":
                        delivered += 1
                        counts.delivered += 1
                    else:
                        orphaned += 1
                        counts.orphaned += 1
            if not (pending or unread) or time.monotonic() > deadline:
                break
            self.stdout.write(f"\rsimulate: delivered {delivered}, waiting for "
                              f"{len(pending) + len(unread)}", ending="")
            self.stdout.flush()
            time.sleep(0.5)
        return delivered, orphaned, len(pending) + len(unread)

    def _summary(self, tally: Tally, total: int, delivered: int, orphaned: int,
                 waiting: int, seconds: float) -> None:
        latencies = tally.latencies_ms
        lines = [
            f"\nsimulate: {total} leads in {seconds:.1f} s",
            f"  accepted:  {len(tally.accepted) + len(tally.notified)}",
            f"  rejected:  {tally.rejected}",
            f"  delivered: {delivered}" + (f"  (orphaned {orphaned})" if orphaned else "")
            + (f"  (not yet: {waiting})" if waiting else ""),
            f"  intake latency per request: p50 {percentile(latencies, 0.5):.1f} ms, "
            f"p99 {percentile(latencies, 0.99):.1f} ms over {len(latencies)} requests",
        ]
        lines += [f"  {via:<7} sent {c.sent}, accepted {c.accepted}, rejected {c.rejected}, "
                  f"delivered {c.delivered}" + (f", orphaned {c.orphaned}" if c.orphaned else "")
                  for via in ADAPTERS if (c := tally.by_adapter.get(via))]
        lines += [f"  failed request: {failure}" for failure in tally.failed[:5]]
        self.stdout.write("\n".join(lines))
