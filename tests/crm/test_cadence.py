"""The cadence engine on a frozen clock (`now=` passed to every service): the default
cadence's tasks at the right times, automated steps due when they should be and never
done twice, catching up when the agent is late, pausing on a reply, ending on close."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from clozings.crm import services
from clozings.crm.models import Activity, Cadence, ConsentEvent, Lead, StageChange, Task
from clozings.platform.tenancy import in_schema
from tests.crm.lead_factories import new_lead
from tests.tenants.factories import SeatFactory

pytestmark = pytest.mark.django_db

T0 = datetime(2026, 1, 5, 15, 0, tzinfo=UTC)  # a Monday, 10:00 in New York
DAY = timedelta(days=1)


@pytest.fixture
def agent(acme):
    return SeatFactory(brokerage=acme.brokerage)


@pytest.fixture
def crm(acme):
    with in_schema(acme.schema_name):
        yield


def open_task(lead: Lead) -> Task:
    (task,) = Task.objects.filter(lead=lead, completed_at__isnull=True)
    return task


def send(task: Task, now: datetime) -> Task | None:
    """What the automated sender does: record the message, then complete the step (in one
    transaction)."""
    activity = Activity.objects.create(lead_id=task.lead_id, kind="email", automated=True,
                                       task=task, subject="...", body="...", created_at=now)
    return services.complete_automated_step(task=task, activity=activity, now=now)


def test_the_default_cadences_are_seeded_with_value_in_every_step(crm):
    default = Cadence.objects.get(is_default=True)
    steps = list(default.steps.all())
    assert default.name == "New lead follow-up"
    assert [(s.offset_minutes // 1440, s.channel) for s in steps[:7]] == [
        (0, "call"), (1, "call"), (1, "text"), (3, "call"), (7, "auto_email"), (14, "call"),
        (30, "call")]
    monthly = steps[7:]
    assert [s.offset_minutes // 1440 for s in monthly] == [30 * m for m in range(2, 14)]
    assert {s.channel for s in monthly} == {"auto_email"}
    assert [s.subject for s in monthly[:2]] == ["Market update for {area}",
                                                "New listings in {price_range} around {area}"]
    re_engagement = Cadence.objects.get(purpose="re_engagement")
    assert [(s.offset_minutes // 1440, s.channel) for s in re_engagement.steps.all()] == [
        (0, "auto_email"), (2, "call"), (5, "text"), (14, "call")]
    for step in [*steps, *re_engagement.steps.all()]:
        assert step.title and step.template
        assert "just checking in" not in step.template.lower()
        if step.channel == "auto_email":
            assert step.subject


def test_a_lead_followed_for_thirteen_months(crm, agent):
    lead = new_lead(agent, now=T0, consent={"text": "I agree to be contacted"})
    lead.refresh_from_db()
    assert (lead.cadence.name, lead.cadence_run, lead.cadence_state) == (
        "New lead follow-up", 1, "active")
    assert lead.time_zone == "America/New_York"
    assert ConsentEvent.objects.get(lead=lead).evidence == {"text": "I agree to be contacted"}
    first = open_task(lead)
    assert (first.title, first.channel, first.due_at) == ("Call now", "call", T0)

    # the personal steps of the first month, each logged when it comes due
    plan = [
        (T0 + timedelta(minutes=10), "call", "no_answer", "Call: day 1", T0 + DAY),
        (T0 + DAY + timedelta(minutes=30), "call", "voicemail", "Text: day 1",
         T0 + DAY + timedelta(hours=4)),
        (T0 + DAY + timedelta(hours=4), "text", "", "Call: day 3", T0 + 3 * DAY),
        (T0 + 3 * DAY, "call", "connected", "Value email: market update", T0 + 7 * DAY),
    ]
    for at, kind, outcome, title, due in plan:
        activity = services.log_activity(lead=lead, by=agent, kind=kind, outcome=outcome,
                                         now=at)
        assert (activity.next_task.title, activity.next_task.due_at) == (title, due)
    lead.refresh_from_db()
    assert lead.stage == "contacted"
    assert StageChange.objects.get(lead=lead).to_stage == "contacted"

    # week 1: the automated value email comes due; the sender sends it once
    email = open_task(lead)
    assert (email.channel, email.due_at) == ("auto_email", T0 + 7 * DAY)
    week_2 = send(email, T0 + 7 * DAY)
    assert (week_2.title, week_2.due_at) == ("Call: week 2", T0 + 14 * DAY)
    assert send(email, T0 + 7 * DAY + timedelta(minutes=1)) == week_2  # a retry: nothing
    assert services.skip_step(task=email, reason="opted out", now=T0 + 8 * DAY) == week_2
    assert Activity.objects.filter(lead=lead, automated=True).count() == 2  # the test's rows
    assert Task.objects.get(pk=email.pk).skipped_reason == ""

    month_1 = services.log_activity(lead=lead, by=agent, kind="call", outcome="voicemail",
                                    now=T0 + 14 * DAY).next_task
    assert (month_1.title, month_1.due_at) == ("Call: month 1", T0 + 30 * DAY)
    services.log_activity(lead=lead, by=agent, kind="call", outcome="no_answer",
                          now=T0 + 30 * DAY)

    # months 2..13: a value email each month, alternating market update / new listings
    for month in range(2, 14):
        task = open_task(lead)
        assert (task.channel, task.due_at) == ("auto_email", T0 + month * 30 * DAY), month
        assert task.step.subject == ("Market update for {area}" if month % 2 == 0
                                     else "New listings in {price_range} around {area}")
        # a touch by the agent in between does not do the automated step
        if month == 5:
            services.log_activity(lead=lead, by=agent, kind="text", now=task.due_at - DAY)
            assert open_task(lead) == task
        send(task, task.due_at + timedelta(minutes=3))
        send(task, task.due_at + timedelta(minutes=4))  # twice: no effect

    # after the last step: a personal check-in every 30 days, one at a time
    lead.refresh_from_db()
    assert lead.cadence_state == "finished"
    last_send = T0 + 13 * 30 * DAY + timedelta(minutes=3)
    check_in = open_task(lead)
    assert (check_in.title, check_in.channel, check_in.step) == (
        "Check in with Dana", "call", None)
    assert check_in.due_at == last_send + 30 * DAY
    again = services.log_activity(lead=lead, by=agent, kind="call", now=check_in.due_at
                                  ).next_task
    assert (again.title, again.due_at) == ("Check in with Dana", check_in.due_at + 30 * DAY)

    # every step done once, none twice
    done_steps = list(Task.objects.filter(lead=lead, step__isnull=False)
                      .values_list("step__position", flat=True))
    assert sorted(done_steps) == list(range(19))
    assert Activity.objects.filter(lead=lead, automated=True).count() == 13 * 2
    lead.refresh_from_db()
    # 6 personal steps + 1 extra text + 1 check-in, 13 emails sent (retries not counted)
    assert lead.touch_count == 6 + 1 + 1 + 13
    assert lead.last_touch_at == check_in.due_at

    # closing ends it: no open task, ever after
    services.change_stage(lead=lead, by=agent, stage="closed", sale_price_cents=45_000_000,
                          commission_cents=1_125_000, now=again.due_at - DAY)
    assert not Task.objects.filter(lead=lead, completed_at__isnull=True).exists()
    assert Task.objects.get(pk=again.pk).skipped_reason == "lead closed"
    lead.refresh_from_db()
    assert (lead.stage, lead.cadence_state, lead.closed_at, lead.commission_cents) == (
        "closed", "finished", again.due_at - DAY, 1_125_000)
    services.log_activity(lead=lead, by=agent, kind="call", now=again.due_at)
    assert not Task.objects.filter(lead=lead, completed_at__isnull=True).exists()


def test_a_reply_pauses_the_cadence_and_resuming_goes_on(crm, agent):
    lead = new_lead(agent, now=T0)
    services.log_activity(lead=lead, by=agent, kind="call", outcome="connected",
                          now=T0 + timedelta(minutes=5))
    services.log_activity(lead=lead, by=agent, kind="call", now=T0 + DAY)
    services.log_activity(lead=lead, by=agent, kind="text", now=T0 + DAY + timedelta(hours=4))
    services.log_activity(lead=lead, by=agent, kind="call", now=T0 + 3 * DAY)
    email = open_task(lead)
    assert email.channel == "auto_email"

    at = T0 + 5 * DAY
    reply = services.record_inbound_message(lead=lead, channel="text",
                                            body="Can we see the one on Elm St?", now=at,
                                            provider_id="SM1")
    assert (reply.inbound, reply.kind, reply.body) == (True, "text", "Can we see the one on "
                                                                      "Elm St?")
    task = open_task(lead)
    assert (task.pk, task.title, task.channel, task.due_at, task.step) == (
        email.pk, "Reply to Dana", "text", at, None)  # the automated step did not go out
    lead.refresh_from_db()
    assert (lead.cadence_state, lead.touch_count) == ("paused", 4)  # a reply is no touch
    # the same message delivered twice by the provider is recorded once
    services.record_inbound_message(lead=lead, channel="text", body="Can we...", now=at,
                                    provider_id="SM1")
    assert Activity.objects.filter(lead=lead, inbound=True).count() == 1

    # while paused, the agent's follow-ups are personal, never automated
    follow_up = services.log_activity(lead=lead, by=agent, kind="text", outcome="replied",
                                      now=at + timedelta(minutes=20)).next_task
    assert (follow_up.title, follow_up.channel, follow_up.due_at) == (
        "Follow up with Dana", "call", at + timedelta(minutes=20) + 2 * DAY)
    for _ in range(3):
        follow_up = services.complete_task(task=follow_up, by=agent,
                                           now=follow_up.due_at)
        assert follow_up.channel == "call" and follow_up.step is None
    assert not Task.objects.filter(lead=lead, channel="auto_email").exclude(
        pk=email.pk).exists()

    # resuming: the week-1 email was given back and is long due; the latest step already
    # due is carried out (catching up): week 2's call, due now
    resumed_at = T0 + 20 * DAY
    task = services.resume_cadence(lead=lead, by=agent, now=resumed_at)
    assert (task.title, task.due_at) == ("Call: week 2", resumed_at)
    lead.refresh_from_db()
    assert lead.cadence_state == "active"


def test_a_late_agent_faces_one_task_the_latest_step_due(crm, agent):
    lead = new_lead(agent, now=T0)

    # ten days late on "Call now": day 1, day 3 and the week-1 email have all come due
    next_task = services.log_activity(lead=lead, by=agent, kind="call",
                                      now=T0 + 10 * DAY).next_task

    assert (next_task.title, next_task.channel, next_task.due_at) == (
        "Value email: market update", "auto_email", T0 + 10 * DAY)
    after = send(next_task, T0 + 10 * DAY)
    assert (after.title, after.due_at) == ("Call: week 2", T0 + 14 * DAY)
    assert Task.objects.filter(lead=lead).count() == 3  # no pile of passed-over steps


def test_a_step_is_due_at_its_offset_never_before_now(crm, agent):
    lead = new_lead(agent, now=T0)
    # "Call now" done within minutes: day 1 is due at its time, not now
    day_1 = services.log_activity(lead=lead, by=agent, kind="call",
                                  now=T0 + timedelta(minutes=2)).next_task
    assert day_1.due_at == T0 + DAY
    # completed by hand (no touch): the cadence goes on, no touch counted
    text = services.complete_task(task=day_1, by=agent, now=T0 + DAY + timedelta(hours=5))
    assert (text.title, text.due_at) == ("Text: day 1", T0 + DAY + timedelta(hours=5))
    lead.refresh_from_db()
    assert lead.touch_count == 1


def test_a_skipped_automated_step_moves_on_with_its_reason(crm, agent):
    lead = new_lead(agent, now=T0)
    re_engagement = Cadence.objects.get(purpose="re_engagement")
    first = services.switch_cadence(lead=lead, by=agent, cadence=re_engagement,
                                    now=T0 + DAY)
    assert (first.channel, first.due_at, first.cadence_run) == ("auto_email", T0 + DAY, 2)
    assert Task.objects.get(lead=lead, title="Call now").skipped_reason == (
        "moved to Re-engagement")

    call = services.skip_step(task=first, reason="no consent", now=T0 + DAY)
    assert (call.title, call.due_at) == ("Call: day 2", T0 + 3 * DAY)
    assert Task.objects.get(pk=first.pk).skipped_reason == "no consent"
    assert services.skip_step(task=first, reason="again", now=T0 + DAY) == call


def test_switching_back_starts_a_new_run_from_the_first_step(crm, agent):
    lead = new_lead(agent, now=T0)
    default = Cadence.objects.get(is_default=True)
    services.log_activity(lead=lead, by=agent, kind="call", now=T0 + timedelta(minutes=1))

    task = services.switch_cadence(lead=lead, by=agent, cadence=default, now=T0 + 2 * DAY)

    assert (task.title, task.due_at, task.cadence_run) == ("Call now", T0 + 2 * DAY, 2)


def test_a_bad_number_is_recorded_and_the_cadence_goes_on(crm, agent):
    lead = new_lead(agent, now=T0)
    activity = services.log_activity(lead=lead, by=agent, kind="call", outcome="bad_number",
                                     now=T0 + timedelta(minutes=1))
    assert activity.outcome == "bad_number"
    assert activity.next_task.title == "Call: day 1"


def test_closing_needs_the_money_and_losing_a_reason(crm, agent):
    lead = new_lead(agent, now=T0)
    from django.core.exceptions import ValidationError

    for bad, fields in [
        ({"stage": "closed"}, {"sale_price_cents", "commission_cents"}),
        ({"stage": "closed", "sale_price_cents": 100, "commission_cents": 200},
         {"commission_cents"}),
        ({"stage": "closed", "sale_price_cents": -1, "commission_cents": 0},
         {"sale_price_cents"}),
        ({"stage": "closed", "sale_price_cents": 1.5, "commission_cents": 0},
         {"sale_price_cents"}),
        ({"stage": "lost"}, {"reason"}),
        ({"stage": "reassigned"}, {"stage"}),
        ({"stage": "lost", "reason": "moved\x00away"}, {"reason"}),
    ]:
        with pytest.raises(ValidationError) as refused:
            services.change_stage(lead=lead, by=agent, now=T0, **bad)
        assert set(refused.value.message_dict) == fields, bad
    assert not StageChange.objects.exists()


def test_lost_then_reopened_gets_a_task_again(crm, agent):
    lead = new_lead(agent, now=T0)
    services.change_stage(lead=lead, by=agent, stage="lost", reason="bought elsewhere",
                          now=T0 + DAY)
    assert not Task.objects.filter(lead=lead, completed_at__isnull=True).exists()
    lead.refresh_from_db()
    assert (lead.lost_reason, lead.closed_at) == ("bought elsewhere", T0 + DAY)

    services.change_stage(lead=lead, by=agent, stage="contacted", now=T0 + 9 * DAY)

    task = open_task(lead)
    assert (task.title, task.due_at) == ("Follow up with Dana", T0 + 9 * DAY)
    lead.refresh_from_db()
    assert (lead.stage, lead.closed_at, lead.lost_reason) == ("contacted", None, "")
    assert [c.to_stage for c in StageChange.objects.filter(lead=lead).order_by("created_at")
            ] == ["lost", "contacted"]


def test_an_appointment_pauses_the_automated_steps(crm, agent):
    lead = new_lead(agent, now=T0)
    for at in (T0, T0 + DAY, T0 + DAY + timedelta(hours=4), T0 + 3 * DAY):
        services.log_activity(lead=lead, by=agent, kind="call", now=at)
    assert open_task(lead).channel == "auto_email"

    services.change_stage(lead=lead, by=agent, stage="appointment", now=T0 + 4 * DAY)

    task = open_task(lead)
    assert (task.title, task.channel, task.due_at) == ("Follow up with Dana", "call",
                                                       T0 + 7 * DAY)
    lead.refresh_from_db()
    assert lead.cadence_state == "paused"


def test_a_lead_entered_by_hand_is_validated_and_enrolled(crm, agent):
    from django.core.exceptions import ValidationError

    with pytest.raises(ValidationError) as refused:
        services.create_lead(by=agent, agent=agent, now=T0, fields={
            "first_name": "Bad\nName", "email": "nope", "phone": "12", "zip_code": "00000",
            "price_min_cents": 5, "price_max_cents": 1})
    assert set(refused.value.message_dict) == {"first_name", "email", "phone", "zip_code",
                                               "price_max_cents"}

    lead = services.create_lead(by=agent, agent=agent, now=T0, fields={
        "first_name": "Lee", "phone": "(312) 555-0144", "zip_code": "60601"})
    assert (lead.phone, lead.time_zone, lead.inbound_lead_id) == (
        "+13125550144", "America/Chicago", None)
    assert (open_task(lead).title, open_task(lead).due_at) == ("Call now", T0)

    updated = services.update_contact(lead=lead, by=agent, first_name="Lee", last_name="Ray",
                                      email="LEE@example.test", phone="312-555-0145",
                                      zip_code="10001")
    assert (updated.last_name, updated.email, updated.phone, updated.time_zone) == (
        "Ray", "lee@example.test", "+13125550145", "America/New_York")


def test_a_deactivated_agents_open_leads_go_to_the_seat_named(acme, agent):
    from clozings.tenants.services import deactivate_seat

    other = SeatFactory(brokerage=acme.brokerage)
    with in_schema(acme.schema_name):
        open_lead = new_lead(agent, now=T0)
        lost = new_lead(agent, now=T0)
        services.change_stage(lead=lost, by=agent, stage="lost", reason="not moving", now=T0)

    deactivate_seat(seat=agent, by=acme.admin, reassign_to=other)

    with in_schema(acme.schema_name):
        open_lead.refresh_from_db()
        lost.refresh_from_db()
        assert (open_lead.agent_id, lost.agent_id) == (other.pk, agent.pk)
        assert open_task(open_lead).agent_id == other.pk
        assert "Handed over to" in Activity.objects.filter(lead=open_lead).first().note
