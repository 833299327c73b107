"""API of the territories app: the catalogue (anyone on the platform host, any seat on a
brokerage host), the waitlist (brokerage host) and the staff inventory (platform host).

Reservations (`/api/v1/reservations`) belong to billing, which takes payment.
"""

from __future__ import annotations

from django.urls import path
from drf_spectacular.utils import extend_schema
from rest_framework import serializers
from rest_framework.pagination import PageNumberPagination
from rest_framework.permissions import AllowAny
from rest_framework.response import Response

from clozings.platform.api import MAX_ID, ApiView, error_responses
from clozings.tenants.permissions import HasSeat, IsPlatformStaff
from clozings.tenants.scoping import SeatScopedApiView
from clozings.territories import selectors, services
from clozings.territories.models import Tier, WaitlistEntry

MAX_RADIUS_MILES = 100
ZIP_FIELD = {"regex": r"^[0-9]{5}$", "max_length": 5,
             "error_messages": {"invalid": "Enter a 5-digit ZIP code, like 10001."}}


# --- the catalogue ------------------------------------------------------------------------
class TerritoryQuery(serializers.Serializer):
    zip_code = serializers.RegexField(required=False, help_text="One ZIP.", **ZIP_FIELD)
    state = serializers.RegexField(r"^[A-Za-z]{2}$", required=False, max_length=2,
                                   help_text="Two-letter state code, e.g. NY.")
    city = serializers.CharField(required=False, max_length=64, help_text="Exact city name.")
    near = serializers.RegexField(required=False, help_text="ZIPs around this ZIP.",
                                  **ZIP_FIELD)
    radius_miles = serializers.FloatField(
        required=False, min_value=0.1, max_value=MAX_RADIUS_MILES,
        help_text=f"With `near`; default 10, at most {MAX_RADIUS_MILES}.")
    page = serializers.IntegerField(required=False, min_value=1, max_value=100_000)
    page_size = serializers.IntegerField(required=False, min_value=1, max_value=200)

    def validate(self, data):
        if "radius_miles" in data and "near" not in data:
            raise serializers.ValidationError({"radius_miles": ["Give `near` as well."]})
        if data.get("near"):
            data["near"] = selectors.territory_for_zip(zip_code=data["near"])
            if data["near"] is None:
                raise serializers.ValidationError({"near": ["There is no territory for this ZIP."]})
        return data


class TerritoryOutput(serializers.Serializer):
    zip_code = serializers.CharField()
    city = serializers.CharField()
    state = serializers.CharField()
    county = serializers.CharField()
    time_zone = serializers.CharField()
    latitude = serializers.FloatField()
    longitude = serializers.FloatField()
    tier = serializers.CharField()
    slots = serializers.IntegerField()
    taken = serializers.IntegerField(help_text="Places held (reservations and open offers).")
    price_cents = serializers.IntegerField(source="effective_price_cents",
                                           help_text="Monthly price in cents.")
    waitlist = serializers.IntegerField(source="waitlist_length",
                                        help_text="Agents waiting for a place.")
    distance_miles = serializers.SerializerMethodField()

    def get_distance_miles(self, territory) -> float | None:
        distance = getattr(territory, "distance_miles", None)
        return None if distance is None else round(distance, 2)


class TerritoryPage(serializers.Serializer):
    count = serializers.IntegerField()
    next = serializers.URLField(allow_null=True)
    previous = serializers.URLField(allow_null=True)
    results = TerritoryOutput(many=True)


class CataloguePagination(PageNumberPagination):
    page_size = 50
    page_size_query_param = "page_size"
    max_page_size = 200


class TerritoryListApi(ApiView):
    """The catalogue: search by ZIP, state, city or `near` a ZIP within a radius."""

    permission_classes = [AllowAny]

    def get_permissions(self):
        # On a brokerage host the catalogue is part of the agents' app: a seat is needed.
        if getattr(self.request, "brokerage", None) is not None:
            return [HasSeat()]
        return [AllowAny()]

    @extend_schema(operation_id="territories_list", parameters=[TerritoryQuery],
                   responses={200: TerritoryPage, **error_responses(400, 401, 403, 404)})
    def get(self, request):
        query = dict(self.parse(TerritoryQuery, request))
        query.pop("page", None)
        query.pop("page_size", None)
        rows = selectors.territory_rows(**query)
        paginator = CataloguePagination()
        page = paginator.paginate_queryset(rows, request, view=self)
        return paginator.get_paginated_response(TerritoryOutput(page, many=True).data)


