"""Report pages on the brokerage host: the follow-up report (an agent's own, an admin's
team with a row per agent), the admin's home (the team this week), and audit and revive
(leads contacted only once, re-enrolled in the re-engagement cadence in bulk)."""

from __future__ import annotations

from datetime import timedelta

from django import forms
from django.contrib import messages
from django.core.exceptions import ValidationError
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import path, reverse
from django.utils import timezone

from clozings.crm import reports, services
from clozings.platform import charts
from clozings.platform.errors import DomainError
from clozings.platform.money import format_cents
from clozings.tenants.decorators import admin_required, forbidden, seat_required
from clozings.tenants.models import Seat
from clozings.tenants.scoping import acting_seat

WINDOWS = {"30d": ("30 days", timedelta(days=30)), "90d": ("90 days", timedelta(days=90)),
           "365d": ("12 months", timedelta(days=365))}
DEFAULT_WINDOW = "90d"
# Funnel stages as short as a column of a phone-sized chart allows.
FUNNEL_SHORT = {"contacted": "Contacted", "appointment": "Appt.", "agreement": "Signed",
                "under_contract": "Contract", "closed": "Closed"}


def _agent_param(request: HttpRequest) -> int | None:
    """`?agent_id=` as a number (None when absent or not one)."""
    raw = request.GET.get("agent_id", "")
    return int(raw) if raw.isdigit() and len(raw) < 19 else None


def _money(cents: float | None) -> str:
    """Whole dollars (figures and charts; the cents are in the API)."""
    return "–" if cents is None else format_cents(round(cents / 100) * 100)[:-3]


def _ratio(roi: float | None) -> str:
    return "–" if roi is None else f"{roi * 100:+.0f}%"


def depth_chart(depth: dict) -> dict:
    """Your depth beside the industry's: no touch, 1, 2, 3 touches, 4 or more."""
    mine = {b["touches"]: b["share"] for b in depth["buckets"]}
    industry = dict((touches, share) for touches, share in reports.INDUSTRY_DEPTH)
    rows = [("No touch", mine["0"], None), ("1 touch", mine["1"], industry["1"]),
            ("2 touches", mine["2"], industry["2"]), ("3 touches", mine["3"], industry["3"]),
            ("4 or more", depth["four_or_more_share"], industry["4+"])]
    groups = [(label, [("you", you)] + ([("industry", them)] if them is not None else []))
              for label, you, them in rows]
    return {"chart": charts.grouped_hbars(groups, charts.percent, top=1),
            "rows": [(label, charts.percent(you), charts.percent(them))
                     for label, you, them in rows]}


def _report_context(report: dict) -> dict:
    speed = report["first_touch"]
    funnel = report["funnel"]
    territories, sources = report["roi"]["by_territory"], report["roi"]["by_source"]
    return {
        "report": report,
        "depth": depth_chart(report["depth"]),
        "speed_chart": charts.hbars([("Median", "you", speed["p50_seconds"]),
                                     ("90th percentile", "slow", speed["p90_seconds"])]),
        "speed": {"p50": charts.duration(speed["p50_seconds"]),
                  "p90": charts.duration(speed["p90_seconds"]),
                  "fast_share": charts.percent(speed["within_5_minutes_share"])},
        "funnel_chart": charts.columns(
            [("Leads", "all", report["leads"])]
            + [(FUNNEL_SHORT.get(row["stage"], row["label"]), "you", row["leads"])
               for row in funnel]),
        "funnel_rows": [(row["label"], row["leads"], charts.percent(row["share_of_leads"]),
                         charts.percent(row["share_of_previous"])) for row in funnel],
        "territory_chart": charts.grouped_hbars(
            [(row["zip_code"] or "No territory", [("cost", row["cost_cents"]),
                                                  ("commission", row["commission_cents"])])
             for row in territories], _money),
        "territories": [{**row, "roi_text": _ratio(row["roi"]), "cost": _money(row["cost_cents"]),
                         "commission": _money(row["commission_cents"])}
                        for row in territories],
        "source_chart": charts.grouped_hbars(
            [(row["source"] or "Own leads", [("cost", row["cost_cents"]),
                                             ("commission", row["commission_cents"])])
             for row in sources], _money),
        "sources": [{**row, "roi_text": _ratio(row["roi"]), "cost": _money(row["cost_cents"]),
                     "commission": _money(row["commission_cents"])} for row in sources],
        "total_commission": _money(report["roi"]["total"]["commission_cents"]),
        "total_roi": _ratio(report["roi"]["total"]["roi"]),
        "five_plus": charts.percent(report["depth"]["five_or_more_share"]),
        "average_touches": ("–" if report["depth"]["average_touches"] is None
                            else f"{report['depth']['average_touches']:.1f}"),
        "agents": [{**row, "average": ("–" if row["depth"]["average_touches"] is None else
                                       f"{row['depth']['average_touches']:.1f}"),
                    "one_or_less": charts.percent(
                        None if not row["leads"] else
                        (row["depth"]["buckets"][0]["leads"] + row["depth"]["buckets"][1]["leads"])
                        / row["leads"]),
                    "five_plus": charts.percent(row["depth"]["five_or_more_share"]),
                    "p50": charts.duration(row["first_touch"]["p50_seconds"]),
                    "fast": charts.percent(row["first_touch"]["within_5_minutes_share"]),
                    "closed": row["funnel"][-1]["leads"]}
                   for row in report["agents"] or []],
    }


