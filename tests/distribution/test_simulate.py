"""`clozings simulate` against the app served over HTTP (the live server) with a real
Celery worker: every lead it posts reaches the ZIP holder's CRM, and the summary says so."""

from __future__ import annotations

import io

import pytest
from django.core.management import CommandError, call_command

from clozings.crm.models import Lead, Task
from clozings.distribution.models import InboundLead
from clozings.platform.tenancy import in_schema
from tests.distribution.factories import holder, lead_source

pytestmark = [pytest.mark.worker, pytest.mark.slow]

ZIP = "10001"


def test_simulate_posts_leads_through_the_http_api_into_the_agents_crm(
        acme, workers, crm_cleanup, live_server):
    reservation = holder(acme.brokerage, ZIP)
    source = lead_source("Simulated portal")
    workers.start()
    out = io.StringIO()

    call_command("simulate", leads=20, rate=40, host=live_server.url, key=source.key,
                 zips=[ZIP], wait=60, stdout=out)

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


@pytest.mark.django_db
def test_simulate_says_clearly_what_it_cannot_do(live_server):
    with pytest.raises(CommandError, match="does not speak the fub adapter"):
        call_command("simulate", adapter="fub", key="k", host=live_server.url)
    with pytest.raises(CommandError, match="--rate"):
        call_command("simulate", rate=0, key="k", host=live_server.url)
    with pytest.raises(CommandError, match="refused the key"):
        call_command("simulate", leads=1, key="lsk_nope_nope", host=live_server.url)
    with pytest.raises(CommandError, match="Nothing answers"):
        call_command("simulate", leads=1, key="k", host="http://127.0.0.1:9")
