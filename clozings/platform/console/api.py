"""The staff console's API (platform host, platform staff only): the brokerages with their
seat and reservation counts, and provisioning a new one."""

from __future__ import annotations

from django.db import IntegrityError
from django.urls import path
from drf_spectacular.utils import extend_schema
from rest_framework import serializers
from rest_framework.response import Response

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


class BrokerageListOutput(serializers.Serializer):
    slug = serializers.SlugField()
    name = serializers.CharField()
    host = serializers.SerializerMethodField(
        help_text="The brokerage's host, with the public port when there is one.")
    time_zone = serializers.CharField()
    created_at = serializers.DateTimeField()
    seats = SeatCountsOutput(source="*")
    reservations = ReservationCountsOutput(source="*")

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


public_urls: list = [
    path("api/v1/brokerages", BrokerageListCreateApi.as_view(), name="api-brokerages"),
]
