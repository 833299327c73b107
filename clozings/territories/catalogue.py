"""The ZIP catalogue: every active US ZIP of the `zipcodes` package, loaded in bulk.

Default tier of a ZIP (applied when a ZIP first enters the catalogue; staff may change it):
- `premium`: a standard (street-delivery) ZIP of a city that has at least
  PREMIUM_CITY_ZIPS standard ZIPs in its state, i.e. the dense metros where most leads are;
- `basic`: PO box, unique (one organisation) and military ZIPs, which few home buyers live in;
- `standard`: every other ZIP.

Loading is idempotent: COPY into a temporary table, then one INSERT ... ON CONFLICT that
refreshes names and coordinates but keeps what staff set (tier, price, slots).
"""

from __future__ import annotations

import logging
import zoneinfo
from collections import Counter

from django.db import connection as default_connection
from django.db import transaction

logger = logging.getLogger(__name__)

PREMIUM_CITY_ZIPS = 10
DEFAULT_TIER_PRICES = {"basic": 1900, "standard": 4900, "premium": 9900}
_COLUMNS = ("zip_code", "city", "state", "county", "time_zone", "latitude", "longitude", "tier")


def catalogue_rows() -> list[tuple]:
    """One row per active ZIP: the columns in _COLUMNS, with the default tier."""
    import zipcodes

    zips = [z for z in zipcodes.list_all() if z["active"] and len(z["zip_code"]) == 5]
    metro = Counter((z["city"], z["state"]) for z in zips if z["zip_code_type"] == "STANDARD")
    known = zoneinfo.available_timezones()
    # A ZIP with an unknown zone name takes the most common zone of its state.
    state_zone: dict[str, str] = {}
    for (state, zone), _count in Counter((z["state"], z["timezone"]) for z in zips
                               if z["timezone"] in known).most_common():
        state_zone.setdefault(state, zone)
    rows = []
    for z in zips:
        if z["zip_code_type"] == "STANDARD":
            tier = "premium" if metro[(z["city"], z["state"])] >= PREMIUM_CITY_ZIPS else "standard"
        else:
            tier = "basic"
        zone = z["timezone"] if z["timezone"] in known else state_zone.get(z["state"], "")
        rows.append((z["zip_code"], z["city"][:64], z["state"], (z["county"] or "")[:64], zone,
                     float(z["lat"]), float(z["long"]), tier))
    return rows


def load_catalogue(*, connection=None) -> int:
    """Bring the territory table up to the `zipcodes` package; return the number of ZIPs."""
    connection = connection or default_connection
    rows = catalogue_rows()
    with transaction.atomic(using=connection.alias), connection.cursor() as cursor:
        cursor.execute(
            "INSERT INTO territories_tierprice (tier, price_cents, updated_at) "
            "SELECT tier, price, now() FROM unnest(%s::varchar[], %s::int[]) AS t(tier, price) "
            "ON CONFLICT (tier) DO NOTHING",
            [list(DEFAULT_TIER_PRICES), list(DEFAULT_TIER_PRICES.values())])
        cursor.execute(
            "CREATE TEMPORARY TABLE territory_load (zip_code varchar(5), city varchar(64), "
            "state varchar(2), county varchar(64), time_zone varchar(64), "
            "latitude double precision, longitude double precision, tier varchar(20))")
        with cursor.cursor.copy(f"COPY territory_load ({', '.join(_COLUMNS)}) FROM STDIN") as copy:
            for row in rows:
                copy.write_row(row)
        cursor.execute(
            "INSERT INTO territories_territory "
            "(zip_code, city, state, county, time_zone, latitude, longitude, tier, slots, "
            " is_active) "
            "SELECT zip_code, city, state, county, time_zone, latitude, longitude, tier, 1, true "
            "FROM territory_load "
            "ON CONFLICT (zip_code) DO UPDATE SET city = EXCLUDED.city, state = EXCLUDED.state, "
            "county = EXCLUDED.county, time_zone = EXCLUDED.time_zone, "
            "latitude = EXCLUDED.latitude, longitude = EXCLUDED.longitude, is_active = true")
        # ZIPs the package no longer lists stop being offered; their holders keep them.
        cursor.execute(
            "UPDATE territories_territory SET is_active = false WHERE is_active "
            "AND NOT EXISTS (SELECT 1 FROM territory_load l "
            "WHERE l.zip_code = territories_territory.zip_code)")
        cursor.execute("DROP TABLE territory_load")
    logger.info("territories.catalogue_loaded", extra={"zip_codes": len(rows)})
    return len(rows)
