"""The rules check: the lead's local window (ZIP and area code, the overlap when they
disagree), stricter states as data and a brokerage's own rows, holidays, 3 per 24 hours,
consent, opt-out and the do-not-contact list. Frozen clocks through `now=`."""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta

import pytest

from clozings.crm.contact_rules import call_status, check, federal_holidays
from clozings.crm.models import Activity, ConsentEvent, DoNotContact, Lead, StateContactRule
from clozings.platform.tenancy import in_schema

pytestmark = pytest.mark.django_db

CONSENT = {"text": "I agree to be called and texted by Acme Realty, including automated "
                   "messages; consent is not a condition of purchase.",
           "given_at": "2026-11-30T15:00:00Z", "ip": "203.0.113.9",
           "user_agent": "Mozilla/5.0", "page_url": "https://homes.example/form",
           "channels": ["call", "text", "email"], "certificate_url": ""}


def utc(*args) -> datetime:
    return datetime(*args, tzinfo=UTC)


@pytest.fixture
def make_lead(acme):
    def make(**fields) -> Lead:
        fields.setdefault("consent", CONSENT)
        fields.setdefault("email", "pat@example.com")
        return Lead.objects.create(agent_id=acme.admin_seat.pk, first_name="Pat", **fields)

    with in_schema(acme.schema_name):
        yield make


def test_a_florida_lead_is_held_at_8_30_pm_until_8_am_next_morning(make_lead):
    lead = make_lead(zip_code="33101", phone="+13055550100")  # Miami
    evening = utc(2026, 12, 3, 1, 30)  # 20:30 EST on Wednesday, Dec 2

    verdict = check(lead, "auto_text", evening)

    assert not verdict.allowed
    assert verdict.reasons == ["outside_window"]
    assert verdict.not_before == utc(2026, 12, 3, 13, 0)  # 08:00 EST
    assert verdict.local_time.hour == 20 and verdict.local_time.minute == 30
    assert "FL" in verdict.rule.source and "501.059" in verdict.rule.source
    assert check(lead, "auto_text", verdict.not_before).allowed
    assert not check(lead, "auto_text", verdict.not_before - timedelta(minutes=1)).allowed


def test_a_texas_lead_on_a_sunday_morning_is_held_until_noon(make_lead):
    lead = make_lead(zip_code="75201", phone="+12145550100")  # Dallas
    sunday_morning = utc(2026, 12, 6, 16, 0)  # 10:00 CST, Sunday

    verdict = check(lead, "auto_text", sunday_morning)

    assert not verdict.allowed
    assert verdict.not_before == utc(2026, 12, 6, 18, 0)  # 12:00 CST
    assert check(lead, "auto_text", utc(2026, 12, 7, 15, 0)).allowed  # Monday 09:00 CST
    assert not check(lead, "auto_text", utc(2026, 12, 7, 14, 59)).allowed


def test_a_seattle_number_with_a_miami_zip_gets_only_the_overlap(make_lead):
    lead = make_lead(zip_code="33101", phone="+12065550100")

    early = check(lead, "auto_text", utc(2026, 12, 2, 14, 0))  # 09:00 ET, 06:00 PT
    late = check(lead, "auto_text", utc(2026, 12, 3, 0, 30))  # 19:30 ET, 16:30 PT

    assert set(early.time_zones) == {"America/New_York", "America/Los_Angeles"}
    assert set(early.states) == {"FL", "WA"}
    assert not early.allowed
    assert early.not_before == utc(2026, 12, 2, 16, 0)  # 08:00 PT = 11:00 ET
    assert early.local_time.tzinfo.key == "America/New_York"  # the ZIP's zone is shown
    assert late.allowed
    assert not check(lead, "auto_text", utc(2026, 12, 3, 1, 0)).allowed  # 20:00 ET


def test_an_unknown_place_gets_a_narrow_window_open_in_every_continental_zone(make_lead):
    lead = make_lead(phone="+18005550100")  # toll-free, no ZIP

    verdict = check(lead, "auto_text", utc(2026, 12, 2, 15, 0))  # 10:00 ET, 07:00 PT

    assert not verdict.allowed
    assert verdict.not_before == utc(2026, 12, 2, 17, 0)  # 09:00 PT, 12:00 ET
    assert check(lead, "auto_text", utc(2026, 12, 3, 0, 59)).allowed  # 19:59 ET
    assert not check(lead, "auto_text", utc(2026, 12, 3, 1, 0)).allowed  # 17:00 PT, 20:00 ET


def test_alabama_holds_texts_on_thanksgiving_and_sundays(make_lead):
    lead = make_lead(zip_code="35203", phone="+12055550100")  # Birmingham
    thanksgiving = utc(2026, 11, 26, 16, 0)  # 10:00 CST

    held = check(lead, "auto_text", thanksgiving)

    assert held.reasons == ["holiday"]
    assert held.not_before == utc(2026, 11, 27, 14, 0)  # Friday 08:00 CST
    sunday = check(lead, "auto_text", utc(2026, 11, 29, 16, 0))
    assert sunday.reasons == ["sunday"]
    assert sunday.not_before == utc(2026, 11, 30, 14, 0)


