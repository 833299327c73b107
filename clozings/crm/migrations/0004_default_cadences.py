"""Every brokerage starts with two cadences (the template schema carries them to each new
brokerage): "New lead follow-up", the default for routed and hand-entered leads, and
"Re-engagement" for quiet leads. Every step offers something (homes, figures, a plan),
never "just checking in". Admins edit them on the cadences page.
"""

from django.db import migrations

HOUR = 60
DAY = 24 * HOUR

CALL_NOW = (
    "Hi {first_name}, this is {agent_name} with {brokerage_name} — you just asked about "
    "homes in {area}. I've pulled what's for sale right now in {price_range}; what would make "
    "a home a yes for you? I can send you the three best matches today.")
CALL_DAY_1 = (
    "Hi {first_name}, {agent_name} again from {brokerage_name}. Two homes in {area} in "
    "{price_range} came on the market since yesterday. Want me to send them, or set up a "
    "quick look this week?")
TEXT_DAY_1 = (
    "Hi {first_name}, it's {agent_name} ({brokerage_name}). I put together the newest "
    "homes in {area} in {price_range} — want the list by text or email?")
CALL_DAY_3 = (
    "Hi {first_name}, {agent_name} here. Homes in {area} are moving: I can tell you what "
    "sold nearby this month and for how much, so you know what to offer. Do you have five "
    "minutes today or tomorrow?")
EMAIL_WEEK_1_SUBJECT = "Your market update for {area}"
EMAIL_WEEK_1 = (
    "Hi {first_name},\n\n"
    "Here is what happened this week in {area}: the homes that came on the market in "
    "{price_range}, what sold and how fast, and where prices are heading.\n\n"
    "If one of them catches your eye, reply and I'll set up a visit.\n\n"
    "{agent_name}\n{brokerage_name}")
CALL_WEEK_2 = (
    "Hi {first_name}, {agent_name} with {brokerage_name}. I've kept an eye on {area} for "
    "you: there's a home in {price_range} I think is worth a look before the weekend. Shall "
    "I send the details?")
CALL_MONTH_1 = (
    "Hi {first_name}, {agent_name} here. It's been {since_last_touch} since we spoke. I can "
    "run a free estimate of what you can afford in {area} today, or show you what sold "
    "last month in {price_range}. Which would help more?")
MARKET_SUBJECT = "Market update for {area}"
MARKET_BODY = (
    "Hi {first_name},\n\n"
    "Your monthly update for {area}: new listings, homes sold, the median price and how "
    "many days homes stay on the market — so you can time your move.\n\n"
    "Questions about a street or a home? Just reply.\n\n"
    "{agent_name}\n{brokerage_name}")
LISTINGS_SUBJECT = "New listings in {price_range} around {area}"
LISTINGS_BODY = (
    "Hi {first_name},\n\n"
    "These homes in {price_range} came on the market around {area} this month. Reply with "
    "the ones you like and I'll arrange a showing, or tell me what to change in your "
    "search.\n\n"
    "{agent_name}\n{brokerage_name}")

FOLLOW_UP = [
    (0, "call", "Call now", "", CALL_NOW),
    (1 * DAY, "call", "Call: day 1", "", CALL_DAY_1),
    (1 * DAY + 4 * HOUR, "text", "Text: day 1", "", TEXT_DAY_1),
    (3 * DAY, "call", "Call: day 3", "", CALL_DAY_3),
    (7 * DAY, "auto_email", "Value email: market update", EMAIL_WEEK_1_SUBJECT,
     EMAIL_WEEK_1),
    (14 * DAY, "call", "Call: week 2", "", CALL_WEEK_2),
    (30 * DAY, "call", "Call: month 1", "", CALL_MONTH_1),
] + [
    (month * 30 * DAY, "auto_email",
     f"Monthly value email (month {month}): "
     + ("market update" if month % 2 == 0 else "new listings"),
     MARKET_SUBJECT if month % 2 == 0 else LISTINGS_SUBJECT,
     MARKET_BODY if month % 2 == 0 else LISTINGS_BODY)
    for month in range(2, 14)
]

STILL_LOOKING_SUBJECT = "Still looking in {area}?"
STILL_LOOKING = (
    "Hi {first_name},\n\n"
    "It's {agent_name} from {brokerage_name}. The market in {area} has changed since we "
    "last spoke: here are the homes in {price_range} listed this month and what similar "
    "homes sold for.\n\n"
    "If your plans have changed, reply and tell me what you're looking for now.\n\n"
    "{agent_name}")
RE_CALL_DAY_2 = (
    "Hi {first_name}, {agent_name} with {brokerage_name}. I sent you the latest homes in "
    "{area}; a couple in {price_range} look like what you asked about. Are you still "
    "thinking of moving this year?")
RE_TEXT_DAY_5 = (
    "Hi {first_name}, {agent_name} here. Prices in {area} moved since we last talked — want "
    "a 1-minute summary of what homes in {price_range} go for now?")
RE_CALL_DAY_14 = (
    "Hi {first_name}, {agent_name} from {brokerage_name}. I can set up a search that sends "
    "you new homes in {area} the day they list. Shall I? What should it look for?")

RE_ENGAGEMENT = [
    (0, "auto_email", "Value email: still looking?", STILL_LOOKING_SUBJECT, STILL_LOOKING),
    (2 * DAY, "call", "Call: day 2", "", RE_CALL_DAY_2),
    (5 * DAY, "text", "Text: day 5", "", RE_TEXT_DAY_5),
    (14 * DAY, "call", "Call: day 14", "", RE_CALL_DAY_14),
]


def seed(apps, schema_editor):
    Cadence = apps.get_model("crm", "Cadence")
    CadenceStep = apps.get_model("crm", "CadenceStep")
    if Cadence.objects.exists():
        return
    for name, description, purpose, is_default, steps in (
        ("New lead follow-up",
         "Calls and a text in the first days, a call a week later and a month later, then a "
         "monthly value email for a year.", "follow_up", True, FOLLOW_UP),
        ("Re-engagement",
         "For quiet leads: a value email, then a call, a text and a last call.",
         "re_engagement", False, RE_ENGAGEMENT),
    ):
        cadence = Cadence.objects.create(name=name, description=description, purpose=purpose,
                                         is_default=is_default)
        CadenceStep.objects.bulk_create([
            CadenceStep(cadence=cadence, position=position, offset_minutes=offset,
                        channel=channel, title=title, subject=subject, template=template)
            for position, (offset, channel, title, subject, template) in enumerate(steps)])


def unseed(apps, schema_editor):
    Cadence = apps.get_model("crm", "Cadence")
    Cadence.objects.filter(name__in=["New lead follow-up", "Re-engagement"]).delete()


class Migration(migrations.Migration):

    dependencies = [
        ("crm", "0003_cadences_stages_contact_rules_imports"),
    ]

    operations = [
        migrations.RunPython(seed, unseed),
    ]
