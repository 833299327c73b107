"""API of distribution on the platform host: lead sources (staff) and lead intake (sources).

A lead source authenticates with `Authorization: Bearer <key>`; people's tokens have a
different shape (see clozings.platform.auth), so both can be offered on one endpoint.
"""

from __future__ import annotations

import base64
import json

from django.contrib.auth.models import AnonymousUser
from django.db import transaction
from django.http import HttpResponse
from django.urls import path
from drf_spectacular.extensions import OpenApiAuthenticationExtension
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, OpenApiResponse, extend_schema
from rest_framework import authentication, exceptions, serializers
from rest_framework.authentication import SessionAuthentication
from rest_framework.permissions import BasePermission
from rest_framework.response import Response

from clozings.distribution import adapters, selectors, services
from clozings.distribution.models import InboundLead, LeadSource
from clozings.platform.api import MAX_ID, ApiView, error_responses
from clozings.platform.auth import BearerTokenAuthentication
from clozings.platform.errors import DomainError, Forbidden, error_body
from clozings.tenants.permissions import IsPlatformStaff

MAX_PRICE_CENTS = 10**12  # ten billion dollars: anything above is a typo
MAX_BATCH = 500


# --- who is calling -------------------------------------------------------------------------
class LeadSourceKeyAuthentication(authentication.BaseAuthentication):
    """`Authorization: Bearer <lead source key>`; request.auth is the LeadSource."""

    keyword = "Bearer"

    def authenticate(self, request):
        header = authentication.get_authorization_header(request).decode("latin-1").split()
        if not header or header[0].lower() != self.keyword.lower() or len(header) != 2:
            return None
        key = header[1]
        if key.count(":") >= 2:  # a person's signed token: BearerTokenAuthentication's
            return None
        source = services.source_for_key(key)
        if source is None:
            raise exceptions.AuthenticationFailed(
                "The lead source key is not valid, or it was rotated or revoked.")
        return AnonymousUser(), source

    def authenticate_header(self, request) -> str:
        return self.keyword


class LeadSourceKeyScheme(OpenApiAuthenticationExtension):
    target_class = "clozings.distribution.api.LeadSourceKeyAuthentication"
    name = "leadSourceKey"

    def get_security_definition(self, auto_schema):
        return {"type": "http", "scheme": "bearer",
                "description": "A lead source's key (shown once when the source is made)."}


class IsLeadSource(BasePermission):
    message = "Only a lead source (with its key) can do this."

    def has_permission(self, request, view) -> bool:
        return isinstance(request.auth, LeadSource)


class IsLeadSourceOrStaff(BasePermission):
    message = "Only the lead's source or platform staff can see it."

    def has_permission(self, request, view) -> bool:
        return isinstance(request.auth, LeadSource) or IsPlatformStaff().has_permission(
            request, view)


# --- lead sources (platform staff) ----------------------------------------------------------
class LeadSourceInput(serializers.Serializer):
    name = serializers.CharField(max_length=120)
    cost_per_lead_cents = serializers.IntegerField(min_value=0, max_value=10_000_000)
    adapter = serializers.ChoiceField(LeadSource.Adapter.choices,
                                      default=LeadSource.Adapter.NATIVE)
    settings = serializers.DictField(
        required=False, default=dict,
        help_text="Meta: verify token, app secret, page token, field map; Google: google_key.")

    def validate_settings(self, value: dict) -> dict:
        return storable(value)


class LeadSourceKeyOutput(serializers.Serializer):
    id = serializers.IntegerField()
    name = serializers.CharField()
    adapter = serializers.ChoiceField(LeadSource.Adapter.choices)
    cost_per_lead_cents = serializers.IntegerField()
    key = serializers.CharField(help_text="Shown only in this answer; stored hashed.")
    webhook_url = serializers.CharField(help_text="Where the source posts its leads.")
    created_at = serializers.DateTimeField()
    rotated_at = serializers.DateTimeField(allow_null=True)


def _issued(issued: services.IssuedKey) -> dict:
    source = issued.source
    return LeadSourceKeyOutput({
        "id": source.pk, "name": source.name, "adapter": source.adapter,
        "cost_per_lead_cents": source.cost_per_lead_cents, "key": issued.key,
        "webhook_url": services.webhook_url(source), "created_at": source.created_at,
        "rotated_at": source.rotated_at}).data


