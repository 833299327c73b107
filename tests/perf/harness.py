"""What every benchmark shares: its own database, timing, and one JSON line per figure.

A benchmark module is `tests/perf/bench_<name>.py` with `run(context) -> list[dict]`;
`python -m tests.perf.run_all` (what `make bench` runs) finds and runs them all.

Environment:
- DATABASE_URL: the PostgreSQL server; benchmarks create and drop their own database there
- BENCH_DATABASE: that database's name (default: DATABASE_URL's name + "_bench")
- BENCH_BROKERAGES: brokerages present for the "at scale" figures (default 1000)
- BENCH_RUNS: timed runs per figure; the median is reported (default 5)
- BENCH_RESULTS_DIR: where <timestamp>.jsonl is written (default bench-results)
- BENCH_KEEP_DB: 1 keeps the database afterwards (default: dropped)
- BENCH_ONLY: comma-separated benchmarks to run, e.g. "provisioning" (default: all)
"""

from __future__ import annotations

import os
import statistics
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from urllib.parse import unquote, urlsplit

DEFAULT_DATABASE_URL = "postgres://postgres@127.0.0.1:5432/clozings"


@dataclass
class BenchContext:
    brokerages: int
    runs: int

    def progress(self, message: str) -> None:
        print(f"[bench] {message}", file=sys.stderr, flush=True)


def context_from_env() -> BenchContext:
    return BenchContext(brokerages=int(os.environ.get("BENCH_BROKERAGES", "1000")),
                        runs=int(os.environ.get("BENCH_RUNS", "5")))


def bench_database_url(database_url: str) -> tuple[str, str]:
    """(URL of the benchmark database, its name) on the server of `database_url`."""
    parts = urlsplit(database_url)
    name = os.environ.get("BENCH_DATABASE") or (unquote(parts.path.lstrip("/")) + "_bench")
    return parts._replace(path="/" + name).geturl(), name


def _server_connection(database_url: str):
    import environ
    import psycopg

    config = environ.Env.db_url_config(database_url)
    return psycopg.connect(
        dbname="postgres", host=unquote(config.get("HOST") or "") or None,
        port=config.get("PORT") or None, user=config.get("USER") or None,
        password=config.get("PASSWORD") or None, autocommit=True)


def recreate_database(database_url: str, name: str) -> None:
    with _server_connection(database_url) as server:
        server.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        server.execute(f'CREATE DATABASE "{name}"')


def drop_database(database_url: str, name: str) -> None:
    with _server_connection(database_url) as server:
        server.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def time_runs(action: Callable[[], object], *, runs: int,
              before: Callable[[], object] | None = None,
              after: Callable[[], object] | None = None) -> list[float]:
    """Milliseconds of each run of `action`; `before`/`after` run untimed around each."""
    timings = []
    for _ in range(runs):
        if before:
            before()
        started = time.perf_counter()
        action()
        timings.append((time.perf_counter() - started) * 1000)
        if after:
            after()
    return timings


def figure(bench: str, timings: list[float], *, baseline: dict | None = None,
           **extra) -> dict:
    """One figure: the median of the timings, beside its baseline and the ratio to it."""
    median = round(statistics.median(timings), 2)
    result = {"bench": bench, "median_ms": median, "unit": "ms", "runs": len(timings), **extra}
    result["baseline"] = baseline and {key: baseline[key] for key in (
        "bench", "median_ms", "brokerages") if key in baseline}
    result["ratio"] = (round(median / baseline["median_ms"], 3)
                       if baseline and baseline.get("median_ms") else None)
    return result
