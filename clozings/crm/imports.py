"""Bring your own leads: a CSV from a spreadsheet, decoded whatever its encoding, its
columns mapped to lead fields (guessed from the headers), previewed, then imported by the
worker in chunks with a per-row report of what was imported and why a row was not.

Callers run these in the brokerage's schema. A broken row never stops the others; a job
resumed after its worker died starts at the first row not yet committed (`processed_rows`
moves in the same transaction as the chunk's leads), so no row is imported twice.
"""

from __future__ import annotations

import csv
import io
import logging
import re
import unicodedata
import zlib
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from datetime import datetime

import phonenumbers
from django.core.exceptions import ValidationError
from django.core.validators import validate_email
from django.db import DatabaseError, connection, transaction
from django.utils import timezone

from clozings.crm import cadence as engine
from clozings.crm import services
from clozings.crm.models import CadenceState, Channel, ImportJob, Lead, Task
from clozings.platform.errors import Conflict
from clozings.platform.tenancy import enqueue_on_commit
from clozings.tenants.models import Seat
from clozings.territories.models import Territory

logger = logging.getLogger(__name__)

MAX_IMPORT_BYTES = 5 * 1024 * 1024  # about 50,000 rows of a typical lead sheet
MAX_IMPORT_ROWS = 50_000
CHUNK_ROWS = 500  # rows per transaction: progress and resumption move by this much
PREVIEW_ROWS = 10
SOURCE_NAME = "CSV import"

# Lead fields a column can fill, in the order the mapping form shows them.
FIELDS: dict[str, str] = {
    "first_name": "First name",
    "last_name": "Last name",
    "full_name": "Full name (split into first and last)",
    "email": "Email",
    "phone": "Phone",
    "zip_code": "ZIP code",
    "intent": "Buying or selling",
    "timeframe": "Timeframe",
    "message": "Notes",
}
# Header spellings seen in exports of other CRMs and hand-made sheets, compared after
# lower-casing and dropping everything but letters and digits.
ALIASES: dict[str, tuple[str, ...]] = {
    "first_name": ("firstname", "first", "givenname", "fname", "forename", "prenom"),
    "last_name": ("lastname", "last", "surname", "familyname", "lname"),
    "full_name": ("name", "fullname", "contact", "contactname", "leadname", "client"),
    "email": ("email", "emailaddress", "mail", "email1", "primaryemail", "emails"),
    "phone": ("phone", "phonenumber", "mobile", "cell", "cellphone", "mobilephone", "tel",
              "telephone", "phone1", "primaryphone", "phones"),
    "zip_code": ("zip", "zipcode", "postalcode", "postcode", "zip5", "postal"),
    "intent": ("intent", "type", "leadtype", "buyerseller", "buyorsell"),
    "timeframe": ("timeframe", "timeline", "when", "movingin"),
    "message": ("notes", "note", "message", "comments", "comment", "description"),
}
MAX_LENGTHS = {"first_name": 100, "last_name": 100, "email": 254, "timeframe": 100,
               "message": 5000}
INTENTS = {"buy": "buy", "buyer": "buy", "buying": "buy", "sell": "sell", "seller": "sell",
           "selling": "sell", "both": "both", "buyandsell": "both", "buyerseller": "both"}
_ALLOWED_CONTROLS = {"\t", "\n", "\r"}  # inside a quoted notes cell


class ImportRefused(ValidationError):
    """The file cannot be read at all (too large, empty, not a CSV): a `file` field error."""

    def __init__(self, message: str):
        super().__init__({"file": [message]})


# --- reading the file ---------------------------------------------------------------------
def decode_csv(raw: bytes) -> str:
    """The text of an uploaded CSV: UTF-8 (with or without a BOM), UTF-16 with a BOM, else
    Windows-1252 (what Excel on Windows saves), with Latin-1 for its five unused bytes."""
    if raw.startswith(b"\xef\xbb\xbf"):
        return raw[3:].decode("utf-8", errors="replace")
    if raw.startswith((b"\xff\xfe", b"\xfe\xff")):
        return raw.decode("utf-16", errors="replace")
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError:
        pass
    try:
        return raw.decode("cp1252")
    except UnicodeDecodeError:
        return raw.decode("latin-1")