class LeadSourceApi(ApiView):
    permission_classes = [IsPlatformStaff]

    def get_source(self, source_id: int) -> LeadSource:
        source = selectors.lead_source(source_id=source_id) if source_id <= MAX_ID else None
        if source is None:
            raise exceptions.NotFound("No such lead source.")
        return source


class LeadSourceCreateApi(LeadSourceApi):
    """Make a lead source; its key is in this answer only."""

    @extend_schema(operation_id="lead_sources_create", request=LeadSourceInput, responses={
        201: LeadSourceKeyOutput, **error_responses(400, 401, 403, 413, 415)})
    def post(self, request):
        data = self.parse(LeadSourceInput, request)
        return Response(_issued(services.create_lead_source(**data)), status=201)


class LeadSourceRotateKeyApi(LeadSourceApi):
    """A new key for the source (in this answer only); the old key stops working."""

    @extend_schema(operation_id="lead_sources_rotate_key", request=None, responses={
        200: LeadSourceKeyOutput, **error_responses(
            401, 403, 404, 409, 413,
            s409="`lead_source_revoked`: make a new source instead.")})
    def post(self, request, source_id: int):
        issued = services.rotate_lead_source_key(source=self.get_source(source_id))
        return Response(_issued(issued))


class LeadSourceDetailApi(LeadSourceApi):
    """Revoke the source: its key stops working; its leads stay in the ledger."""

    @extend_schema(operation_id="lead_sources_revoke", responses={
        204: OpenApiResponse(description="Revoked (again, if it was already)."),
        **error_responses(401, 403, 404)})
    def delete(self, request, source_id: int):
        services.revoke_lead_source(source=self.get_source(source_id))
        return Response(status=204)


# --- intake (lead sources) ------------------------------------------------------------------
class ConsentInput(serializers.Serializer):
    """The evidence of the lead's agreement to be contacted; kept exactly as sent."""

    text = serializers.CharField(max_length=5000, required=False, allow_blank=True)
    given_at = serializers.DateTimeField(required=False, allow_null=True)
    ip = serializers.IPAddressField(required=False, allow_blank=True)
    user_agent = serializers.CharField(max_length=1000, required=False, allow_blank=True)
    page_url = serializers.URLField(max_length=2000, required=False, allow_blank=True)
    channels = serializers.ListField(
        child=serializers.ChoiceField(["call", "text", "email"]), required=False,
        max_length=3)
    certificate_url = serializers.URLField(max_length=2000, required=False, allow_blank=True)


class LeadInput(serializers.Serializer):
    external_id = serializers.CharField(max_length=200, required=False, allow_blank=True,
                                        help_text="The source's own id: sent again, same lead.")
    first_name = serializers.CharField(max_length=100, required=False, allow_blank=True)
    last_name = serializers.CharField(max_length=100, required=False, allow_blank=True)
    email = serializers.CharField(max_length=254, required=False, allow_blank=True)
    phone = serializers.CharField(max_length=40, required=False, allow_blank=True,
                                  help_text="Any common format; US numbers by default.")
    zip_code = serializers.CharField(max_length=10, required=False, allow_blank=True,
                                     help_text="5 digits, in the territory catalogue.")
    intent = serializers.ChoiceField(InboundLead.Intent.choices, required=False,
                                     allow_blank=True)
    price_min_cents = serializers.IntegerField(min_value=0, max_value=MAX_PRICE_CENTS,
                                               required=False, allow_null=True)
    price_max_cents = serializers.IntegerField(min_value=0, max_value=MAX_PRICE_CENTS,
                                               required=False, allow_null=True)
    timeframe = serializers.CharField(max_length=100, required=False, allow_blank=True)
    message = serializers.CharField(max_length=5000, required=False, allow_blank=True)
    campaign = serializers.CharField(max_length=200, required=False, allow_blank=True)
    consent = ConsentInput(required=False, allow_null=True)

    def validate(self, attrs):
        low, high = attrs.get("price_min_cents"), attrs.get("price_max_cents")
        if low is not None and high is not None and low > high:
            raise serializers.ValidationError(
                {"price_max_cents": ["The highest price is below the lowest."]})
        return attrs


class LeadAccepted(serializers.Serializer):
    id = serializers.IntegerField()
    status = serializers.ChoiceField(InboundLead.Status.choices)
    reasons = serializers.ListField(child=serializers.CharField(),
                                    help_text="Why a `rejected` lead cannot be routed.")


