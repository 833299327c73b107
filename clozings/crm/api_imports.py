"""API of CSV imports and exports on the brokerage host.

`POST /api/v1/leads/import` takes a CSV (a multipart `file`, or the text in JSON's `csv`)
for the caller or, from an admin, for an agent of the brokerage (`agent_id`), reads it,
and queues the import (202); `GET /api/v1/leads/import/<id>` follows its progress and
gives the report, a line per row: imported (with the lead's id) or why not.
`GET /api/v1/leads/export.csv` downloads the leads the caller may see.
"""

from __future__ import annotations

import json

from django.db import transaction
from django.http import StreamingHttpResponse
from django.urls import path
from django.utils import timezone
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiResponse, extend_schema
from rest_framework import serializers
from rest_framework.parsers import MultiPartParser
from rest_framework.response import Response

from clozings.crm import exports, imports
from clozings.crm.models import ImportJob
from clozings.platform.api import MAX_ID, error_responses
from clozings.platform.errors import NotFound
from clozings.platform.parsers import JSONParser
from clozings.tenants.models import Seat
from clozings.tenants.scoping import SeatScopedApiView

MAPPING_HELP = ("Lead field -> column header, fields among: " + ", ".join(imports.FIELDS)
                + ". Left out: the mapping guessed from the headers (\"First Name\", "
                "\"Phone Number\", \"E-mail\", \"Zip\"...).")


class AgentInput(serializers.Serializer):
    agent_id = serializers.IntegerField(min_value=1, max_value=MAX_ID, required=False)


class ImportFileInput(serializers.Serializer):
    file = serializers.FileField(help_text="The CSV: UTF-8 (with or without BOM), UTF-16 "
                                 "with BOM or Windows-1252; comma, semicolon or tab. "
                                 f"At most {imports.MAX_IMPORT_BYTES // 1048576} MB.")
    mapping = serializers.CharField(required=False, max_length=10_000,
                                    help_text="JSON object. " + MAPPING_HELP)
    agent_id = serializers.IntegerField(min_value=1, max_value=MAX_ID, required=False,
                                        help_text="Whose leads they become (admins); "
                                                  "default: the caller.")
    preview_only = serializers.BooleanField(required=False, default=False, help_text=(
        "Keep the job waiting for its mapping and answer with a preview; start it with "
        "POST /api/v1/leads/import/<id>/start."))


class ImportTextInput(serializers.Serializer):
    csv = serializers.CharField(max_length=imports.MAX_IMPORT_BYTES, trim_whitespace=False,
                                help_text="The CSV's text.")
    filename = serializers.CharField(required=False, max_length=200, default="import.csv")
    mapping = serializers.DictField(child=serializers.CharField(max_length=200),
                                    required=False, help_text=MAPPING_HELP)
    agent_id = serializers.IntegerField(min_value=1, max_value=MAX_ID, required=False,
                                        help_text="Whose leads they become (admins); "
                                                  "default: the caller.")
    preview_only = serializers.BooleanField(required=False, default=False)


class StartInput(serializers.Serializer):
    mapping = serializers.DictField(child=serializers.CharField(max_length=200),
                                    required=False, help_text=MAPPING_HELP)


class ReportLine(serializers.Serializer):
    row = serializers.IntegerField(help_text="1 for the first row under the header line.")
    name = serializers.CharField(help_text="The row's name, email or phone, to find it.")
    status = serializers.ChoiceField(["imported", "skipped"])
    lead_id = serializers.IntegerField(allow_null=True)
    reasons = serializers.ListField(child=serializers.CharField(),
                                    help_text="Why the row was not imported.")


class PreviewLine(serializers.Serializer):
    row = serializers.IntegerField()
    fields = serializers.DictField(child=serializers.CharField(allow_blank=True))
    reasons = serializers.ListField(child=serializers.CharField())


class ImportOutput(serializers.Serializer):
    id = serializers.IntegerField()
    status = serializers.ChoiceField(ImportJob.Status.choices)
    filename = serializers.CharField()
    agent_id = serializers.IntegerField()
    mapping = serializers.DictField(child=serializers.CharField())
    total_rows = serializers.IntegerField()
    processed_rows = serializers.IntegerField()
    imported_rows = serializers.IntegerField()
    skipped_rows = serializers.SerializerMethodField()
    created_at = serializers.DateTimeField()
    started_at = serializers.DateTimeField(allow_null=True)
    finished_at = serializers.DateTimeField(allow_null=True)
    report = ReportLine(many=True, help_text="One line per row processed so far.")

    def get_skipped_rows(self, job: ImportJob) -> int:
        return job.processed_rows - job.imported_rows


class ImportCreatedOutput(ImportOutput):
    headers = serializers.ListField(child=serializers.CharField())
    preview = PreviewLine(many=True, help_text="The first rows as they would import.")


class ImportApi(SeatScopedApiView):
    def get_job(self, import_id: int) -> ImportJob:
        jobs = ImportJob.objects.all()
        scope = self.seat_scope()
        if scope is not None:
            jobs = jobs.filter(agent_id=scope.pk)
        job = jobs.filter(pk=import_id).first() if import_id <= MAX_ID else None
        if job is None:
            raise NotFound("No such import.")
        return job


