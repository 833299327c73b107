"""CSV import and export through the API and the pages: an agent imports their own leads,
an admin for an agent of the brokerage; the report per row; the export is the caller's
leads only, formula-safe."""

from __future__ import annotations

import csv
import io

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.test import Client

from clozings.crm import imports
from clozings.crm.models import ImportJob, Lead
from clozings.platform.auth import issue_token
from clozings.platform.tenancy import in_schema
from tests.conftest import host_client
from tests.tenants.factories import SeatFactory

pytestmark = pytest.mark.django_db

CSV = (b"First Name,Last Name,Phone Number,E-mail,Zip\n"
       b"Jane,Doe,(212) 555-0101,jane@example.test,10001\n"
       b"No,Way,,,10001\n")


@pytest.fixture
def agent(acme):
    return SeatFactory(brokerage=acme.brokerage)


def api(acme, seat) -> Client:
    return Client(HTTP_HOST=acme.host, HTTP_AUTHORIZATION=f"Bearer {issue_token(seat.user)}")


def finish(acme, import_id: int) -> None:
    """What the worker does once the request's transaction commits."""
    with in_schema(acme.schema_name):
        imports.run_import(import_id=import_id)


def test_an_agent_uploads_a_csv_and_reads_the_report(acme, agent):
    client = api(acme, agent)

    created = client.post("/api/v1/leads/import",
                          {"file": SimpleUploadedFile("mine.csv", CSV, "text/csv")})
    finish(acme, created.json()["id"])
    status = client.get(f"/api/v1/leads/import/{created.json()['id']}").json()

    assert created.status_code == 202
    assert created.json()["status"] == "queued"
    assert created.json()["headers"] == ["First Name", "Last Name", "Phone Number", "E-mail",
                                         "Zip"]
    assert (status["status"], status["imported_rows"], status["skipped_rows"]) == ("done", 1, 1)
    imported, skipped = status["report"]
    assert imported["status"] == "imported" and imported["name"] == "Jane Doe"
    assert skipped == {"row": 2, "name": "No Way", "status": "skipped", "lead_id": None,
                       "reasons": ["No phone and no email: nothing to reach the lead by."]}
    with in_schema(acme.schema_name):
        assert Lead.objects.get(pk=imported["lead_id"]).agent_id == agent.pk


def test_an_admin_imports_for_an_agent_with_a_mapping_in_json(acme, agent):
    text = "Who;Cell;Postal\nAnn Lee;212 555 0102;10001\n"

    response = api(acme, acme.admin_seat).post(
        "/api/v1/leads/import", {"csv": text, "agent_id": agent.pk,
                                 "mapping": {"full_name": "Who", "phone": "Cell",
                                             "zip_code": "Postal"}},
        content_type="application/json")

    assert response.status_code == 202
    with in_schema(acme.schema_name):
        assert ImportJob.objects.get(pk=response.json()["id"]).agent_id == agent.pk


def test_a_preview_waits_for_its_mapping_and_a_bad_mapping_is_a_field_error(acme, agent):
    client = api(acme, agent)
    created = client.post("/api/v1/leads/import", {"csv": "A,B\n1,2\n", "preview_only": True},
                          content_type="application/json").json()

    bad = client.post(f"/api/v1/leads/import/{created['id']}/start",
                      {"mapping": {"phone": "A", "zip_code": "C"}},
                      content_type="application/json")
    good = client.post(f"/api/v1/leads/import/{created['id']}/start",
                       {"mapping": {"phone": "A", "zip_code": "B"}},
                       content_type="application/json")
    again = client.post(f"/api/v1/leads/import/{created['id']}/start",
                        {"mapping": {"phone": "A", "zip_code": "B"}},
                        content_type="application/json")

    assert created["status"] == "mapping" and created["preview"][0]["row"] == 1
    assert bad.status_code == 400 and "zip_code" in bad.json()["error"]["fields"]
    assert good.status_code == 202 and good.json()["status"] == "queued"
    assert again.status_code == 409 and again.json()["error"]["code"] == "import_started"


def test_an_agent_cannot_see_a_colleagues_import(acme, agent):
    colleague = SeatFactory(brokerage=acme.brokerage)
    created = api(acme, colleague).post("/api/v1/leads/import", {"csv": CSV.decode()},
                                        content_type="application/json").json()

    assert api(acme, agent).get(f"/api/v1/leads/import/{created['id']}").status_code == 404
    assert api(acme, acme.admin_seat).get(
        f"/api/v1/leads/import/{created['id']}").status_code == 200


def test_a_file_too_large_is_refused_with_a_clear_error(acme, agent):
    big = b"Name,Zip\n" + b"x,10001\n" * 656_000  # just over 5 MB

    response = api(acme, agent).post("/api/v1/leads/import",
                                     {"file": SimpleUploadedFile("big.csv", big)})

    assert response.status_code == 400
    assert "larger than 5 MB" in response.json()["error"]["fields"]["file"][0]


def test_the_pages_upload_map_preview_and_report(acme, agent):
    client = host_client(acme.host, agent.user)

    uploaded = client.post("/leads/import/", {"file": SimpleUploadedFile("m.csv", CSV)})
    page = client.get(uploaded["Location"]).content.decode()
    started = client.post(uploaded["Location"], {
        "first_name": "First Name", "last_name": "Last Name", "phone": "Phone Number",
        "email": "E-mail", "zip_code": "Zip", "start": "1"})
    running = client.get(uploaded["Location"]).content.decode()
    finish(acme, int(uploaded["Location"].rstrip("/").rsplit("/", 1)[1]))
    done = client.get(uploaded["Location"] + "?show=skipped").content.decode()

    assert "Will import" in page and "Will be skipped" in page and "Jane Doe" in page
    assert started.status_code == 302
    assert "0 of 2" in running and 'http-equiv="refresh"' in running
    assert "Import done" in done and "No phone and no email" in done
    assert "Jane Doe" not in done  # only the rows not imported


def test_the_export_is_the_callers_leads_and_formula_safe(acme, agent):
    with in_schema(acme.schema_name):
        Lead.objects.create(agent_id=agent.pk, first_name="=HYPERLINK(\"x\")",
                            last_name="-1+1", phone="+12125550101", zip_code="10001")
        Lead.objects.create(agent_id=SeatFactory(brokerage=acme.brokerage).pk,
                            first_name="Colleague", zip_code="10001")

    mine = api(acme, agent).get("/api/v1/leads/export.csv")
    everyone = host_client(acme.host, acme.admin).get("/leads/export.csv")

    rows = list(csv.reader(io.StringIO(b"".join(mine.streaming_content).decode())))
    assert mine["Content-Type"].startswith("text/csv")
    assert rows[0][:3] == ["Lead id", "First name", "Last name"]
    assert [row[1:3] for row in rows[1:]] == [["'=HYPERLINK(\"x\")", "'-1+1"]]
    all_rows = list(csv.reader(io.StringIO(b"".join(everyone.streaming_content).decode())))
    assert len(all_rows) == 3