def sniff_delimiter(text: str) -> str:
    """Comma, semicolon (Excel in much of Europe) or tab: the one the header line splits
    on most, confirmed by the csv sniffer when it can tell."""
    sample = text[:64 * 1024]
    try:
        return csv.Sniffer().sniff(sample, delimiters=",;\t").delimiter
    except csv.Error:
        header = sample.splitlines()[0] if sample else ""
        return max((",", ";", "\t"), key=header.count)


def read_csv(text: str) -> tuple[list[str], list[list[str]]]:
    """Headers and data rows; blank lines dropped, short rows padded."""
    reader = csv.reader(io.StringIO(text, newline=""), delimiter=sniff_delimiter(text))
    try:
        rows = [row for row in reader if any(cell.strip() for cell in row)]
    except csv.Error as exc:
        raise ImportRefused(f"This file cannot be read as CSV ({exc}).") from exc
    if not rows:
        return [], []
    headers = [cell.strip() for cell in rows[0]]
    width = len(headers)
    return headers, [row + [""] * (width - len(row)) for row in rows[1:]]


def _key(header: str) -> str:
    return re.sub(r"[^a-z0-9]", "", header.lower())


def guess_mapping(headers: list[str]) -> dict[str, str]:
    """lead field -> header, for the headers that look like one of the fields."""
    mapping: dict[str, str] = {}
    for name, aliases in ALIASES.items():
        for header in headers:
            if header in mapping.values():
                continue
            if _key(header) in aliases:
                mapping[name] = header
                break
    if "first_name" in mapping and "last_name" in mapping:
        mapping.pop("full_name", None)
    return mapping


def check_mapping(mapping: dict, headers: list[str]) -> dict[str, str]:
    """A mapping from the form or the API, cleaned: known fields to existing headers."""
    errors: dict[str, list[str]] = {}
    clean = {}
    for name, header in (mapping or {}).items():
        if not header:
            continue
        if name not in FIELDS:
            errors.setdefault("mapping", []).append(f"'{name}' is not a lead field.")
        elif header not in headers:
            errors.setdefault(name, []).append(f"The file has no column '{header}'.")
        else:
            clean[name] = header
    if "zip_code" not in clean:
        errors.setdefault("zip_code", []).append("Choose the column with the ZIP code.")
    if "phone" not in clean and "email" not in clean:
        errors.setdefault("phone", []).append("Choose the column with the phone or the email.")
    if errors:
        raise ValidationError(errors)
    return clean


# --- one row ----------------------------------------------------------------------------
@dataclass
class Row:
    number: int  # 1 for the first data row (line 2 of the sheet)
    fields: dict = field(default_factory=dict)
    reasons: list[str] = field(default_factory=list)

    @property
    def label(self) -> str:
        name = " ".join(p for p in (self.fields.get("first_name"), self.fields.get("last_name"))
                        if p)
        return name or self.fields.get("email") or self.fields.get("phone") or ""


def _normal_phone(raw: str) -> str | None:
    try:
        number = phonenumbers.parse(raw, "US")
    except phonenumbers.NumberParseException:
        return None
    if not phonenumbers.is_valid_number(number):
        return None
    return phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)


