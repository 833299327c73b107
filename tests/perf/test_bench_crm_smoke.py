"""The CRM benchmark runs end to end at a tiny size, so it cannot rot unnoticed (its own
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
def test_crm_benchmark_prints_pages_touch_report_team_home_and_added_column_figures(
        tmp_path):
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
                                     "crm_follow_up_report_agent", "crm_team_home")
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
    for bench in ("crm_follow_up_report_team", "crm_follow_up_report_agent", "crm_team_home"):
        assert by_size[(bench, 400)]["same_queries"] is True
    assert set(by_size[("crm_team_home", 400)]["parts_ms"]) == {"team_week"}
    added = by_size[("crm_migrate_add_column", 3)]
    assert added["baseline"]["bench"] == "crm_migrate_add_column_one_schema"
    assert added["progress_lines"] == 3
    assert added["last_progress_line"].startswith("migrate_schemas: 3/3 ")
    [results] = tmp_path.glob("*.jsonl")
    assert results.read_text().splitlines() == done.stdout.splitlines()
