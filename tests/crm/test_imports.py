"""CSV imports: odd encodings and delimiters read right, the mapping guessed from the
headers, broken rows reported one by one while the rest import, a resumed job imports no
row twice, and a 10,000-row file imports with its progress moving."""

from __future__ import annotations

import time

import pytest
from django.core.exceptions import ValidationError
from django.db import connection, connections
from django.test.utils import CaptureQueriesContext

from clozings.crm import imports
from clozings.crm.models import ImportJob, Lead, Task
from clozings.crm.services import default_cadence
from clozings.platform.tenancy import in_schema
from tests.tenants.factories import SeatFactory

pytestmark = pytest.mark.django_db

HEADER = "First Name,Last Name,Phone Number,E-mail,Zip\n"


@pytest.fixture
def agent(acme):
    return SeatFactory(brokerage=acme.brokerage)


def upload(acme, agent, raw: bytes, **kwargs) -> ImportJob:
    with in_schema(acme.schema_name):
        return imports.create_import(by=agent, agent=agent, filename="leads.csv", raw=raw,
                                     **kwargs)


def run(acme, job: ImportJob, **kwargs) -> ImportJob:
    with in_schema(acme.schema_name):
        return imports.run_import(import_id=job.pk, **kwargs)


@pytest.mark.parametrize("raw", [
    "Name;Phone;Zip\nJosé Núñez;(212) 555-0101;10001\n".encode(),
    "\ufeffName;Phone;Zip\nJosé Núñez;(212) 555-0101;10001\n".encode("utf-8"),
    "Name\tPhone\tZip\r\nJosé Núñez\t(212) 555-0101\t10001\r\n".encode("utf-16"),
    "Name,Phone,Zip\nJosé Núñez,(212) 555-0101,10001\n".encode("cp1252"),
], ids=["utf8-semicolon", "utf8-bom", "utf16-tab", "cp1252-comma"])
def test_odd_encodings_and_delimiters_read_the_same_row(acme, agent, raw):
    job = upload(acme, agent, raw)

    assert job.mapping == {"full_name": "Name", "phone": "Phone", "zip_code": "Zip"}
    with in_schema(acme.schema_name):
        [row] = imports.preview(job)
    assert row.fields["first_name"] == "José" and row.fields["last_name"] == "Núñez"
    assert row.fields["phone"] == "+12125550101" and row.reasons == []


def test_headers_are_guessed_from_common_spellings():
    headers = ["First Name", "Surname", "Phone Number", "E-mail", "Zip", "Comments", "Other"]

    assert imports.guess_mapping(headers) == {
        "first_name": "First Name", "last_name": "Surname", "phone": "Phone Number",
        "email": "E-mail", "zip_code": "Zip", "message": "Comments"}


def test_broken_rows_are_reported_one_by_one_and_the_rest_import(acme, agent):
    with in_schema(acme.schema_name):
        old = Lead.objects.create(agent_id=agent.pk, phone="+12125550199", zip_code="10001")
    raw = (HEADER
           + "Ann,Good,212-555-0101,ann@example.test,10001\n"
           + "No,Contact,,,10001\n"
           + "Bad,Phone,555-12,,10001\n"
           + "Bad,Email,,not-an-email,10001\n"
           + "Far,Away,212-555-0102,,99999\n"
           + "Old,Friend,(212) 555-0199,,10001\n"
           + "Ann,Again,,ANN@example.test,10001\n"
           + "Bell,\x07Ring,212-555-0103,,10001\n"
           + "Zed,Zero,212-555-0104,,2134\n").encode()
    job = upload(acme, agent, raw, mapping=None)

    with in_schema(acme.schema_name):
        imports.start_import(job=job, mapping=job.mapping)
    job = run(acme, job)

    report = {line["row"]: line for line in job.report}
    assert (job.status, job.processed_rows, job.imported_rows) == ("done", 9, 2)
    assert report[1]["status"] == "imported" and report[9]["status"] == "imported"
    assert "No phone and no email" in report[2]["reasons"][0]
    assert "'555-12' is not a valid number" in report[3]["reasons"][0]
    assert "'not-an-email' is not a valid address" in report[4]["reasons"][0]
    assert "ZIP 99999 is not a US ZIP code we know." in report[5]["reasons"]
    assert report[6]["reasons"] == [f"Already a lead (#{old.pk}) with this phone or email."]
    assert report[7]["reasons"] == ["Repeats row 1 of this file."]
    assert report[8]["reasons"] == ["Last name holds control characters."]
    with in_schema(acme.schema_name):
        ann = Lead.objects.get(pk=report[1]["lead_id"])
        zed = Lead.objects.get(pk=report[9]["lead_id"])
        [task] = Task.objects.filter(lead=ann, completed_at__isnull=True)
        cadence = default_cadence()
        first_step = cadence.steps.order_by("position").first()
    assert (ann.cadence_id, ann.cadence_state, ann.time_zone) == (
        cadence.pk, "active", "America/New_York")
    assert (task.step_id, task.channel, task.agent_id) == (first_step.pk, first_step.channel,
                                                           agent.pk)
    assert (ann.source_name, ann.inbound_lead_id, ann.agent_id) == ("CSV import", None, agent.pk)
    assert (ann.email, ann.phone, zed.zip_code) == ("ann@example.test", "+12125550101", "02134")


