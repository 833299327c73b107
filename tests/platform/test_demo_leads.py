"""`clozings demo` gives the demo agent a demo ZIP and makes a demo lead source whose key
`clozings simulate` finds in CLOZINGS_HOME."""

import pytest
from django.core.management import call_command

from clozings.distribution import services as distribution_services
from clozings.distribution.models import LeadSource
from clozings.platform.management.commands.demo import (
    AGENT,
    DEMO_COST_PER_LEAD_CENTS,
    DEMO_SLUG,
    DEMO_SOURCE,
    DEMO_ZIP,
    demo_key_path,
    demo_sources_path,
    read_demo_sources,
)
from clozings.territories.models import Reservation
from tests.territories.factories import ensure_catalogue


@pytest.mark.django_db
def test_demo_gives_the_agent_a_zip_and_a_lead_source_whose_key_works(tmp_path, monkeypatch):
    monkeypatch.setenv("CLOZINGS_HOME", str(tmp_path))
    ensure_catalogue()

    call_command("demo", verbosity=0)
    key = demo_key_path().read_text().strip()
    call_command("demo", verbosity=0)  # a second run changes nothing

    reservation = Reservation.objects.get(seat__email=AGENT.email)
    assert (reservation.territory.zip_code, reservation.status) == (DEMO_ZIP, "active")
    assert reservation.brokerage.slug == DEMO_SLUG
    source = LeadSource.objects.get(name=DEMO_SOURCE)
    assert distribution_services.source_for_key(key) == source
    # one source per adapter, each key and webhook secret where simulate reads them
    stored = read_demo_sources()
    assert set(stored) == {"native", "fub", "meta", "google"}
    adapters = {name: LeadSource.objects.get(pk=entry["id"]) for name, entry in stored.items()}
    assert {name: source.adapter for name, source in adapters.items()} == {
        "native": "native", "fub": "follow_up_boss", "meta": "meta", "google": "google"}
    assert all(distribution_services.source_for_key(entry["key"]) == adapters[name]
               for name, entry in stored.items())
    assert stored["meta"]["app_secret"] == adapters["meta"].settings["app_secret"]
    assert stored["google"]["google_key"] == adapters["google"].settings["google_key"]
    assert stored["native"]["key"] == key
    # demo leads cost what a portal's do, so the demo's reports show a return on them
    assert {source.cost_per_lead_cents for source in adapters.values()} == {
        DEMO_COST_PER_LEAD_CENTS}
    assert DEMO_COST_PER_LEAD_CENTS > 0
    assert oct(demo_sources_path().stat().st_mode & 0o777) == "0o600"
    assert demo_key_path().read_text().strip() == key
    assert oct(demo_key_path().stat().st_mode & 0o777) == "0o600"


@pytest.mark.django_db
def test_demo_issues_a_new_key_when_the_stored_one_is_gone(tmp_path, monkeypatch):
    monkeypatch.setenv("CLOZINGS_HOME", str(tmp_path))
    ensure_catalogue()
    call_command("demo", verbosity=0)
    old = demo_key_path().read_text().strip()
    demo_key_path().unlink()

    call_command("demo", verbosity=0)

    new = demo_key_path().read_text().strip()
    assert new != old and distribution_services.source_for_key(old) is None
    assert distribution_services.source_for_key(new) == LeadSource.objects.get(name=DEMO_SOURCE)
    assert read_demo_sources()["native"]["key"] == new
    assert LeadSource.objects.count() == 4
