"""The territory search: one box that takes a ZIP, "City, ST", a city or a state, and a
"within N miles" choice that applies when the box holds a ZIP.

The form turns what was typed into the keyword arguments of `selectors.territory_rows`
(`cleaned_data["query"]`), a sentence that says what was searched (`"summary"`), and, for
text the catalogue does not know, an error on the box with suggestions to tap.
"""

from __future__ import annotations

import re

from django import forms
from django.http import QueryDict

from clozings.territories import selectors
from clozings.territories.services import MAX_PRICE_CENTS

# USPS codes of every state, district, territory and military "state" in the catalogue.
STATES = {
    "AL": "Alabama", "AK": "Alaska", "AZ": "Arizona", "AR": "Arkansas", "CA": "California",
    "CO": "Colorado", "CT": "Connecticut", "DE": "Delaware", "DC": "District of Columbia",
    "FL": "Florida", "GA": "Georgia", "HI": "Hawaii", "ID": "Idaho", "IL": "Illinois",
    "IN": "Indiana", "IA": "Iowa", "KS": "Kansas", "KY": "Kentucky", "LA": "Louisiana",
    "ME": "Maine", "MD": "Maryland", "MA": "Massachusetts", "MI": "Michigan",
    "MN": "Minnesota", "MS": "Mississippi", "MO": "Missouri", "MT": "Montana",
    "NE": "Nebraska", "NV": "Nevada", "NH": "New Hampshire", "NJ": "New Jersey",
    "NM": "New Mexico", "NY": "New York", "NC": "North Carolina", "ND": "North Dakota",
    "OH": "Ohio", "OK": "Oklahoma", "OR": "Oregon", "PA": "Pennsylvania", "RI": "Rhode Island",
    "SC": "South Carolina", "SD": "South Dakota", "TN": "Tennessee", "TX": "Texas",
    "UT": "Utah", "VT": "Vermont", "VA": "Virginia", "WA": "Washington",
    "WV": "West Virginia", "WI": "Wisconsin", "WY": "Wyoming",
    "AS": "American Samoa", "GU": "Guam", "MP": "Northern Mariana Islands",
    "PR": "Puerto Rico", "VI": "U.S. Virgin Islands", "FM": "Micronesia",
    "MH": "Marshall Islands", "PW": "Palau",
    "AA": "Armed Forces Americas", "AE": "Armed Forces Europe", "AP": "Armed Forces Pacific",
}
_STATE_BY_NAME = {name.lower(): code for code, name in STATES.items()}
RADIUS_CHOICES = [("", "Off"), ("5", "5 miles"), ("10", "10 miles"), ("25", "25 miles"),
                  ("50", "50 miles")]
# Links made before the one-box search could ask for any radius up to this.
LEGACY_MAX_RADIUS = 100
LEGACY_PARAMS = ("zip_code", "city", "state", "near", "radius_miles")
# A ZIP, or ZIP+4 (the catalogue knows the first five digits).
_ZIP = re.compile(r"^([0-9]{5})(?:-[0-9]{4})?$")
_NUMBERISH = re.compile(r"^[0-9 -]+$")
# Abbreviations the catalogue spells out in some cities and not in others.
_ABBREVIATIONS = {"st": "Saint", "ste": "Sainte", "ft": "Fort", "mt": "Mount"}
_EXPANSIONS = {"saint": "St", "sainte": "Ste", "fort": "Ft", "mount": "Mt"}
EXAMPLES = "a ZIP like 60606, a city like Chicago, IL, or a state like IL"


def search_data(params: QueryDict) -> dict[str, str] | None:
    """What the search form reads from a query string: `q` and `within`, or, for links
    made before the one-box search, the old fields put into one box. None when the
    query string asks for no search at all (a first visit, or only stray parameters)."""
    if params.get("q", "").strip():
        return {"q": params["q"], "within": params.get("within", "").strip()}
    old = {name: params.get(name, "").strip() for name in LEGACY_PARAMS}
    if old["near"]:
        return {"q": old["near"], "within": old["radius_miles"]}
    if old["zip_code"]:
        return {"q": old["zip_code"], "within": params.get("within", "").strip()}
    if old["city"] or old["state"]:
        return {"q": ", ".join(v for v in (old["city"], old["state"]) if v), "within": ""}
    return None