@seat_required
def follow_up_report(request: HttpRequest) -> HttpResponse:
    window = request.GET.get("window", DEFAULT_WINDOW)
    if window not in WINDOWS:
        window = DEFAULT_WINDOW
    now = timezone.now()
    since = now - WINDOWS[window][1]
    agent_id = _agent_param(request)
    try:
        subject = acting_seat(request, agent_id)
    except DomainError as exc:
        message = (exc.fields or {}).get("agent_id", [exc.message])[0]
        return forbidden(request, message) if exc.code == "permission_denied" else render(
            request, "404.html", {"message": message}, status=404)
    team = request.seat.is_admin and agent_id is None
    report = reports.follow_up_report(brokerage=request.brokerage,
                                      agent_id=None if team else subject.pk,
                                      since=since, now=now, per_agent=team)
    return render(request, "crm/reports.html", {
        **_report_context(report), "team": team, "subject": subject, "since": since,
        "window": window, "windows": [(key, label) for key, (label, _) in WINDOWS.items()],
        "window_label": WINDOWS[window][0],
        "industry_source": reports.INDUSTRY_SOURCE,
        "team_seats": (Seat.objects.filter(brokerage=request.brokerage,
                                           status=Seat.Status.ACTIVE).order_by("name", "email")
                       if request.seat.is_admin else ()),
    })


@admin_required(message="Only an admin of this brokerage sees the team's week.")
def team_home(request: HttpRequest) -> HttpResponse:
    """The admin's home: the team this week, in figures, and who needs a nudge."""
    week = reports.team_week(brokerage=request.brokerage, now=timezone.now())
    depth = week["depth"]
    nudges = []
    for row in week["nudges"]:
        reasons = []
        for why, value in row["why"]:
            if why == "overdue":
                reasons.append(f"{value} overdue task{'s' if value != 1 else ''}")
            elif why == "slow":
                reasons.append(f"first touch after {charts.duration(value)} (median)")
            else:
                reasons.append(f"{value:.1f} touches per lead")
        nudges.append({**row, "reasons": reasons})
    return render(request, "crm/team_home.html", {
        "seat": request.seat, "week": week, "nudges": nudges,
        "commission": _money(week["commission_cents"]),
        "first_touch": charts.duration(week["first_touch_p50_seconds"]),
        "fast_share": charts.percent(week["within_5_minutes_share"]),
        "depth": depth_chart(depth),
        "average_touches": ("–" if depth["average_touches"] is None
                            else f"{depth['average_touches']:.1f}"),
        "five_plus": charts.percent(depth["five_or_more_share"]),
        "agents": [{**row, "p50": charts.duration(row["first_touch_p50_seconds"]),
                    "average": ("–" if row["average_touches"] is None
                                else f"{row['average_touches']:.1f}")}
                   for row in week["agents"]],
    })


# --- audit and revive ---------------------------------------------------------------------
REVIVE_SHOWN = 200  # listed with a box each; "all" takes every one, up to REVIVE_AT_ONCE
REVIVE_AT_ONCE = 500


