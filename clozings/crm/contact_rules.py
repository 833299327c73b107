"""The one rules check every automated message and every call started from the app passes.

`check(lead=..., channel=..., now=...)` answers: may this go out now, and if not, from when
(None: not until something changes, such as consent or an opt-in), and why. Callers run it
in the lead's brokerage schema.

- Window: in the lead's local time, from the ZIP's time zone and the phone area code's;
  when they differ the window must be open in both (the overlap). States' stricter rules
  are data (contact_rules_data, each with its source), overridden per brokerage by
  StateContactRule rows; the ZIP's state and the area code's state both apply (the
  stricter of the two). Unknown zone: a narrow window open in every continental zone.
- Calls and texts only: at most `max_per_24h` (3) outbound calls and texts a lead in any
  24 hours, counting the agent's and the worker's alike (the states that have the limit
  count every solicitation call).
- Consent: an automated text or call needs stored consent evidence covering its channel
  (the intake's consent with that channel listed, or a later ConsentEvent given/restored).
  A call an agent starts by hand needs none (the lead asked to be contacted).
- Opted out, or the phone/email on the brokerage's do-not-contact list: nothing automated,
  and no call from the app either.
- Email (product choice): not held by the calling window (CAN-SPAM has none, and a mail is
  read when the reader chooses) and not counted in the 3 per 24 h; never to an opted-out
  or do-not-contact lead, and needs no prior consent (CAN-SPAM is opt-out).
"""

from __future__ import annotations

import zoneinfo
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta
from functools import lru_cache

import phonenumbers
from django.db.models import Q
from phonenumbers import geocoder
from phonenumbers import timezone as phone_timezone

from clozings.crm.contact_rules_data import (
    FEDERAL,
    STATE_RULES,
    UNKNOWN_RULE,
    UNKNOWN_ZONES,
    US_STATE_NAMES,
    WindowRule,
)
from clozings.crm.models import Activity, ConsentEvent, DoNotContact, Lead, StateContactRule

CALL, TEXT, EMAIL = "call", "text", "email"
_CHANNELS = {"call": CALL, "auto_call": CALL, "text": TEXT, "auto_text": TEXT,
             "email": EMAIL, "auto_email": EMAIL}
# Reasons that waiting does not cure: the sender skips the step instead of holding it.
PERMANENT = {"opted_out", "do_not_contact", "no_consent", "no_phone", "no_email"}
_SEARCH_DAYS = 10  # the next allowed moment lies within a week (holidays, Sundays)


@dataclass
class Verdict:
    allowed: bool
    not_before: datetime | None  # the next moment it may go (None: allowed now, or never)
    reasons: list[str] = field(default_factory=list)  # stable codes
    messages: list[str] = field(default_factory=list)  # the same, for people
    local_time: datetime | None = None  # the lead's time now (its ZIP's zone, else phone's)
    time_zones: tuple[str, ...] = ()  # the zones the window was checked in
    states: tuple[str, ...] = ()
    rule: WindowRule | None = None

    @property
    def permanent(self) -> bool:
        """Waiting does not help: skip the step rather than hold it."""
        return bool(PERMANENT & set(self.reasons))

    @property
    def reason_text(self) -> str:
        return "; ".join(self.messages)


# --- US federal holidays (5 U.S.C. 6103), with the observed Friday/Monday ----------------
def _nth_weekday(year: int, month: int, weekday: int, n: int) -> date:
    first = date(year, month, 1)
    return first + timedelta(days=(weekday - first.weekday()) % 7 + 7 * (n - 1))


def _last_weekday(year: int, month: int, weekday: int) -> date:
    last = (date(year, month + 1, 1) if month < 12 else date(year + 1, 1, 1)) - timedelta(1)
    return last - timedelta(days=(last.weekday() - weekday) % 7)


@lru_cache(maxsize=64)
def federal_holidays(year: int) -> frozenset[date]:
    """The year's federal holidays, both the date itself and the observed weekday."""
    fixed = [date(year, 1, 1), date(year, 6, 19), date(year, 7, 4), date(year, 11, 11),
             date(year, 12, 25)]
    days = set(fixed)
    for day in fixed:
        if day.weekday() == 5:
            days.add(day - timedelta(days=1))
        elif day.weekday() == 6:
            days.add(day + timedelta(days=1))
    days.update({
        _nth_weekday(year, 1, 0, 3),  # Martin Luther King Jr. Day
        _nth_weekday(year, 2, 0, 3),  # Washington's Birthday
        _last_weekday(year, 5, 0),  # Memorial Day
        _nth_weekday(year, 9, 0, 1),  # Labor Day
        _nth_weekday(year, 10, 0, 2),  # Columbus Day
        _nth_weekday(year, 11, 3, 4),  # Thanksgiving
    })
    if date(year + 1, 1, 1).weekday() == 5:  # next New Year's observed on Dec 31
        days.add(date(year, 12, 31))
    return frozenset(days)


