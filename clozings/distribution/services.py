"""Writes about lead sources and intake: keys (made, rotated, revoked) and inbound leads
(normalised, deduplicated on the source's own id, committed, then routed: the message
leaves after the commit and, in a request, after the answer).

Routing and delivery are in routing.py.
"""

from __future__ import annotations

import hashlib
import logging
import secrets
from dataclasses import dataclass, field
from datetime import timedelta

import phonenumbers
import psycopg
from django.conf import settings
from django.core.exceptions import ValidationError
from django.core.validators import validate_email
from django.db import connection, transaction
from django.db.models import JSONField
from django.utils import timezone
from django.utils.crypto import constant_time_compare

from clozings.distribution import adapters, routing, tasks
from clozings.distribution.models import InboundLead, LeadSource, MetaLeadNotification
from clozings.platform.errors import Conflict, DomainError
from clozings.platform.tenancy import enqueue_after_answer, enqueue_on_commit
from clozings.territories.models import Territory

logger = logging.getLogger(__name__)

KEY_PREFIX = "lsk"
# A digest no key has, compared against when a key's prefix finds no source, so that an
# unknown key costs the same time as a wrong one.
_NO_SUCH_KEY = hashlib.sha256(b"no lead source has this key").hexdigest()


# --- lead sources -----------------------------------------------------------------------
def _hash(key: str) -> str:
    return hashlib.sha256(key.encode()).hexdigest()


def _new_key() -> tuple[str, str]:
    """(prefix, key): `lsk_<12 hex>_<43 url-safe characters>`, 256 bits of randomness."""
    prefix = secrets.token_hex(6)
    return prefix, f"{KEY_PREFIX}_{prefix}_{secrets.token_urlsafe(32)}"


def webhook_url(source: LeadSource) -> str:
    """Where the source posts, by adapter (on the platform host)."""
    scheme = "https" if settings.CLOZINGS_HTTPS else "http"
    port = f":{settings.CLOZINGS_PUBLIC_PORT}" if settings.CLOZINGS_PUBLIC_PORT else ""
    paths = {
        LeadSource.Adapter.NATIVE: "/api/v1/leads",
        LeadSource.Adapter.FOLLOW_UP_BOSS: "/v1/events",
        LeadSource.Adapter.META: f"/api/v1/intake/meta/{source.pk}",
        LeadSource.Adapter.GOOGLE: f"/api/v1/intake/google/{source.pk}",
    }
    return f"{scheme}://{settings.CLOZINGS_DOMAIN}{port}{paths[source.adapter]}"


@dataclass(frozen=True)
class IssuedKey:
    """A source with its key in clear: the only moment the key exists outside its owner."""

    source: LeadSource
    key: str


def create_lead_source(*, name: str, cost_per_lead_cents: int, adapter: str,
                       settings: dict | None = None) -> IssuedKey:
    name = name.strip()
    if not name:
        raise ValidationError({"name": ["Give the source a name."]})
    prefix, key = _new_key()
    source = LeadSource.objects.create(
        name=name, cost_per_lead_cents=cost_per_lead_cents, adapter=adapter,
        settings=settings or {}, key_prefix=prefix, key_hash=_hash(key))
    logger.info("lead_source.created", extra={"lead_source": source.pk, "adapter": adapter})
    return IssuedKey(source=source, key=key)


def rotate_lead_source_key(*, source: LeadSource) -> IssuedKey:
    """A new key; the old one stops working at once."""
    with transaction.atomic():
        source = LeadSource.objects.select_for_update().get(pk=source.pk)
        if source.is_revoked:
            raise Conflict("This lead source is revoked; create a new one.",
                           code="lead_source_revoked")
        prefix, key = _new_key()
        source.key_prefix, source.key_hash = prefix, _hash(key)
        source.rotated_at = timezone.now()
        source.save(update_fields=["key_prefix", "key_hash", "rotated_at"])
    logger.info("lead_source.key_rotated", extra={"lead_source": source.pk})
    return IssuedKey(source=source, key=key)


def revoke_lead_source(*, source: LeadSource) -> LeadSource:
    """The key stops working for good; the source's leads stay in the ledger."""
    with transaction.atomic():
        source = LeadSource.objects.select_for_update().get(pk=source.pk)
        if not source.is_revoked:
            source.revoked_at = timezone.now()
            source.save(update_fields=["revoked_at"])
            logger.info("lead_source.revoked", extra={"lead_source": source.pk})
    return source