class BatchInputSchema(serializers.Serializer):
    leads = LeadInput(many=True, max_length=MAX_BATCH, allow_empty=False)


class BatchInput(serializers.Serializer):
    leads = serializers.ListField(child=serializers.JSONField(), max_length=MAX_BATCH,
                                  allow_empty=False)


class BatchErrorBody(serializers.Serializer):
    code = serializers.CharField()
    message = serializers.CharField()
    fields = serializers.DictField(child=serializers.ListField(child=serializers.CharField()),
                                   required=False)


class BatchResult(serializers.Serializer):
    index = serializers.IntegerField(help_text="The lead's place in the batch, from 0.")
    id = serializers.IntegerField(required=False)
    status = serializers.ChoiceField(InboundLead.Status.choices, required=False)
    reasons = serializers.ListField(child=serializers.CharField(), required=False)
    created = serializers.BooleanField(
        required=False, help_text="false: the source sent this external_id before.")
    error = BatchErrorBody(required=False, help_text="The lead was not taken: why.")


class BatchOutput(serializers.Serializer):
    results = BatchResult(many=True)


def _accepted(lead: InboundLead) -> dict:
    return {"id": lead.pk, "status": lead.status, "reasons": lead.rejection_reasons}


def storable(value):
    """`value` if PostgreSQL can keep it as JSON and text, else ValidationError: no NUL
    character, no lone surrogate (both pass JSON decoding, and fail in the database)."""
    text = json.dumps(value, ensure_ascii=False)
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        raise serializers.ValidationError(
            "Text must be valid Unicode (a lone surrogate is not).") from None
    if "\\u0000" in text:
        raise serializers.ValidationError("Text may not contain the NUL character (\\u0000).")
    return value


def _field_errors(detail: dict) -> dict[str, list[str]]:
    """A lead's validation errors as {field: [messages]} (a nested field's as one text)."""
    return {str(key): [str(item) for item in value] if isinstance(value, list) else [str(value)]
            for key, value in detail.items()}


# One LeadInput validates every lead: a serializer made per lead deep-copies its fields,
# ten times the cost of the validation itself (intake's hot path). Its fields keep no
# state between validations.
_LEAD_INPUT = LeadInput()
_TEXTS = {name: field.max_length for name, field in _LEAD_INPUT.fields.items()
          if type(field) is serializers.CharField}
_PRICES = {name: (field.min_value, field.max_value) for name, field in
           _LEAD_INPUT.fields.items() if isinstance(field, serializers.IntegerField)}
_INTENTS = {"", *InboundLead.Intent.values}


def _plain_lead(data: dict) -> dict | None:
    """What LeadInput.run_validation gives for a lead of the common shape (ASCII texts
    within their lengths, integer prices in range and in order, a known intent, no consent
    object), a few times faster; None for anything else, which LeadInput then checks
    (and explains). tests/distribution/test_intake_api.py holds the two side by side."""
    clean = {}
    for name, value in data.items():
        if name in _TEXTS:
            if type(value) is not str or not value.isascii() or "\x00" in value:
                return None
            value = value.strip()
            if len(value) > _TEXTS[name]:
                return None
        elif name in _PRICES:
            low, high = _PRICES[name]
            if value is not None and (type(value) is not int or not low <= value <= high):
                return None
        elif name == "intent":
            if type(value) is not str or value not in _INTENTS:
                return None
        elif name == "consent":
            if value is not None:
                return None
        elif name in _LEAD_INPUT.fields:
            return None  # a kind of field not handled here
        else:
            continue  # not a field of a lead: kept in the payload only, as LeadInput does
        clean[name] = value
    low, high = clean.get("price_min_cents"), clean.get("price_max_cents")
    if low is not None and high is not None and low > high:
        return None
    return clean


class IntakeApi(ApiView):
    authentication_classes = [LeadSourceKeyAuthentication, BearerTokenAuthentication]
    permission_classes = [IsLeadSource]

    def check(self, data) -> tuple[dict, dict]:
        """(clean fields, payload as sent) of one lead, or ValidationError."""
        if not isinstance(data, dict):
            raise serializers.ValidationError(
                {"non_field_errors": ["Send the lead as a JSON object."]})
        validated = _plain_lead(data)
        if validated is None:
            validated = _LEAD_INPUT.run_validation(data)
        try:
            payload = storable(data)
        except serializers.ValidationError as exc:
            raise serializers.ValidationError({"non_field_errors": exc.detail}) from None
        # consent is the lead's evidence: checked above, kept exactly as sent
        return {**validated, "consent": payload.get("consent")}, payload

    def take(self, data) -> services.Intake:
        clean, payload = self.check(data)
        return services.receive_lead(source=self.request.auth, data=clean, payload=payload)