def is_holiday(day: date) -> bool:
    return day in federal_holidays(day.year)


# --- where the lead is ------------------------------------------------------------------
@dataclass(frozen=True)
class Place:
    zones: tuple[str, ...]  # every zone the window must be open in
    states: tuple[str, ...]
    primary_zone: str | None  # the zone the lead's local time is shown in
    known: bool


def _phone_place(phone: str) -> tuple[tuple[str, ...], str | None]:
    try:
        number = phonenumbers.parse(phone, "US")
    except phonenumbers.NumberParseException:
        return (), None
    if phonenumbers.region_code_for_number(number) not in ("US", "PR"):
        return (), None
    zones = tuple(z for z in phone_timezone.time_zones_for_number(number)
                  if z != "Etc/Unknown")
    if len(zones) > 3:  # toll-free and other non-geographic numbers: no place
        return (), None
    description = geocoder.description_for_number(number, "en").strip().lower()
    state = US_STATE_NAMES.get(description)
    if state is None and ", " in description:
        tail = description.rsplit(", ", 1)[1].upper()
        state = tail if tail in US_STATE_NAMES.values() else None
    return zones, state


def _zip_place(lead: Lead) -> tuple[str | None, str | None]:
    zone = lead.time_zone or None
    state = None
    if lead.zip_code:
        from clozings.territories.models import Territory

        row = (Territory.objects.filter(zip_code=lead.zip_code)
               .values_list("time_zone", "state").first())
        if row is not None:
            zone = zone or row[0] or None
            state = row[1] or None
    return zone, state


def place_of(lead: Lead) -> Place:
    zip_zone, zip_state = _zip_place(lead)
    phone_zones, phone_state = _phone_place(lead.phone) if lead.phone else ((), None)
    zones = tuple(dict.fromkeys(z for z in (zip_zone, *phone_zones) if z))
    states = tuple(dict.fromkeys(s for s in (zip_state, phone_state) if s))
    if not zones:
        return Place(zones=UNKNOWN_ZONES, states=states, primary_zone=None, known=False)
    return Place(zones=zones, states=states, primary_zone=zip_zone or zones[0], known=True)


# --- which rule ---------------------------------------------------------------------------
class RuleBook:
    """The state rules in force in this brokerage: the defaults, with its own rows over them
    (loaded once; pass one RuleBook to check a list of leads with one query)."""

    def __init__(self, overrides: dict[str, WindowRule] | None = None) -> None:
        if overrides is None:
            overrides = {row.state: _rule_of_row(row) for row in StateContactRule.objects.all()}
        self.overrides = overrides

    def for_state(self, state: str) -> WindowRule:
        rule = self.overrides.get(state) or STATE_RULES.get(state) or FEDERAL
        # Never beyond the federal window, whatever a row says.
        return rule.stricter(WindowRule(start=FEDERAL.start, end=FEDERAL.end,
                                        max_per_24h=rule.max_per_24h))

    def for_place(self, place: Place) -> WindowRule:
        rule = FEDERAL if place.known else UNKNOWN_RULE.stricter(FEDERAL)
        for state in place.states:
            rule = rule.stricter(self.for_state(state))
        return rule


def _rule_of_row(row: StateContactRule) -> WindowRule:
    return WindowRule(start=row.start, end=row.end, sunday_start=row.sunday_start,
                      sunday_end=row.sunday_end, no_sundays=row.no_sundays,
                      no_holidays=row.no_holidays, max_per_24h=row.max_per_24h,
                      source=f"{row.state}: brokerage rule. {row.source}".strip())


def default_rules() -> list[tuple[str, WindowRule]]:
    """The platform's state defaults, for the rules page."""
    return sorted(STATE_RULES.items())


# --- the window ---------------------------------------------------------------------------
def _open_in_zone(moment: datetime, zone: str, rule: WindowRule) -> bool:
    local = moment.astimezone(zoneinfo.ZoneInfo(zone))
    if rule.no_holidays and is_holiday(local.date()):
        return False
    window = rule.window_on(local.weekday())
    return window is not None and window[0] <= local.time() < window[1]


def _open(moment: datetime, zones: tuple[str, ...], rule: WindowRule) -> bool:
    return all(_open_in_zone(moment, zone, rule) for zone in zones)


