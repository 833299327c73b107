"""`GET /api/v1/staff/sla` (platform host, platform staff): first-touch and follow-up SLA
figures by brokerage and by agent, worst first, and the first-touch SLA breaches; read
from the public ledger only."""

from __future__ import annotations

from datetime import timedelta

from django.urls import path
from django.utils import timezone
from drf_spectacular.utils import extend_schema
from rest_framework import serializers
from rest_framework.response import Response

from clozings.distribution import followup_selectors as sla
from clozings.platform.api import ApiView, error_responses
from clozings.platform.console.api import DeliveryQuery
from clozings.tenants.permissions import IsPlatformStaff


class SlaQuery(DeliveryQuery):
    """`since`: the window's start; 7 days ago by default."""


class SlaFiguresOutput(serializers.Serializer):
    delivered = serializers.IntegerField(help_text="Leads delivered in the window.")
    overdue = serializers.IntegerField(
        help_text="Open leads whose next step was due before now (any delivery date).")
    touches_per_lead = serializers.FloatField(allow_null=True)
    untouched = serializers.IntegerField()
    single_touch = serializers.IntegerField(help_text="Delivered leads with 1 touch or none.")
    first_touch_p50_seconds = serializers.FloatField(
        source="first_touch_p50", allow_null=True, help_text="Delivery to first touch.")
    first_touch_p90_seconds = serializers.FloatField(source="first_touch_p90", allow_null=True)
    closed = serializers.IntegerField()
    commission_cents = serializers.IntegerField()


class BrokerageSlaOutput(SlaFiguresOutput):
    slug = serializers.SlugField()
    name = serializers.CharField()


class AgentSlaOutput(SlaFiguresOutput):
    agent_id = serializers.IntegerField()
    name = serializers.CharField()
    brokerage = serializers.SlugField()
    brokerage_name = serializers.CharField()


class BreachCountOutput(serializers.Serializer):
    slug = serializers.SlugField()
    name = serializers.CharField()
    breaches = serializers.IntegerField()
    rerouted = serializers.IntegerField()


class BreachOutput(serializers.Serializer):
    inbound_lead_id = serializers.IntegerField()
    brokerage = serializers.SlugField(source="brokerage.slug")
    agent_id = serializers.IntegerField(source="seat_id")
    sla_minutes = serializers.IntegerField()
    delivered_at = serializers.DateTimeField()
    breached_at = serializers.DateTimeField()
    action = serializers.CharField()
    rerouted_to = serializers.IntegerField(source="rerouted_to_id", allow_null=True)


class SlaOutput(serializers.Serializer):
    since = serializers.DateTimeField()
    now = serializers.DateTimeField()
    totals = SlaFiguresOutput()
    by_brokerage = BrokerageSlaOutput(many=True)
    by_agent = AgentSlaOutput(many=True, help_text=f"The worst {sla.WORST_SHOWN} agents.")
    breaches_by_brokerage = BreachCountOutput(many=True)
    recent_breaches = BreachOutput(many=True)


class SlaApi(ApiView):
    """Follow-up SLA figures across brokerages (platform staff), worst first."""

    permission_classes = [IsPlatformStaff]

    @extend_schema(operation_id="staff_sla", parameters=[SlaQuery], responses={
        200: SlaOutput, **error_responses(400, 401, 403)})
    def get(self, request):
        now = timezone.now()
        since = self.parse(SlaQuery, request).get("since") or now - timedelta(days=7)
        body = {"since": since, "now": now, "totals": sla.sla_totals(since=since, now=now),
                "by_brokerage": sla.sla_by_brokerage(since=since, now=now),
                "by_agent": sla.sla_by_agent(since=since, now=now),
                "breaches_by_brokerage": sla.breaches_by_brokerage(since=since),
                "recent_breaches": sla.recent_breaches(since=since)}
        return Response(SlaOutput(body).data)


public_urls: list = [
    path("api/v1/staff/sla", SlaApi.as_view(), name="api-staff-sla"),
]
