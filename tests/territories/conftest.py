"""Territory test fixtures: the catalogue is present, and committed seats for tests that
need several real connections at once."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.tenants.factories import ensure_brokerage
from tests.territories.factories import CommittedSeats, ensure_catalogue


@pytest.fixture(autouse=True)
def _catalogue(django_db_setup, django_db_blocker) -> None:
    with django_db_blocker.unblock():
        ensure_catalogue()


@pytest.fixture
def committed_seats(django_db_setup, django_db_blocker) -> Iterator[CommittedSeats]:
    """Writes that really commit (threads see them); everything is removed afterwards,
    so nothing is flushed and the catalogue stays."""
    with django_db_blocker.unblock():
        made = CommittedSeats(brokerage=ensure_brokerage("acme").brokerage)
        try:
            yield made
        finally:
            made.cleanup()
