"""`clozings simulate`: leads posted through the real HTTP API of a running `clozings run`.

N leads at R per second, as a lead source would send them: most one by one to
`POST /api/v1/leads`, a share of them in groups to `POST /api/v1/leads/batch`, all to the
demo ZIP(s). A progress line while sending; then each accepted lead is followed through
`GET /api/v1/leads/<id>` until it is delivered (or --wait runs out), and a summary is
printed: accepted, rejected, delivered, and the intake latency's p50/p99.

The key is the demo lead source's (CLOZINGS_HOME/demo-lead-source-key, written by
`clozings demo`) unless --key gives another.
"""

from __future__ import annotations

import json
import math
import secrets
import threading
import time
import urllib.error
import urllib.request
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError, CommandParser

from clozings.platform.management.commands.demo import DEMO_ZIP, demo_key_path

MAX_LEADS = 100_000
MAX_RATE = 1000.0
BATCH_SIZE = 10
SENDERS = 16
ADAPTERS = ("native", "fub", "meta", "google")
REQUEST_TIMEOUT_SECONDS = 30


def percentile(values: list[float], share: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, math.ceil(share * len(ordered)) - 1))]


@dataclass
class Tally:
    """What the sends have come back with so far (shared by the sender threads)."""

    sent: int = 0
    accepted: list[int] = field(default_factory=list)
    rejected: int = 0
    failed: list[str] = field(default_factory=list)
    latencies_ms: list[float] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)


class Api:
    def __init__(self, host: str, key: str):
        self.host = host.rstrip("/")
        self.key = key

    def call(self, method: str, path: str, body: dict | None = None) -> tuple[int, dict]:
        data = json.dumps(body).encode() if body is not None else None
        request = urllib.request.Request(
            self.host + path, data=data, method=method, headers={
                "Authorization": f"Bearer {self.key}", "Accept": "application/json",
                **({"Content-Type": "application/json"} if data is not None else {})})
        try:
            with urllib.request.urlopen(request, timeout=REQUEST_TIMEOUT_SECONDS) as answer:
                return answer.status, json.loads(answer.read() or b"{}")
        except urllib.error.HTTPError as error:
            try:
                return error.code, json.loads(error.read() or b"{}")
            except ValueError:
                return error.code, {}


def lead(run: str, number: int, zip_code: str) -> dict:
    return {"external_id": f"sim-{run}-{number}", "first_name": "Sim",
            "last_name": f"Buyer {number}", "email": f"sim-{run}-{number}@example.test",
            "phone": f"(212) 555-{number % 10000:04d}", "zip_code": zip_code,
            "intent": "buy", "timeframe": "0-3 months", "campaign": "clozings simulate",
            "message": "Posted by clozings simulate."}


