"""Source adapters: what Follow Up Boss-style senders, Meta Lead Ads and Google Ads lead
forms send, mapped onto the intake's lead fields (`services.receive_lead` takes them).

Mapping only, and the two checks a webhook needs (Meta's body signature, Google's key) and
the Graph API read of a Meta lead; the writes are in services.py.
"""

from __future__ import annotations

import hashlib
import hmac
import re
from decimal import Decimal, InvalidOperation

import requests
from django.conf import settings
from django.utils.crypto import constant_time_compare

from clozings.distribution.models import LeadSource
from clozings.platform.errors import DomainError, Unavailable

# The longest text each lead field keeps (the model's lengths).
LIMITS = {"external_id": 200, "first_name": 100, "last_name": 100, "email": 254, "phone": 40,
          "zip_code": 10, "timeframe": 100, "message": 5000, "campaign": 200}
MAX_PRICE_CENTS = 10**12
_ZIP = re.compile(r"^\s*(\d{5})(?:[-\s]?\d{4})?\s*$")


def clean_text(value) -> str:
    """A sender's value as one line of text ('' for anything that is not text or a number):
    no NUL character, no lone surrogate (PostgreSQL keeps neither)."""
    if isinstance(value, bool) or not isinstance(value, str | int | float):
        return ""
    text = str(value).replace("\x00", "")
    return text.encode("utf-8", "replace").decode("utf-8").strip()


def clean_json(value):
    """`value` with every text made storable (see clean_text), structure kept."""
    if isinstance(value, dict):
        return {clean_json(str(key)): clean_json(item) for key, item in value.items()}
    if isinstance(value, list):
        return [clean_json(item) for item in value]
    if isinstance(value, str):
        return value.replace("\x00", "").encode("utf-8", "replace").decode("utf-8")
    return value


def _clip(data: dict) -> dict:
    return {key: value[:LIMITS[key]] if isinstance(value, str) and key in LIMITS else value
            for key, value in data.items()}


def us_zip(value) -> str:
    """The 5-digit ZIP of '10001' or '10001-1234'; other text as sent (intake says why)."""
    text = clean_text(value)
    match = _ZIP.match(text)
    return match.group(1) if match else text


def split_name(full: str) -> tuple[str, str]:
    first, _, last = clean_text(full).partition(" ")
    return first, last.strip()


def _cents(dollars) -> int | None:
    try:
        cents = int(Decimal(str(dollars)) * 100)
    except (InvalidOperation, ValueError, OverflowError):
        return None
    return cents if 0 <= cents <= MAX_PRICE_CENTS else None


_AMOUNT = re.compile(r"(\d+(?:[.,]\d+)*)\s*([km])?", re.IGNORECASE)


def price_range(text: str) -> tuple[int | None, int | None]:
    """(low, high) in cents of a price range as people type it: "$300k-$500k",
    "$300,000 - $500,000", "Under $200K", "$1M+", "1.5m"; (None, None) when unreadable."""
    text = clean_text(text).lower()
    amounts = []
    for number, unit in _AMOUNT.findall(text):
        number = number.replace(",", "")
        scale = {"k": 1_000, "m": 1_000_000}.get(unit.lower(), 1)
        try:
            cents = _cents(Decimal(number) * scale)
        except InvalidOperation:
            cents = None
        if cents is not None:
            amounts.append(cents)
    if not amounts:
        return None, None
    if len(amounts) >= 2:
        low, high = sorted(amounts[:2])
        return low, high
    if any(word in text for word in ("under", "below", "less", "up to", "max")):
        return None, amounts[0]
    return amounts[0], None


# --- Follow Up Boss events -------------------------------------------------------------------
SELL_TYPES = {"seller inquiry"}
BUY_TYPES = {"property inquiry", "viewed property", "saved property", "property search",
             "saved property search", "visited open house"}