def test_federal_holidays_include_the_observed_days():
    days = federal_holidays(2026)

    assert {date(2026, 1, 19), date(2026, 5, 25), date(2026, 7, 3), date(2026, 7, 4),
            date(2026, 11, 26), date(2026, 12, 25)} <= days
    assert date(2026, 11, 27) not in days
    assert date(2027, 12, 31) in federal_holidays(2027)  # New Year 2028 is a Saturday


def test_a_brokerage_rule_overrides_the_state_default_within_the_federal_window(make_lead):
    lead = make_lead(zip_code="10001", phone="+12125550100")  # New York: federal default
    at_8_30_pm = utc(2026, 12, 3, 1, 30)
    assert check(lead, "auto_text", at_8_30_pm).allowed

    StateContactRule.objects.create(state="NY", start=time(7), end=time(20),
                                    source="our counsel's advice")

    verdict = check(lead, "auto_text", at_8_30_pm)
    assert not verdict.allowed and "our counsel's advice" in verdict.rule.source
    assert not check(lead, "auto_text", utc(2026, 12, 2, 12, 30)).allowed  # 07:30: federal


def test_at_most_three_calls_or_texts_in_24_hours(make_lead):
    lead = make_lead(zip_code="10001", phone="+12125550100")
    first = utc(2026, 12, 2, 15, 0)
    for hours in (0, 2, 4):
        Activity.objects.create(lead=lead, kind="text", automated=True, body="Hi",
                                created_at=first + timedelta(hours=hours))
    Activity.objects.create(lead=lead, kind="text", inbound=True, body="ok",
                            created_at=first + timedelta(hours=5))

    verdict = check(lead, "auto_text", first + timedelta(hours=6))

    assert verdict.reasons == ["daily_limit"]
    assert verdict.not_before == first + timedelta(hours=24)
    assert check(lead, "auto_email", first + timedelta(hours=6)).allowed
    assert check(lead, "auto_text", first + timedelta(hours=24)).allowed


def test_without_consent_no_automated_text_but_email_and_a_hand_call_are_allowed(make_lead):
    lead = make_lead(zip_code="10001", phone="+12125550100", consent=None)
    noon = utc(2026, 12, 2, 17, 0)

    text = check(lead, "auto_text", noon)

    assert text.reasons == ["no_consent"] and text.permanent and text.not_before is None
    assert check(lead, "auto_email", noon).allowed
    assert check(lead, "call", noon, automated=False).allowed
    ConsentEvent.objects.create(lead=lead, kind="given", via="opt_in_form",
                                channels=["text"], evidence={"text": "Yes, text me"})
    assert check(lead, "auto_text", noon).allowed
    assert not check(lead, "auto_call", noon).allowed


def test_consent_that_lists_only_email_does_not_cover_texts(make_lead):
    lead = make_lead(zip_code="10001", phone="+12125550100",
                     consent={**CONSENT, "channels": ["email"]})

    assert check(lead, "auto_text", utc(2026, 12, 2, 17, 0)).reasons == ["no_consent"]


def test_an_opted_out_lead_gets_nothing_automated_and_no_call(make_lead):
    noon = utc(2026, 12, 2, 17, 0)
    lead = make_lead(zip_code="10001", phone="+12125550100", opted_out_at=noon,
                     opted_out_via="text_reply")

    assert check(lead, "auto_email", noon).reasons == ["opted_out"]
    assert "opted_out" in check(lead, "auto_text", noon).reasons
    status = call_status(lead, noon)
    assert not status.allowed and "opted out (text reply)" in status.reason


def test_the_do_not_contact_list_stops_every_channel(make_lead):
    noon = utc(2026, 12, 2, 17, 0)
    lead = make_lead(zip_code="10001", phone="+12125550100", email="Pat@Example.com")
    DoNotContact.objects.create(email="pat@example.com")

    assert check(lead, "auto_email", noon).reasons == ["do_not_contact"]
    assert check(lead, "auto_text", noon).permanent
    assert not call_status(lead, noon).allowed


def test_call_status_shows_the_local_time_and_why_not(make_lead, django_assert_max_num_queries):
    lead = make_lead(zip_code="33101", phone="+13055550100")

    with django_assert_max_num_queries(4):
        status = call_status(lead, utc(2026, 12, 3, 1, 30))

    assert status.local_time.strftime("%H:%M") == "20:30"
    assert status.time_zone == "America/New_York"
    assert not status.allowed and "08:00-20:00" in status.reason
    assert status.not_before == utc(2026, 12, 3, 13, 0)
    assert call_status(lead, utc(2026, 12, 2, 17, 0)).allowed
