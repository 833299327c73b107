"""Inbound replies on the brokerage host: texts through each SMS backend's webhook and
emails through a generic signed webhook. A request whose signature is missing or wrong is
refused (403, the API's error format) before anything is read or stored; a sender who is
not one of the brokerage's leads gets the same 200 as one who is, and nothing happens."""

from __future__ import annotations

from django.conf import settings
from django.http import HttpResponse
from django.urls import path
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiResponse, extend_schema
from rest_framework import serializers
from rest_framework.response import Response

from clozings.crm import messaging
from clozings.platform import sms
from clozings.platform.api import ApiView, error_responses
from clozings.platform.errors import Forbidden

SIGNATURE_HEADER = "X-Clozings-Signature"  # "sha256=<hex HMAC-SHA256 of the raw body>"
TWILIO_HEADER = "X-Twilio-Signature"
_EMPTY_TWIML = '<?xml version="1.0" encoding="UTF-8"?><Response></Response>'


class SignedWebhookApi(ApiView):
    """Refuses every request (any method) whose signature does not check out."""

    authentication_classes: list = []
    permission_classes: list = []

    def signature_valid(self, request) -> bool:
        raise NotImplementedError

    def initial(self, request, *args, **kwargs):
        super().initial(request, *args, **kwargs)
        if request.method != "POST" or not self.signature_valid(request):
            raise Forbidden("The webhook's signature is missing or does not match.")


class _HmacWebhookApi(SignedWebhookApi):
    secret_setting = ""

    def signature_valid(self, request) -> bool:
        return sms.hmac_signature_valid(
            secret=getattr(settings, self.secret_setting), body=request._request.body,
            signature=request.headers.get(SIGNATURE_HEADER, ""))


class Received(serializers.Serializer):
    received = serializers.BooleanField(help_text="Always true: the message was taken.")


class TwilioTextInput(serializers.Serializer):
    From = serializers.CharField(max_length=40)
    Body = serializers.CharField(max_length=2000, allow_blank=True, required=False)
    MessageSid = serializers.CharField(max_length=64, required=False, allow_blank=True)


class TwilioInboundTextApi(SignedWebhookApi):
    """Twilio's incoming-message webhook (form-encoded, X-Twilio-Signature)."""

    def signature_valid(self, request) -> bool:
        return sms.twilio_signature_valid(
            url=request.build_absolute_uri(), params=request._request.POST.dict(),
            signature=request.headers.get(TWILIO_HEADER, ""))

    @extend_schema(operation_id="inbound_text_twilio", request=TwilioTextInput, responses={
        (200, "text/xml"): OpenApiResponse(OpenApiTypes.STR, description="Empty TwiML."),
        **error_responses(400, 403, 413, 415)})
    def post(self, request):
        data = self.parse(TwilioTextInput, request)
        messaging.receive_text(from_number=data["From"], body=data.get("Body", ""),
                               provider_id=data.get("MessageSid", ""))
        return HttpResponse(_EMPTY_TWIML, content_type="text/xml")


class GenericTextInput(serializers.Serializer):
    sender = serializers.CharField(max_length=40, help_text="The lead's number (E.164).")
    body = serializers.CharField(max_length=2000, allow_blank=True)


class GenericInboundTextApi(_HmacWebhookApi):
    """A text relayed by any other gateway (the console backend's stand-in): JSON signed
    with SMS_INBOUND_SECRET in X-Clozings-Signature."""

    secret_setting = "SMS_INBOUND_SECRET"

    @extend_schema(operation_id="inbound_text_generic", request=GenericTextInput,
                   responses={200: Received, **error_responses(400, 403, 413, 415)})
    def post(self, request):
        data = self.parse(GenericTextInput, request)
        messaging.receive_text(from_number=data["sender"], body=data["body"])
        return Response({"received": True})


class InboundEmailInput(serializers.Serializer):
    sender = serializers.CharField(max_length=254, help_text="The From address.")
    subject = serializers.CharField(max_length=500, allow_blank=True, required=False)
    text = serializers.CharField(max_length=100_000, allow_blank=True, required=False)


class InboundEmailApi(_HmacWebhookApi):
    """A reply by email, relayed by the mail provider's inbound parse: JSON signed with
    INBOUND_EMAIL_SECRET in X-Clozings-Signature."""

    secret_setting = "INBOUND_EMAIL_SECRET"

    @extend_schema(operation_id="inbound_email", request=InboundEmailInput,
                   responses={200: Received, **error_responses(400, 403, 413, 415)})
    def post(self, request):
        data = self.parse(InboundEmailInput, request)
        messaging.receive_email(from_address=data["sender"], subject=data.get("subject", ""),
                                body=data.get("text", ""))
        return Response({"received": True})


urls = [
    path("api/v1/inbound/text/twilio", TwilioInboundTextApi.as_view(),
         name="inbound_text_twilio"),
    path("api/v1/inbound/text/generic", GenericInboundTextApi.as_view(),
         name="inbound_text_generic"),
    path("api/v1/inbound/email", InboundEmailApi.as_view(), name="inbound_email"),
]
