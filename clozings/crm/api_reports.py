"""`GET /api/v1/reports/follow-up` (brokerage host): an agent's own follow-up report, or
an admin's team report with a row per agent (`?agent_id=` narrows it to one agent)."""

from __future__ import annotations

from datetime import timedelta

from django.urls import path
from django.utils import timezone
from drf_spectacular.utils import extend_schema
from rest_framework import serializers
from rest_framework.response import Response

from clozings.crm import reports
from clozings.platform.api import MAX_ID, error_responses
from clozings.tenants.scoping import SeatScopedApiView

MAX_WINDOW_DAYS = 366


class ReportQuery(serializers.Serializer):
    since = serializers.DateTimeField(
        required=False, help_text="The window's start (ISO 8601): leads that arrived since "
                                  "then; 90 days ago by default, at most "
                                  f"{MAX_WINDOW_DAYS} days ago.")
    agent_id = serializers.IntegerField(
        required=False, min_value=1, max_value=MAX_ID,
        help_text="Admins: one agent's report instead of the team's. Agents: their own "
                  "seat id or nothing.")

    def validate_since(self, since):
        now = timezone.now()
        if since > now:
            raise serializers.ValidationError("Give a moment in the past.")
        if since < now - timedelta(days=MAX_WINDOW_DAYS):
            raise serializers.ValidationError(f"Give at most {MAX_WINDOW_DAYS} days.")
        return since


class DepthBucketOutput(serializers.Serializer):
    touches = serializers.CharField(help_text="0, 1, 2, 3, 4 or 5+ touches.")
    leads = serializers.IntegerField()
    share = serializers.FloatField(allow_null=True, help_text="Of the window's leads (0-1).")


class IndustryOutput(serializers.Serializer):
    touches = serializers.CharField(help_text="1, 2, 3 or 4+ touches.")
    share = serializers.FloatField()


class DepthOutput(serializers.Serializer):
    buckets = DepthBucketOutput(many=True)
    average_touches = serializers.FloatField(allow_null=True)
    four_or_more_share = serializers.FloatField(allow_null=True)
    five_or_more_share = serializers.FloatField(allow_null=True)
    industry = IndustryOutput(many=True, help_text="The industry's figures, for comparison.")
    industry_source = serializers.CharField()


class FirstTouchOutput(serializers.Serializer):
    routed_leads = serializers.IntegerField(
        help_text="Leads routed in (imported and hand-made leads do not count for speed).")
    touched = serializers.IntegerField()
    untouched = serializers.IntegerField()
    p50_seconds = serializers.FloatField(allow_null=True)
    p90_seconds = serializers.FloatField(allow_null=True)
    within_5_minutes = serializers.IntegerField()
    within_5_minutes_share = serializers.FloatField(allow_null=True)


class FunnelStageOutput(serializers.Serializer):
    stage = serializers.CharField()
    label = serializers.CharField()
    leads = serializers.IntegerField(help_text="Leads that reached at least this stage.")
    share_of_leads = serializers.FloatField(allow_null=True)
    share_of_previous = serializers.FloatField(allow_null=True)


class ReturnsOutput(serializers.Serializer):
    commission_cents = serializers.IntegerField()
    cost_cents = serializers.IntegerField()
    net_cents = serializers.IntegerField()
    roi = serializers.FloatField(allow_null=True,
                                 help_text="Net over cost (null: nothing was spent).")


class TerritoryRoiOutput(ReturnsOutput):
    reservation_id = serializers.IntegerField(allow_null=True,
                                              help_text="null: leads of no territory.")
    zip_code = serializers.CharField(allow_null=True)
    city = serializers.CharField(allow_blank=True)
    agent_id = serializers.IntegerField(allow_null=True)
    territory_cost_cents = serializers.IntegerField(
        help_text="The monthly price prorated over the time held within the window.")
    leads = serializers.IntegerField()
    lead_cost_cents = serializers.IntegerField()
    closings = serializers.IntegerField()


class SourceRoiOutput(ReturnsOutput):
    source = serializers.CharField(allow_blank=True)
    leads = serializers.IntegerField()
    lead_cost_cents = serializers.IntegerField()
    closings = serializers.IntegerField()


class TotalRoiOutput(ReturnsOutput):
    closings = serializers.IntegerField()


class RoiOutput(serializers.Serializer):
    by_territory = TerritoryRoiOutput(many=True)
    by_source = SourceRoiOutput(many=True)
    total = TotalRoiOutput()


class LeadFiguresOutput(serializers.Serializer):
    leads = serializers.IntegerField()
    depth = DepthOutput()
    first_touch = FirstTouchOutput()
    funnel = FunnelStageOutput(many=True)


class AgentRowOutput(LeadFiguresOutput):
    agent_id = serializers.IntegerField()
    name = serializers.CharField()
    role = serializers.CharField()


class FollowUpReportOutput(LeadFiguresOutput):
    since = serializers.DateTimeField()
    until = serializers.DateTimeField()
    agent_id = serializers.IntegerField(allow_null=True, help_text="null: the whole team.")
    roi = RoiOutput()
    agents = AgentRowOutput(many=True, allow_null=True,
                            help_text="The team's report only: a row per agent.")


class FollowUpReportApi(SeatScopedApiView):
    """The follow-up report: depth distribution beside the industry's, speed to first
    touch, the funnel, ROI per territory and per source; an agent's own, an admin's team."""

    @extend_schema(operation_id="reports_follow_up", parameters=[ReportQuery], responses={
        200: FollowUpReportOutput, **error_responses(
            400, 401, 403,
            s400="`validation_error`: `since` out of range, or `agent_id` is not an active "
                 "seat of this brokerage (admins).",
            s403="`permission_denied`: no seat here, or an agent naming another seat.")})
    def get(self, request):
        data = self.parse(ReportQuery, request)
        now = timezone.now()
        since = data.get("since") or now - reports.DEFAULT_WINDOW
        caller = self.caller()
        team = caller.is_admin and "agent_id" not in data
        agent_id = None if team else self.acting_seat(data.get("agent_id")).pk
        body = reports.follow_up_report(brokerage=request.brokerage, agent_id=agent_id,
                                        since=since, now=now, per_agent=team)
        return Response(FollowUpReportOutput(body).data)


brokerage_urls: list = [
    path("api/v1/reports/follow-up", FollowUpReportApi.as_view(), name="api-reports-follow-up"),
]
