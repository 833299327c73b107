"""The fault run (`make faults`) end to end at a tiny size: the worker killed twice, Redis
and PostgreSQL restarted once, and every lead delivered exactly once."""

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


@pytest.mark.slow
def test_fault_run_delivers_every_lead_exactly_once_and_prints_the_figure():
    env = {**os.environ, "FAULT_LEADS": "60", "FAULT_RATE": "30", "FAULT_KILLS": "2",
           "FAULT_BROKERAGES": "2", "FAULT_TIMEOUT": "240"}

    done = subprocess.run([sys.executable, "-m", "tests.perf.faults"], cwd=ROOT, env=env,
                          capture_output=True, text=True, timeout=600)

    assert done.returncode == 0, done.stderr[-3000:] + done.stdout
    [figure] = [json.loads(line) for line in done.stdout.splitlines()]
    assert figure["ok"] and figure["leads"] == 60
    assert (figure["lost"], figure["duplicated"]) == (0, 0)
    assert figure["crm_leads"] == figure["delivered"] == 60
    assert (figure["worker_kills"], figure["redis_restarts"],
            figure["postgres_restarts"]) == (2, 1, 1)
