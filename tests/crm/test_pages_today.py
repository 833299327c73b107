"""Today, the agent's home: new leads first, then follow-ups due today, then overdue ones;
personal tasks only; one tap logs an outcome and says what comes next."""

from __future__ import annotations

import datetime as dt

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from clozings.crm import services
from clozings.crm.models import Activity, Task
from clozings.platform.tenancy import in_schema
from tests.conftest import host_client
from tests.crm.pages import make_lead
from tests.tenants.factories import SeatFactory

pytestmark = pytest.mark.django_db

DAY = dt.timedelta(days=1)


@pytest.fixture
def agent(acme):
    seat = SeatFactory(brokerage=acme.brokerage)
    seat.user.time_zone = "UTC"
    seat.user.save(update_fields=["time_zone"])
    return seat


def test_an_agents_home_is_today_new_then_due_then_overdue(acme, agent):
    s = acme.schema_name
    make_lead(s, agent, first_name="Olga", touched=True, due_in=-3 * DAY)  # overdue, oldest
    make_lead(s, agent, first_name="Otto", touched=True, due_in=-DAY - dt.timedelta(hours=1))
    make_lead(s, agent, first_name="Dora", touched=True, due_in=dt.timedelta(minutes=-1),
              task_title="Call + text, day 1")
    four_minutes_ago = timezone.now() - dt.timedelta(minutes=4)
    make_lead(s, agent, first_name="Nina", last_inquiry_at=four_minutes_ago,
              price_max_cents=65_000_000)  # new
    make_lead(s, agent, first_name="Auto", touched=True, channel="auto_email",
              due_in=-DAY)  # automated: not on Today
    make_lead(s, agent, first_name="Later", touched=True, due_in=3 * DAY)  # not today
    make_lead(s, SeatFactory(brokerage=acme.brokerage), first_name="Colleague")

    page = host_client(acme.host, agent.user).get("/").content.decode()

    assert page.index("New leads") < page.index("Nina") < page.index("Due today")
    assert page.index("Due today") < page.index("Dora") < page.index("Overdue")
    assert page.index("Overdue") < page.index("Olga") < page.index("Otto")
    assert "Call + text, day 1" in page
    assert "came in 4\xa0minutes ago" in page and "up to $650k" in page
    assert 'href="tel:+1212555' in page and 'href="sms:+1212555' in page
    assert "New York, NY" in page  # the area of ZIP 10001
    for absent in ("Auto", "Later", "Colleague"):
        assert absent not in page
    assert 'aria-current="page">Today</a>' in page


def test_an_admins_home_is_the_teams_week_and_today_is_one_tab_away(acme):
    admin_seat = acme.admin.seats.get(brokerage=acme.brokerage)
    make_lead(acme.schema_name, admin_seat, first_name="Adele")
    client = host_client(acme.host, acme.admin)

    home = client.get("/").content.decode()
    today = client.get("/today/").content.decode()

    assert "Adele" not in home and "The team this week" in home
    assert "Adele" in today and "New leads" in today


def _queries(client) -> int:
    with CaptureQueriesContext(connection) as queries:
        response = client.get("/today/")
    assert response.status_code == 200
    return len(queries)


def test_todays_query_count_does_not_grow_with_the_number_of_leads(acme, agent):
    client = host_client(acme.host, agent.user)
    for n, due in enumerate((0, -1, -3)):
        make_lead(acme.schema_name, agent, touched=bool(n), due_in=due * DAY)
    few = _queries(client)
    for n in range(27):
        make_lead(acme.schema_name, agent, touched=bool(n % 3), due_in=-(n % 3) * DAY,
                  zip_code=["10001", "30303", "60601"][n % 3])

    many = _queries(client)

    assert many == few


def test_with_nothing_due_today_names_the_next_follow_up(acme, agent):
    make_lead(acme.schema_name, agent, first_name="Fiona", touched=True, due_in=4 * DAY)

    page = host_client(acme.host, agent.user).get("/").content.decode()

    assert "No follow-ups due today. Your next one:" in page and "Fiona" in page


def test_with_no_leads_at_all_it_says_to_reserve_a_zip(acme, agent):
    page = host_client(acme.host, agent.user).get("/").content.decode()

    assert "Reserve a ZIP to get leads" in page


def test_one_tap_logs_the_outcome_and_the_page_says_what_is_next(acme, agent):
    lead = make_lead(acme.schema_name, agent, first_name="Vera")

    response = host_client(acme.host, agent.user).post(
        f"/leads/{lead.pk}/touch/",
        {"kind": "call", "outcome": "voicemail", "note": "Left my number", "back": "today"},
        follow=True)

    assert response.redirect_chain[-1][0] == "/today/"
    page = response.content.decode()
    assert "Logged a call (left a voicemail) with Vera Buyer." in page
    assert "Next:" in page
    with in_schema(acme.schema_name):
        activity = Activity.objects.get(lead=lead)
        assert (activity.kind, activity.outcome, activity.note) == (
            "call", "voicemail", "Left my number")


@pytest.mark.parametrize("data", [
    {"kind": "call", "outcome": "great"},
    {"kind": "fax", "outcome": "voicemail"},
    {"kind": "call", "outcome": "voicemail", "note": "bell\x07here"},
])
def test_a_bad_outcome_is_shown_on_today_and_changes_nothing(acme, agent, data):
    lead = make_lead(acme.schema_name, agent, first_name="Vera")

    response = host_client(acme.host, agent.user).post(
        f"/leads/{lead.pk}/touch/", {**data, "back": "today"})

    assert response.status_code == 400
    page = response.content.decode()
    assert 'class="errorlist' in page and "Vera" in page
    with in_schema(acme.schema_name):
        assert not Activity.objects.filter(lead=lead).exists()
        assert Task.objects.filter(lead=lead, completed_at__isnull=True).count() == 1


def test_after_the_first_call_the_cadences_next_step_is_named(acme, agent):
    lead = make_lead(acme.schema_name, agent, first_name="Gail")
    with in_schema(acme.schema_name):
        services.enrol(lead=lead, cadence=services.default_cadence(), by=agent)

    page = host_client(acme.host, agent.user).post(
        f"/leads/{lead.pk}/touch/", {"kind": "call", "outcome": "no_answer", "back": "today"},
        follow=True).content.decode()

    with in_schema(acme.schema_name):
        nxt = Task.objects.get(lead=lead, completed_at__isnull=True)
    assert nxt.title and nxt.due_at > timezone.now() + dt.timedelta(hours=12)
    assert f"Logged a call (no answer) with Gail Buyer. Next: {nxt.title} " in page
    assert "all caught up" in page and "Your next one:" in page  # off Today until then