class LeadIntakeApi(IntakeApi):
    """Post one lead. It is routed within seconds; `GET /api/v1/leads/<id>` says where."""

    @extend_schema(operation_id="leads_receive", request=LeadInput, responses={
        202: LeadAccepted,
        200: OpenApiResponse(LeadAccepted, description="The source sent this external_id "
                                                       "before: the first lead."),
        **error_responses(400, 401, 403, 413, 415)})
    def post(self, request):
        intake = self.take(request.data)
        return Response(_accepted(intake.lead), status=202 if intake.created else 200)


class LeadBatchApi(IntakeApi):
    """Post up to 500 leads: one result per lead, in order; good leads are taken even when
    others in the batch are not."""

    @extend_schema(operation_id="leads_receive_batch", request=BatchInputSchema, responses={
        207: BatchOutput, **error_responses(400, 401, 403, 413, 415)})
    def post(self, request):
        leads = self.parse(BatchInput, request)["leads"]
        results: list[dict | None] = [None] * len(leads)
        good, places = [], []
        for index, data in enumerate(leads):
            try:
                good.append(self.check(data))
            except serializers.ValidationError as exc:
                results[index] = {"index": index, **error_body(
                    "validation_error", "Some fields are not valid.",
                    _field_errors(exc.detail))}
                continue
            places.append(index)
        with transaction.atomic():
            intakes = services.receive_leads(source=request.auth, leads=good)
        for index, intake in zip(places, intakes, strict=True):
            results[index] = {"index": index, **_accepted(intake.lead),
                              "created": intake.created}
        # plain ints, texts and lists already: BatchOutput describes them (the schema), and
        # running 500 results through it would cost more than taking the leads in
        return Response({"results": results}, status=207)


class RoutingEntry(serializers.Serializer):
    at = serializers.DateTimeField()
    zip_code = serializers.CharField()
    rule = serializers.ChoiceField(["exclusive", "shared", "same_person", "no_holder"])
    why = serializers.CharField()
    chosen = serializers.DictField(allow_null=True)
    candidates = serializers.ListField(child=serializers.DictField())


class LeadOutput(serializers.Serializer):
    id = serializers.IntegerField()
    external_id = serializers.CharField()
    status = serializers.ChoiceField(InboundLead.Status.choices)
    reasons = serializers.ListField(child=serializers.CharField(), source="rejection_reasons")
    zip_code = serializers.CharField()
    brokerage = serializers.CharField(source="brokerage.slug", allow_null=True, default=None)
    agent_id = serializers.IntegerField(source="seat_id", allow_null=True)
    received_at = serializers.DateTimeField()
    routed_at = serializers.DateTimeField(allow_null=True)
    delivered_at = serializers.DateTimeField(allow_null=True)
    first_touch_at = serializers.DateTimeField(allow_null=True)
    routing = RoutingEntry(many=True, source="routing_log")


class LeadDetailApi(ApiView):
    """A lead's status and routing log, for its source or platform staff."""

    authentication_classes = [LeadSourceKeyAuthentication, BearerTokenAuthentication,
                              SessionAuthentication]
    permission_classes = [IsLeadSourceOrStaff]

    @extend_schema(operation_id="leads_retrieve", responses={
        200: LeadOutput, **error_responses(401, 403, 404)})
    def get(self, request, lead_id: int):
        source = request.auth if isinstance(request.auth, LeadSource) else None
        lead = selectors.inbound_lead_for(lead_id=lead_id, source=source) \
            if lead_id <= MAX_ID else None
        if lead is None:
            raise exceptions.NotFound("No such lead.")
        return Response(LeadOutput(lead).data)