def _spellings(city: str) -> list[str]:
    """The city as typed, then with its first word abbreviated or spelled out."""
    first, _, rest = city.partition(" ")
    key = first.lower().rstrip(".")
    other = _ABBREVIATIONS.get(key) or _EXPANSIONS.get(key)
    return [city, f"{other} {rest}"] if other and rest else [city]


def _places(places: list[tuple[str, str]]) -> list[tuple[str, str]]:
    return [(f"{city}, {state}", f"{city}, {state}") for city, state in places]


def _state_code(text: str) -> str | None:
    """"IL", "il", "Illinois" -> "IL"; anything else -> None."""
    text = text.strip().rstrip(".")
    if text.upper() in STATES:
        return text.upper()
    return _STATE_BY_NAME.get(text.lower())


class TerritorySearchForm(forms.Form):
    q = forms.CharField(
        label="ZIP, city or state", required=False, max_length=100,
        widget=forms.TextInput(attrs={
            "type": "search", "placeholder": "60606 or Chicago, IL", "enterkeyhint": "search",
            "autocomplete": "off", "autocapitalize": "words", "spellcheck": "false"}),
        error_messages={"max_length": "That is too long for a ZIP, city or state."})
    within = forms.ChoiceField(
        label="Within", required=False, choices=RADIUS_CHOICES,
        error_messages={"invalid_choice": "Choose a distance from the list."})

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        # (label, what to put in the box) pairs to tap, beside an error or a note
        self.suggestions: list[tuple[str, str]] = []
        self.fields["within"].choices = self._radius_choices()

    def _radius_choices(self) -> list[tuple[str, str]]:
        """The list, plus the exact radius of an old link (like 2 or 7.5 miles)."""
        raw = (self.data.get("within") or "").strip() if self.is_bound else ""
        if raw in dict(RADIUS_CHOICES):
            return RADIUS_CHOICES
        try:
            miles = float(raw)
        except ValueError:
            return RADIUS_CHOICES
        if not 0 < miles <= LEGACY_MAX_RADIUS:
            return RADIUS_CHOICES
        return [*RADIUS_CHOICES, (raw, f"{miles:g} miles")]

    def clean(self):
        data = super().clean()
        text = " ".join((data.get("q") or "").replace(",", ", ").split()).strip(" ,")
        data["query"], data["notes"] = None, []
        if not text or self.errors:
            return data
        text = re.sub(r"\s+,", ",", text)
        radius = float(data["within"]) if data.get("within") else None
        match = _ZIP.match(text)
        if match:
            self._zip(data, match[1], radius)
        elif _NUMBERISH.match(text):
            self.add_error("q", "A ZIP code has 5 digits, like 60606.")
        else:
            self._place(data, text)
            if radius and data["query"] is not None:
                data["notes"].append("The distance applies when you search a ZIP.")
        return data

    def _zip(self, data: dict, zip_code: str, radius: float | None) -> None:
        territory = selectors.territory_for_zip(zip_code=zip_code)
        if territory is None:
            self.add_error("q", f"There is no territory for ZIP {zip_code}. Check the number.")
        elif radius:
            data["query"] = {"near": territory, "radius_miles": radius}
            data["summary"] = f"within {radius:g} miles of {zip_code}"
        else:
            data["query"] = {"zip_code": zip_code}
            data["summary"] = f"for {zip_code}"

    def _place(self, data: dict, text: str) -> None:
        """A state, a city, or "City, ST" (the comma may be left out)."""
        city, comma, state_text = text.rpartition(",")
        city = city.strip(" ,")
        if comma:
            state = _state_code(state_text)
            if state is None:
                self.add_error("q", f"“{state_text.strip()}” is not a US state. Use two "
                                    "letters after the comma, like Chicago, IL.")
                return
            if not city:
                self._state(data, state)
                return
            self._city(data, city, state)
            return
        state = _state_code(text)
        if state is not None and (len(text) == 2 or not selectors.city_places(
                names=_spellings(text))):
            self._state(data, state)
            return
        words = text.split(" ")
        for size in (1, 2, 3):  # "Chicago IL", "Raleigh North Carolina"
            state = _state_code(" ".join(words[-size:])) if len(words) > size else None
            if state and any(s == state for _c, s in selectors.city_places(
                    names=_spellings(" ".join(words[:-size])))):
                self._city(data, " ".join(words[:-size]), state)
                return
        if len(text) == 2 and text.isalpha() and not selectors.city_places(names=[text]):
            self.add_error("q", f"“{text}” is not a US state. Try {EXAMPLES}.")
            return
        self._city(data, text, None)

    def _state(self, data: dict, state: str) -> None:
        data["query"] = {"state": state}
        data["summary"] = f"in {STATES[state]} ({state})"

    def _city(self, data: dict, city: str, state: str | None) -> None:
        places = selectors.city_places(names=_spellings(city))
        if not places:
            self.suggestions = _places(selectors.cities_starting(prefix=city[:4], state=state))
            self.add_error("q", f"We know no city called “{city}”. " + (
                "Check the spelling." if self.suggestions else f"Try {EXAMPLES}."))
            return
        name = places[0][0]
        states = [s for _c, s in places]
        if state is not None and state not in states:
            self.add_error("q", f"There is no {name} in {STATES[state]}. Check the state.")
            self.suggestions = _places(places[:3])
            return
        if state is None and len(states) == 1:
            state = states[0]
        data["query"] = {"city": name, **({"state": state} if state else {})}
        data["summary"] = f"in {name}, {state}" if state else f"in {name}"
        if state is None:
            data["notes"].append(f"There is a {name} in {len(states)} states. Add the "
                                 f"state, like {name}, {states[0]}, to see one.")
            self.suggestions = _places(places[:3])
        whole_state = _state_code(city)
        if whole_state is not None:
            data["notes"].append(f"These are ZIPs of the city {name}. For the whole state, "
                                 f"search {whole_state}.")
            self.suggestions.append((f"All of {STATES[whole_state]}", whole_state))


