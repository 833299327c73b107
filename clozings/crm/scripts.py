"""What to say: a step's script or message with the lead's details merged in.

Merge fields (in braces, as an admin types them in a cadence step):

- `{first_name}` `{last_name}` `{full_name}` (the name, or "there" when the lead gave none)
- `{agent_name}` `{brokerage_name}`
- `{area}`: "City, ST" of the lead's ZIP from the catalogue ("your area" when unknown)
- `{zip_code}`
- `{price_range}`: in dollars, "$400k–$550k", "$400k+", "up to $550k", or "your price range"
- `{since_last_touch}`: "3 days", "5 hours", "never"

A field that is not one of these (a typo, `{city}`) is left visible as typed, never an
error, so the agent sees what to fix; a task never shows a blank page: `script_for` falls
back on a default script written for the lead's stage when the step has none.
"""

from __future__ import annotations

import re
from datetime import datetime

from clozings.crm.models import Lead, Task
from clozings.territories.models import Territory

MERGE_FIELD = re.compile(r"\{([a-z_]+)\}")
FIELDS = ("first_name", "last_name", "full_name", "agent_name", "brokerage_name", "area",
          "zip_code", "price_range", "since_last_touch")


def area_of(zip_code: str) -> str:
    """"City, ST" of a ZIP in the catalogue, or "" when it is not there."""
    if not zip_code:
        return ""
    place = (Territory.objects.filter(zip_code=zip_code).values_list("city", "state")
             .first())
    return f"{place[0]}, {place[1]}" if place else ""


def dollars_short(cents: int) -> str:
    """$950, $400k, $1.25M: prices as people say them."""
    dollars = cents / 100
    if dollars >= 1_000_000:
        text = f"{dollars / 1_000_000:.2f}".rstrip("0").rstrip(".")
        return f"${text}M"
    if dollars >= 1_000:
        return f"${round(dollars / 1_000):,}k"
    return f"${round(dollars):,}"


def price_range(lead: Lead) -> str:
    low, high = lead.price_min_cents, lead.price_max_cents
    if low and high:
        return f"{dollars_short(low)}–{dollars_short(high)}"
    if low:
        return f"{dollars_short(low)}+"
    if high:
        return f"up to {dollars_short(high)}"
    return "your price range"


def _plural(count: int, unit: str) -> str:
    return f"{count} {unit}" if count == 1 else f"{count} {unit}s"


def since(moment: datetime | None, now: datetime) -> str:
    """How long ago, in the largest unit that reads naturally ("never" for None)."""
    if moment is None:
        return "never"
    seconds = max(0, int((now - moment).total_seconds()))
    minutes = seconds // 60
    if minutes < 60:
        return _plural(minutes, "minute")
    hours = minutes // 60
    if hours < 48:
        return _plural(hours, "hour")
    days = hours // 24
    if days < 60:
        return _plural(days, "day")
    return _plural(days // 30, "month")


def merge_values(lead: Lead, *, agent_name: str, brokerage_name: str,
                 now: datetime, area: str | None = None) -> dict[str, str]:
    """The merge fields' values; `area` ("City, ST"), when the caller has read it already."""
    if area is None:
        area = area_of(lead.zip_code)
    return {
        "first_name": lead.first_name or "there",
        "last_name": lead.last_name,
        "full_name": lead.name or "there",
        "agent_name": agent_name,
        "brokerage_name": brokerage_name,
        "area": area or "your area",
        "zip_code": lead.zip_code,
        "price_range": price_range(lead),
        "since_last_touch": since(lead.last_touch_at, now),
    }


def render(template: str, lead: Lead, *, agent_name: str, brokerage_name: str,
           now: datetime, area: str | None = None) -> str:
    """`template` with the lead's merge fields filled in; unknown fields left as typed."""
    if not template or "{" not in template:
        return template or ""
    values = merge_values(lead, agent_name=agent_name, brokerage_name=brokerage_name,
                          now=now, area=area)
    return MERGE_FIELD.sub(lambda match: values.get(match.group(1), match.group(0)),
                           template)


# --- defaults by stage, when a step (or a personal task) has no script ----------------------
DEFAULT_SCRIPTS = {
    Lead.Stage.NEW: (
        "Hi {first_name}, this is {agent_name} with {brokerage_name}. You asked about homes "
        "in {area} — I have a few in {price_range} that fit and could send them over today. "
        "What matters most to you in the next place: location, size, or timing?"),
    Lead.Stage.CONTACTED: (
        "Hi {first_name}, {agent_name} here. Since we last spoke ({since_last_touch} ago) "
        "a few homes in {area} came up in {price_range}. Would you like to see two or three "
        "of them this week? I can set up the showings around your schedule."),
    Lead.Stage.APPOINTMENT: (
        "Hi {first_name}, {agent_name} here to confirm our meeting. I'll bring the latest "
        "sales in {area} so you know what homes in {price_range} are really going for. "
        "Anything you'd like me to look into before then?"),
    Lead.Stage.AGREEMENT: (
        "Hi {first_name}, {agent_name} here. I've set up a search for {area} in "
        "{price_range}; you'll hear from me first when something fits. Is there a home "
        "you've seen online that you'd like to visit?"),
    Lead.Stage.UNDER_CONTRACT: (
        "Hi {first_name}, {agent_name} here with an update on your purchase: here is where "
        "we are on inspection, appraisal and financing, and what's next before closing. "
        "Any questions I can answer today?"),
}
FALLBACK_SCRIPT = (
    "Hi {first_name}, {agent_name} with {brokerage_name}. I have fresh numbers on homes in "
    "{area} in {price_range} — would a short summary by text or email help?")


def default_script(stage: str) -> str:
    return DEFAULT_SCRIPTS.get(stage, FALLBACK_SCRIPT)


def script_for(task: Task, lead: Lead, *, agent_name: str, brokerage_name: str,
               now: datetime, area: str | None = None) -> str:
    """The task's script or message, merged: its step's template, else the default for
    the lead's stage (never blank)."""
    template = task.step.template if task.step_id and task.step else ""
    if not template.strip():
        template = default_script(lead.stage)
    return render(template, lead, agent_name=agent_name, brokerage_name=brokerage_name,
                  now=now, area=area)


def subject_for(task: Task, lead: Lead, *, agent_name: str, brokerage_name: str,
                now: datetime, area: str | None = None) -> str:
    """An email step's subject, merged (a default naming the area when blank)."""
    subject = task.step.subject if task.step_id and task.step else ""
    if not subject.strip():
        subject = "Homes in {area}: what's new this week"
    return render(subject, lead, agent_name=agent_name, brokerage_name=brokerage_name,
                  now=now, area=area)