public_urls: list = [
    path("api/v1/lead-sources", LeadSourceCreateApi.as_view(), name="api-lead-sources"),
    path("api/v1/lead-sources/<int:source_id>/rotate-key", LeadSourceRotateKeyApi.as_view(),
         name="api-lead-source-rotate-key"),
    path("api/v1/lead-sources/<int:source_id>", LeadSourceDetailApi.as_view(),
         name="api-lead-source"),
    path("api/v1/leads", LeadIntakeApi.as_view(), name="api-leads"),
    path("api/v1/leads/batch", LeadBatchApi.as_view(), name="api-leads-batch"),
    path("api/v1/leads/<int:lead_id>", LeadDetailApi.as_view(), name="api-lead"),
]


# --- source adapters: Follow Up Boss events, Meta Lead Ads, Google Ads lead forms -----------
class FollowUpBossKeyAuthentication(authentication.BaseAuthentication):
    """HTTP Basic with the lead source's key as user name and a blank password, as Follow
    Up Boss's API takes it; request.auth is the LeadSource."""

    def authenticate(self, request):
        header = authentication.get_authorization_header(request).split()
        if not header or header[0].lower() != b"basic":
            return None
        try:
            decoded = base64.b64decode(header[1], validate=True).decode("utf-8") \
                if len(header) == 2 else ""
        except (ValueError, UnicodeDecodeError):
            decoded = ""
        key = decoded.partition(":")[0]
        source = services.source_for_key(key) if key else None
        if source is None:
            raise exceptions.AuthenticationFailed(
                "The lead source key (the user name) is not valid, or it was rotated or "
                "revoked.")
        return AnonymousUser(), source

    def authenticate_header(self, request) -> str:
        return 'Basic realm="clozings"'


class FollowUpBossKeyScheme(OpenApiAuthenticationExtension):
    target_class = "clozings.distribution.api.FollowUpBossKeyAuthentication"
    name = "leadSourceBasic"

    def get_security_definition(self, auto_schema):
        return {"type": "http", "scheme": "basic",
                "description": "The lead source's key as user name, a blank password."}


class IsFollowUpBossSource(BasePermission):
    message = "This key's source does not post Follow Up Boss events."

    def has_permission(self, request, view) -> bool:
        return (isinstance(request.auth, LeadSource)
                and request.auth.adapter == LeadSource.Adapter.FOLLOW_UP_BOSS)


class FubValue(serializers.Serializer):
    value = serializers.CharField(max_length=254, allow_blank=True)
    type = serializers.CharField(max_length=50, required=False, allow_blank=True)


class FubPerson(serializers.Serializer):
    id = serializers.CharField(max_length=200, required=False, allow_blank=True,
                               help_text="Your id of the person (dedupes without an event id).")
    firstName = serializers.CharField(max_length=100, required=False, allow_blank=True)  # noqa: N815
    lastName = serializers.CharField(max_length=100, required=False, allow_blank=True)  # noqa: N815
    name = serializers.CharField(max_length=200, required=False, allow_blank=True,
                                 help_text="The whole name, when no first and last are sent.")
    emails = FubValue(many=True, required=False, max_length=20)
    phones = FubValue(many=True, required=False, max_length=20)
    tags = serializers.ListField(child=serializers.CharField(max_length=100), required=False,
                                 max_length=50)


class FubProperty(serializers.Serializer):
    street = serializers.CharField(max_length=200, required=False, allow_blank=True)
    city = serializers.CharField(max_length=100, required=False, allow_blank=True)
    state = serializers.CharField(max_length=50, required=False, allow_blank=True)
    code = serializers.CharField(max_length=10, required=False, allow_blank=True,
                                 help_text="The ZIP code.")
    zip = serializers.CharField(max_length=10, required=False, allow_blank=True,
                                help_text="The ZIP code (as some client libraries send it).")
    price = serializers.DecimalField(max_digits=12, decimal_places=2, min_value=0,
                                     required=False, allow_null=True,
                                     help_text="In dollars.")


class FubEventInput(serializers.Serializer):
    id = serializers.CharField(max_length=150, required=False, allow_blank=True,
                               help_text="Your id of the event: sent again, same lead.")
    source = serializers.CharField(max_length=200, required=False, allow_blank=True)
    system = serializers.CharField(max_length=200, required=False, allow_blank=True)
    type = serializers.CharField(max_length=100, required=False, allow_blank=True,
                                 help_text="Registration, Inquiry, Property Inquiry, "
                                           "Seller Inquiry, ...")
    message = serializers.CharField(max_length=5000, required=False, allow_blank=True)
    description = serializers.CharField(max_length=5000, required=False, allow_blank=True)
    person = FubPerson()
    property = FubProperty(required=False)


