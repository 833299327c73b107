"""`clozings run` after a run killed with SIGKILL stops the embedded PostgreSQL the killed
run left behind. (Its own module, beside tests/platform/test_run.py whose helpers it uses,
so pytest-xdist can run the two slow end-to-end runs at the same time.)"""

from __future__ import annotations

import pytest

from tests.platform.test_run import (
    _alive,
    _embedded_environment,
    _free_port,
    _start,
    _stop,
    _wait_until_healthy,
)


@pytest.mark.slow
def test_a_run_after_one_killed_with_sigkill_stops_the_embedded_postgresql(tmp_path):
    # given: a run killed with SIGKILL (it cannot clean up; PostgreSQL outlives it)
    home = tmp_path / "home"
    env = _embedded_environment(home)
    killed_log = tmp_path / "killed.log"
    port = _free_port()
    killed = _start(port, env, killed_log, "--no-demo")
    try:
        _wait_until_healthy(port, killed, killed_log)
    finally:
        killed.kill()
        killed.wait(30)
    postmaster = int((home / "pgdata" / "postmaster.pid").read_text().split()[0])
    assert _alive(postmaster)

    # when: another run starts and is stopped with Ctrl-C
    log = tmp_path / "run.log"
    port = _free_port()  # the killed run's web server may still be letting go of its own
    run = _start(port, env, log, "--no-demo")
    try:
        _wait_until_healthy(port, run, log)
    finally:
        exit_code = _stop(run)

    # then: it stopped PostgreSQL too
    assert exit_code == 0, log.read_text()
    assert not _alive(postmaster)
    assert not (home / "pgdata" / "postmaster.pid").exists()
