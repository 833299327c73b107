"""CRM tests: the ZIP catalogue is present (leads arrive through a territory)."""

from __future__ import annotations

import pytest

from tests.territories.factories import ensure_catalogue


@pytest.fixture(autouse=True)
def _catalogue(django_db_setup, django_db_blocker) -> None:
    with django_db_blocker.unblock():
        ensure_catalogue()
