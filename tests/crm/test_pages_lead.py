"""The lead page: how to reach the lead, the next task and its outcomes, the whole
timeline newest first; agents open only their own leads, admins any of the brokerage's."""

from __future__ import annotations

import datetime as dt

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from clozings.crm.models import Activity, Cadence, ConsentEvent, Lead, StageChange
from clozings.platform.tenancy import in_schema
from tests.conftest import host_client
from tests.crm.pages import make_lead
from tests.tenants.factories import SeatFactory

pytestmark = pytest.mark.django_db

AGO = dt.timedelta(hours=1)


@pytest.fixture
def agent(acme):
    return SeatFactory(brokerage=acme.brokerage)


def _history(schema: str, lead, agent) -> None:
    now = timezone.now()
    with in_schema(schema):
        Activity.objects.create(lead=lead, kind="inquiry", note="Still looking in Chelsea",
                                created_at=now - 5 * AGO)
        Activity.objects.create(lead=lead, kind="call", outcome="voicemail", by_id=agent.pk,
                                note="Left my number", created_at=now - 4 * AGO)
        Activity.objects.create(lead=lead, kind="email", automated=True,
                                subject="Homes in 10001 this week", body="Three new listings",
                                created_at=now - 3 * AGO)
        Activity.objects.create(lead=lead, kind="text", inbound=True,
                                body="Can we see one Saturday?", created_at=now - 2 * AGO)
        StageChange.objects.create(lead=lead, from_stage="new", to_stage="appointment",
                                   by_id=agent.pk, created_at=now - AGO)


def test_the_lead_page_shows_how_to_reach_them_and_the_whole_timeline(acme, agent):
    lead = make_lead(acme.schema_name, agent, first_name="Rosa", phone="+12125550141",
                     email="rosa@example.test", time_zone="America/New_York",
                     routing_note="You hold ZIP 10001 exclusively.",
                     consent={"text": "I agree to be contacted"},
                     created_at=timezone.now() - 6 * AGO)
    _history(acme.schema_name, lead, agent)

    page = host_client(acme.host, agent.user).get(f"/leads/{lead.pk}/").content.decode()

    assert 'href="tel:+12125550141"' in page and 'href="sms:+12125550141"' in page
    assert 'href="mailto:rosa@example.test"' in page
    assert "for them" in page and "Consent on file" in page
    assert "OK to call now" in page or "Don't call now" in page
    assert "Next: Call now" in page and 'value="voicemail"' in page
    order = ["Stage: New → Appointment", "Can we see one Saturday?",
             "Homes in 10001 this week", "Left my number", "Still looking in Chelsea",
             "You hold ZIP 10001 exclusively."]
    positions = [page.index(text) for text in order]
    assert positions == sorted(positions)
    assert "Automatic email sent" in page and "Text from the lead" in page
    assert f'action="/leads/{lead.pk}/stage/"' in page and 'href="/cadences/"' in page


def test_a_closed_lead_shows_the_sale_and_the_commission_in_dollars(acme, agent):
    lead = make_lead(acme.schema_name, agent, touched=True, task=False, stage="closed",
                     sale_price_cents=45_000_000, commission_cents=1_125_000)
    with in_schema(acme.schema_name):
        StageChange.objects.create(lead=lead, from_stage="under_contract", to_stage="closed",
                                   sale_price_cents=45_000_000, commission_cents=1_125_000)

    page = host_client(acme.host, agent.user).get(f"/leads/{lead.pk}/").content.decode()

    assert "Sold for <strong>$450,000.00</strong>" in page
    assert "$11,250.00" in page and "11250" not in page and "1125000" not in page


def test_an_opted_out_lead_says_so(acme, agent):
    lead = make_lead(acme.schema_name, agent, opted_out_at=timezone.now(),
                     opted_out_via="text_reply")
    with in_schema(acme.schema_name):
        ConsentEvent.objects.create(lead=lead, kind="revoked", via="text_reply")

    page = host_client(acme.host, agent.user).get(f"/leads/{lead.pk}/").content.decode()

    assert "Opted out" in page and "via text reply" in page
    assert "Don't call now" in page and "The lead opted out (text reply)." in page


