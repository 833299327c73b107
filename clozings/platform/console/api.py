"""The staff console's API (platform host, platform staff only): the brokerages with their
seat and reservation counts and delivery SLA, provisioning a new one, the orphan queue and
the delivery figures."""

from __future__ import annotations

from datetime import timedelta

from django.db import IntegrityError
from django.urls import path
from django.utils import timezone
from drf_spectacular.utils import extend_schema
from rest_framework import serializers
from rest_framework.response import Response

from clozings.distribution import routing
from clozings.distribution import selectors as distribution_selectors
from clozings.platform.api import ApiView, error_responses
from clozings.platform.console import selectors
from clozings.platform.errors import Conflict
from clozings.tenants import services
from clozings.tenants.models import Seat
from clozings.tenants.permissions import IsPlatformStaff
from clozings.tenants.throttling import client_ip
from clozings.tenants.validators import validate_name_characters


# --- brokerages ------------------------------------------------------------
class BrokerageAdminOutput(serializers.Serializer):
    id = serializers.IntegerField()
    email = serializers.EmailField()


class BrokerageCreatedOutput(serializers.Serializer):
    slug = serializers.SlugField()
    name = serializers.CharField()
    host = serializers.CharField(
        help_text="The brokerage's host, with the public port when there is one.")
    admin = BrokerageAdminOutput()


class SeatCountsOutput(serializers.Serializer):
    active = serializers.IntegerField(source="active_seats")
    invited = serializers.IntegerField(source="invited_seats")


class ReservationCountsOutput(serializers.Serializer):
    active = serializers.IntegerField(source="active_reservations")
    past_due = serializers.IntegerField(source="past_due_reservations")
    suspended = serializers.IntegerField(source="suspended_reservations")


class SlaSummaryOutput(serializers.Serializer):
    delivered_30d = serializers.IntegerField(
        source="sla_delivered", help_text="Leads delivered to the brokerage in the last 30 days.")
    first_touch_p50_seconds = serializers.FloatField(
        source="sla_first_touch_p50", allow_null=True,
        help_text="Median time from intake to the first touch of those leads (null: none "
                  "touched yet).")


class BrokerageListOutput(serializers.Serializer):
    slug = serializers.SlugField()
    name = serializers.CharField()
    host = serializers.SerializerMethodField(
        help_text="The brokerage's host, with the public port when there is one.")
    time_zone = serializers.CharField()
    created_at = serializers.DateTimeField()
    seats = SeatCountsOutput(source="*")
    reservations = ReservationCountsOutput(source="*")
    sla = SlaSummaryOutput(source="*")

    def get_host(self, brokerage) -> str:
        return services.brokerage_address(brokerage)


class BrokerageInput(serializers.Serializer):
    name = serializers.CharField(max_length=120, validators=[validate_name_characters])
    slug = serializers.CharField(max_length=40, help_text="Becomes `<slug>.<domain>`.")
    admin_email = serializers.EmailField(max_length=254)
    admin_name = serializers.CharField(max_length=150, validators=[validate_name_characters])
    admin_password = serializers.CharField(max_length=1024, trim_whitespace=False)
    time_zone = serializers.CharField(max_length=64, required=False, default="America/New_York")


class BrokerageListCreateApi(ApiView):
    """Brokerages: the list with seat counts, and provisioning a new one (platform staff)."""

    permission_classes = [IsPlatformStaff]

    @extend_schema(operation_id="brokerages_list", responses={
        200: BrokerageListOutput(many=True), **error_responses(401, 403)})
    def get(self, request):
        brokerages = selectors.brokerages_with_counts()
        return Response(BrokerageListOutput(brokerages, many=True).data)

    @extend_schema(operation_id="brokerages_create", request=BrokerageInput, responses={
        201: BrokerageCreatedOutput, **error_responses(
            400, 401, 403, 409, 413, 415, 429,
            s409="`conflict`: a concurrent request used the slug or email; try again.")})
    def post(self, request):
        data = self.parse(BrokerageInput, request)
        try:
            brokerage = services.provision_brokerage(**data, ip=client_ip(request))
        except IntegrityError as exc:
            # A concurrent request took the slug (or made the account) between validation
            # and insert: say which, as a validation error would have a moment later.
            services.validate_slug(data["slug"])
            raise Conflict("Another request used this slug or admin email a moment ago; "
                           "check and try again.") from exc
        admin = brokerage.seats.select_related("user").get(role=Seat.Role.ADMIN).user
        body = {"slug": brokerage.slug, "name": brokerage.name,
                "host": services.brokerage_address(brokerage), "admin": admin}
        return Response(BrokerageCreatedOutput(body).data, status=201)