def _one_row(model, sql_after_from: str, params: list):
    """One `model` row by raw SQL (every concrete column), without the ORM's compiling:
    the intake path's reads, a fraction of a millisecond each."""
    names = [f.attname for f in model._meta.concrete_fields]
    columns = ", ".join(connection.ops.quote_name(f.column) for f in model._meta.concrete_fields)
    with connection.cursor() as cursor:
        cursor.execute(f"SELECT {columns} FROM {model._meta.db_table} {sql_after_from}", params)
        row = cursor.fetchone()
    return None if row is None else model.from_db(connection.alias, names, row)


def source_for_key(key: str) -> LeadSource | None:
    """The live source a key belongs to, or None. The digest is compared in constant time,
    and a key whose prefix names no source is compared all the same. (One indexed read:
    a rotated or revoked key stops working at once, in every process.)"""
    parts = key.split("_", 2)
    prefix = parts[1] if len(parts) == 3 and parts[0] == KEY_PREFIX else ""
    source = _one_row(LeadSource, "WHERE key_prefix = %s LIMIT 1", [prefix]) if prefix else None
    expected = source.key_hash if source is not None else _NO_SUCH_KEY
    if not constant_time_compare(_hash(key), expected) or source is None:
        return None
    return None if source.is_revoked else source


# --- intake -----------------------------------------------------------------------------
def _zip_in_catalogue(zip_code: str) -> bool:
    """territory_selectors.territory_for_zip(...) is not None, in one plain read."""
    with connection.cursor() as cursor:
        cursor.execute(f"SELECT 1 FROM {Territory._meta.db_table} WHERE zip_code = %s"
                       " AND is_active LIMIT 1", [zip_code])
        return cursor.fetchone() is not None


@dataclass
class Normalised:
    fields: dict
    reasons: list[str] = field(default_factory=list)
    # A well-formed ZIP not yet looked up in the catalogue (normalise_lead looks it up;
    # receive_lead does in its INSERT)
    unchecked_zip: str = ""


def normalise_phone(raw: str) -> str | None:
    """E.164, US numbers by default; None when it is not a possible, valid number."""
    try:
        number = phonenumbers.parse(raw, "US")
    except phonenumbers.NumberParseException:
        return None
    if not phonenumbers.is_valid_number(number):
        return None
    return phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)


def _not_in_catalogue(zip_code: str) -> str:
    return f"ZIP {zip_code} is not in the territory catalogue."


def _normalise(data: dict) -> Normalised:
    """normalise_lead without the catalogue: a well-formed ZIP is left in `unchecked_zip`."""
    fields = {key: data.get(key) for key in (
        "external_id", "first_name", "last_name", "intent", "price_min_cents",
        "price_max_cents", "timeframe", "message", "campaign", "consent")}
    for key in ("external_id", "first_name", "last_name", "intent", "timeframe", "message",
                "campaign"):
        fields[key] = (fields[key] or "").strip()
    reasons: list[str] = []

    raw_phone = (data.get("phone") or "").strip()
    phone = normalise_phone(raw_phone) if raw_phone else None
    raw_email = (data.get("email") or "").strip().lower()
    email = raw_email or None
    if email:
        try:
            validate_email(email)
        except ValidationError:
            email = None
    fields["phone"], fields["email"] = phone or "", email or ""
    if not phone and not email:
        said = []
        if raw_phone:
            said.append(f"the phone '{raw_phone}' is not a valid number")
        if raw_email:
            said.append(f"the email '{raw_email}' is not a valid address")
        reasons.append("No way to contact the lead: "
                       + ("; ".join(said) if said else "send a phone or an email") + ".")

    zip_code = (data.get("zip_code") or "").strip()
    fields["zip_code"] = zip_code[:5]
    unchecked = ""
    if not zip_code:
        reasons.append("No ZIP code: send the 5-digit ZIP the lead is interested in.")
    elif len(zip_code) != 5 or not zip_code.isascii() or not zip_code.isdigit():
        reasons.append(f"'{zip_code}' is not a 5-digit ZIP code.")
        fields["zip_code"] = ""
    else:
        unchecked = zip_code
    return Normalised(fields=fields, reasons=reasons, unchecked_zip=unchecked)


