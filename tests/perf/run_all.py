"""Run every benchmark (tests/perf/bench_*.py) against a database of its own.

Prints one JSON line per figure on stdout (progress goes to stderr) and writes the same
lines to bench-results/<timestamp>.jsonl. See tests/perf/harness.py for the settings.
"""

from __future__ import annotations

import datetime
import importlib
import json
import logging
import os
import pkgutil
import secrets
import sys
from pathlib import Path

from tests.perf import harness


def benchmark_modules() -> list[str]:
    """tests/perf/bench_*.py, or those BENCH_ONLY names (comma-separated, e.g.
    "provisioning,reservations")."""
    package = Path(__file__).parent
    only = {f"bench_{name.strip().removeprefix('bench_')}"
            for name in os.environ.get("BENCH_ONLY", "").split(",") if name.strip()}
    return sorted(f"tests.perf.{info.name}" for info in pkgutil.iter_modules([str(package)])
                  if info.name.startswith("bench_") and (not only or info.name in only))


def main() -> int:
    server_url = os.environ.get("DATABASE_URL") or harness.DEFAULT_DATABASE_URL
    bench_url, bench_name = harness.bench_database_url(server_url)
    context = harness.context_from_env()
    results_dir = Path(os.environ.get("BENCH_RESULTS_DIR", "bench-results"))
    results_dir.mkdir(parents=True, exist_ok=True)
    stamp = datetime.datetime.now(datetime.UTC).strftime("%Y%m%dT%H%M%SZ")
    results_path = results_dir / f"{stamp}.jsonl"

    context.progress(f"database {bench_name}; {context.brokerages} brokerages; "
                     f"{context.runs} runs per figure")
    harness.recreate_database(server_url, bench_name)
    os.environ["DATABASE_URL"] = bench_url
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "clozings.platform.settings")
    # The production settings' web server refuses the development key (startup.py).
    os.environ.setdefault("SECRET_KEY", secrets.token_urlsafe(50))
    try:
        import django

        django.setup()
        # One log line per provisioned brokerage would drown the progress lines.
        logging.getLogger("clozings").setLevel(logging.WARNING)
        from django.core.management import call_command

        context.progress("migrating the public schema and the template")
        call_command("migrate_schemas", interactive=False, verbosity=0)
        with results_path.open("w") as results:
            for name in benchmark_modules():
                context.progress(f"running {name}")
                for result in importlib.import_module(name).run(context):
                    line = json.dumps(result)
                    print(line, flush=True)
                    results.write(line + "\n")
    finally:
        from django.db import connections

        connections.close_all()
        if os.environ.get("BENCH_KEEP_DB") != "1":
            harness.drop_database(server_url, bench_name)
    context.progress(f"results in {results_path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
