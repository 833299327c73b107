"""Today, the agent's home: new leads first, then follow-ups due today, then overdue ones;
personal tasks only; one tap logs an outcome and says what comes next."""

from __future__ import annotations

import datetime as dt

import pytest
from django.db import connection, transaction
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from clozings.crm import selectors_pages, services
from clozings.crm.models import Activity, Lead, Task
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


def _queries(client, path: str = "/today/") -> int:
    with CaptureQueriesContext(connection) as queries:
        response = client.get(path)
    assert response.status_code == 200
    return len(queries)


def _make_sections(schema: str, agent, count: int, **fields) -> None:
    """`count` leads of `agent` in each of Today's sections: new ones (New0 the oldest
    inquiry), due today (Due0 the earliest, all within today whatever the hour) and overdue
    (Late0 the latest)."""
    midnight = timezone.now().replace(hour=0, minute=0, second=0, microsecond=0)  # UTC
    for n in range(count):
        make_lead(schema, agent, first_name=f"New{n}", **fields)
        make_lead(schema, agent, first_name=f"Due{n}", touched=True, now=midnight,
                  due_in=dt.timedelta(minutes=n + 1), **fields)
        make_lead(schema, agent, first_name=f"Late{n}", touched=True, now=midnight,
                  due_in=-dt.timedelta(hours=n + 1), **fields)


def test_todays_query_count_does_not_grow_with_the_number_of_leads(acme, agent, monkeypatch):
    monkeypatch.setattr(selectors_pages, "SECTION_LIMIT", 4)
    client = host_client(acme.host, agent.user)
    for n, due in enumerate((0, -1, -3)):
        make_lead(acme.schema_name, agent, touched=bool(n), due_in=due * DAY)
    few = _queries(client)
    for n in range(27):  # past the limit of every section
        make_lead(acme.schema_name, agent, touched=bool(n % 3), due_in=-(n % 3) * DAY,
                  zip_code=["10001", "30303", "60601"][n % 3])

    many = _queries(client)

    assert many == few


def test_a_long_section_shows_its_first_rows_its_count_and_a_link_to_all(acme, agent,
                                                                         monkeypatch):
    monkeypatch.setattr(selectors_pages, "SECTION_LIMIT", 3)
    _make_sections(acme.schema_name, agent, 5)
    make_lead(acme.schema_name, agent, first_name="Lone", touched=True, due_in=3 * DAY)

    page = host_client(acme.host, agent.user).get("/today/").content.decode()

    for section in ("new", "due", "overdue"):
        assert f'href="/today/{section}/">Show all 5</a>' in page
    assert page.count('<li class="task task-new') == 3
    assert page.count('<li class="task task-due') == 3
    assert page.count('<li class="task task-overdue') == 3
    assert "Due0" in page and "Due2" in page and "Due3" not in page  # earliest due first
    assert "Late4" in page and "Late2" in page and "Late1" not in page
    assert "· 5 new · 5 due · 5 overdue" in page


def test_a_short_section_has_no_show_all_link(acme, agent):
    _make_sections(acme.schema_name, agent, 2)

    page = host_client(acme.host, agent.user).get("/today/").content.decode()

    assert "Show all" not in page


def _names(page: str) -> list[str]:
    return [line.split(">", 1)[1].split("<", 1)[0]
            for line in page.split('class="task-name"')[1:]]


def test_show_all_pages_through_a_section_in_todays_order(acme, agent, monkeypatch):
    monkeypatch.setattr(selectors_pages, "SECTION_PAGE_SIZE", 2)
    _make_sections(acme.schema_name, agent, 5)
    client = host_client(acme.host, agent.user)

    first = client.get("/today/overdue/").content.decode()
    second = client.get("/today/overdue/?page=2").content.decode()
    last = client.get("/today/overdue/?page=3").content.decode()

    assert _names(first) == ["Late4 Buyer", "Late3 Buyer"]
    assert _names(second) == ["Late2 Buyer", "Late1 Buyer"]
    assert _names(last) == ["Late0 Buyer"]
    assert "1–2 of 5" in first and "Page 1 of 3" in first
    assert 'rel="next" href="?page=2"' in first and 'rel="prev"' not in first
    assert 'rel="prev" href="?page=1"' in second and 'rel="next" href="?page=3"' in second
    assert "5–5 of 5" in last and 'rel="next"' not in last
    assert 'href="/today/"' in first  # back to Today
    assert 'href="tel:+1212555' in first and 'action="/leads/' in first  # one-tap as on Today
    new = client.get("/today/new/").content.decode()
    assert _names(new) == ["New4 Buyer", "New3 Buyer"]  # newest inquiry first