def follow_up_boss_lead(event: dict) -> dict:
    """The lead fields of a Follow Up Boss event (shape checked by the API).

    Its external id is the event's `id` when sent, else the person's (their `id`, first
    email or first phone): the same person again is the lead already known."""
    person = event.get("person") or {}
    prop = event.get("property") or {}
    emails = [clean_text(item.get("value")) for item in person.get("emails") or []]
    phones = [clean_text(item.get("value")) for item in person.get("phones") or []]
    emails, phones = [e for e in emails if e], [p for p in phones if p]
    first, last = clean_text(person.get("firstName")), clean_text(person.get("lastName"))
    if not first and not last:
        first, last = split_name(person.get("name") or "")
    event_id = clean_text(event.get("id"))
    person_key = clean_text(person.get("id")) or (emails[0].lower() if emails else "") or (
        re.sub(r"\D", "", phones[0]) if phones else "")
    external_id = f"event:{event_id}" if event_id else (
        f"person:{person_key}" if person_key else "")
    kind = clean_text(event.get("type")).lower()
    intent = "sell" if kind in SELL_TYPES else "buy" if kind in BUY_TYPES else ""
    price = _cents(prop["price"]) if prop.get("price") is not None else None
    message = clean_text(event.get("message")) or clean_text(event.get("description"))
    return _clip({
        "external_id": external_id, "first_name": first, "last_name": last,
        "email": emails[0] if emails else "", "phone": phones[0] if phones else "",
        "zip_code": us_zip(prop.get("code") or prop.get("zip") or ""), "intent": intent,
        "price_min_cents": price, "price_max_cents": price, "timeframe": "",
        "message": message, "campaign": clean_text(event.get("source")), "consent": None})


# --- Meta Lead Ads ---------------------------------------------------------------------------
DEFAULT_META_FIELDS = {"full_name": "full_name", "first_name": "first_name",
                       "last_name": "last_name", "email": "email", "phone_number": "phone",
                       "zip_code": "zip_code", "post_code": "zip_code", "zip": "zip_code",
                       "postal_code": "zip_code"}
META_TARGETS = {"full_name", "first_name", "last_name", "email", "phone", "zip_code",
                "timeframe", "message", "campaign"}


def meta_signature_ok(source: LeadSource, body: bytes, header: str) -> bool:
    """Whether `X-Hub-Signature-256` is `sha256=<HMAC-SHA256 of the raw body with the
    source's app secret>` (constant-time; a source with no secret accepts nothing)."""
    secret = clean_text((source.settings or {}).get("app_secret"))
    expected = "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()
    return bool(secret) and constant_time_compare(header.strip().lower(), expected)


def meta_verify_token_ok(source: LeadSource, token: str) -> bool:
    expected = clean_text((source.settings or {}).get("verify_token"))
    return bool(expected) and constant_time_compare(token, expected)


def meta_field_map(source: LeadSource, form_id: str) -> dict[str, str]:
    """Meta field name -> our field, for one form: the defaults, then the source's map."""
    maps = (source.settings or {}).get("field_map")
    form_map = maps.get(form_id) if isinstance(maps, dict) else None
    extra = {str(key).lower(): value for key, value in (form_map or {}).items()
             if value in META_TARGETS} if isinstance(form_map, dict) else {}
    return {**DEFAULT_META_FIELDS, **extra}


