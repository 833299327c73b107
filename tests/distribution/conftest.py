"""Distribution tests: the ZIP catalogue is present; real Celery workers on demand."""

from __future__ import annotations

import os
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from django.conf import settings

from clozings.platform.tenancy import in_schema
from tests.billing.conftest import database_url_of_tests
from tests.territories.factories import ensure_catalogue


@pytest.fixture(autouse=True)
def _catalogue(django_db_setup, django_db_blocker) -> None:
    with django_db_blocker.unblock():
        ensure_catalogue()


# --- a real Celery worker -------------------------------------------------------------------
class Workers:
    """Celery worker processes on the test database and this test's Redis, started (and
    killed) on demand; every one still running is stopped at the end."""

    def __init__(self, log_dir: Path):
        self.log_dir = log_dir
        self.processes: list[subprocess.Popen] = []

    def start(self, **extra_env: str) -> subprocess.Popen:
        from clozings.platform.celery import app

        name = f"distribution-{uuid.uuid4().hex[:8]}@%h"
        env = {**os.environ, "DJANGO_SETTINGS_MODULE": "clozings.platform.settings_test",
               "DATABASE_URL": database_url_of_tests(), "REDIS_URL": settings.REDIS_URL,
               **extra_env}
        log = (self.log_dir / f"{name.split('@')[0]}.log").open("w")
        process = subprocess.Popen(
            [str(Path(sys.executable).with_name("celery")), "-A", "clozings.platform.celery",
             "worker", "--pool=solo", "--concurrency=1", "-n", name, "--loglevel=WARNING",
             "--without-gossip", "--without-mingle", "--without-heartbeat"],
            env=env, stdout=log, stderr=subprocess.STDOUT)
        self.processes.append(process)
        deadline = time.monotonic() + 30
        while not app.control.ping(destination=[name.replace("%h", os.uname().nodename)],
                                   timeout=0.5):
            assert process.poll() is None and time.monotonic() < deadline, \
                "the worker did not start"
        return process

    def stop_all(self) -> None:
        for process in self.processes:
            if process.poll() is None:
                process.terminate()
                process.wait(20)


@pytest.fixture
def workers(transactional_db, tmp_path) -> Iterator[Workers]:
    from clozings.platform.celery import app

    app.control.purge()  # messages left by earlier tests name rows that are gone
    started = Workers(tmp_path)
    yield started
    started.stop_all()


@pytest.fixture
def crm_cleanup(acme, globex) -> Iterator[None]:
    """Committed tests write into acme's and globex's CRM, which a flush of the public
    tables does not reach: empty them afterwards."""
    yield
    from clozings.crm.models import Activity, Lead, Task

    for brokerage in (acme.brokerage, globex.brokerage):
        with in_schema(brokerage.schema_name):
            Task.objects.all().delete()
            Activity.objects.all().delete()
            Lead.objects.all().delete()