# --- the orphan queue ------------------------------------------------------------------------
class OrphanSourceOutput(serializers.Serializer):
    id = serializers.IntegerField()
    name = serializers.CharField()


class OrphanOutput(serializers.Serializer):
    id = serializers.IntegerField()
    zip_code = serializers.CharField()
    received_at = serializers.DateTimeField()
    source = OrphanSourceOutput()
    why = serializers.SerializerMethodField(help_text="Why routing found nobody.")

    def get_why(self, lead) -> str:
        return lead.routing_log[-1].get("why", "") if lead.routing_log else ""


class AssignInput(serializers.Serializer):
    agent_id = serializers.IntegerField(
        required=False, min_value=1, max_value=2**31 - 1,
        help_text="An active agent seat, of any brokerage.")
    nearest_within_miles = serializers.FloatField(
        required=False, min_value=0.1, max_value=routing.MAX_RADIUS_MILES,
        help_text="Send the lead to the nearest eligible holder within this many miles.")

    def validate(self, attrs):
        if ("agent_id" in attrs) == ("nearest_within_miles" in attrs):
            raise serializers.ValidationError(
                "Send either agent_id or nearest_within_miles.")
        if "agent_id" in attrs:
            seat = Seat.objects.filter(pk=attrs["agent_id"]).first()
            if seat is None:
                raise serializers.ValidationError({"agent_id": "No agent seat has this id."})
            attrs["seat"] = seat
        return attrs


class AssignedOutput(serializers.Serializer):
    id = serializers.IntegerField()
    status = serializers.CharField()
    brokerage = serializers.SlugField(source="brokerage.slug")
    agent_id = serializers.IntegerField(source="seat_id")
    routing = serializers.ListField(child=serializers.DictField(), source="routing_log")


class OrphanListApi(ApiView):
    """The orphan queue: leads no holder could take, oldest first (platform staff)."""

    permission_classes = [IsPlatformStaff]

    @extend_schema(operation_id="staff_orphans_list", responses={
        200: OrphanOutput(many=True), **error_responses(401, 403)})
    def get(self, request):
        return Response(OrphanOutput(distribution_selectors.orphaned_leads(), many=True).data)


class OrphanAssignApi(ApiView):
    """Send an orphaned lead to an agent, or to the nearest eligible holder within a radius
    (platform staff); delivered as a routed lead is, once."""

    permission_classes = [IsPlatformStaff]

    @extend_schema(operation_id="staff_orphans_assign", request=AssignInput, responses={
        200: AssignedOutput, **error_responses(
            400, 401, 403, 404, 409, 413, 415,
            s404="`not_found`: no lead has this id.",
            s409="`not_orphaned`: the lead was delivered or is no longer in the queue; "
                 "`no_holder_nearby`: no holder within the radius can take a lead now.")})
    def post(self, request, lead_id: int):
        data = self.parse(AssignInput, request)
        lead = routing.assign_orphan(inbound_lead_id=lead_id, by=request.user,
                                     seat=data.get("seat"),
                                     within_miles=data.get("nearest_within_miles"))
        return Response(AssignedOutput(lead).data)


# --- delivery figures -------------------------------------------------------------------------
MAX_WINDOW_DAYS = 366


class DeliveryQuery(serializers.Serializer):
    since = serializers.DateTimeField(
        required=False, help_text="The window's start (ISO 8601); 24 hours ago by default, "
                                  f"at most {MAX_WINDOW_DAYS} days ago.")

    def validate_since(self, since):
        now = timezone.now()
        if since > now:
            raise serializers.ValidationError("Give a moment in the past.")
        if since < now - timedelta(days=MAX_WINDOW_DAYS):
            raise serializers.ValidationError(f"Give at most {MAX_WINDOW_DAYS} days.")
        return since