# --- the waitlist (brokerage host) --------------------------------------------------------
class WaitlistInput(serializers.Serializer):
    zip_code = serializers.RegexField(**ZIP_FIELD)
    agent_id = serializers.IntegerField(required=False, min_value=1, max_value=MAX_ID,
                                        help_text="A seat of this brokerage; default: you.")


class WaitlistOutput(serializers.Serializer):
    id = serializers.IntegerField()
    zip_code = serializers.CharField(source="territory.zip_code")
    agent_id = serializers.IntegerField(source="seat_id")
    status = serializers.ChoiceField(WaitlistEntry.Status.choices)
    position = serializers.IntegerField(
        allow_null=True, help_text="1 = next to be offered; 0 = an offer is open now.")
    offer_expires_at = serializers.DateTimeField(allow_null=True)
    created_at = serializers.DateTimeField()


def _with_position(entry: WaitlistEntry) -> WaitlistEntry:
    entry.position = selectors.waitlist_position(entry=entry)
    return entry


class WaitlistApi(SeatScopedApiView):
    """Join a full ZIP's waitlist (agents for themselves, admins for any agent); list the
    open entries (agents: their own; admins: the brokerage's)."""

    @extend_schema(operation_id="waitlist_list", responses={
        200: WaitlistOutput(many=True), **error_responses(401, 403)})
    def get(self, request):
        entries = selectors.waitlist_for(brokerage=request.brokerage, seat=self.seat_scope())
        return Response(WaitlistOutput(entries, many=True).data)

    @extend_schema(
        operation_id="waitlist_join", request=WaitlistInput,
        description="Joining again returns the same entry.",
        responses={201: WaitlistOutput, **error_responses(
            400, 401, 403, 404, 409, 413, 415,
            s409="`already_reserved`: the agent holds this ZIP; `territory_available`: "
                 "a place is free, reserve it instead.")})
    def post(self, request):
        data = self.parse(WaitlistInput, request)
        agent = self.acting_seat(data.get("agent_id"))
        entry = services.join_waitlist(seat=agent, zip_code=data["zip_code"])
        return Response(WaitlistOutput(_with_position(entry)).data, status=201)


class WaitlistEntryApi(SeatScopedApiView):
    """Leave the waitlist, or decline an open offer (the place goes to the next in line)."""

    @extend_schema(operation_id="waitlist_cancel", responses={
        200: WaitlistOutput, **error_responses(401, 403, 404)})
    def delete(self, request, entry_id: int):
        entry = services.cancel_waitlist_entry(entry_id=entry_id, seat=self.caller())
        return Response(WaitlistOutput(_with_position(entry)).data)


# --- staff (platform host) ----------------------------------------------------------------
class InventoryQuery(serializers.Serializer):
    zip_code = serializers.RegexField(required=False, **ZIP_FIELD)
    state = serializers.RegexField(r"^[A-Za-z]{2}$", required=False, max_length=2)
    city = serializers.CharField(required=False, max_length=64)
    tier = serializers.ChoiceField(Tier.choices, required=False)
    availability = serializers.ChoiceField(["free", "full", "waitlisted"], required=False)
    page = serializers.IntegerField(required=False, min_value=1, max_value=100_000)
    page_size = serializers.IntegerField(required=False, min_value=1, max_value=200)


class StaffTerritoryOutput(TerritoryOutput):
    own_price_cents = serializers.IntegerField(source="price_cents", allow_null=True,
                                               help_text="The ZIP's own price; null: tier's.")
    is_active = serializers.BooleanField()


class InventorySummary(serializers.Serializer):
    territories = serializers.IntegerField()
    reserved = serializers.IntegerField()
    free = serializers.IntegerField()
    full = serializers.IntegerField()
    waitlisted = serializers.IntegerField()
    reservations = serializers.IntegerField()
    pending = serializers.IntegerField()
    past_due = serializers.IntegerField()
    suspended = serializers.IntegerField()
    open_offers = serializers.IntegerField()