def created_body(job: ImportJob) -> dict:
    rows = imports.preview(job)
    return {**ImportOutput(job).data, "headers": imports.headers_of(job),
            "preview": [{"row": r.number, "fields": r.fields, "reasons": r.reasons}
                        for r in rows]}


class ImportCreateApi(ImportApi):
    """Upload a CSV of leads."""

    parser_classes = [MultiPartParser, JSONParser]
    # the file may be larger than other requests' bodies
    max_body_bytes = imports.MAX_IMPORT_BYTES + 64 * 1024

    @extend_schema(
        operation_id="leads_import", extensions={"x-max-body-bytes": max_body_bytes},
        request={"multipart/form-data": ImportFileInput,
                                              "application/json": ImportTextInput},
        description="Read a CSV of leads and queue its import (202), or with `preview_only` "
                    "keep it waiting for its mapping (201). Follow it with GET "
                    "/api/v1/leads/import/<id>: rows that cannot be imported (no phone or "
                    "email, a bad phone or email, an unknown ZIP, a duplicate of a lead, "
                    "control characters) are reported one by one and the rest imported. "
                    "Imported leads have the source \"CSV import\" and start the default "
                    "cadence.",
        responses={202: ImportCreatedOutput, 201: ImportCreatedOutput, **error_responses(
            400, 401, 403, 413, 415,
            s400="`validation_error`: `file` (too large, empty, not a CSV), `mapping` "
                 "(a column the file has not; no ZIP column; no phone or email column), "
                 "`agent_id`.")})
    def post(self, request):
        # whose leads first: naming another's seat is refused whatever else is wrong
        agent = self.acting_seat(self.parse(AgentInput, request).get("agent_id"))
        is_file = request.content_type.startswith("multipart/")
        data = self.parse(ImportFileInput if is_file else ImportTextInput, request)
        mapping = data.get("mapping")
        if is_file and mapping is not None:
            try:
                mapping = json.loads(mapping)
            except ValueError:
                mapping = None
            if not isinstance(mapping, dict):
                raise serializers.ValidationError({"mapping": ["Send a JSON object."]})
        if is_file:
            upload = data["file"]
            raw, filename = upload.read(imports.MAX_IMPORT_BYTES + 1), upload.name or ""
        else:
            raw, filename = data["csv"].encode(errors="replace"), data["filename"]
        with transaction.atomic():  # a mapping refused leaves no job behind
            job = imports.create_import(by=self.caller(), agent=agent, filename=filename,
                                        raw=raw)
            if not data["preview_only"]:
                job = imports.start_import(job=job, mapping=mapping or job.mapping)
        return Response(created_body(job), status=201 if data["preview_only"] else 202)


class ImportDetailApi(ImportApi):
    """An import's progress and its report."""

    @extend_schema(operation_id="leads_import_status", responses={
        200: ImportOutput, **error_responses(401, 403, 404)})
    def get(self, request, import_id: int):
        return Response(ImportOutput(self.get_job(import_id)).data)


class ImportStartApi(ImportApi):
    """Start an import kept waiting for its mapping (`preview_only`)."""

    @extend_schema(operation_id="leads_import_start", request=StartInput, responses={
        202: ImportOutput, **error_responses(
            400, 401, 403, 404, 409, 413, 415,
            s409="`import_started`: the import has started already.")})
    def post(self, request, import_id: int):
        job = self.get_job(import_id)
        data = self.parse(StartInput, request)
        job = imports.start_import(job=job, mapping=data.get("mapping") or job.mapping)
        return Response(ImportOutput(job).data, status=202)


def export_response(*, seat: Seat) -> StreamingHttpResponse:
    """The CSV download of the leads `seat` may see (an admin: the brokerage's)."""
    scope = None if seat.is_admin else seat
    names = dict(Seat.objects.filter(brokerage=seat.brokerage).values_list("pk", "name"))
    lines = exports.export_lines(leads=exports.leads_to_export(scope=scope), agent_names=names)
    response = StreamingHttpResponse(lines, content_type="text/csv; charset=utf-8")
    stamp = timezone.now().strftime("%Y-%m-%d")
    response["Content-Disposition"] = (f'attachment; filename="leads-{seat.brokerage.slug}-'
                                       f'{stamp}.csv"')
    response["Cache-Control"] = "no-store"
    return response


class ExportApi(SeatScopedApiView):
    """The leads the caller may see as a CSV (an agent: their own; an admin: all)."""

    @extend_schema(
        operation_id="leads_export",
        description="Columns: lead id, names, email, phone, ZIP, intent, stage, source, "
                    "touches, last touch, next task and its due time, created, agent. A "
                    "cell starting with = + - @ is written with a leading apostrophe.",
        responses={(200, "text/csv"): OpenApiResponse(OpenApiTypes.STR, description="CSV."),
                   **error_responses(401, 403)})
    def get(self, request):
        return export_response(seat=self.caller())


brokerage_urls = [
    path("api/v1/leads/import", ImportCreateApi.as_view(), name="api-leads-import"),
    path("api/v1/leads/import/<int:import_id>", ImportDetailApi.as_view(),
         name="api-leads-import-detail"),
    path("api/v1/leads/import/<int:import_id>/start", ImportStartApi.as_view(),
         name="api-leads-import-start"),
    path("api/v1/leads/export.csv", ExportApi.as_view(), name="api-leads-export"),
]
