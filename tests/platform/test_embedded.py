"""Embedded services: localstripe's state stays under CLOZINGS_HOME, private to this run."""

from __future__ import annotations

import subprocess
from pathlib import Path

import requests

from clozings.platform import embedded

AUTH = {"Authorization": "Bearer sk_test_embedded"}


def _start(home: Path, monkeypatch) -> tuple[str, subprocess.Popen]:
    monkeypatch.setenv("CLOZINGS_HOME", str(home))
    return embedded.start_localstripe()


def _stop(process: subprocess.Popen) -> None:
    process.terminate()
    process.wait(10)


def _customer(api_base: str, customer_id: str) -> int:
    return requests.get(f"{api_base}/v1/customers/{customer_id}", headers=AUTH,
                        timeout=10).status_code


def test_localstripe_keeps_its_state_under_clozings_home_and_nowhere_else(
        tmp_path, monkeypatch):
    # given: a run under one home makes a customer
    first, other = tmp_path / "first", tmp_path / "other"
    api_base, process = _start(first, monkeypatch)
    try:
        made = requests.post(f"{api_base}/v1/customers", data={"email": "c@example.test"},
                             headers=AUTH, timeout=10)
        assert made.status_code == 200, made.text
        customer_id = made.json()["id"]
    finally:
        _stop(process)

    # then: its state is a file only this user can read, under that home
    state = first / "localstripe" / "state.pickle"
    assert state.stat().st_mode & 0o777 == 0o600

    # when: a run under another home starts, then the first home's again
    api_base, process = _start(other, monkeypatch)
    try:
        # then: the other run does not see the first run's customer
        assert _customer(api_base, customer_id) == 404
    finally:
        _stop(process)
    api_base, process = _start(first, monkeypatch)
    try:
        # and the first home's run still has it
        assert _customer(api_base, customer_id) == 200
    finally:
        _stop(process)


def test_localstripe_refuses_a_state_file_others_can_write(tmp_path):
    state = tmp_path / "state.pickle"
    state.write_bytes(b"planted")
    state.chmod(0o666)

    result = subprocess.run(embedded.localstripe_command(port=embedded.free_port(), state=state),
                            capture_output=True, text=True, timeout=60)

    assert result.returncode != 0
    assert "not a file only this user can write" in result.stderr