class InventoryPage(TerritoryPage):
    summary = InventorySummary()
    results = StaffTerritoryOutput(many=True)


class StaffTerritoryListApi(ApiView):
    """Territory inventory for platform staff: figures and a filtered list."""

    permission_classes = [IsPlatformStaff]

    @extend_schema(operation_id="staff_territories_list", parameters=[InventoryQuery],
                   responses={200: InventoryPage, **error_responses(400, 401, 403, 404)})
    def get(self, request):
        query = dict(self.parse(InventoryQuery, request))
        query.pop("page", None)
        query.pop("page_size", None)
        rows = selectors.territory_rows(include_inactive=True, **query)
        paginator = CataloguePagination()
        page = paginator.paginate_queryset(rows, request, view=self)
        response = paginator.get_paginated_response(StaffTerritoryOutput(page, many=True).data)
        response.data["summary"] = selectors.inventory_summary()
        return response


class StaffTerritoryInput(serializers.Serializer):
    price_cents = serializers.IntegerField(required=False, allow_null=True, min_value=0,
                                           max_value=services.MAX_PRICE_CENTS,
                                           help_text="null: use the tier's price.")
    tier = serializers.ChoiceField(Tier.choices, required=False)
    slots = serializers.IntegerField(required=False, min_value=1, max_value=services.MAX_SLOTS,
                                     help_text="Never below the places taken now.")
    is_active = serializers.BooleanField(required=False)


class StaffTerritoryApi(ApiView):
    """Set a ZIP's own price, tier, number of slots, or whether it is offered."""

    permission_classes = [IsPlatformStaff]

    @extend_schema(operation_id="staff_territories_update", request=StaffTerritoryInput,
                   responses={200: StaffTerritoryOutput,
                              **error_responses(400, 401, 403, 404, 413, 415)})
    def patch(self, request, zip_code: str):
        data = self.parse(StaffTerritoryInput, request)
        territory = services.update_territory(zip_code=zip_code, **data)
        row = selectors.territory_rows(zip_code=territory.zip_code, include_inactive=True).get()
        return Response(StaffTerritoryOutput(row).data)


class TierOutput(serializers.Serializer):
    tier = serializers.CharField()
    price_cents = serializers.IntegerField()


class TierInput(serializers.Serializer):
    price_cents = serializers.IntegerField(min_value=0, max_value=services.MAX_PRICE_CENTS)


class StaffTierListApi(ApiView):
    permission_classes = [IsPlatformStaff]

    @extend_schema(operation_id="staff_tiers_list", responses={
        200: TierOutput(many=True), **error_responses(401, 403)})
    def get(self, request):
        return Response(TierOutput(selectors.tier_prices(), many=True).data)


class StaffTierApi(ApiView):
    """Set the monthly price of every ZIP of a tier that has no price of its own."""

    permission_classes = [IsPlatformStaff]

    @extend_schema(operation_id="staff_tiers_update", request=TierInput,
                   responses={200: TierOutput, **error_responses(400, 401, 403, 404, 413, 415)})
    def patch(self, request, tier: str):
        data = self.parse(TierInput, request)
        tier_price = services.set_tier_price(tier=tier, price_cents=data["price_cents"])
        return Response(TierOutput(tier_price).data)


_catalogue = path("api/v1/territories", TerritoryListApi.as_view(), name="api-territories")

public_urls: list = [
    _catalogue,
    path("api/v1/staff/territories", StaffTerritoryListApi.as_view(),
         name="api-staff-territories"),
    path("api/v1/staff/territories/<str:zip_code>", StaffTerritoryApi.as_view(),
         name="api-staff-territory"),
    path("api/v1/staff/tiers", StaffTierListApi.as_view(), name="api-staff-tiers"),
    path("api/v1/staff/tiers/<str:tier>", StaffTierApi.as_view(), name="api-staff-tier"),
]
brokerage_urls: list = [
    _catalogue,
    path("api/v1/waitlist", WaitlistApi.as_view(), name="api-waitlist"),
    path("api/v1/waitlist/<int:entry_id>", WaitlistEntryApi.as_view(),
         name="api-waitlist-entry"),
]
