"""`GET /api/v1/me` on a brokerage host: the caller's seat, time zone, notifications and
whether a private calendar link exists; `PATCH` sets the digest hour and the time zone;
`POST /api/v1/me/calendar-link` makes a new private calendar link (shown once)."""

from __future__ import annotations

from django.urls import path
from drf_spectacular.utils import extend_schema
from rest_framework import serializers
from rest_framework.response import Response

from clozings.crm import calendar, preferences
from clozings.platform.api import error_responses
from clozings.tenants.models import TIME_ZONE_CHOICES, Seat
from clozings.tenants.scoping import SeatScopedApiView


class NotificationsOutput(serializers.Serializer):
    digest_hour = serializers.IntegerField(
        allow_null=True, help_text="The hour (0-23, your time zone) of the daily digest of "
                                   "today's follow-ups; null: no digest.")
    new_lead_text_phone = serializers.CharField(
        allow_blank=True, help_text="Where new leads are texted (E.164); blank: mail only.")


class MeOutput(serializers.Serializer):
    seat_id = serializers.IntegerField()
    role = serializers.ChoiceField(Seat.Role.choices)
    brokerage = serializers.CharField(help_text="The brokerage's slug.")
    name = serializers.CharField(allow_blank=True)
    email = serializers.EmailField()
    time_zone = serializers.CharField()
    calendar_url = serializers.CharField(
        allow_null=True, help_text="Null: the private link is shown only once, when made "
                                   "(POST /api/v1/me/calendar-link); only its hash is kept.")
    calendar_link_active = serializers.BooleanField(
        help_text="Whether a private calendar link exists (making a new one ends it).")
    notifications = NotificationsOutput()


class MeInput(serializers.Serializer):
    time_zone = serializers.ChoiceField(TIME_ZONE_CHOICES, required=False)
    digest_hour = serializers.IntegerField(min_value=0, max_value=23, required=False,
                                           allow_null=True)


class CalendarLinkOutput(serializers.Serializer):
    calendar_url = serializers.CharField(
        help_text="The private iCalendar link; shown only here, keep it to yourself.")


def me_body(seat: Seat, calendar_url: str | None = None) -> dict:
    return MeOutput({
        "seat_id": seat.pk, "role": seat.role, "brokerage": seat.brokerage.slug,
        "name": seat.name or seat.user.name, "email": seat.email,
        "time_zone": seat.user.time_zone, "calendar_url": calendar_url,
        "calendar_link_active": bool(seat.calendar_token_hash),
        "notifications": {"digest_hour": seat.digest_hour,
                          "new_lead_text_phone": seat.phone}}).data


class MeApi(SeatScopedApiView):
    """The caller's own seat in the brokerage of the host."""

    @extend_schema(operation_id="me", responses={200: MeOutput, **error_responses(401, 403)})
    def get(self, request):
        return Response(me_body(self.caller()))

    @extend_schema(operation_id="me_update", request=MeInput, responses={
        200: MeOutput, **error_responses(400, 401, 403, 413, 415)})
    def patch(self, request):
        data = self.parse(MeInput, request)
        seat = preferences.update_preferences(seat=self.caller(), **data)
        return Response(me_body(seat))


class CalendarLinkApi(SeatScopedApiView):
    """The caller's private calendar link (their open follow-up tasks as iCalendar)."""

    @extend_schema(
        operation_id="me_calendar_link_create", request=None,
        description="Make a new private calendar link: the old one, if any, stops working. "
                    "The link is in this answer only.",
        responses={201: CalendarLinkOutput, **error_responses(401, 403, 413)})
    def post(self, request):
        url = calendar.create_calendar_link(seat=self.caller())
        return Response({"calendar_url": url}, status=201)

    @extend_schema(operation_id="me_calendar_link_delete", request=None,
                   description="End the private calendar link.",
                   responses={204: None, **error_responses(401, 403)})
    def delete(self, request):
        calendar.remove_calendar_link(seat=self.caller())
        return Response(status=204)


brokerage_urls = [
    path("api/v1/me", MeApi.as_view(), name="api-me"),
    path("api/v1/me/calendar-link", CalendarLinkApi.as_view(), name="api-me-calendar-link"),
]
