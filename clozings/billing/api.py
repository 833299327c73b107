"""Brokerage-host API: the card (SetupIntent, payment method), the billing summary, and
reservations (which involve payment, so billing owns them)."""

from __future__ import annotations

from django.conf import settings
from drf_spectacular.utils import extend_schema
from rest_framework import serializers
from rest_framework.response import Response

from clozings.billing import selectors, services
from clozings.platform.api import MAX_ID, ApiView, error_responses
from clozings.tenants.permissions import IsBrokerageAdmin
from clozings.tenants.scoping import SeatScopedApiView
from clozings.territories.api import ZIP_FIELD
from clozings.territories.models import Reservation
from clozings.territories.selectors import reservations_for

_MEANINGS = {
    "s402": "`payment_required`: no card on file, or Stripe refused the charge (its message "
            "says why); nothing was reserved.",
    "s409": "`territory_full` (join the waitlist) or `already_reserved`.",
    "s503": "`payment_service_unavailable`: Stripe did not answer; try again shortly.",
}


def _errors(*statuses: int) -> dict:
    return error_responses(*statuses, **_MEANINGS)


class CardOutput(serializers.Serializer):
    brand = serializers.CharField()
    last4 = serializers.CharField()
    exp_month = serializers.IntegerField(allow_null=True)
    exp_year = serializers.IntegerField(allow_null=True)


class SetupIntentOutput(serializers.Serializer):
    client_secret = serializers.CharField()
    publishable_key = serializers.CharField()


class SetupIntentApi(ApiView):
    permission_classes = [IsBrokerageAdmin]

    @extend_schema(request=None,
                   responses={200: SetupIntentOutput, **_errors(401, 402, 403, 413, 503)})
    def post(self, request):
        secret = services.create_setup_intent(brokerage=request.brokerage)
        return Response({"client_secret": secret,
                         "publishable_key": settings.STRIPE_PUBLISHABLE_KEY})


class PaymentMethodInput(serializers.Serializer):
    payment_method_id = serializers.CharField(max_length=128)


class PaymentMethodOutput(serializers.Serializer):
    card = CardOutput()


class PaymentMethodApi(ApiView):
    permission_classes = [IsBrokerageAdmin]

    @extend_schema(request=PaymentMethodInput,
                   responses={200: PaymentMethodOutput,
                              **_errors(400, 401, 402, 403, 413, 415, 503)})
    def post(self, request):
        data = self.parse(PaymentMethodInput, request)
        account = services.attach_payment_method(
            brokerage=request.brokerage, payment_method_id=data["payment_method_id"])
        return Response({"card": selectors.card_on_file(account)})


class BillingItemOutput(serializers.Serializer):
    kind = serializers.ChoiceField(["territory", "seats"])
    reservation_id = serializers.IntegerField(required=False)
    zip_code = serializers.CharField(required=False)
    agent_id = serializers.IntegerField(required=False)
    status = serializers.CharField(required=False)
    quantity = serializers.IntegerField()
    unit_price_cents = serializers.IntegerField()
    price_cents = serializers.IntegerField()


class InvoiceOutput(serializers.Serializer):
    id = serializers.CharField()
    number = serializers.CharField()
    status = serializers.CharField()
    amount_due_cents = serializers.IntegerField()
    amount_paid_cents = serializers.IntegerField()
    currency = serializers.CharField()
    created = serializers.DateTimeField(allow_null=True)


class BillingOutput(serializers.Serializer):
    status = serializers.CharField()
    card = CardOutput(allow_null=True)
    current_period_end = serializers.DateTimeField(allow_null=True)
    items = BillingItemOutput(many=True)
    monthly_total_cents = serializers.IntegerField()
    invoices = InvoiceOutput(many=True, allow_null=True)


class BillingApi(ApiView):
    permission_classes = [IsBrokerageAdmin]

    @extend_schema(responses={200: BillingOutput, **_errors(401, 403)})
    def get(self, request):
        overview = selectors.billing_overview(brokerage=request.brokerage)
        return Response(BillingOutput(overview).data)


class ReservationOutput(serializers.Serializer):
    id = serializers.IntegerField(source="pk")
    zip_code = serializers.CharField(source="territory.zip_code")
    agent_id = serializers.IntegerField(source="seat_id")
    status = serializers.CharField()
    price_cents = serializers.IntegerField()
    release_at = serializers.DateTimeField(allow_null=True)


class ReservationInput(serializers.Serializer):
    # The ZIP's shape is checked before the card is: a malformed ZIP is a 400 whether or
    # not the brokerage can pay, never a 402 asking for a card.
    zip_code = serializers.RegexField(**ZIP_FIELD)
    agent_id = serializers.IntegerField(required=False, min_value=1, max_value=MAX_ID,
                                        help_text="A seat id of this brokerage; default: you.")


class ReservationListApi(SeatScopedApiView):
    @extend_schema(responses={200: ReservationOutput(many=True), **_errors(401, 403)})
    def get(self, request):
        rows = reservations_for(brokerage=request.brokerage, seat=self.seat_scope())
        return Response(ReservationOutput(rows, many=True).data)

    @extend_schema(request=ReservationInput, responses={
        201: ReservationOutput, **_errors(400, 401, 402, 403, 404, 409, 413, 415, 503)})
    def post(self, request):
        data = self.parse(ReservationInput, request)
        agent = self.acting_seat(data.get("agent_id"))
        reservation = services.reserve_and_pay(seat=agent, zip_code=data["zip_code"],
                                               by=request.user)
        return Response(ReservationOutput(reservation).data, status=201)


class ReservationDetailApi(SeatScopedApiView):
    @extend_schema(responses={200: ReservationOutput, **_errors(400, 401, 403, 404)})
    def delete(self, request, reservation_id: int):
        reservation = self.get_scoped(Reservation.objects.select_related("territory"),
                                      reservation_id, owner="seat")
        reservation = services.release_and_bill(reservation=reservation, by=request.user)
        return Response(ReservationOutput(reservation).data)