def meta_lead(source: LeadSource, leadgen_id: str, form_id: str, lead: dict) -> dict:
    """The lead fields of a lead read from the Graph API; `custom_disclaimer_responses`
    (the ticked consent boxes) kept as the consent."""
    mapping = meta_field_map(source, clean_text(lead.get("form_id")) or form_id)
    values: dict[str, str] = {}
    for item in lead.get("field_data") or []:
        if not isinstance(item, dict):
            continue
        target = mapping.get(clean_text(item.get("name")).lower())
        answers = item.get("values")
        answer = clean_text(answers[0]) if isinstance(answers, list) and answers else ""
        if target and answer and target not in values:
            values[target] = answer
    if "full_name" in values and not (values.get("first_name") or values.get("last_name")):
        values["first_name"], values["last_name"] = split_name(values["full_name"])
    responses = lead.get("custom_disclaimer_responses")
    consent = {"custom_disclaimer_responses": clean_json(responses),
               "given_at": clean_text(lead.get("created_time")) or None} \
        if isinstance(responses, list) else None
    return _clip({
        "external_id": leadgen_id, "first_name": values.get("first_name", ""),
        "last_name": values.get("last_name", ""), "email": values.get("email", ""),
        "phone": values.get("phone", ""), "zip_code": us_zip(values.get("zip_code", "")),
        "intent": "", "price_min_cents": None, "price_max_cents": None,
        "timeframe": values.get("timeframe", ""), "message": values.get("message", ""),
        "campaign": values.get("campaign") or clean_text(lead.get("campaign_name")),
        "consent": consent})


META_LEAD_FIELDS = "id,created_time,ad_id,form_id,campaign_name,field_data," \
                   "custom_disclaimer_responses,is_organic"


def fetch_meta_lead(source: LeadSource, leadgen_id: str) -> dict:
    """The lead from the Graph API (`META_GRAPH_API_BASE`) with the source's page token.
    Unavailable when the API does not answer or answers 5xx/429; a DomainError
    `meta_graph_refused` for another refusal or an answer that is not a lead."""
    token = clean_text((source.settings or {}).get("page_access_token"))
    if not token:
        raise DomainError("The source has no page_access_token in its settings.",
                          code="meta_graph_refused")
    url = f"{settings.META_GRAPH_API_BASE.rstrip('/')}/{leadgen_id}"
    try:
        response = requests.get(url, params={"access_token": token, "fields": META_LEAD_FIELDS},
                                timeout=settings.META_GRAPH_TIMEOUT_SECONDS)
    except requests.RequestException as exc:
        raise Unavailable(f"The Graph API did not answer: {type(exc).__name__}.") from None
    if response.status_code == 429 or response.status_code >= 500:
        raise Unavailable(f"The Graph API answered {response.status_code}.")
    if response.status_code != 200:
        raise DomainError(f"The Graph API answered {response.status_code}: "
                          f"{response.text[:300]}", code="meta_graph_refused")
    try:
        lead = response.json()
    except ValueError:
        lead = None
    if not isinstance(lead, dict) or not isinstance(lead.get("field_data", []), list):
        raise DomainError("The Graph API's answer is not a lead.", code="meta_graph_refused")
    return clean_json(lead)


# --- Google Ads lead forms -------------------------------------------------------------------
def google_key_ok(source: LeadSource, key: str) -> bool:
    expected = clean_text((source.settings or {}).get("google_key"))
    return bool(expected) and constant_time_compare(key, expected)


def google_lead(body: dict) -> dict:
    """The lead fields of a Google Ads lead form webhook (shape checked by the API)."""
    columns: dict[str, str] = {}
    for column in body.get("user_column_data") or []:
        key = clean_text(column.get("column_id")).upper()
        if key and key not in columns:
            columns[key] = clean_text(column.get("string_value"))
    first, last = columns.get("FIRST_NAME", ""), columns.get("LAST_NAME", "")
    if not first and not last:
        first, last = split_name(columns.get("FULL_NAME", ""))
    low, high = price_range(columns.get("PRICE_RANGE", ""))
    campaign = clean_text(body.get("campaign_id"))
    return _clip({
        "external_id": clean_text(body.get("lead_id")), "first_name": first,
        "last_name": last, "email": columns.get("EMAIL", ""),
        "phone": columns.get("PHONE_NUMBER", ""),
        "zip_code": us_zip(columns.get("POSTAL_CODE", "")), "intent": "",
        "price_min_cents": low, "price_max_cents": high,
        "timeframe": columns.get("PURCHASE_TIMELINE", ""), "message": "",
        "campaign": f"google campaign {campaign}" if campaign else "", "consent": None})
