"""`clozings simulate` against the app served over HTTP (the live server) with a real
Celery worker: every lead it posts, through the native API and each adapter (Follow Up
Boss events, Meta Lead Ads with the Graph API stand-in, Google lead forms), reaches the
ZIP holder's CRM, and the summary says so."""

from __future__ import annotations

import io
import json

import pytest
import requests
from django.core.management import CommandError, call_command

from clozings.crm.models import Lead, Task
from clozings.distribution.models import InboundLead
from clozings.platform import embedded, graph_standin
from clozings.platform.tenancy import in_schema
from tests.distribution.factories import holder, lead_source

ZIP = "10001"


@pytest.mark.worker
@pytest.mark.slow
def test_simulate_posts_leads_through_the_http_api_into_the_agents_crm(
        acme, workers, crm_cleanup, live_server):
    reservation = holder(acme.brokerage, ZIP)
    source = lead_source("Simulated portal")
    workers.start()
    out = io.StringIO()

    call_command("simulate", leads=20, rate=40, host=live_server.url, adapter="native",
                 key=source.key, zips=[ZIP], wait=60, stdout=out)

    printed = out.getvalue()
    assert "sent 20/20" in printed
    assert "accepted:  20" in printed and "rejected:  0" in printed
    assert "delivered: 20\n" in printed
    assert "p50" in printed and "over 17 requests" in printed  # 16 single, 1 batch of 4
    leads = InboundLead.objects.filter(source=source.source)
    assert leads.count() == 20 and set(leads.values_list("status", flat=True)) == {"delivered"}
    # a share came through the batch endpoint, as the plan says (the last 4 in one batch)
    assert leads.filter(external_id__endswith="-19").exists()
    with in_schema(acme.schema_name):
        assert Lead.objects.filter(agent_id=reservation.seat_id).count() == 20
        assert Task.objects.filter(lead__agent_id=reservation.seat_id).count() == 20


@pytest.fixture
def adapter_sources(tmp_path, monkeypatch):
    """A source per adapter with its secrets, in a file shaped like `clozings demo`'s, and
    the Graph API stand-in `clozings run` would start, serving what simulate leaves."""
    graph_dir = tmp_path / "graph-leads"
    server, base = graph_standin.serve(graph_dir)
    monkeypatch.setenv("META_GRAPH_API_BASE", base)  # for the worker, started after this
    made = {
        "native": lead_source("Sim native"),
        "fub": lead_source("Sim IDX", adapter="follow_up_boss"),
        "meta": lead_source("Sim Meta", adapter="meta", settings={
            "app_secret": "sim-app-secret", "verify_token": "v",
            "page_access_token": "sim-page-token"}),
        "google": lead_source("Sim Google", adapter="google",
                              settings={"google_key": "sim-google-key"}),
    }
    path = tmp_path / "sources.json"
    path.write_text(json.dumps({name: {"id": issued.source.pk, "key": issued.key,
                                       **issued.source.settings}
                                for name, issued in made.items()}))
    yield {"path": path, "graph_dir": graph_dir,
           "sources": {name: issued.source for name, issued in made.items()}}
    server.shutdown()


@pytest.mark.worker
@pytest.mark.slow
@pytest.mark.parametrize(("adapter", "leads", "via"), [
    ("mixed", 8, {"native": 2, "fub": 2, "meta": 2, "google": 2}),
    ("meta", 3, {"meta": 3}),  # the one that answers before the lead exists
])
def test_simulate_speaks_each_adapter_and_every_lead_reaches_the_agent(
        acme, workers, crm_cleanup, live_server, adapter_sources, adapter, leads, via):
    reservation = holder(acme.brokerage, ZIP)
    workers.start()
    out = io.StringIO()

    call_command("simulate", leads=leads, rate=40, host=live_server.url, adapter=adapter,
                 sources=adapter_sources["path"], graph_dir=adapter_sources["graph_dir"],
                 zips=[ZIP], wait=60, stdout=out)

    printed = out.getvalue()
    assert f"accepted:  {leads}" in printed and "rejected:  0" in printed, printed
    assert f"delivered: {leads}\n" in printed, printed
    for name, n in via.items():
        assert f"  {name:<7} sent {n}, accepted {n}, rejected 0, delivered {n}" in printed
        source = adapter_sources["sources"][name]
        assert set(InboundLead.objects.filter(source=source).values_list(
            "status", flat=True)) == {"delivered"}
        assert InboundLead.objects.filter(source=source).count() == n
    if "meta" in via:  # read back from the Graph stand-in, consent kept
        lead = InboundLead.objects.filter(source=adapter_sources["sources"]["meta"]).first()
        assert lead.consent["custom_disclaimer_responses"][0]["checkbox_key"] == "contact_me"
        assert list(adapter_sources["graph_dir"].glob("*.json")) == []  # read, then removed
    with in_schema(acme.schema_name):
        assert Lead.objects.filter(agent_id=reservation.seat_id).count() == leads


@pytest.mark.django_db
def test_simulate_says_clearly_what_it_cannot_do(live_server, tmp_path):
    with pytest.raises(CommandError, match="--key is a native source's key"):
        call_command("simulate", adapter="fub", key="k", host=live_server.url)
    with pytest.raises(CommandError,
                       match="No credentials for native, fub, meta, google in .*nothing.json"):
        call_command("simulate", sources=tmp_path / "nothing.json", host=live_server.url)
    with pytest.raises(CommandError, match="--rate"):
        call_command("simulate", rate=0, key="k", adapter="native", host=live_server.url)
    with pytest.raises(CommandError, match="refused the native source's key"):
        call_command("simulate", leads=1, adapter="native", key="lsk_nope_nope",
                     host=live_server.url)
    with pytest.raises(CommandError, match="Nothing answers"):
        call_command("simulate", leads=1, adapter="native", key="k", host="http://127.0.0.1:9")


def test_the_graph_stand_in_clozings_run_starts_serves_the_leads_left_for_it(
        tmp_path, monkeypatch):
    monkeypatch.setenv("CLOZINGS_HOME", str(tmp_path))
    base, process = embedded.start_graph_standin()
    try:
        graph_standin.put_lead(embedded.graph_leads_directory(), leadgen_id="sim-1",
                               access_token="page-token", lead={"id": "sim-1", "field_data": []})

        found = requests.get(f"{base}/sim-1", params={"access_token": "page-token"}, timeout=5)
        wrong = requests.get(f"{base}/sim-1", params={"access_token": "other"}, timeout=5)
        unknown = requests.get(f"{base}/sim-2", params={"access_token": "page-token"},
                               timeout=5)
        sneaky = requests.get(f"{base}/..%2Fsecret-key", params={"access_token": ""}, timeout=5)
    finally:
        process.terminate()
        process.wait(10)

    assert (found.status_code, found.json()) == (200, {"id": "sim-1", "field_data": []})
    assert (wrong.status_code, unknown.status_code, sneaky.status_code) == (400, 404, 404)