def test_a_mapping_without_zip_or_contact_is_refused(acme, agent):
    job = upload(acme, agent, b"A,B,C\n1,2,3\n")

    with pytest.raises(ValidationError) as caught, in_schema(acme.schema_name):
        imports.start_import(job=job, mapping={"first_name": "A", "last_name": "Nope"})

    assert set(caught.value.message_dict) == {"last_name", "zip_code", "phone"}


@pytest.mark.parametrize("raw,message", [
    (b"Name,Zip\n", "no rows"),
    (b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR", "not a CSV"),
    (b"Name,Zip\n" + b"x,10001\n" * 800_000, "larger than 5 MB"),
])
def test_an_unreadable_file_is_refused_with_a_clear_message(acme, agent, raw, message):
    with pytest.raises(ValidationError) as caught:
        upload(acme, agent, raw)

    assert message in caught.value.message_dict["file"][0]


def test_a_job_resumed_after_its_worker_died_imports_no_row_twice(acme, agent):
    raw = (HEADER + "".join(f"P,{n},,p{n}@example.test,10001\n" for n in range(25))).encode()
    job = upload(acme, agent, raw)
    with in_schema(acme.schema_name):
        imports.start_import(job=job, mapping=job.mapping)

    crashed = run(acme, job, chunk_rows=10, stop_after_chunks=1)  # the worker dies here
    resumed = run(acme, job, chunk_rows=10)
    again = run(acme, job, chunk_rows=10)  # the sweeper sends it once more

    assert (crashed.status, crashed.processed_rows) == ("running", 10)
    assert (resumed.status, resumed.imported_rows) == ("done", 25)
    assert [line["row"] for line in again.report] == list(range(1, 26))
    with in_schema(acme.schema_name):
        assert Lead.objects.filter(source_name="CSV import").count() == 25


def test_ten_thousand_rows_import_with_progress_moving(acme, agent):
    raw = (HEADER + "".join(f"Lead,{n},,lead{n}@example.test,{10001 + n % 5}\n"
                            for n in range(10_000))).encode()
    job = upload(acme, agent, raw)
    with in_schema(acme.schema_name):
        imports.start_import(job=job, mapping=job.mapping)
    started = time.monotonic()

    with CaptureQueriesContext(connection) as one_chunk:
        progress = [run(acme, job, stop_after_chunks=1).processed_rows]
    progress += [run(acme, job, stop_after_chunks=1).processed_rows for _ in range(2)]
    job = run(acme, job)
    seconds = time.monotonic() - started

    assert progress == [500, 1000, 1500]
    assert (job.status, job.processed_rows, job.imported_rows) == ("done", 10_000, 10_000)
    # a chunk of 500 rows in a fixed number of statements, not a few per row
    assert len(one_chunk.captured_queries) < 25
    # about 9 s on an idle machine; the bound allows for a shared, busy one
    assert seconds < 90, seconds


def test_the_sweeper_picks_up_queued_and_running_imports_only(acme, agent):
    raw = (HEADER + "A,B,,a@example.test,10001\n").encode()
    jobs = [upload(acme, agent, raw) for _ in range(4)]
    with in_schema(acme.schema_name):
        for job, status in zip(jobs, ["mapping", "queued", "running", "done"], strict=True):
            ImportJob.objects.filter(pk=job.pk).update(status=status)

        assert imports.resumable_imports() == [jobs[2].pk, jobs[1].pk]


def test_a_job_another_worker_holds_is_left_to_it(acme, agent):
    job = upload(acme, agent, (HEADER + "A,B,,a@example.test,10001\n").encode())
    with in_schema(acme.schema_name):
        imports.start_import(job=job, mapping=job.mapping)
        key = imports._advisory_key(job.pk)
    other = connections.create_connection("default")  # another worker's session
    try:
        with other.cursor() as cursor:
            cursor.execute("SELECT pg_advisory_lock(%s, %s)", key)
        left = run(acme, job)
    finally:
        other.close()

    assert (left.status, left.processed_rows) == ("queued", 0)