# "49", "49.5", "49.00", "$1,049.99": dollars with at most two decimals.
_DOLLARS = re.compile(r"^\$?([0-9]{1,3}(?:,[0-9]{3})+|[0-9]+)(?:\.([0-9]{1,2}))?$")


def cents_as_dollars(cents: int | None) -> str:
    """4900 -> "49.00", what a staff price box shows (None: empty)."""
    return "" if cents is None else f"{cents // 100}.{cents % 100:02d}"


class DollarsField(forms.Field):
    """A monthly price typed in dollars ("49" or "49.00"), cleaned to integer cents."""

    default_error_messages = {
        "invalid": "Enter a price in dollars, like 49 or 49.00.",
        "too_much": "A price cannot be more than $%(most)s a month.",
    }

    def __init__(self, **kwargs):
        kwargs.setdefault("widget", forms.TextInput(attrs={
            "inputmode": "decimal", "autocomplete": "off", "maxlength": "20"}))
        super().__init__(**kwargs)

    def prepare_value(self, value):
        return cents_as_dollars(value) if isinstance(value, int) else value

    def to_python(self, value) -> int | None:
        text = value.strip() if isinstance(value, str) else ""
        if not text:
            return None
        match = _DOLLARS.match(text) if len(text) <= 20 else None
        if match is None:
            raise forms.ValidationError(self.error_messages["invalid"], code="invalid")
        cents = int(match[1].replace(",", "")) * 100 + int((match[2] or "0").ljust(2, "0"))
        if cents > MAX_PRICE_CENTS:
            raise forms.ValidationError(self.error_messages["too_much"], code="too_much",
                                        params={"most": f"{MAX_PRICE_CENTS // 100:,}"})
        return cents