def next_open(after: datetime, zones: tuple[str, ...], rule: WindowRule) -> datetime | None:
    """The first moment at or after `after` when the window is open in every zone: `after`
    itself or the opening of some day's window in one of the zones."""
    if _open(after, zones, rule):
        return after
    candidates = []
    for zone in zones:
        tz = zoneinfo.ZoneInfo(zone)
        local_day = after.astimezone(tz).date()
        for offset in range(_SEARCH_DAYS):
            day = local_day + timedelta(days=offset)
            window = rule.window_on(day.weekday())
            if window is None:
                continue
            opening = datetime.combine(day, window[0], tzinfo=tz)
            if opening > after:
                candidates.append(opening)
    for candidate in sorted(candidates):
        if _open(candidate, zones, rule):
            return candidate
    return None


# --- consent, opt-out, do-not-contact -----------------------------------------------------
def has_consent(lead: Lead, channel: str) -> bool:
    """Stored evidence that the lead agreed to automated contact on `channel`: the latest
    consent event decides; without one, the intake's consent listing the channel."""
    latest = lead.consent_events.order_by("-created_at", "-id").first()
    if latest is not None:
        if latest.kind == ConsentEvent.Kind.REVOKED:
            return False
        if latest.via == "intake":
            # the evidence itself says what was agreed to, whatever the event lists
            return channel in _evidence_channels(latest.evidence)
        return channel in (latest.channels or _intake_channels(lead))
    return channel in _intake_channels(lead)


def _intake_channels(lead: Lead) -> list[str]:
    return _evidence_channels(lead.consent)


def _evidence_channels(evidence) -> list[str]:
    consent = evidence if isinstance(evidence, dict) else {}
    if not (consent.get("text") or consent.get("certificate_url")):
        return []  # no wording and no certificate: no evidence
    channels = consent.get("channels")
    return [c for c in channels if isinstance(c, str)] if isinstance(channels, list) else []


def on_do_not_contact(lead: Lead, channel: str) -> bool:
    """Whether the lead's phone (calls, texts) or email (emails) is on the brokerage's list.
    Product choice: either address listed stops every channel (the list is "do not
    contact" this person)."""
    match = Q()
    if lead.phone:
        match |= Q(phone=lead.phone)
    if lead.email:
        match |= Q(email=lead.email.lower())
    return bool(match) and DoNotContact.objects.filter(match).exists()


def _recent_outbound(lead: Lead, now: datetime) -> list[datetime]:
    return list(Activity.objects.filter(
        lead=lead, inbound=False, kind__in=(Activity.Kind.CALL, Activity.Kind.TEXT),
        created_at__gt=now - timedelta(hours=24), created_at__lte=now,
    ).order_by("created_at").values_list("created_at", flat=True))


_MESSAGES = {
    "opted_out": "The lead opted out{via}.",
    "do_not_contact": "On the brokerage's do-not-contact list.",
    "no_consent": "No consent on file for automated {channel}s.",
    "no_phone": "No phone number.",
    "no_email": "No email address.",
    "outside_window": "Outside the calling window in the lead's time zone ({window}).",
    "sunday": "No calls or texts on Sundays in {states}.",
    "holiday": "No calls or texts on holidays in {states}.",
    "daily_limit": "Already {count} calls or texts in 24 hours (the limit).",
    "time_zone_unknown": "The lead's time zone is unknown; a narrow window applies.",
}


def _say(code: str, **kwargs) -> str:
    return _MESSAGES[code].format(**kwargs)