class ReviveForm(forms.Form):
    """The leads to enrol in the re-engagement cadence: the ones ticked, or every one
    listed (`everything`). Only the caller's own (an admin's: the team's) can be chosen."""

    lead_ids = forms.TypedMultipleChoiceField(
        label="Leads", coerce=int, required=False, widget=forms.CheckboxSelectMultiple)
    everything = forms.BooleanField(required=False)  # sent by the "Revive all" button

    def __init__(self, *args, leads: list, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["lead_ids"].choices = [(lead.pk, lead.pk) for lead in leads]

    def clean(self):
        data = super().clean()
        if not data.get("everything") and not data.get("lead_ids"):
            raise ValidationError("Tick the leads to revive, or revive them all.")
        return data


def _revive_scope(request: HttpRequest) -> int | None:
    """Whose leads: an agent's own; an admin's team, or one agent with `?agent_id=`."""
    agent_id = _agent_param(request)
    if request.seat.is_admin and agent_id is None:
        return None
    return acting_seat(request, agent_id).pk


def _revive_page(request: HttpRequest, *, agent_id: int | None, form: ReviveForm | None = None,
                 leads: list | None = None, status: int = 200) -> HttpResponse:
    now = timezone.now()
    if leads is None:
        leads = list(reports.contacted_once(agent_id=agent_id, now=now)[:REVIVE_AT_ONCE])
    shown = leads[:REVIVE_SHOWN]
    if agent_id is None:  # the team's: whose each lead is
        names = {seat.pk: seat.name or seat.email for seat in Seat.objects.filter(
            brokerage=request.brokerage, pk__in={lead.agent_id for lead in shown})}
        for lead in shown:
            lead.agent_name = names.get(lead.agent_id, "")
    return render(request, "crm/revive.html", {
        "form": form or ReviveForm(leads=shown), "leads": shown, "total": len(leads),
        "more": len(leads) - len(shown), "team": agent_id is None,
        "agent_id": agent_id, "cadence": reports.re_engagement_cadence(),
        "being_revived": reports.being_revived(agent_id=agent_id, now=now),
        "since": now - reports.REVIVE_WINDOW,
    }, status=status)


def _scope_or_refusal(request: HttpRequest):
    try:
        return _revive_scope(request), None
    except DomainError as exc:
        message = (exc.fields or {}).get("agent_id", [exc.message])[0]
        return None, (forbidden(request, message) if exc.code == "permission_denied" else
                      render(request, "404.html", {"message": message}, status=404))


@seat_required
def revive(request: HttpRequest) -> HttpResponse:
    """Leads from the last six months contacted only once; enrol the ticked ones (or all)
    in the re-engagement cadence, and say how many were revived."""
    agent_id, refusal = _scope_or_refusal(request)
    if refusal is not None:
        return refusal
    if request.method != "POST":
        return _revive_page(request, agent_id=agent_id)
    now = timezone.now()
    leads = list(reports.contacted_once(agent_id=agent_id, now=now)[:REVIVE_AT_ONCE])
    form = ReviveForm(request.POST, leads=leads)
    cadence = reports.re_engagement_cadence()
    if cadence is None:
        form.add_error(None, "This brokerage has no re-engagement cadence; an admin can add "
                             "one on the cadences page.")
    if not form.is_valid():
        return _revive_page(request, agent_id=agent_id, form=form, leads=leads, status=400)
    chosen = set(form.cleaned_data["lead_ids"])
    revived = skipped = 0
    for lead in leads:
        if not form.cleaned_data["everything"] and lead.pk not in chosen:
            continue
        try:
            services.switch_cadence(lead=lead, by=request.seat, cadence=cadence, now=now)
        except (ValidationError, DomainError):
            skipped += 1
        else:
            revived += 1
    message = (f"Revived {revived} lead{'s' if revived != 1 else ''}: enrolled in "
               f"“{cadence.name}”.")
    if skipped:
        message += f" {skipped} could not be enrolled (closed or changed meanwhile)."
    messages.success(request, message)
    url = reverse("revive")
    return redirect(f"{url}?agent_id={agent_id}" if agent_id and request.seat.is_admin
                    and agent_id != request.seat.pk else url)


brokerage_urls = [
    path("reports/", follow_up_report, name="reports"),
    path("leads/revive/", revive, name="revive"),
]