def normalise_lead(data: dict, known_zips: set[str] | None = None) -> Normalised:
    """Clean fields of a lead whose shape the API has checked, and the reasons it cannot
    be routed (none: it can). An unusable phone or email is dropped when the other works.
    `known_zips`: the catalogue's active ZIPs among those of a batch, read once for all."""
    normalised = _normalise(data)
    zip_code, normalised.unchecked_zip = normalised.unchecked_zip, ""
    if zip_code and not (zip_code in known_zips if known_zips is not None
                         else _zip_in_catalogue(zip_code)):
        normalised.reasons.append(_not_in_catalogue(zip_code))
    return normalised


@dataclass(frozen=True)
class Intake:
    lead: InboundLead
    created: bool  # False: the source sent this external id before; `lead` is the first


class _Insert:
    """How intake writes InboundLead rows, worked out once per process from the model (so a
    new column needs nothing here): every column but the id, the model's defaults for the
    columns intake does not set, and the SQL of one lead and of a batch."""

    # what intake sets on each lead; every other column takes the model's default
    SET = ("source_id", "payload", "status", "rejection_reasons", "external_id", "first_name",
           "last_name", "email", "phone", "zip_code", "intent", "price_min_cents",
           "price_max_cents", "timeframe", "message", "campaign", "consent")
    CONFLICT = "ON CONFLICT (source_id, external_id) WHERE NOT (external_id = '') DO NOTHING"

    def __init__(self):
        model = InboundLead._meta
        self.fields = [f for f in model.concrete_fields if not f.primary_key]
        self.names = [f.attname for f in model.concrete_fields]  # with the id, for from_db
        columns = ", ".join(connection.ops.quote_name(f.column) for f in self.fields)
        head = f"INSERT INTO {model.db_table} ({columns})"
        index = {f.attname: n for n, f in enumerate(self.fields)}
        # JSON columns need the driver's wrapper; the others are plain text and numbers
        self.set = [(index[name], name, isinstance(self.fields[index[name]], JSONField))
                    for name in self.SET]
        self.status, self.reasons = index["status"], index["rejection_reasons"]
        # One lead, its ZIP looked up in the same statement: the status and the reasons
        # are each given twice (ZIP in the catalogue, or not) and chosen in SQL.
        values = ["%s"] * len(self.fields)
        values[self.status] = "(SELECT CASE WHEN known THEN %s ELSE %s END FROM zip)"
        values[self.reasons] = ("(SELECT CASE WHEN known THEN %s::jsonb ELSE %s::jsonb END"
                                " FROM zip)")
        template = InboundLead()
        self._python = [getattr(template, f.attname) for f in self.fields]
        self._database = [f.get_db_prep_save(f.pre_save(template, True), connection)
                          for f in self.fields]
        setting = {index for index, _, _ in self.set}
        # lists and dicts (routing_log's []) are copied per lead by `lead`
        self._fresh = [index for index, f in enumerate(self.fields)
                       if index not in setting and callable(f.default)
                       and not isinstance(self._python[index], list | dict)]
        self.one_sql = (
            f"WITH zip AS (SELECT EXISTS (SELECT 1 FROM {Territory._meta.db_table}"
            " WHERE zip_code = %s AND is_active) AS known) "
            f"{head} VALUES ({', '.join(values)}) {self.CONFLICT}"
            " RETURNING id, jsonb_array_length(rejection_reasons)")

        # A batch: what intake sets travels as one array per column (unnest; binary, three
        # times cheaper to make than text arrays), the defaults once each, so the text is
        # the same whatever the number of leads. RETURNING follows the leads' order.
        self.scalars = [index for index in range(len(self.fields)) if index not in setting]
        select = [f"u.c{index}" if index in setting
                  else f"%s::{f.db_type(connection)}" for index, f in enumerate(self.fields)]
        unnest = ", ".join(f"%b::{self.fields[index].db_type(connection)}[]"
                           for index, _, _ in self.set)
        names = ", ".join(f"c{index}" for index, _, _ in self.set)
        self.many_sql = (
            f"{head} SELECT {', '.join(select)} FROM unnest({unnest}) WITH ORDINALITY"
            f" AS u({names}, place) ORDER BY place {self.CONFLICT} RETURNING id, external_id")

    def defaults(self) -> tuple[list, list]:
        """(database values, Python values) of a new lead, by column; the columns intake
        sets are overwritten per lead. A default that is a function of the moment
        (received_at's now) is taken again on each call, the others once."""
        database, python = list(self._database), list(self._python)
        for index in self._fresh:
            f = self.fields[index]
            python[index] = f.get_default()
            database[index] = f.get_db_prep_save(python[index], connection)
        return database, python

    def prepared(self, values: dict) -> list:
        """The database values of what intake sets (SET's order) from `values`."""
        fields = self.fields
        return [fields[index].get_db_prep_save(values[name], connection) if is_json
                else values[name] for index, name, is_json in self.set]

    def row(self, defaults: list, values: dict) -> list:
        """One lead's database values: `defaults` with what intake sets from `values`."""
        row = list(defaults)
        for (index, _, _), value in zip(self.set, self.prepared(values), strict=True):
            row[index] = value
        return row

    def many(self, defaults: list, leads: list[dict]) -> list:
        """The parameters of many_sql for `leads` (values each, as `row` takes)."""
        columns = zip(*(self.prepared(values) for values in leads), strict=True)
        return [*(defaults[index] for index in self.scalars),
                *(list(column) for column in columns)]

    def lead(self, pk: int, defaults: list, values: dict) -> InboundLead:
        """The InboundLead as written (Python values), without the ORM's keyword init."""
        row = [value.copy() if isinstance(value, list | dict) else value
               for value in defaults]
        for index, name, _ in self.set:
            row[index] = values[name]
        return InboundLead.from_db(connection.alias, self.names, [pk, *row])


