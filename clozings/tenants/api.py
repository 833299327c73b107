"""API of the tenants app: sign-in tokens and seats (admins). The staff API of brokerages
is the console's (clozings.platform.console.api)."""

from __future__ import annotations

from django.contrib.auth import authenticate
from django.core.exceptions import ValidationError
from django.db import IntegrityError
from django.urls import path
from drf_spectacular.utils import extend_schema
from rest_framework import exceptions, serializers
from rest_framework.permissions import AllowAny, IsAuthenticated
from rest_framework.response import Response

from clozings.platform.api import MAX_ID, ApiView, error_responses
from clozings.platform.auth import (
    BearerTokenAuthentication,
    issue_token,
    revoke_all_tokens,
    revoke_token,
)
from clozings.platform.errors import Conflict, Forbidden
from clozings.tenants import selectors, services
from clozings.tenants.models import Seat
from clozings.tenants.permissions import HasSeat, IsBrokerageAdmin
from clozings.tenants.scoping import SeatScopedApiView
from clozings.tenants.throttling import (
    clear_login_failures,
    client_ip,
    login_allowed,
    record_login_failure,
    seconds_until_login_allowed,
)
from clozings.tenants.validators import validate_name_characters


# --- sign-in ------------------------------------------------------------------------------
class UserOutput(serializers.Serializer):
    id = serializers.IntegerField()
    email = serializers.EmailField()
    name = serializers.CharField()
    is_staff = serializers.BooleanField()


class MembershipOutput(serializers.Serializer):
    brokerage = serializers.CharField(source="brokerage.slug", help_text="The brokerage's slug.")
    role = serializers.ChoiceField(Seat.Role.choices)
    host = serializers.SerializerMethodField(
        help_text="The brokerage's host, with the public port when there is one.")

    def get_host(self, seat: Seat) -> str:
        return services.brokerage_address(seat.brokerage)


class TokenOutput(serializers.Serializer):
    token = serializers.CharField(help_text="Send as `Authorization: Bearer <token>`.")
    user = UserOutput()
    memberships = MembershipOutput(many=True, help_text="Active seats only.")


class TokenInput(serializers.Serializer):
    email = serializers.EmailField(max_length=254)
    password = serializers.CharField(max_length=1024, trim_whitespace=False)


class RevokedOutput(serializers.Serializer):
    revoked = serializers.IntegerField(help_text="How many tokens were revoked.")


class TokenApi(ApiView):
    """Exchange an email and password for a bearer token, or revoke the token sent (on any
    host)."""

    def get_authenticators(self):
        # Sign-in needs no credentials (a stale token sent along is ignored); no session
        # either, so no CSRF for scripts. Revoking takes the bearer token it revokes.
        return [BearerTokenAuthentication()] if self._revoking() else []

    def get_permissions(self):
        return [IsAuthenticated()] if self._revoking() else [AllowAny()]

    def _revoking(self) -> bool:
        # No request while the schema generator looks the view over.
        return getattr(self.request, "method", None) == "DELETE"

    def get_authenticate_header(self, request) -> str:
        return "Bearer"  # so that a failed sign-in is a 401, not a 403

    @extend_schema(
        operation_id="auth_token_create", request=TokenInput,
        responses={200: TokenOutput, **error_responses(400, 401, 413, 415, 429)},
        auth=[],
    )
    def post(self, request):
        data = self.parse(TokenInput, request)
        email, ip = data["email"], client_ip(request)
        if not login_allowed(email=email, ip=ip):
            raise exceptions.Throttled(
                wait=seconds_until_login_allowed(email=email, ip=ip),
                detail="Too many failed sign-ins.")
        user = authenticate(request, email=email, password=data["password"])
        if user is None:  # wrong email or password, or a deactivated account
            record_login_failure(email=email, ip=ip)
            raise exceptions.AuthenticationFailed("The email or password is not right.")
        clear_login_failures(email=email, ip=ip)
        body = {"token": issue_token(user), "user": user,
                "memberships": selectors.memberships_for(user=user)}
        return Response(TokenOutput(body).data)

    @extend_schema(
        operation_id="auth_token_revoke", request=None,
        description="Revoke the bearer token sent with this request: from now on it gets "
                    "401 `not_authenticated`. Other tokens of the person keep working.",
        responses={200: RevokedOutput, **error_responses(401)},
        auth=[{"bearerAuth": []}],
    )
    def delete(self, request):
        revoked = revoke_token(request.user, request.auth)
        return Response(RevokedOutput({"revoked": revoked}).data)


