"""The leads benchmark runs end to end at a tiny size, so it cannot rot unnoticed (its own
module, so pytest-xdist can run it beside the other benchmarks' smoke tests)."""

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from django.conf import settings

ROOT = Path(__file__).resolve().parents[2]


@pytest.mark.slow
def test_leads_benchmark_prints_each_figure_beside_its_baseline(tmp_path):
    name = settings.DATABASES["default"]["NAME"]
    env = {**os.environ, "BENCH_ONLY": "leads", "BENCH_BROKERAGES": "2", "BENCH_RUNS": "1",
           "BENCH_INTAKE_SECONDS": "0.2", "BENCH_ROUTING_LEADS": "10",
           "BENCH_SPEED_SECONDS": "0.2", "BENCH_BATCH_LEADS": "20",
           "BENCH_DATABASE": f"{name}_bench_leads_smoke",
           "BENCH_RESULTS_DIR": str(tmp_path)}

    done = subprocess.run([sys.executable, "-m", "tests.perf.run_all"], cwd=ROOT, env=env,
                          capture_output=True, text=True, timeout=300)

    assert done.returncode == 0, done.stderr
    figures = {f["bench"]: f for f in map(json.loads, done.stdout.splitlines())}
    assert set(figures) == {
        "healthz_paced_p50", "healthz_paced_p99", "lead_intake_p50", "lead_intake_p99",
        "lead_delivery_raw_sql", "lead_routing_delivery", "lead_delivery_raw_sql_per_lead",
        "speed_to_lead_p50", "speed_to_lead_p99", "speed_to_lead_alone_p50",
        "speed_to_lead_alone_p99", "lead_batch_intake", "lead_batch_insert_executemany",
        "lead_batch_insert_copy", "new_lead_mail_p50", "new_lead_mail_p99"}
    assert all(f["median_ms"] > 0 and f["brokerages"] == 2 for f in figures.values())
    assert figures["lead_intake_p99"]["baseline"]["bench"] == "healthz_paced_p99"
    assert figures["lead_routing_delivery"]["baseline"]["bench"] == "lead_delivery_raw_sql"
    assert figures["lead_routing_delivery"]["leads_per_s"] > 0
    assert figures["speed_to_lead_p99"]["baseline"]["bench"] == "speed_to_lead_alone_p99"
    assert figures["lead_batch_intake"]["baseline"]["bench"] == "lead_batch_insert_executemany"
    assert figures["lead_batch_intake"]["leads_per_s"] > 0
    assert all("load_avg" in f for f in figures.values())
    # every speed-run lead's new-lead mail reached the loopback SMTP server
    assert figures["new_lead_mail_p99"]["unsent_after_wait"] == 0