def _checked_payload(data) -> dict:
    """The body, if it is a JSON object PostgreSQL can keep; else a 400."""
    if not isinstance(data, dict):
        raise serializers.ValidationError(
            {"non_field_errors": ["Send a JSON object."]})
    try:
        return storable(data)
    except serializers.ValidationError as exc:
        raise serializers.ValidationError({"non_field_errors": exc.detail}) from None


class FollowUpBossEventApi(ApiView):
    """A Follow Up Boss-compatible event (what IDX sites, portals and Zapier post to
    Follow Up Boss): 201 for a new person, 200 for one already known."""

    authentication_classes = [FollowUpBossKeyAuthentication]
    permission_classes = [IsFollowUpBossSource]

    @extend_schema(operation_id="follow_up_boss_events_create", request=FubEventInput,
                   responses={
                       201: LeadAccepted,
                       200: OpenApiResponse(LeadAccepted, description=(
                           "A person already known: the same event id, or the same person "
                           "(id, email or phone) without one.")),
                       **error_responses(400, 401, 403, 413, 415)})
    def post(self, request):
        payload = _checked_payload(request.data)
        FubEventInput(data=payload).is_valid(raise_exception=True)
        intake = services.receive_follow_up_boss_event(source=request.auth, event=payload)
        return Response(_accepted(intake.lead), status=201 if intake.created else 200)


class WebhookSourceApi(ApiView):
    """A webhook named by its source's id, checked by the source's own secret."""

    authentication_classes: list = []
    permission_classes: list = []
    adapter = ""

    def get_source(self, source_id: int) -> LeadSource:
        source = selectors.lead_source(source_id=source_id) if source_id <= MAX_ID else None
        if source is None or source.adapter != self.adapter or source.is_revoked:
            raise exceptions.NotFound("No such lead source.")
        return source


def _refused(missing: bool, what: str) -> DomainError:
    if missing:
        return DomainError(f"Send the {what}.", code="not_authenticated")
    return Forbidden(f"The {what} does not match this source's.")


class MetaChangeValue(serializers.Serializer):
    leadgen_id = serializers.RegexField(r"^[0-9A-Za-z_-]{1,64}$", max_length=64)
    form_id = serializers.RegexField(r"^[0-9A-Za-z_-]{0,64}$", max_length=64, required=False,
                                     allow_blank=True)
    page_id = serializers.CharField(max_length=64, required=False, allow_blank=True)
    ad_id = serializers.CharField(max_length=64, required=False, allow_blank=True)
    created_time = serializers.IntegerField(required=False)


class MetaChange(serializers.Serializer):
    field = serializers.CharField(max_length=100)
    value = serializers.JSONField()


class MetaEntry(serializers.Serializer):
    id = serializers.CharField(max_length=64, required=False, allow_blank=True)
    time = serializers.IntegerField(required=False)
    changes = MetaChange(many=True, max_length=100)


class MetaWebhookInput(serializers.Serializer):
    object = serializers.CharField(max_length=50)
    entry = MetaEntry(many=True, max_length=100)


class MetaWebhookAccepted(serializers.Serializer):
    received = serializers.IntegerField(help_text="New leadgen notifications (fetched soon).")
    known = serializers.IntegerField(help_text="Leadgen ids this source was notified of before.")