class PercentilesOutput(serializers.Serializer):
    p50 = serializers.FloatField(allow_null=True)
    p90 = serializers.FloatField(allow_null=True)
    p99 = serializers.FloatField(allow_null=True)


class StatusCountsOutput(serializers.Serializer):
    received = serializers.IntegerField()
    routed = serializers.IntegerField()
    delivered = serializers.IntegerField()
    orphaned = serializers.IntegerField()
    rerouted = serializers.IntegerField()
    rejected = serializers.IntegerField()
    duplicate = serializers.IntegerField()


class FiguresOutput(serializers.Serializer):
    counts = StatusCountsOutput()
    orphans = serializers.IntegerField()
    reroutes = serializers.IntegerField()
    delivery_seconds = PercentilesOutput(help_text="Intake to delivery, in seconds.")
    first_touch_seconds = PercentilesOutput(help_text="Intake to first touch, in seconds.")


class BreachCountsOutput(serializers.Serializer):
    rerouted = serializers.IntegerField(help_text="Re-routed to the next eligible holder.")
    alerted = serializers.IntegerField(help_text="The agent and their admins alerted.")
    total = serializers.IntegerField()


class FiguresWithBreachesOutput(FiguresOutput):
    sla_breaches = BreachCountsOutput(
        help_text="Leads nobody touched within their brokerage's first-touch SLA, by what "
                  "was done.")


class SourceFiguresOutput(FiguresWithBreachesOutput):
    id = serializers.IntegerField()
    name = serializers.CharField()
    total = serializers.IntegerField()


class BrokerageFiguresOutput(FiguresOutput):
    slug = serializers.SlugField(allow_null=True, help_text="null: leads that went nowhere.")
    name = serializers.CharField(allow_null=True)
    total = serializers.IntegerField()


class DayFiguresOutput(serializers.Serializer):
    day = serializers.DateField()
    counts = StatusCountsOutput()


class BrokerageBreachesOutput(BreachCountsOutput):
    slug = serializers.SlugField()
    name = serializers.CharField()


class DeliveryOutput(FiguresWithBreachesOutput):
    since = serializers.DateTimeField()
    days = DayFiguresOutput(many=True)
    by_source = SourceFiguresOutput(many=True)
    by_brokerage = BrokerageFiguresOutput(
        many=True, help_text="Per brokerage the lead is with now (a re-routed lead counts "
                             "with the brokerage it went to).")
    sla_breaches_by_brokerage = BrokerageBreachesOutput(
        many=True, help_text="First-touch SLA breaches per brokerage whose agent missed the "
                             "first touch, most first.")


class DeliveryApi(ApiView):
    """Intake and delivery figures over a window (platform staff): counts by status (and
    per day), latency percentiles, orphans, re-routes and first-touch SLA breaches, per
    source and per brokerage; one query per figure whatever the number of brokerages."""

    permission_classes = [IsPlatformStaff]

    @extend_schema(operation_id="staff_delivery", parameters=[DeliveryQuery], responses={
        200: DeliveryOutput, **error_responses(400, 401, 403)})
    def get(self, request):
        since = self.parse(DeliveryQuery, request).get("since") or (
            timezone.now() - timedelta(hours=24))
        body = {"since": since, **distribution_selectors.delivery_totals(since=since),
                "days": distribution_selectors.delivery_by_day(since=since),
                "by_source": distribution_selectors.delivery_by_source(since=since),
                "by_brokerage": distribution_selectors.delivery_by_brokerage(since=since),
                "sla_breaches_by_brokerage":
                    distribution_selectors.sla_breaches_by_brokerage(since=since)}
        return Response(DeliveryOutput(body).data)


public_urls: list = [
    path("api/v1/brokerages", BrokerageListCreateApi.as_view(), name="api-brokerages"),
    path("api/v1/staff/orphans", OrphanListApi.as_view(), name="api-staff-orphans"),
    path("api/v1/staff/orphans/<int:lead_id>/assign", OrphanAssignApi.as_view(),
         name="api-staff-orphan-assign"),
    path("api/v1/staff/delivery", DeliveryApi.as_view(), name="api-staff-delivery"),
]