def clean_row(number: int, cells: list[str], headers: list[str], mapping: dict[str, str],
              known_zips: set[str]) -> Row:
    """The lead a row would make, and every reason it cannot (none: it can)."""
    row = Row(number=number)
    raw = {name: cells[headers.index(header)].strip() for name, header in mapping.items()}
    for name, value in raw.items():
        allowed = _ALLOWED_CONTROLS if name == "message" else set()
        if any(unicodedata.category(ch) == "Cc" and ch not in allowed for ch in value):
            row.reasons.append(f"{FIELDS[name]} holds control characters.")
            raw[name] = "".join(ch for ch in value if unicodedata.category(ch) != "Cc")
    first, last = raw.get("first_name", ""), raw.get("last_name", "")
    if raw.get("full_name") and not (first or last):
        first, _, last = raw["full_name"].partition(" ")
    fields = {"first_name": first.strip(), "last_name": last.strip(),
              "timeframe": raw.get("timeframe", ""), "message": raw.get("message", "")}
    for name, limit in MAX_LENGTHS.items():
        if name in fields and len(fields[name]) > limit:
            row.reasons.append(f"{FIELDS[name]} is longer than {limit} characters.")

    phone, email = raw.get("phone", ""), raw.get("email", "").lower()
    fields["phone"] = fields["email"] = ""
    if not phone and not email:
        row.reasons.append("No phone and no email: nothing to reach the lead by.")
    if phone:
        fields["phone"] = _normal_phone(phone) or ""
        if not fields["phone"]:
            row.reasons.append(f"The phone '{phone[:40]}' is not a valid number.")
    if email:
        try:
            validate_email(email)
            fields["email"] = email
        except ValidationError:
            row.reasons.append(f"The email '{email[:60]}' is not a valid address.")

    zip_code = raw.get("zip_code", "")
    if re.fullmatch(r"\d{5}(-\d{4})?", zip_code):
        zip_code = zip_code[:5]
    elif re.fullmatch(r"\d{3,4}", zip_code):  # a spreadsheet dropped the leading zeros
        zip_code = zip_code.zfill(5)
    fields["zip_code"] = zip_code if re.fullmatch(r"\d{5}", zip_code) else ""
    if not zip_code:
        row.reasons.append("No ZIP code.")
    elif not fields["zip_code"]:
        row.reasons.append(f"'{zip_code[:20]}' is not a 5-digit ZIP code.")
    elif zip_code not in known_zips:
        row.reasons.append(f"ZIP {zip_code} is not a US ZIP code we know.")

    intent = _key(raw.get("intent", ""))
    fields["intent"] = INTENTS.get(intent, "")
    if intent and not fields["intent"]:
        row.reasons.append(f"'{raw['intent'][:30]}' is not buy, sell or both.")
    row.fields = fields
    return row


def known_zip_codes(zip_codes: Iterable[str]) -> set[str]:
    wanted = {z.strip()[:5].zfill(5) for z in zip_codes if z and z.strip()[:5].isdigit()}
    return set(Territory.objects.filter(zip_code__in=wanted).values_list("zip_code", flat=True))


def mark_duplicates(rows: list[Row], *, agent_id: int) -> None:
    """A row whose phone or email is already a lead's in this brokerage, or an earlier
    row's of this file, is a duplicate (a lead of another agent is not named)."""
    phones = {r.fields["phone"] for r in rows if r.fields.get("phone")}
    emails = {r.fields["email"] for r in rows if r.fields.get("email")}
    leads: dict[str, int | None] = {}
    if phones or emails:
        found = Lead.objects.filter(phone__in=phones) | Lead.objects.filter(email__in=emails)
        for lead_id, owner, phone, email in found.values_list("pk", "agent_id", "phone", "email"):
            for value in (phone, email):
                if value:
                    leads[value] = lead_id if owner == agent_id else None
    earlier: dict[str, int] = {}
    for row in rows:
        values = [v for v in (row.fields.get("phone"), row.fields.get("email")) if v]
        known = next((v for v in values if v in leads), None)
        repeat = next((v for v in values if v in earlier), None)
        if known is not None:
            whose = leads[known]
            row.reasons.append(f"Already a lead (#{whose}) with this phone or email." if whose
                               else "Already a lead in this brokerage with this phone or email.")
        elif repeat is not None:
            row.reasons.append(f"Repeats row {earlier[repeat]} of this file.")
        for value in values:
            earlier.setdefault(value, row.number)


def parse_rows(job: ImportJob, start: int = 0, stop: int | None = None) -> list[Row]:
    headers, data = read_csv(job.content)
    mapping = {name: header for name, header in job.mapping.items() if header in headers}
    data = data[start:stop]
    zip_index = headers.index(mapping["zip_code"]) if "zip_code" in mapping else None
    zips = known_zip_codes(cells[zip_index] for cells in data) if zip_index is not None else set()
    return [clean_row(start + offset + 1, cells, headers, mapping, zips)
            for offset, cells in enumerate(data)]