class MetaWebhookApi(WebhookSourceApi):
    """Meta Lead Ads webhook of one source: GET is Meta's verification handshake, POST its
    signed `leadgen` notifications (each lead is then read from the Graph API)."""

    adapter = LeadSource.Adapter.META

    @extend_schema(operation_id="intake_meta_verify", parameters=[
        OpenApiParameter("hub.mode", str, required=False, description="`subscribe`."),
        OpenApiParameter("hub.verify_token", str, required=False,
                         description="The source's `verify_token` setting."),
        OpenApiParameter("hub.challenge", str, required=False,
                         description="Answered back as text.")],
        responses={(200, "text/plain"): OpenApiResponse(OpenApiTypes.STR,
                                                        description="The challenge."),
                   **error_responses(400, 403, 404)})
    def get(self, request, source_id: int):
        source = self.get_source(source_id)
        params = request.query_params
        challenge = params.get("hub.challenge", "")
        if params.get("hub.mode") != "subscribe" or not adapters.meta_verify_token_ok(
                source, params.get("hub.verify_token", "")):
            raise Forbidden("The verify token does not match this source's.")
        if not challenge or len(challenge) > 200 or not challenge.isprintable():
            raise serializers.ValidationError(
                {"hub.challenge": ["Send a challenge of 1 to 200 printable characters."]})
        return HttpResponse(challenge, content_type="text/plain; charset=utf-8")

    @extend_schema(operation_id="intake_meta_notify", request=MetaWebhookInput, parameters=[
        OpenApiParameter("X-Hub-Signature-256", str, OpenApiParameter.HEADER, required=False,
                         description="`sha256=<HMAC-SHA256 of the body with the app secret>`.")],
        responses={200: MetaWebhookAccepted, **error_responses(
            400, 401, 403, 404, 413, 415,
            s401="`not_authenticated`: no X-Hub-Signature-256.",
            s403="`permission_denied`: the signature does not match.")})
    def post(self, request, source_id: int):
        source = self.get_source(source_id)
        signature = request.headers.get("X-Hub-Signature-256", "")
        if not adapters.meta_signature_ok(source, request.body, signature):
            raise _refused(not signature, "X-Hub-Signature-256 header")
        payload = _checked_payload(request.data)
        body = MetaWebhookInput(data=payload)
        body.is_valid(raise_exception=True)
        changes = []
        for entry in body.validated_data["entry"]:
            for change in entry["changes"]:
                if change["field"] != "leadgen":
                    continue
                value = MetaChangeValue(data=change["value"])
                value.is_valid(raise_exception=True)
                changes.append({**change["value"], **value.validated_data})
        new = services.record_meta_notifications(source=source, changes=changes)
        return Response(MetaWebhookAccepted({"received": new, "known": len(changes) - new}).data)


class GoogleColumn(serializers.Serializer):
    column_id = serializers.CharField(max_length=100, help_text="FULL_NAME, EMAIL, "
                                      "PHONE_NUMBER, POSTAL_CODE, PRICE_RANGE, ...")
    string_value = serializers.CharField(max_length=5000, required=False, allow_blank=True)
    column_name = serializers.CharField(max_length=200, required=False, allow_blank=True)


class GoogleLeadInput(serializers.Serializer):
    lead_id = serializers.CharField(max_length=200, help_text="Google's id: sent again, "
                                                              "same lead.")
    google_key = serializers.CharField(max_length=500, help_text="The source's google_key.")
    user_column_data = GoogleColumn(many=True, max_length=100)
    is_test = serializers.BooleanField(required=False, default=False,
                                       help_text="A test lead: kept as `test`, never routed.")
    api_version = serializers.CharField(max_length=20, required=False, allow_blank=True)
    form_id = serializers.IntegerField(required=False, min_value=0, max_value=MAX_ID)
    campaign_id = serializers.IntegerField(required=False, min_value=0, max_value=MAX_ID)


class GoogleLeadWebhookApi(WebhookSourceApi):
    """Google Ads lead form webhook of one source; answered 200 (a test lead too)."""

    adapter = LeadSource.Adapter.GOOGLE

    @extend_schema(operation_id="intake_google_lead", request=GoogleLeadInput, responses={
        200: LeadAccepted, **error_responses(
            400, 401, 403, 404, 413, 415, s401="`not_authenticated`: no google_key.",
            s403="`permission_denied`: the google_key does not match.")})
    def post(self, request, source_id: int):
        source = self.get_source(source_id)
        payload = _checked_payload(request.data)
        key = payload.get("google_key")
        if not isinstance(key, str) or not adapters.google_key_ok(source, key):
            raise _refused(not key, "google_key")
        body = GoogleLeadInput(data=payload)
        body.is_valid(raise_exception=True)
        intake = services.receive_google_lead(source=source, body=payload,
                                              test=body.validated_data["is_test"])
        return Response(_accepted(intake.lead))


adapter_urls: list = [
    path("v1/events", FollowUpBossEventApi.as_view(), name="api-follow-up-boss-events"),
    path("api/v1/intake/meta/<int:source_id>", MetaWebhookApi.as_view(),
         name="api-intake-meta"),
    path("api/v1/intake/google/<int:source_id>", GoogleLeadWebhookApi.as_view(),
         name="api-intake-google"),
]
