"""Pages of CSV imports and the export on the brokerage host: upload, column mapping with
a preview, progress while the worker imports, and the per-row report."""

from __future__ import annotations

import csv
import io

from django import forms
from django.core.exceptions import ValidationError
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import path
from django.views.decorators.http import require_GET

from clozings.crm import exports, imports
from clozings.crm.api_imports import export_response
from clozings.crm.models import ImportJob
from clozings.platform.api import MAX_ID
from clozings.platform.errors import DomainError
from clozings.tenants.decorators import seat_required
from clozings.tenants.models import Seat
from clozings.tenants.scoping import acting_seat

REPORT_ON_PAGE = 500  # rows of the report shown; all of them are in the CSV
RECENT_IMPORTS = 10


class ImportUploadForm(forms.Form):
    file = forms.FileField(label="CSV file", help_text=(
        "From Excel, Google Sheets or another CRM: a header line, then one lead per row. "
        f"At most {imports.MAX_IMPORT_BYTES // 1048576} MB."),
        widget=forms.ClearableFileInput(attrs={"accept": ".csv,.txt,text/csv"}))
    agent_id = forms.CharField(label="Whose leads", required=False,
                               widget=forms.HiddenInput)

    def __init__(self, *args, agents: list[Seat] | None = None, **kwargs):
        super().__init__(*args, **kwargs)
        if agents:  # an admin imports for any agent; an agent, their own leads
            self.fields["agent_id"].widget = forms.Select(choices=[("", "Mine")] + [
                (seat.pk, seat.name or seat.email) for seat in agents])


def _agent_id(raw: str | None) -> int | None:
    """The id the form names (the scoping rule decides whether it may)."""
    raw = (raw or "").strip()
    return int(raw) if raw.isdigit() and int(raw) <= MAX_ID else (0 if raw else None)


class MappingForm(forms.Form):
    def __init__(self, *args, headers: list[str], **kwargs):
        super().__init__(*args, **kwargs)
        choices = [("", "— not in the file —"), *[(h, h) for h in headers]]
        for name, label in imports.FIELDS.items():
            self.fields[name] = forms.ChoiceField(label=label, choices=choices, required=False)


def _agents(request: HttpRequest) -> list[Seat]:
    if not request.seat.is_admin:
        return []
    return list(Seat.objects.filter(brokerage=request.brokerage, status=Seat.Status.ACTIVE)
                .exclude(pk=request.seat.pk).order_by("name", "email"))


def _jobs(request: HttpRequest):
    jobs = ImportJob.objects.defer("content", "report")
    return jobs if request.seat.is_admin else jobs.filter(agent_id=request.seat.pk)


def _job(request: HttpRequest, import_id: int) -> ImportJob:
    job = _jobs(request).filter(pk=import_id).first() if import_id <= MAX_ID else None
    if job is None:
        raise Http404("No such import.")
    return job


@seat_required
def import_upload(request: HttpRequest) -> HttpResponse:
    agents = _agents(request)
    status = 200
    if request.method == "POST":
        form = ImportUploadForm(request.POST, request.FILES, agents=agents)
        agent = None
        try:
            agent = acting_seat(request, _agent_id(request.POST.get("agent_id")))
        except DomainError as exc:
            form.add_error("agent_id", exc.message)
        if form.is_valid() and agent is not None:
            upload = form.cleaned_data["file"]
            try:
                job = imports.create_import(
                    by=request.seat, agent=agent, filename=upload.name,
                    raw=upload.read(imports.MAX_IMPORT_BYTES + 1))
            except ValidationError as exc:
                for error in exc.message_dict.get("file", exc.messages):
                    form.add_error("file", error)
            else:
                return redirect("lead_import", import_id=job.pk)
        status = 400
    else:
        form = ImportUploadForm(agents=agents)
    recent = list(_jobs(request)[:RECENT_IMPORTS])
    return render(request, "crm/import_upload.html",
                  {"form": form, "recent": recent, "max_mb": imports.MAX_IMPORT_BYTES // 1048576},
                  status=status)


@seat_required
def import_detail(request: HttpRequest, import_id: int) -> HttpResponse:
    job = _job(request, import_id)
    if job.status != ImportJob.Status.MAPPING:
        return _progress(request, job)
    job = ImportJob.objects.get(pk=job.pk)  # with its content
    headers = imports.headers_of(job)
    status = 200
    if request.method == "POST":
        form = MappingForm(request.POST, headers=headers)
        form.is_valid()
        mapping = {name: header for name, header in form.cleaned_data.items() if header}
        if "start" in request.POST:
            try:
                imports.start_import(job=job, mapping=mapping)
            except ValidationError as exc:
                for field, errors in exc.message_dict.items():
                    for error in errors:
                        form.add_error(field if field in form.fields else None, error)
                status = 400
            except DomainError as exc:
                form.add_error(None, exc.message)
                status = 400
            else:
                return redirect("lead_import", import_id=job.pk)
    else:
        mapping = job.mapping
        form = MappingForm(initial=mapping, headers=headers)
    rows = imports.preview(job, mapping=mapping)
    return render(request, "crm/import_mapping.html", {
        "job": job, "form": form, "rows": rows, "fields": imports.FIELDS,
        "preview_fields": ["first_name", "last_name", "phone", "email", "zip_code"]},
        status=status)


def _progress(request: HttpRequest, job: ImportJob) -> HttpResponse:
    running = job.status in (ImportJob.Status.QUEUED, ImportJob.Status.RUNNING)
    lines: list[dict] = []
    if not running:
        job = ImportJob.objects.defer("content").get(pk=job.pk)
        show = request.GET.get("show")
        lines = [line for line in job.report if show != "skipped" or not line["lead_id"]]
    percent = round(100 * job.processed_rows / job.total_rows) if job.total_rows else 100
    return render(request, "crm/import_progress.html", {
        "job": job, "running": running, "percent": percent,
        "lines": lines[:REPORT_ON_PAGE], "more": max(0, len(lines) - REPORT_ON_PAGE),
        "show": request.GET.get("show"),
        "skipped": job.processed_rows - job.imported_rows})


@seat_required
@require_GET
def import_report_csv(request: HttpRequest, import_id: int) -> HttpResponse:
    job = ImportJob.objects.defer("content").get(pk=_job(request, import_id).pk)
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    writer.writerow(["Row", "Name", "Result", "Lead id", "Why not"])
    for line in job.report:
        writer.writerow([exports.safe_cell(v) for v in (
            line["row"] + 1, line["name"], line["status"], line["lead_id"],
            " ".join(line["reasons"]))])
    response = HttpResponse(buffer.getvalue(), content_type="text/csv; charset=utf-8")
    response["Content-Disposition"] = f'attachment; filename="import-{job.pk}-report.csv"'
    return response


@seat_required
@require_GET
def export_csv(request: HttpRequest) -> HttpResponse:
    return export_response(seat=request.seat)


brokerage_urls = [
    path("leads/import/", import_upload, name="lead_import_upload"),
    path("leads/import/<int:import_id>/", import_detail, name="lead_import"),
    path("leads/import/<int:import_id>/report.csv", import_report_csv,
         name="lead_import_report"),
    path("leads/export.csv", export_csv, name="lead_export"),
]
