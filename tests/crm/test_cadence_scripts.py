"""What to say: merge fields filled from the lead, unknown ones left visible, and a script
for every task, written for the lead's stage when its step has none."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from clozings.crm.models import Lead, Task
from clozings.crm.scripts import render, script_for, subject_for

pytestmark = pytest.mark.django_db

NOW = datetime(2026, 3, 2, 15, 0, tzinfo=UTC)


def lead(**fields) -> Lead:
    data = {"first_name": "Zoë", "last_name": "Park", "zip_code": "10001",
            "price_min_cents": 40_000_000, "price_max_cents": 55_000_000,
            "last_touch_at": NOW - timedelta(days=3)}
    data.update(fields)
    return Lead(agent_id=1, **data)


def merge(template: str, **fields) -> str:
    return render(template, lead(**fields), agent_name="Sam Agent", brokerage_name="Acme",
                  now=NOW)


def test_every_merge_field_is_filled(acme):
    text = merge("{first_name} {last_name} / {full_name} / {agent_name} of {brokerage_name} /"
                 " {area} {zip_code} / {price_range} / {since_last_touch}")
    assert text == ("Zoë Park / Zoë Park / Sam Agent of Acme / New York, NY 10001 / "
                    "$400k–$550k / 3 days")


@pytest.mark.parametrize("fields,expected", [
    ({"price_min_cents": None, "price_max_cents": None}, "your price range"),
    ({"price_max_cents": None}, "$400k+"),
    ({"price_min_cents": None, "price_max_cents": 125_000_000}, "up to $1.25M"),
    ({"price_min_cents": 95_000, "price_max_cents": 120_000_000}, "$950–$1.2M"),
])
def test_price_ranges_read_as_people_say_them(acme, fields, expected):
    assert merge("{price_range}", **fields) == expected


@pytest.mark.parametrize("last_touch,expected", [
    (None, "never"), (NOW - timedelta(minutes=1), "1 minute"),
    (NOW - timedelta(hours=5), "5 hours"), (NOW - timedelta(days=45), "45 days"),
    (NOW - timedelta(days=95), "3 months")])
def test_time_since_the_last_touch(acme, last_touch, expected):
    assert merge("{since_last_touch}", last_touch_at=last_touch) == expected


def test_unknown_fields_stay_visible_and_odd_input_never_crashes(acme):
    assert merge("Hi {firstname}, {city} {} {first_name") == "Hi {firstname}, {city} {} {first_name"
    assert merge("{area}", zip_code="") == "your area"
    assert merge("Hi {first_name}", first_name="") == "Hi there"
    assert merge("") == ""


def test_a_task_without_a_script_gets_one_for_the_leads_stage(acme):
    task = Task(title="Follow up", agent_id=1, due_at=NOW)
    scripts = {stage: script_for(task, lead(stage=stage), agent_name="Sam",
                                 brokerage_name="Acme", now=NOW)
               for stage in Lead.OPEN_STAGES}
    assert len(set(scripts.values())) == len(Lead.OPEN_STAGES)
    for text in scripts.values():
        assert "Zoë" in text and "{" not in text
    assert "just checking in" not in " ".join(scripts.values()).lower()
    assert "New York, NY" in subject_for(task, lead(), agent_name="Sam",
                                         brokerage_name="Acme", now=NOW)
