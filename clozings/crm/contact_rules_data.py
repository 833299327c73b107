"""The platform's defaults for when calls and texts may reach a lead, as data, each with its
source (see ../shared/CONTACT-RULES.md). Not legal advice: the citations are the statutes as we
know them and sources disagree in places, so a brokerage overrides a state with a
StateContactRule row (crm.contact_rules reads both), never beyond the federal window.

Times are the lead's local wall-clock time; `end` is exclusive (20:00 means the last
message starts before 20:00).
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import time


@dataclass(frozen=True)
class WindowRule:
    start: time
    end: time
    sunday_start: time | None = None  # None: same as weekdays
    sunday_end: time | None = None
    no_sundays: bool = False
    no_holidays: bool = False
    max_per_24h: int = 3
    source: str = ""

    def stricter(self, other: WindowRule) -> WindowRule:
        """The rule that satisfies both (a lead whose ZIP and area code name two states)."""
        return WindowRule(
            start=max(self.start, other.start), end=min(self.end, other.end),
            sunday_start=_max_opt(self.sunday_start, other.sunday_start),
            sunday_end=_min_opt(self.sunday_end, other.sunday_end),
            no_sundays=self.no_sundays or other.no_sundays,
            no_holidays=self.no_holidays or other.no_holidays,
            max_per_24h=min(self.max_per_24h, other.max_per_24h),
            source="; ".join(s for s in (self.source, other.source) if s))

    def window_on(self, weekday: int) -> tuple[time, time] | None:
        """The day's window (Monday is 0), or None when nothing may go out that day."""
        if weekday == 6:
            if self.no_sundays:
                return None
            start = max(self.start, self.sunday_start or self.start)
            end = min(self.end, self.sunday_end or self.end)
            return (start, end) if start < end else None
        return (self.start, self.end) if self.start < self.end else None


def _max_opt(a: time | None, b: time | None) -> time | None:
    return max(x for x in (a, b) if x is not None) if (a or b) else None


def _min_opt(a: time | None, b: time | None) -> time | None:
    return min(x for x in (a, b) if x is not None) if (a or b) else None


TCPA = "47 CFR 64.1200(c)(1) (TCPA): no solicitation before 8 a.m. or after 9 p.m. local time"

# Everywhere: the federal window, and at most 3 automated calls or texts per 24 h (the
# product's choice everywhere; the law in FL, OK and MD).
FEDERAL = WindowRule(start=time(8), end=time(21), max_per_24h=3,
                     source=TCPA + "; 3 per 24 h: product default (FL/OK/MD law)")

_RULES: dict[str, WindowRule] = {
    "FL": WindowRule(time(8), time(20), source=(
        "Fla. Stat. 501.059(8)(a) (Florida Telephone Solicitation Act, as amended 2021): "
        "8 a.m.-8 p.m., at most 3 calls or texts per 24 h on the same subject")),
    "OK": WindowRule(time(8), time(20), source=(
        "Okla. Stat. tit. 15, 775C.4 (Telephone Solicitation Act of 2022): 8 a.m.-8 p.m., "
        "at most 3 per 24 h")),
    "MD": WindowRule(time(8), time(20), source=(
        "Md. Com. Law 14-4503 (Stop the Spam Calls Act, 2023): 8 a.m.-8 p.m., at most 3 "
        "per 24 h")),
    "WA": WindowRule(time(8), time(20), source="RCW 80.36.390(3): 8 a.m.-8 p.m."),
    "TX": WindowRule(time(9), time(21), sunday_start=time(12), sunday_end=time(21), source=(
        "Tex. Bus. & Com. Code 301.051: 9 a.m.-9 p.m., Sunday noon-9 p.m.; texts included "
        "from 2025-09-01 (SB 140)")),
    "AL": WindowRule(time(8), time(21), no_sundays=True, no_holidays=True, source=(
        "Ala. Code 8-19C (Telephone Solicitation Act) and Ala. PSC rules: no Sundays or "
        "holidays")),
    "LA": WindowRule(time(8), time(21), no_sundays=True, no_holidays=True, source=(
        "La. R.S. 45:844.11 et seq. (Telephone Solicitation Relief Act): no Sundays or "
        "legal holidays")),
    "MS": WindowRule(time(8), time(21), no_sundays=True, source=(
        "Miss. Code 77-3-701 et seq. (Telephone Solicitation Act): no Sundays")),
    "CT": WindowRule(time(9), time(20), source="Conn. Gen. Stat. 42-288a(c): 9 a.m.-8 p.m."),
    "KY": WindowRule(time(10), time(21), source="KRS 367.46955(15): 10 a.m.-9 p.m."),
    "MI": WindowRule(time(9), time(21), source="MCL 445.111b: 9 a.m.-9 p.m."),
    "MN": WindowRule(time(9), time(21), source="Minn. Stat. 325E.27: 9 a.m.-9 p.m."),
    "NM": WindowRule(time(9), time(21), source="N.M. Stat. 57-12-22: 9 a.m.-9 p.m."),
    "NV": WindowRule(time(9), time(20), source="NRS 228.590 (NAC): 9 a.m.-8 p.m."),
    "MA": WindowRule(time(8), time(20), source="940 CMR 26.04(1): 8 a.m.-8 p.m."),
}

# The 3-per-24-h limit is law in FL, OK and MD and the product's default elsewhere.
STATE_RULES: dict[str, WindowRule] = {
    state: replace(rule, source=f"{state}: {rule.source}") for state, rule in _RULES.items()}

# A lead whose time zone cannot be told (no ZIP zone, a non-geographic number): the window
# must be open in every continental zone at once, inside the strictest hours any state uses
# (9:00-20:00): 12:00-20:00 Eastern, 9:00-17:00 Pacific. Product choice.
UNKNOWN_ZONES = ("America/New_York", "America/Chicago", "America/Denver",
                 "America/Los_Angeles")
UNKNOWN_RULE = WindowRule(time(9), time(20), source=(
    "time zone unknown: 9 a.m.-8 p.m. in every continental zone (product choice)"))

US_STATE_NAMES = {
    "alabama": "AL", "alaska": "AK", "arizona": "AZ", "arkansas": "AR", "california": "CA",
    "colorado": "CO", "connecticut": "CT", "delaware": "DE", "florida": "FL",
    "georgia": "GA", "hawaii": "HI", "idaho": "ID", "illinois": "IL", "indiana": "IN",
    "iowa": "IA", "kansas": "KS", "kentucky": "KY", "louisiana": "LA", "maine": "ME",
    "maryland": "MD", "massachusetts": "MA", "michigan": "MI", "minnesota": "MN",
    "mississippi": "MS", "missouri": "MO", "montana": "MT", "nebraska": "NE", "nevada": "NV",
    "new hampshire": "NH", "new jersey": "NJ", "new mexico": "NM", "new york": "NY",
    "north carolina": "NC", "north dakota": "ND", "ohio": "OH", "oklahoma": "OK",
    "oregon": "OR", "pennsylvania": "PA", "rhode island": "RI", "south carolina": "SC",
    "south dakota": "SD", "tennessee": "TN", "texas": "TX", "utah": "UT", "vermont": "VT",
    "virginia": "VA", "washington": "WA", "washington state": "WA", "west virginia": "WV",
    "wisconsin": "WI", "wyoming": "WY", "washington d.c.": "DC", "washington, d.c.": "DC",
    "district of columbia": "DC", "puerto rico": "PR",
}