# --- services -------------------------------------------------------------------------------
def create_import(*, by: Seat, agent: Seat, filename: str, raw: bytes,
                  mapping: dict | None = None, now: datetime | None = None) -> ImportJob:
    """Keep an uploaded CSV as a job waiting for its column mapping (guessed from the
    headers); with a `mapping` given, queue it at once."""
    if len(raw) > MAX_IMPORT_BYTES:
        raise ImportRefused(f"The file is larger than {MAX_IMPORT_BYTES // (1024 * 1024)} MB; "
                            "split it into smaller files.")
    text = decode_csv(raw)
    if "\x00" in text:
        raise ImportRefused("This is not a CSV file (it holds binary data). In your "
                            "spreadsheet, choose File > Save as > CSV.")
    headers, rows = read_csv(text)
    if not headers or not rows:
        raise ImportRefused("The file has no rows under its header line.")
    if len(rows) > MAX_IMPORT_ROWS:
        raise ImportRefused(f"The file has {len(rows)} rows; import at most "
                            f"{MAX_IMPORT_ROWS} at a time.")
    now = now or timezone.now()
    job = ImportJob(agent_id=agent.pk, by_id=by.pk, filename=(filename or "")[-200:],
                    content=text, mapping=guess_mapping(headers), total_rows=len(rows),
                    created_at=now)
    with transaction.atomic():
        job.save()
        if mapping is not None:
            job = start_import(job=job, mapping=mapping)
    logger.info("crm.import_uploaded", extra={"import": job.pk, "rows": len(rows),
                                              "agent": agent.pk})
    return job


def headers_of(job: ImportJob) -> list[str]:
    return read_csv(job.content)[0]


def preview(job: ImportJob, mapping: dict[str, str] | None = None,
            limit: int = PREVIEW_ROWS) -> list[Row]:
    """The first rows as they would import with `mapping` (the job's own by default)."""
    if mapping is not None:
        job = ImportJob(content=job.content, mapping=mapping, agent_id=job.agent_id)
    rows = parse_rows(job, 0, limit)
    mark_duplicates(rows, agent_id=job.agent_id)
    return rows


def start_import(*, job: ImportJob, mapping: dict) -> ImportJob:
    """Fix the column mapping and queue the import for the worker (once committed)."""
    from clozings.crm.import_tasks import run_import

    clean = check_mapping(mapping, headers_of(job))
    with transaction.atomic():
        job = ImportJob.objects.select_for_update().get(pk=job.pk)
        if job.status != ImportJob.Status.MAPPING:
            raise Conflict("This import has started already.", code="import_started")
        job.mapping, job.status = clean, ImportJob.Status.QUEUED
        job.save(update_fields=["mapping", "status"])
        enqueue_on_commit(run_import, schema_name=connection.schema_name, import_id=job.pk)
    return job


def _advisory_key(job_id: int) -> tuple[int, int]:
    # One lock per (schema, job): a second worker given the same job leaves it alone.
    schema = zlib.crc32(connection.schema_name.encode()) - 2**31
    return schema, job_id % 2**31


def run_import(*, import_id: int, chunk_rows: int = CHUNK_ROWS,
               stop_after_chunks: int | None = None,
               now: datetime | None = None) -> ImportJob | None:
    """Import the job's rows from the first one not yet done, a chunk per transaction
    (its leads, its report lines and the progress together). A worker already on the job
    (it holds the job's advisory lock) is left to it. `stop_after_chunks` stops early, as
    a worker that died would (tests)."""
    key = _advisory_key(import_id)
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_try_advisory_lock(%s, %s)", key)
        if not cursor.fetchone()[0]:
            return ImportJob.objects.filter(pk=import_id).first()
    try:
        chunks = 0
        while True:
            with transaction.atomic():
                job = ImportJob.objects.select_for_update().filter(pk=import_id).first()
                if job is None:  # deleted since it was queued: nothing to do
                    return None
                if job.status not in (ImportJob.Status.QUEUED, ImportJob.Status.RUNNING):
                    return job
                moment = now or timezone.now()
                if job.processed_rows >= job.total_rows:
                    job.status, job.finished_at = ImportJob.Status.DONE, moment
                    job.save(update_fields=["status", "finished_at"])
                    logger.info("crm.import_done", extra={
                        "import": job.pk, "imported": job.imported_rows,
                        "rows": job.total_rows})
                    return job
                if job.status == ImportJob.Status.QUEUED:
                    job.status, job.started_at = ImportJob.Status.RUNNING, moment
                agent = Seat.objects.filter(pk=job.agent_id).first()
                start = job.processed_rows
                rows = parse_rows(job, start, start + chunk_rows)
                report = _import_chunk(rows, job=job, agent=agent, now=moment)
                job.report = [*job.report, *report]
                job.processed_rows = start + len(rows)
                job.imported_rows += sum(1 for line in report if line["lead_id"])
                job.save(update_fields=["status", "started_at", "report", "processed_rows",
                                        "imported_rows"])
            chunks += 1
            if stop_after_chunks is not None and chunks >= stop_after_chunks:
                return job
    finally:
        with connection.cursor() as cursor:
            cursor.execute("SELECT pg_advisory_unlock(%s, %s)", key)