class TokensApi(ApiView):
    """Sign out everywhere: revoke every API token of the person (any host)."""

    @extend_schema(
        operation_id="auth_tokens_revoke_all", request=None,
        description="Revoke every API token of the person signed in (sign out everywhere), "
                    "the one sent with this request too. A password change does the same.",
        responses={200: RevokedOutput, **error_responses(401, 403)},
    )
    def delete(self, request):
        revoked = revoke_all_tokens(request.user)
        return Response(RevokedOutput({"revoked": revoked}).data)


# --- seats (admins of the brokerage of the host) ----------------------------------------
class SeatOutput(serializers.Serializer):
    id = serializers.IntegerField()
    email = serializers.EmailField()
    name = serializers.CharField()
    role = serializers.ChoiceField(Seat.Role.choices)
    status = serializers.ChoiceField(Seat.Status.choices)
    user_id = serializers.IntegerField(allow_null=True)
    invited_at = serializers.DateTimeField()
    activated_at = serializers.DateTimeField(allow_null=True)
    deactivated_at = serializers.DateTimeField(allow_null=True)
    paused_from = serializers.DateTimeField(allow_null=True, help_text="No new leads from.")
    paused_until = serializers.DateTimeField(allow_null=True, help_text="No new leads until.")
    daily_cap = serializers.IntegerField(allow_null=True)
    monthly_cap = serializers.IntegerField(allow_null=True)


class SeatApi(SeatScopedApiView):
    """Base: admins of the host's brokerage only; every seat looked up within it."""

    permission_classes = [IsBrokerageAdmin]

    def get_seat(self, seat_id: int) -> Seat:
        return self.get_scoped(Seat.objects.all(), seat_id)


class SeatFilter(serializers.Serializer):
    status = serializers.ChoiceField(Seat.Status.choices, required=False)


class SeatInviteInput(serializers.Serializer):
    email = serializers.EmailField(max_length=254)
    name = serializers.CharField(max_length=150, required=False, allow_blank=True, default="",
                                 validators=[validate_name_characters])
    role = serializers.ChoiceField(Seat.Role.choices, required=False, default=Seat.Role.AGENT)


class SeatListCreateApi(SeatApi):
    """The brokerage's seats, and inviting a person to one."""

    @extend_schema(operation_id="seats_list", parameters=[SeatFilter], responses={
        200: SeatOutput(many=True), **error_responses(400, 401, 403)})
    def get(self, request):
        data = self.parse(SeatFilter, request)
        seats = selectors.seats_of(brokerage=request.brokerage, status=data.get("status"))
        return Response(SeatOutput(seats, many=True).data)

    @extend_schema(
        operation_id="seats_invite", request=SeatInviteInput,
        description="Invite a person by email; the invitation mail goes out on commit.",
        responses={201: SeatOutput, **error_responses(
            400, 401, 403, 409, 413, 415,
            s409="`already_member`: the email has an active seat; `conflict`: a concurrent "
                 "request invited the same email, try again.")},
    )
    def post(self, request):
        data = self.parse(SeatInviteInput, request)
        try:
            seat = services.invite_seat(brokerage=request.brokerage, invited_by=request.user,
                                        **data)
        except IntegrityError as exc:  # the same email invited by a concurrent request
            raise Conflict(f"{data['email']} was invited by another request a moment ago; "
                           "try again to send a fresh invitation.") from exc
        return Response(SeatOutput(seat).data, status=201)