class Command(BaseCommand):
    help = ("Post leads at a steady rate through the HTTP API of a running `clozings run` "
            "and report accepted, rejected, delivered and intake latency.")

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--leads", type=int, default=200, help="how many (default 200)")
        parser.add_argument("--rate", type=float, default=20.0,
                            help="leads per second (default 20)")
        parser.add_argument("--host", default=None,
                            help=f"the running app (default http://{settings.CLOZINGS_DOMAIN}"
                                 ":8000)")
        parser.add_argument("--key", default=None,
                            help="a lead source's key (default: the demo lead source's)")
        parser.add_argument("--zip", action="append", dest="zips", default=None,
                            help=f"a ZIP to send leads to, repeatable (default {DEMO_ZIP})")
        parser.add_argument("--batch-share", type=float, default=0.2,
                            help="share of the leads sent through /api/v1/leads/batch in "
                                 f"groups of {BATCH_SIZE} (default 0.2)")
        parser.add_argument("--adapter", choices=ADAPTERS, default="native",
                            help="how the leads are sent (default native)")
        parser.add_argument("--wait", type=float, default=30.0,
                            help="seconds to wait for deliveries after sending (default 30)")

    def handle(self, *args, leads: int, rate: float, host: str | None, key: str | None,
               zips: list[str] | None, batch_share: float, adapter: str, wait: float,
               **options) -> None:
        if adapter != "native":
            raise CommandError(
                f"--adapter {adapter}: simulate does not speak the {adapter} adapter yet; "
                "it sends through the native API (/api/v1/leads and /api/v1/leads/batch).")
        if not 1 <= leads <= MAX_LEADS:
            raise CommandError(f"--leads must be between 1 and {MAX_LEADS}, not {leads}.")
        if not 0 < rate <= MAX_RATE:
            raise CommandError(f"--rate must be above 0 and at most {MAX_RATE:.0f}.")
        if not 0 <= batch_share <= 1:
            raise CommandError("--batch-share must be between 0 and 1.")
        if wait < 0:
            raise CommandError("--wait cannot be negative.")
        api = Api(host or f"http://{settings.CLOZINGS_DOMAIN}:8000", key or self._demo_key())
        self._check(api)

        run = secrets.token_hex(4)
        zips = zips or [DEMO_ZIP]
        bodies = [lead(run, n, zips[n % len(zips)]) for n in range(leads)]
        sends = self._plan(bodies, batch_share)
        tally = Tally()
        started = time.monotonic()
        with ThreadPoolExecutor(SENDERS) as pool:
            for first, group in sends:
                due = started + first / rate
                while (pause := due - time.monotonic()) > 0:
                    self._progress(tally, leads)
                    time.sleep(min(pause, 0.25))
                pool.submit(self._send, api, group, tally)
            self._progress(tally, leads)
        self._progress(tally, leads, final=True)
        delivered, orphaned, waiting = self._follow(api, tally.accepted, wait)
        self._summary(tally, leads, delivered, orphaned, waiting, time.monotonic() - started)

    # --- before sending -------------------------------------------------------------
    @staticmethod
    def _demo_key() -> str:
        path = demo_key_path()
        if not path.exists():
            raise CommandError(f"No lead source key: {path} is missing. Run `clozings demo` "
                               "(`clozings run` does) or pass --key.")
        return path.read_text().strip()

    @staticmethod
    def _check(api: Api) -> None:
        """The app answers and takes the key (a lead id nobody has: 404, not 401)."""
        try:
            status, body = api.call("GET", "/api/v1/leads/0")
        except OSError as error:
            raise CommandError(f"Nothing answers at {api.host} ({error}); start it with "
                               "`clozings run` or give --host.") from None
        if status in (401, 403):
            raise CommandError(f"{api.host} refused the key: "
                               f"{body.get('error', {}).get('message', status)}")

    @staticmethod
    def _plan(bodies: list[dict], batch_share: float) -> list[tuple[int, list[dict]]]:
        """(index of the first lead, the leads) per request: the first leads one by one,
        the last `batch_share` of them in groups of BATCH_SIZE."""
        singles = len(bodies) - round(len(bodies) * batch_share)
        sends = [(n, [body]) for n, body in enumerate(bodies[:singles])]
        sends += [(n, bodies[n:n + BATCH_SIZE]) for n in range(singles, len(bodies), BATCH_SIZE)]
        return sends

    # --- sending --------------------------------------------------------------------
    @staticmethod
    def _send(api: Api, group: list[dict], tally: Tally) -> None:
        began = time.perf_counter()
        try:
            if len(group) == 1:
                status, body = api.call("POST", "/api/v1/leads", group[0])
                results = [body] if status in (200, 202) else []
            else:
                status, body = api.call("POST", "/api/v1/leads/batch", {"leads": group})
                results = body.get("results", []) if status == 207 else []
        except OSError as error:
            status, body, results = 0, {"error": {"message": str(error)}}, []
        ms = (time.perf_counter() - began) * 1000
        with tally.lock:
            tally.sent += len(group)
            tally.latencies_ms.append(ms)
            if not results:
                tally.failed.append(f"HTTP {status}: "
                                    f"{body.get('error', {}).get('message', body)}")
                tally.rejected += len(group)
            for result in results:
                if result.get("status") in ("received", "routed", "delivered", "orphaned"):
                    tally.accepted.append(result["id"])
                else:
                    tally.rejected += 1

    def _progress(self, tally: Tally, total: int, *, final: bool = False) -> None:
        with tally.lock:
            line = (f"\rsimulate: sent {tally.sent}/{total}  accepted {len(tally.accepted)}"
                    f"  rejected {tally.rejected}")
        self.stdout.write(line, ending="\n" if final else "")
        self.stdout.flush()

    # --- after sending --------------------------------------------------------------
    def _follow(self, api: Api, ids: list[int], wait: float) -> tuple[int, int, int]:
        """(delivered, orphaned, still waiting) among the accepted leads."""
        pending = set(ids)
        delivered = orphaned = 0
        deadline = time.monotonic() + wait
        while pending:
            for lead_id in sorted(pending):
                status, body = api.call("GET", f"/api/v1/leads/{lead_id}")
                if status == 200 and body["status"] in ("delivered", "orphaned"):
                    pending.discard(lead_id)
                    delivered += body["status"] == "delivered"
                    orphaned += body["status"] == "orphaned"
            if not pending or time.monotonic() > deadline:
                break
            self.stdout.write(f"\rsimulate: delivered {delivered}, waiting for "
                              f"{len(pending)}", ending="")
            self.stdout.flush()
            time.sleep(0.5)
        return delivered, orphaned, len(pending)

    def _summary(self, tally: Tally, total: int, delivered: int, orphaned: int,
                 waiting: int, seconds: float) -> None:
        latencies = tally.latencies_ms
        lines = [
            f"\nsimulate: {total} leads in {seconds:.1f} s",
            f"  accepted:  {len(tally.accepted)}",
            f"  rejected:  {tally.rejected}",
            f"  delivered: {delivered}" + (f"  (orphaned {orphaned})" if orphaned else "")
            + (f"  (not yet: {waiting})" if waiting else ""),
            f"  intake latency per request: p50 {percentile(latencies, 0.5):.1f} ms, "
            f"p99 {percentile(latencies, 0.99):.1f} ms over {len(latencies)} requests",
            "  adapters (Follow Up Boss, Meta, Google): not simulated; simulate sends "
            "through the native intake API only",
        ]
        lines += [f"  failed request: {failure}" for failure in tally.failed[:5]]
        self.stdout.write("\n".join(lines))