def _import_chunk(rows: list[Row], *, job: ImportJob, agent: Seat | None,
                  now: datetime) -> list[dict]:
    mark_duplicates(rows, agent_id=job.agent_id)
    if agent is None or agent.status != Seat.Status.ACTIVE:
        for row in rows:
            row.reasons = row.reasons or ["The agent's seat is no longer active."]
    good = [row for row in rows if not row.reasons]
    lead_ids: dict[int, int] = {}
    try:
        with transaction.atomic():  # the chunk's clean rows in a few statements
            leads = create_imported_leads(agent=agent, rows=[r.fields for r in good], now=now)
            lead_ids = {row.number: lead.pk for row, lead in zip(good, leads, strict=True)}
    except (ValidationError, DatabaseError):
        # a row the checks let through and the database did not: one savepoint per row, so
        # it alone is reported
        for row in good:
            try:
                with transaction.atomic():
                    [lead] = create_imported_leads(agent=agent, rows=[row.fields], now=now)
                lead_ids[row.number] = lead.pk
            except ValidationError as exc:
                row.reasons.extend(_messages(exc))
            except DatabaseError:
                logger.exception("crm.import_row_failed", extra={"import": job.pk,
                                                                 "row": row.number})
                row.reasons.append("The database refused this row.")
    return [{"row": row.number, "name": row.label, "lead_id": lead_ids.get(row.number),
             "status": "imported" if row.number in lead_ids else "skipped",
             "reasons": row.reasons} for row in rows]


def create_imported_leads(*, agent: Seat, rows: list[dict], now: datetime) -> list[Lead]:
    """Leads from checked rows, enrolled in the default cadence like crmcore's
    `create_lead` (the cadence engine's first step, or "Call now" without one), with a note
    on each timeline, in a few statements for the whole chunk: `create_lead` one lead at a
    time takes minutes over 10,000 rows. Imported leads are no ledger's (no inbound lead),
    so there are no follow-up facts to project."""
    cadence = services.default_cadence()
    steps = engine.steps_of(cadence)
    zones = dict(Territory.objects.filter(zip_code__in={r["zip_code"] for r in rows})
                 .values_list("zip_code", "time_zone"))
    leads = Lead.objects.bulk_create([
        Lead(agent_id=agent.pk, source_name=SOURCE_NAME, created_at=now, last_inquiry_at=now,
             stage_changed_at=now, time_zone=zones.get(fields["zip_code"], ""),
             cadence=cadence, cadence_run=1, cadence_started_at=now,
             cadence_state=CadenceState.ACTIVE if steps else CadenceState.FINISHED, **fields)
        for fields in rows])
    first = steps[0] if steps else None
    Task.objects.bulk_create([
        Task(lead=lead, agent_id=agent.pk, cadence_run=1, created_at=now,
             title=engine.named(first.title if first else engine.FIRST_TASK_TITLE, lead),
             channel=first.channel if first else Channel.CALL, step=first,
             due_at=max(engine.step_due(lead, first), now) if first else now)
        for lead in leads])
    return leads


def _messages(exc: ValidationError) -> list[str]:
    if hasattr(exc, "message_dict"):
        return [f"{FIELDS.get(name, name)}: {m}" if name != "__all__" else m
                for name, messages in exc.message_dict.items() for m in messages]
    return list(exc.messages)


def resumable_imports() -> list[int]:
    """Jobs a worker should be on: queued or running (a dead worker's are picked up)."""
    return list(ImportJob.objects.filter(
        status__in=(ImportJob.Status.QUEUED, ImportJob.Status.RUNNING))
        .values_list("pk", flat=True))


def report_lines(job: ImportJob, *, status: str | None = None) -> Iterator[dict]:
    for line in job.report:
        if status is None or line["status"] == status:
            yield line