def test_agents_open_only_their_own_leads_and_admins_any(acme, globex, agent):
    mine = make_lead(acme.schema_name, agent, first_name="Mine")
    colleague = SeatFactory(brokerage=acme.brokerage)
    theirs = make_lead(acme.schema_name, colleague, first_name="Theirs")
    client = host_client(acme.host, agent.user)

    assert client.get(f"/leads/{mine.pk}/").status_code == 200
    assert client.get(f"/leads/{theirs.pk}/").status_code == 404
    assert client.get("/leads/987654321/").status_code == 404
    admin_page = host_client(acme.host, acme.admin).get(f"/leads/{theirs.pk}/")
    assert admin_page.status_code == 200
    assert "Theirs" in admin_page.content.decode()
    assert f"Agent: {colleague.name or colleague.user.name}" in admin_page.content.decode()
    stranger = SeatFactory(brokerage=globex.brokerage).user
    assert host_client(acme.host, stranger).get(f"/leads/{mine.pk}/").status_code == 403


def test_logging_from_the_lead_page_comes_back_to_it(acme, agent):
    lead = make_lead(acme.schema_name, agent, first_name="Vera")

    response = host_client(acme.host, agent.user).post(
        f"/leads/{lead.pk}/touch/", {"kind": "text", "outcome": "replied", "back": "lead"},
        follow=True)

    assert response.redirect_chain[-1][0] == f"/leads/{lead.pk}/"
    assert "Logged a text (replied) with Vera Buyer." in response.content.decode()


def test_a_bad_note_on_the_lead_page_is_shown_there_and_changes_nothing(acme, agent):
    lead = make_lead(acme.schema_name, agent, first_name="Vera")

    response = host_client(acme.host, agent.user).post(
        f"/leads/{lead.pk}/touch/",
        {"kind": "call", "outcome": "connected", "note": "a\x1bb", "back": "lead"})

    assert response.status_code == 400
    assert "invisible control character" in response.content.decode()
    with in_schema(acme.schema_name):
        assert not Activity.objects.filter(lead=lead).exists()


def _queries(client, url) -> int:
    with CaptureQueriesContext(connection) as queries:
        assert client.get(url).status_code == 200
    return len(queries)


def test_the_lead_pages_query_count_does_not_grow_with_its_history(acme, agent):
    lead = make_lead(acme.schema_name, agent)
    client = host_client(acme.host, agent.user)
    _history(acme.schema_name, lead, agent)
    few = _queries(client, f"/leads/{lead.pk}/")
    for _ in range(5):
        _history(acme.schema_name, lead, SeatFactory(brokerage=acme.brokerage))

    assert _queries(client, f"/leads/{lead.pk}/") == few


def test_closing_asks_dollars_and_keeps_cents(acme, agent):
    lead = make_lead(acme.schema_name, agent, touched=True, first_name="Cora")

    response = host_client(acme.host, agent.user).post(
        f"/leads/{lead.pk}/stage/",
        {"stage": "closed", "sale_price": "$450,000", "commission": "11,250.50"}, follow=True)

    page = response.content.decode()
    assert response.redirect_chain[-1][0] == f"/leads/{lead.pk}/"
    assert "Cora Buyer moved to Closed." in page
    assert "$11,250.50" in page and "Sold for <strong>$450,000.00</strong>" in page
    with in_schema(acme.schema_name):
        lead.refresh_from_db()
        assert (lead.stage, lead.sale_price_cents, lead.commission_cents) == (
            "closed", 45_000_000, 1_125_050)


@pytest.mark.parametrize(("data", "field", "message"), [
    ({"stage": "closed", "sale_price": "", "commission": "100"}, "sale_price",
     "Enter the sale price to close the lead."),
    ({"stage": "closed", "sale_price": "abc", "commission": "100"}, "sale_price",
     "Enter the sale price in dollars"),
    ({"stage": "closed", "sale_price": "1000", "commission": "2000"}, "commission",
     "The commission is more than the sale price."),
    ({"stage": "closed", "sale_price": "-5", "commission": "1"}, "sale_price", "positive"),
    ({"stage": "lost", "reason": ""}, "reason", "Say why the lead was lost."),
    ({"stage": "lost", "reason": "moved\x00away"}, "reason", "control character"),
    ({"stage": "reassigned"}, "stage", "Select a valid choice"),
])
def test_a_bad_stage_change_is_shown_on_its_field_and_changes_nothing(acme, agent, data,
                                                                      field, message):
    lead = make_lead(acme.schema_name, agent, touched=True)

    response = host_client(acme.host, agent.user).post(f"/leads/{lead.pk}/stage/", data)

    assert response.status_code == 400
    assert any(message in error for error in response.context["stage_form"].errors[field])
    assert message.split("'")[0] in response.content.decode().replace("&#x27;", "'")
    with in_schema(acme.schema_name):
        lead.refresh_from_db()
        assert lead.stage == "contacted"
        assert not StageChange.objects.filter(lead=lead).exists()