class SeatUpdateInput(serializers.Serializer):
    paused_from = serializers.DateTimeField(
        required=False, allow_null=True,
        help_text="Start of a pause: no new leads from then (null: already paused when "
                  "paused_until is set). ISO 8601; a time without an offset is read in the "
                  "caller's time zone.")
    paused_until = serializers.DateTimeField(
        required=False, allow_null=True,
        help_text="End of the pause (null: until further notice). Must be after "
                  "paused_from. Both null: no pause.")
    daily_cap = serializers.IntegerField(
        required=False, allow_null=True, min_value=0, max_value=services.MAX_CAP,
        help_text="Most new leads a day (the brokerage's day); null: no cap. Admins only.")
    monthly_cap = serializers.IntegerField(
        required=False, allow_null=True, min_value=0, max_value=services.MAX_CAP,
        help_text="Most new leads a calendar month; null: no cap. Admins only.")
    role = serializers.ChoiceField(Seat.Role.choices, required=False,
                                   help_text="Admins only.")

    def validate(self, attrs: dict) -> dict:
        unknown = sorted(set(self.initial_data) - set(self.fields)) \
            if isinstance(self.initial_data, dict) else []
        if unknown:
            raise serializers.ValidationError(
                {name: ["Not a field of a seat that can be changed."] for name in unknown})
        if not attrs:
            raise serializers.ValidationError(
                f"Send at least one of: {', '.join(self.fields)}.")
        return attrs


class SeatDeactivateQuery(serializers.Serializer):
    reassign_to = serializers.IntegerField(
        min_value=1, max_value=MAX_ID, required=False,
        help_text="A seat of this brokerage that takes over the open leads.")


class SeatDetailApi(SeatApi):
    """One seat: change its role, or deactivate it (nothing is deleted)."""

    def get_permissions(self):
        # An agent may change their own pause; everything else is for admins.
        if getattr(self.request, "method", None) == "PATCH":
            return [HasSeat()]
        return super().get_permissions()

    @extend_schema(
        operation_id="seats_update", request=SeatUpdateInput,
        description="Change a seat's pause (vacation), lead caps or role; only the fields "
                    "sent change. An admin changes any seat of the brokerage; an agent only "
                    "their own `paused_from` / `paused_until` (anything else, or another "
                    "seat's id, is 403). Routing gives no new lead to a paused seat, nor to "
                    "one at its daily or monthly cap.",
        responses={200: SeatOutput, **error_responses(
            400, 401, 403, 404, 409, 413, 415,
            s403="`permission_denied`: an agent changing another seat, or anything but "
                 "their own pause.",
            s409="`last_admin`: a brokerage keeps at least one active admin; `conflict`: "
                 "the seat is deactivated.")})
    def patch(self, request, seat_id: int):
        caller = self.caller()
        if not caller.is_admin and seat_id != caller.pk:
            raise Forbidden("An agent changes their own pause only; an admin of the "
                            "brokerage changes other seats.")
        if not caller.is_admin and isinstance(request.data, dict) and (
                set(request.data) - set(services.PAUSE_FIELDS)):
            raise Forbidden("Only an admin of the brokerage can change caps or roles; an "
                            "agent changes their own pause (paused_from, paused_until).")
        seat = self.get_seat(seat_id)
        data = self.parse(SeatUpdateInput, request)
        seat = services.update_seat(seat=seat, by=caller, **data)
        return Response(SeatOutput(seat).data)

    @extend_schema(operation_id="seats_deactivate", parameters=[SeatDeactivateQuery], responses={
        200: SeatOutput, **error_responses(
            400, 401, 403, 404, 409,
            s409="`last_admin`: a brokerage keeps at least one active admin.")})
    def delete(self, request, seat_id: int):
        seat = self.get_seat(seat_id)
        query = SeatDeactivateQuery(data=request.query_params)
        query.is_valid(raise_exception=True)
        reassign_to = None
        if "reassign_to" in query.validated_data:
            reassign_to = selectors.seat_of(brokerage=request.brokerage,
                                            seat_id=query.validated_data["reassign_to"])
            if reassign_to is None:
                raise ValidationError(
                    {"reassign_to": ["Choose another active seat of this brokerage."]})
        seat = services.deactivate_seat(seat=seat, by=request.user, reassign_to=reassign_to)
        return Response(SeatOutput(seat).data)


_token = path("api/v1/auth/token", TokenApi.as_view(), name="api-auth-token")
_tokens = path("api/v1/auth/tokens", TokensApi.as_view(), name="api-auth-tokens")

public_urls: list = [
    _token,
    _tokens,
]
brokerage_urls: list = [
    _token,
    _tokens,
    path("api/v1/seats", SeatListCreateApi.as_view(), name="api-seats"),
    path("api/v1/seats/<int:seat_id>", SeatDetailApi.as_view(), name="api-seat"),
]