def test_a_sections_page_shows_only_the_agents_own_tasks(acme, agent):
    colleague = SeatFactory(brokerage=acme.brokerage)
    _make_sections(acme.schema_name, colleague, 2)
    make_lead(acme.schema_name, agent, first_name="Mine", touched=True, due_in=-3 * DAY)
    client = host_client(acme.host, agent.user)

    pages = {section: client.get(f"/today/{section}/").content.decode()
             for section in ("new", "due", "overdue")}

    assert "Mine" in pages["overdue"]
    for page in pages.values():
        assert not any(name in page for name in ("New0", "Due0", "Late0", "Late1"))
    assert "Nothing here now." in pages["new"] and "Nothing here now." in pages["due"]


def test_a_lead_that_changed_hands_leaves_its_old_agents_today(acme, agent):
    """A task whose lead now belongs to someone else is not the agent's to work (services
    move both together; this holds even if only the lead moved)."""
    lead = make_lead(acme.schema_name, agent, first_name="Moved", touched=True,
                     due_in=-3 * DAY)
    with in_schema(acme.schema_name):
        Lead.objects.filter(pk=lead.pk).update(agent_id=SeatFactory(brokerage=acme.brokerage).pk)
    client = host_client(acme.host, agent.user)

    assert "Moved" not in client.get("/today/").content.decode()
    assert "Moved" not in client.get("/today/overdue/").content.decode()


def test_a_sections_query_count_does_not_grow_with_its_rows(acme, agent, monkeypatch):
    monkeypatch.setattr(selectors_pages, "SECTION_PAGE_SIZE", 4)
    client = host_client(acme.host, agent.user)
    _make_sections(acme.schema_name, agent, 1)
    few = _queries(client, "/today/due/")
    _make_sections(acme.schema_name, agent, 9, zip_code="30303")

    many = _queries(client, "/today/due/")
    second_page = _queries(client, "/today/due/?page=2")

    assert many == few == second_page


@pytest.mark.parametrize(("path", "status", "message"), [
    ("/today/nope/", 404, "Today has no such list."),
    ("/today/due/?page=abc", 400, "The page must be a whole number from 1"),
    ("/today/due/?page=0", 400, "The page must be a whole number from 1"),
    ("/today/due/?page=-1", 400, "The page must be a whole number from 1"),
    ("/today/due/?page=1.5", 400, "The page must be a whole number from 1"),
    ("/today/due/?page=%D9%A3", 400, "The page must be a whole number from 1"),  # Arabic 3
    ("/today/due/?page=2", 404, "Due today has 1 page; there is no page 2."),
    ("/today/due/?page=" + "9" * 5000, 404, "Due today has 1 page; there is no page"),
])
def test_a_bad_section_or_page_is_a_clear_error(acme, agent, path, status, message):
    make_lead(acme.schema_name, agent, touched=True, due_in=dt.timedelta(minutes=-5))

    response = host_client(acme.host, agent.user).get(path)

    assert response.status_code == status
    assert message in response.content.decode()


def test_page_numbers_may_have_leading_zeros(acme, agent):
    make_lead(acme.schema_name, agent, first_name="Zed", touched=True,
              due_in=dt.timedelta(minutes=-5))

    response = host_client(acme.host, agent.user).get("/today/due/?page=001")

    assert response.status_code == 200 and "Zed" in response.content.decode()


def test_a_sections_page_refuses_anyone_signed_out(acme):
    response = host_client(acme.host).get("/today/due/")

    assert response.status_code == 302 and response["Location"].startswith("/login/")


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


def test_todays_queries_use_their_partial_indexes_in_a_copied_schema(acme):
    """acme's schema is a copy of the template: the copied partial indexes still match
    Today's queries (their conditions are spelled so that a copy keeps them as migrated)."""
    agent = SeatFactory(brokerage=acme.brokerage)
    now = timezone.now()
    start, end = selectors_pages.day_bounds(now, dt.UTC)
    with in_schema(acme.schema_name), transaction.atomic(), connection.cursor() as cursor:
        cursor.execute("SET LOCAL enable_seqscan = off")
        overdue = selectors_pages._section(agent, "overdue", start, end)[:10].explain()
        new = selectors_pages._section(agent, "new", start, end)[:10].explain()
        opened = selectors_pages._open_personal_tasks(agent).values("lead_id").explain()

    assert "crm_task_personal_open" in overdue
    assert "crm_lead_new_by_agent" in new
    assert "crm_lead_open_by_agent" in opened