_INSERT: list[_Insert] = []


def _plan() -> _Insert:
    if not _INSERT:
        _INSERT.append(_Insert())
    return _INSERT[0]


def _lead_values(source: LeadSource, normalised: Normalised, payload: dict,
                 status: str) -> dict:
    return {**normalised.fields, "source_id": source.pk, "payload": payload,
            "status": status, "rejection_reasons": normalised.reasons}


# A batch sends one routing message per LEAD_ROUTING_BATCH // this many received leads:
# each routing task takes its lead and up to LEAD_ROUTING_BATCH waiting, so the messages
# cover the batch this many times over (a task that finds some of its leads held by
# another takes fewer; the sweeper is behind them all). All in one broker round trip.
BATCH_ROUTING_COVER = 2


def receive_leads(*, source: LeadSource, leads: list[tuple[dict, dict]]) -> list[Intake]:
    """Several leads of one source ((data, payload) each, shape-checked), as receive_lead
    takes one, in the caller's transaction: the ZIPs read once, the rows written by one
    INSERT, and a routing message per few received leads (BATCH_ROUTING_COVER), sent in
    one go once the caller has committed and, in a request, answered
    (enqueue_after_answer). One Intake per lead, in order."""
    if not leads:
        return []
    plan = _plan()
    normalised = [_normalise(data) for data, _ in leads]
    candidates = sorted({n.unchecked_zip for n in normalised if n.unchecked_zip})
    known: set[str] = set()
    if candidates:
        with connection.cursor() as cursor:
            cursor.execute(f"SELECT zip_code FROM {Territory._meta.db_table} WHERE zip_code ="
                           " ANY(%s) AND is_active", [candidates])
            known = {row[0] for row in cursor.fetchall()}
    database, python = plan.defaults()
    made = []
    for lead, (_, payload) in zip(normalised, leads, strict=True):
        if lead.unchecked_zip and lead.unchecked_zip not in known:
            lead.reasons.append(_not_in_catalogue(lead.unchecked_zip))
        status = InboundLead.Status.REJECTED if lead.reasons else InboundLead.Status.RECEIVED
        made.append(_lead_values(source, lead, payload, str(status)))
    ids = _insert_many(plan, database, made)
    known_ids = {values["external_id"] for values, pk in zip(made, ids, strict=True)
                 if pk is None}
    firsts = {lead.external_id: lead for lead in InboundLead.objects.filter(
        source=source, external_id__in=known_ids)} if known_ids else {}
    intakes, received = [], []
    for values, pk in zip(made, ids, strict=True):
        if pk is None:
            intakes.append(Intake(lead=firsts[values["external_id"]], created=False))
            continue
        if values["status"] == InboundLead.Status.RECEIVED:
            received.append(pk)
        intakes.append(Intake(lead=plan.lead(pk, python, values), created=True))
    every = max(1, settings.LEAD_ROUTING_BATCH // BATCH_ROUTING_COVER)
    if received:
        enqueue_after_answer(tasks.route_lead, [
            {"inbound_lead_id": pk} for pk in received[::every]])
    logger.info("lead.received_batch", extra={"lead_source": source.pk, "leads": len(leads),
                                              "received": len(received)})
    return intakes


def _insert_many(plan: _Insert, defaults: list, leads: list[dict]) -> list[int | None]:
    """INSERT the leads (values each) in one statement, ON CONFLICT on the per-source
    external id: each lead's id, or None where its external id was known (sent before, or
    earlier among these leads)."""
    if not leads:
        return []
    with connection.cursor() as cursor:  # the schema's search_path, set by the wrapper
        # server-side binding: the arrays travel as parameters, not quoted into the text
        with psycopg.Cursor(cursor.connection) as raw:
            raw.execute(plan.many_sql, plan.many(defaults, leads))
            written = raw.fetchall()
    # ids follow the leads' order (rows taken in order, one sequence); a lead not written
    # returns nothing, so the returned rows are matched in order on the external id
    written.sort()
    ids: list[int | None] = []
    at = 0
    for values in leads:
        if at < len(written) and written[at][1] == values["external_id"]:
            ids.append(written[at][0])
            at += 1
        else:
            ids.append(None)
    return ids


def receive_lead(*, source: LeadSource, data: dict, payload: dict, test: bool = False) -> Intake:
    """Record one lead from a source (routing is sent once it is committed and, in a
    request, answered: enqueue_after_answer).

    `data` is the lead's shape-checked fields, `payload` the body as sent (kept as is).
    The same external id from the same source again gives back the first lead. A `test`
    lead (a source's test send) is kept apart, as `test`, and never routed.

    One statement: the ZIP looked up in the catalogue and INSERT ... ON CONFLICT DO NOTHING
    on the source's external id (in autocommit it commits at once; in a caller's
    transaction, when that commits).
    """
    plan = _plan()
    normalised = _normalise(data)
    zip_code = normalised.unchecked_zip
    status = InboundLead.Status.REJECTED if normalised.reasons else InboundLead.Status.RECEIVED
    if test:
        status = InboundLead.Status.TEST
    values = _lead_values(source, normalised, payload, str(status))
    database, python = plan.defaults()
    row = plan.row(database, values)
    # the status and the reasons when the ZIP is not in the catalogue
    unknown_status = InboundLead.Status.TEST if test else InboundLead.Status.REJECTED
    unknown_reasons = [*normalised.reasons, _not_in_catalogue(zip_code)] if zip_code \
        else normalised.reasons
    params: list = [zip_code]
    for index, value in enumerate(row):
        if index == plan.status:
            params += [str(status), str(unknown_status)]
        elif index == plan.reasons:
            params += [value, plan.fields[index].get_db_prep_save(unknown_reasons, connection)]
        else:
            params.append(value)
    with connection.cursor() as cursor:  # the schema's search_path, set by the wrapper
        # server-side binding: the same text for every lead, which psycopg prepares on the
        # connection after a few (PostgreSQL parses and plans it once)
        with psycopg.Cursor(cursor.connection) as raw:
            raw.execute(plan.one_sql, params)
            written = raw.fetchone()
    if written is None:
        first = InboundLead.objects.filter(
            source=source, external_id=normalised.fields["external_id"]).first()
        return Intake(lead=first, created=False)
    pk, reasons = written
    if reasons != len(normalised.reasons):  # the ZIP is not in the catalogue
        values["status"], values["rejection_reasons"] = str(unknown_status), unknown_reasons
    lead = plan.lead(pk, python, values)
    if lead.status == InboundLead.Status.RECEIVED:
        enqueue_after_answer(tasks.route_lead, [{"inbound_lead_id": lead.pk}],
                             wake=routing.WAKE, wake_seconds=settings.LEAD_SWEEP_AFTER_SECONDS)
    logger.info("lead.received", extra={"inbound_lead": lead.pk, "lead_source": source.pk,
                                        "status": lead.status})
    return Intake(lead=lead, created=True)


# --- source adapters (mapping in adapters.py) ------------------------------------------------
def receive_follow_up_boss_event(*, source: LeadSource, event: dict) -> Intake:
    """A Follow Up Boss event (`POST /v1/events`): the same event id, or else the same
    person, from the same source is the lead already known."""
    return receive_lead(source=source, data=adapters.follow_up_boss_lead(event), payload=event)


def receive_google_lead(*, source: LeadSource, body: dict, test: bool) -> Intake:
    """A Google Ads lead form's lead; a test lead is kept as `test`, never routed."""
    return receive_lead(source=source, data=adapters.google_lead(body), payload=body, test=test)


META_FETCH_FIRST_SWEEP_SECONDS = 15  # a notification whose task was lost: fetched by the sweep
META_FETCH_MAX_ATTEMPTS = 20  # then the notification stays, with its error, for staff


def record_meta_notifications(*, source: LeadSource, changes: list[dict]) -> int:
    """Keep each `leadgen` change (its `value`) of a Meta webhook, once per leadgen id, and
    fetch each new one from the Graph API after commit. Returns how many were new."""
    new = 0
    with transaction.atomic():
        for value in changes:
            notification, created = MetaLeadNotification.objects.get_or_create(
                source=source, leadgen_id=value["leadgen_id"],
                defaults={"form_id": value.get("form_id", ""), "payload": value,
                          "next_attempt_at": timezone.now() + timedelta(
                              seconds=META_FETCH_FIRST_SWEEP_SECONDS)})
            if created:
                new += 1
                enqueue_on_commit(tasks.fetch_meta_lead, notification_id=notification.pk)
    logger.info("meta_lead.notified", extra={"lead_source": source.pk, "new": new,
                                              "known": len(changes) - new})
    return new


def _backoff_seconds(attempts: int) -> int:
    return min(30 * 2 ** max(attempts - 1, 0), 3600)


def take_meta_lead(*, notification_id: int) -> InboundLead | None:
    """Fetch a notified Meta lead from the Graph API and take it in (once: a notification
    fetched already, or a lead its source sent before, is not taken again). A failed fetch
    is recorded on the notification and tried again later by the sweep."""
    notification = MetaLeadNotification.objects.select_related("source").filter(
        pk=notification_id).first()
    if notification is None or notification.fetched_at is not None:
        return notification.inbound_lead if notification is not None else None
    source = notification.source
    try:
        lead = adapters.fetch_meta_lead(source, notification.leadgen_id)
    except DomainError as exc:
        attempts = notification.attempts + 1
        MetaLeadNotification.objects.filter(pk=notification.pk, fetched_at__isnull=True).update(
            attempts=attempts, last_error=exc.message[:1000],
            next_attempt_at=timezone.now() + timedelta(
                seconds=_backoff_seconds(attempts)))
        logger.warning("meta_lead.fetch_failed", extra={
            "meta_notification": notification.pk, "code": exc.code, "attempts": attempts})
        return None
    data = adapters.meta_lead(source, notification.leadgen_id, notification.form_id, lead)
    with transaction.atomic():
        notification = MetaLeadNotification.objects.select_for_update().get(pk=notification.pk)
        if notification.fetched_at is not None:
            return notification.inbound_lead
        intake = receive_lead(source=source, data=data,
                              payload={"notification": notification.payload, "lead": lead})
        notification.fetched_at = timezone.now()
        notification.inbound_lead = intake.lead
        notification.attempts += 1
        notification.last_error = ""
        notification.save(update_fields=["fetched_at", "inbound_lead", "attempts",
                                         "last_error"])
    return intake.lead


def claim_due_meta_notifications(*, limit: int = 500) -> list[int]:
    """Unfetched notifications whose next try is due (a lost task, a failed fetch), pushed
    a minute on so that the next sweep does not send them again while they wait."""
    now = timezone.now()
    with transaction.atomic():
        due = list(MetaLeadNotification.objects.select_for_update(skip_locked=True).filter(
            fetched_at__isnull=True, next_attempt_at__lte=now,
            attempts__lt=META_FETCH_MAX_ATTEMPTS).order_by("next_attempt_at")
            .values_list("pk", flat=True)[:limit])
        MetaLeadNotification.objects.filter(pk__in=due).update(
            next_attempt_at=now + timedelta(seconds=60))
    return due