def check(lead: Lead, channel: str, now: datetime, *, automated: bool = True,
          rules: RuleBook | None = None) -> Verdict:
    """May a message (or call) on `channel` reach `lead` at `now`? See the module's doc."""
    kind = _CHANNELS.get(channel)
    if kind is None:
        raise ValueError(f"{channel!r} is not a contact channel.")
    place = place_of(lead)
    rule = (rules or RuleBook()).for_place(place) if kind != EMAIL else FEDERAL
    verdict = Verdict(allowed=True, not_before=None, time_zones=place.zones,
                      states=place.states, rule=rule)
    if place.primary_zone:
        verdict.local_time = now.astimezone(zoneinfo.ZoneInfo(place.primary_zone))

    def deny(code: str, **kwargs) -> None:
        verdict.allowed = False
        verdict.reasons.append(code)
        verdict.messages.append(_say(code, **kwargs))

    address = lead.email if kind == EMAIL else lead.phone
    if not address:
        deny("no_email" if kind == EMAIL else "no_phone")
    if lead.opted_out_at is not None and (automated or kind != EMAIL):
        via = f" ({lead.opted_out_via.replace('_', ' ')})" if lead.opted_out_via else ""
        deny("opted_out", via=via)
    if on_do_not_contact(lead, kind):
        deny("do_not_contact")
    if automated and kind != EMAIL and not has_consent(lead, kind):
        deny("no_consent", channel=kind)
    if verdict.permanent or kind == EMAIL:
        return verdict

    # Calls and texts: the 24-hour limit, then the window, from when the limit allows.
    earliest = now
    recent = _recent_outbound(lead, now)
    if len(recent) >= rule.max_per_24h:
        deny("daily_limit", count=len(recent))
        earliest = recent[len(recent) - rule.max_per_24h] + timedelta(hours=24)
    if not place.known:
        verdict.messages.append(_say("time_zone_unknown"))
    if not _open(now, place.zones, rule):
        states = ", ".join(place.states) or "the lead's state"
        local_days = {now.astimezone(zoneinfo.ZoneInfo(z)).date() for z in place.zones}
        if rule.no_sundays and any(d.weekday() == 6 for d in local_days):
            deny("sunday", states=states)
        elif rule.no_holidays and any(is_holiday(d) for d in local_days):
            deny("holiday", states=states)
        else:
            deny("outside_window", window=_window_text(rule, local_days))
    if not verdict.allowed:
        verdict.not_before = next_open(earliest, place.zones, rule)
    return verdict


def _window_text(rule: WindowRule, local_days: set[date]) -> str:
    sunday = any(d.weekday() == 6 for d in local_days)
    window = rule.window_on(6 if sunday else 0) or (rule.start, rule.end)
    return f"{_clock(window[0])}-{_clock(window[1])}"


def _clock(value: time) -> str:
    return value.strftime("%H:%M")


@dataclass(frozen=True)
class CallStatus:
    """What the lead page shows before the agent calls."""

    local_time: datetime | None
    time_zone: str | None
    allowed: bool
    reason: str  # why not, for people ("" when allowed)
    not_before: datetime | None


def call_status(lead: Lead, now: datetime, *, rules: RuleBook | None = None) -> CallStatus:
    """The lead's local time and whether the agent may call now, with the reason: the same
    check as automated messages, for a call started by hand (no consent needed)."""
    verdict = check(lead, CALL, now, automated=False, rules=rules)
    zone = verdict.local_time.tzinfo.key if verdict.local_time is not None else None
    return CallStatus(local_time=verdict.local_time, time_zone=zone,
                      allowed=verdict.allowed, reason=verdict.reason_text,
                      not_before=verdict.not_before)


# --- a brokerage's own state rules (the admins' page) ---------------------------------------
def save_state_rule(*, state: str, start: time, end: time, sunday_start: time | None = None,
                    sunday_end: time | None = None, no_sundays: bool = False,
                    no_holidays: bool = False, max_per_24h: int = 3, source: str = "",
                    by_id: int | None = None, now: datetime) -> StateContactRule:
    """Set this brokerage's rule for `state` over the platform's default (ValidationError,
    by field, for a state that is not one or a window outside 08:00-21:00)."""
    from django.core.exceptions import ValidationError

    errors: dict[str, list[str]] = {}
    state = (state or "").strip().upper()
    if state not in set(US_STATE_NAMES.values()):
        errors["state"] = ["Choose a US state."]
    if not (FEDERAL.start <= start < end <= FEDERAL.end):
        errors["end"] = ["The window must lie within 08:00-21:00 and end after it starts."]
    if (sunday_start is None) != (sunday_end is None) or (
            sunday_start is not None and not (start <= sunday_start < sunday_end <= end)):
        errors["sunday_end"] = ["Give both Sunday times, inside the weekday window, or none."]
    if not 1 <= max_per_24h <= 10:
        errors["max_per_24h"] = ["Between 1 and 10."]
    if errors:
        raise ValidationError(errors)
    rule, _ = StateContactRule.objects.update_or_create(state=state, defaults={
        "start": start, "end": end, "sunday_start": sunday_start, "sunday_end": sunday_end,
        "no_sundays": no_sundays, "no_holidays": no_holidays, "max_per_24h": max_per_24h,
        "source": source.strip(), "updated_at": now, "updated_by_id": by_id})
    return rule


def delete_state_rule(*, state: str) -> None:
    """Go back to the platform's default for `state` (NotFound when there is no own rule)."""
    from clozings.platform.errors import NotFound

    deleted, _ = StateContactRule.objects.filter(state=(state or "").upper()[:2]).delete()
    if not deleted:
        raise NotFound("This brokerage has no own rule for that state.")
