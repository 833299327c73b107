"""The benchmark harness and the provisioning benchmark run end to end at a tiny size,
so they cannot rot unnoticed."""

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from django.conf import settings

ROOT = Path(__file__).resolve().parents[2]


@pytest.mark.slow
def test_provisioning_benchmark_prints_and_records_one_json_line_per_figure(tmp_path):
    # the test database's server, and a database of the benchmark's own beside it
    name = settings.DATABASES["default"]["NAME"]
    env = {**os.environ, "BENCH_ONLY": "provisioning", "BENCH_BROKERAGES": "3", "BENCH_RUNS": "2",
           "BENCH_DATABASE": f"{name}_bench_smoke", "BENCH_RESULTS_DIR": str(tmp_path)}

    done = subprocess.run([sys.executable, "-m", "tests.perf.run_all"], cwd=ROOT, env=env,
                          capture_output=True, text=True, timeout=300)

    assert done.returncode == 0, done.stderr
    figures = [json.loads(line) for line in done.stdout.splitlines()]
    assert {(f["bench"], f["brokerages"]) for f in figures} == {
        ("brokerage_schema_by_migrating", 1), ("brokerage_schema_copy", 1),
        ("brokerage_schema_copy", 3), ("provision_brokerage_by_migrating", 1),
        ("provision_brokerage", 1), ("provision_brokerage", 3),
        ("signup_confirm", 1), ("signup_confirm", 3),
        ("migrate_schemas_one_schema", 1), ("migrate_schemas_nothing_to_apply", 1),
        ("migrate_schemas_nothing_to_apply", 3),
        ("migrate_schemas_nothing_to_apply_django_tenants", 3)}
    assert all(f["median_ms"] > 0 and f["unit"] == "ms" and "load_avg" in f for f in figures)
    assert {f["runs"] for f in figures} == {1, 2}  # django-tenants' own command runs once
    compared = [f for f in figures if f["baseline"]]
    assert len(compared) == 9
    assert all(f["ratio"] == round(f["median_ms"] / f["baseline"]["median_ms"], 3)
               for f in compared)
    [results] = tmp_path.glob("*.jsonl")
    assert results.read_text().splitlines() == done.stdout.splitlines()
    assert "3 brokerages present" in done.stderr
