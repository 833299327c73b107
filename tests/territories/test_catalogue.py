"""The ZIP catalogue: every active US ZIP of the `zipcodes` package, with a default tier,
loaded by the migrations and refreshed without losing what staff set."""

from __future__ import annotations

import zipcodes

from clozings.territories.catalogue import PREMIUM_CITY_ZIPS, load_catalogue
from clozings.territories.models import Territory


def _package(zip_code: str) -> dict:
    [record] = zipcodes.matching(zip_code)
    return record


def test_every_active_zip_of_the_package_is_in_the_catalogue(db):
    active = {z["zip_code"] for z in zipcodes.list_all() if z["active"]}

    assert set(Territory.objects.values_list("zip_code", flat=True)) == active
    assert len(active) > 40_000


def test_a_zip_carries_the_packages_facts(db):
    record = _package("90210")

    t = Territory.objects.get(zip_code="90210")

    assert (t.city, t.state, t.county, t.time_zone) == (
        record["city"], record["state"], record["county"], record["timezone"])
    assert (t.latitude, t.longitude) == (float(record["lat"]), float(record["long"]))
    assert (t.slots, t.price_cents, t.is_active) == (1, None, True)


def test_default_tiers_follow_the_documented_rule(db):
    new_york = Territory.objects.filter(city="New York", state="NY")
    # a street ZIP of a dense metro, a PO-box ZIP, a street ZIP of a small town
    assert Territory.objects.get(zip_code="10001").tier == "premium"
    assert new_york.filter(tier="premium").count() >= PREMIUM_CITY_ZIPS
    assert (_package("10008")["zip_code_type"], territory_tier("10008")) == ("PO BOX", "basic")
    assert (_package("03046")["zip_code_type"], territory_tier("03046")) == (
        "STANDARD", "standard")


def territory_tier(zip_code: str) -> str:
    return Territory.objects.get(zip_code=zip_code).tier


def test_a_zone_the_package_gets_wrong_takes_its_states_zone(db):
    assert _package("99634")["timezone"] == "Napakiak"  # not a zone name

    assert Territory.objects.get(zip_code="99634").time_zone == "America/Anchorage"


def test_reloading_refreshes_facts_and_keeps_staff_settings(db):
    Territory.objects.filter(zip_code="03046").update(
        city="Wrong", price_cents=1234, slots=3, tier="premium")
    before = Territory.objects.count()

    loaded = load_catalogue()

    t = Territory.objects.get(zip_code="03046")
    assert (t.city, t.price_cents, t.slots, t.tier) == ("Dunbarton", 1234, 3, "premium")
    assert Territory.objects.count() == before == loaded