def test_losing_a_lead_records_the_reason_on_the_timeline(acme, agent):
    lead = make_lead(acme.schema_name, agent, touched=True)

    page = host_client(acme.host, agent.user).post(
        f"/leads/{lead.pk}/stage/", {"stage": "lost", "reason": "Bought with a friend"},
        follow=True).content.decode()

    assert "Reason: Bought with a friend" in page and "Stage: Contacted → Lost" in page


def test_contact_details_are_edited_and_a_bad_phone_is_refused(acme, agent):
    lead = make_lead(acme.schema_name, agent, first_name="Eve")
    client = host_client(acme.host, agent.user)
    bad = client.post(f"/leads/{lead.pk}/contact/", {
        "first_name": "Eve", "last_name": "Stone", "phone": "12", "email": lead.email,
        "zip_code": "10001"})
    control = client.post(f"/leads/{lead.pk}/contact/", {
        "first_name": "Eve\x1b", "last_name": "Stone", "phone": lead.phone,
        "email": lead.email, "zip_code": "10001"})

    assert bad.status_code == 400 and "phone" in bad.context["contact_form"].errors
    assert control.status_code == 400 and "first_name" in control.context["contact_form"].errors
    with in_schema(acme.schema_name):
        lead.refresh_from_db()
        assert lead.last_name == "Buyer"

    good = client.post(f"/leads/{lead.pk}/contact/", {
        "first_name": "Eve", "last_name": "Stone", "phone": "(312) 555-0199",
        "email": lead.email, "zip_code": "60601"}, follow=True)

    assert "Contact details saved." in good.content.decode()
    with in_schema(acme.schema_name):
        lead.refresh_from_db()
        assert (lead.last_name, lead.phone, lead.zip_code) == ("Stone", "+13125550199",
                                                               "60601")


def test_switching_cadence_starts_the_new_one(acme, agent):
    lead = make_lead(acme.schema_name, agent, touched=True)
    with in_schema(acme.schema_name):
        cadence = Cadence.objects.filter(purpose="re_engagement").first()
    client = host_client(acme.host, agent.user)

    assert client.post(f"/leads/{lead.pk}/cadence/", {"cadence": "987654"}).status_code == 400
    response = client.post(f"/leads/{lead.pk}/cadence/", {"cadence": cadence.pk}, follow=True)

    assert f"Now on {cadence.name}." in response.content.decode()
    with in_schema(acme.schema_name):
        lead.refresh_from_db()
        assert lead.cadence_id == cadence.pk


def test_a_colleagues_lead_cannot_be_changed(acme, agent):
    theirs = make_lead(acme.schema_name, SeatFactory(brokerage=acme.brokerage), touched=True)
    client = host_client(acme.host, agent.user)

    for url, data in ((f"/leads/{theirs.pk}/stage/", {"stage": "lost", "reason": "x"}),
                      (f"/leads/{theirs.pk}/contact/", {"first_name": "X", "phone": "x"}),
                      (f"/leads/{theirs.pk}/cadence/", {"cadence": "1"})):
        assert client.post(url, data).status_code == 404
    with in_schema(acme.schema_name):
        theirs.refresh_from_db()
        assert theirs.stage == "contacted" and theirs.first_name == "Ann"



def test_the_agent_opts_a_lead_out_with_a_note(acme, agent):
    lead = make_lead(acme.schema_name, agent, touched=True)
    client = host_client(acme.host, agent.user)

    bad = client.post(f"/leads/{lead.pk}/opt-out/", {"note": "said\x07stop"})
    assert bad.status_code == 400 and "note" in bad.context["optout_form"].errors
    with in_schema(acme.schema_name):
        assert Lead.objects.get(pk=lead.pk).opted_out_at is None

    page = client.post(f"/leads/{lead.pk}/opt-out/", {"note": "Asked on the phone"},
                       follow=True).content.decode()

    assert "is opted out: no automatic texts or emails from now on." in page
    assert "Opted out" in page and "by " in page
    with in_schema(acme.schema_name):
        lead.refresh_from_db()
        assert lead.opted_out_at is not None and lead.opted_out_via == "agent"
        assert ConsentEvent.objects.get(lead=lead).kind == "revoked"
