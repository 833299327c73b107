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
        ("migrate_schemas_one_schema", 1), ("migrate_schemas_nothing_to_apply", 1),
        ("migrate_schemas_nothing_to_apply", 3),
        ("migrate_schemas_nothing_to_apply_django_tenants", 3)}
    assert all(f["median_ms"] > 0 and f["unit"] == "ms" and "load_avg" in f for f in figures)
    assert {f["runs"] for f in figures} == {1, 2}  # django-tenants' own command runs once
    compared = [f for f in figures if f["baseline"]]
    assert len(compared) == 7
    assert all(f["ratio"] == round(f["median_ms"] / f["baseline"]["median_ms"], 3)
               for f in compared)
    [results] = tmp_path.glob("*.jsonl")
    assert results.read_text().splitlines() == done.stdout.splitlines()
    assert "3 brokerages present" in done.stderr


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
        "lead_batch_insert_copy"}
    assert all(f["median_ms"] > 0 and f["brokerages"] == 2 for f in figures.values())
    assert figures["lead_intake_p99"]["baseline"]["bench"] == "healthz_paced_p99"
    assert figures["lead_routing_delivery"]["baseline"]["bench"] == "lead_delivery_raw_sql"
    assert figures["lead_routing_delivery"]["leads_per_s"] > 0
    assert figures["speed_to_lead_p99"]["baseline"]["bench"] == "speed_to_lead_alone_p99"
    assert figures["lead_batch_intake"]["baseline"]["bench"] == "lead_batch_insert_executemany"
    assert figures["lead_batch_intake"]["leads_per_s"] > 0
    assert all("load_avg" in f for f in figures.values())


@pytest.mark.slow
def test_crm_benchmark_prints_pages_touch_report_and_added_column_figures(tmp_path):
    name = settings.DATABASES["default"]["NAME"]
    env = {**os.environ, "BENCH_ONLY": "crm", "BENCH_RUNS": "1", "BENCH_CRM_LEADS": "400",
           "BENCH_CRM_SMALL_LEADS": "100", "BENCH_MIGRATE_BROKERAGES": "3",
           "BENCH_DATABASE": f"{name}_bench_crm_smoke", "BENCH_RESULTS_DIR": str(tmp_path)}

    done = subprocess.run([sys.executable, "-m", "tests.perf.run_all"], cwd=ROOT, env=env,
                          capture_output=True, text=True, timeout=300)

    assert done.returncode == 0, done.stderr
    figures = [json.loads(line) for line in done.stdout.splitlines()]
    by_size = {(f["bench"], f.get("leads", f.get("brokerages"))): f for f in figures}
    assert set(by_size) == {
        (bench, leads) for bench in ("crm_today_page", "crm_lead_page", "crm_today_selector",
                                     "crm_log_activity", "crm_follow_up_report_team",
                                     "crm_follow_up_report_agent")
        for leads in (100, 400)} | {("crm_migrate_add_column_one_schema", 1),
                                    ("crm_migrate_add_column", 3)}
    assert all(f["median_ms"] > 0 and "load_avg" in f for f in figures)
    for bench in ("crm_today_page", "crm_lead_page"):
        big = by_size[(bench, 400)]
        assert big["baseline"]["bench"] == bench and big["agent_leads"] == 20
        assert big["queries"] > 0 and big["same_queries"] is True
    assert by_size[("crm_log_activity", 400)]["queries"] > 0
    assert set(by_size[("crm_follow_up_report_team", 400)]["parts_ms"]) == {
        "lead_figures", "roi_by_territory", "roi_by_source", "by_agent"}
    added = by_size[("crm_migrate_add_column", 3)]
    assert added["baseline"]["bench"] == "crm_migrate_add_column_one_schema"
    assert added["progress_lines"] == 3
    assert added["last_progress_line"].startswith("migrate_schemas: 3/3 ")
    [results] = tmp_path.glob("*.jsonl")
    assert results.read_text().splitlines() == done.stdout.splitlines()
