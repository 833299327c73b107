"""Bearer tokens for the API: signed, expiring, revocable, and void once the password
changes.

A token is signed with SECRET_KEY and names its user and a row of the user's `api_tokens`
(tenants.ApiToken): the signature proves it was issued here, the row that it has not been
revoked. Checking one costs one indexed query, the user joined to that row, as before.
Revoking deletes the row: `DELETE /api/v1/auth/token` the one used, `DELETE
/api/v1/auth/tokens` all of a person's (sign out everywhere); a password change voids them
all through the fingerprint of the password hash each token carries.

Kernel module: imports no app (the user model comes from get_user_model(), its tokens from
its `api_tokens` relation).
"""

from __future__ import annotations

from datetime import timedelta

from django.conf import settings
from django.contrib.auth import get_user_model
from django.core import signing
from django.utils import timezone
from django.utils.crypto import constant_time_compare, salted_hmac
from rest_framework import authentication, exceptions

TOKEN_SALT = "clozings.api-token"


def _password_fingerprint(user) -> str:
    return salted_hmac(TOKEN_SALT, user.password or "").hexdigest()[:16]


def _max_age() -> timedelta:
    return timedelta(days=settings.API_TOKEN_MAX_AGE_DAYS)


def issue_token(user) -> str:
    """A new token for `user` (and the user's expired tokens forgotten)."""
    user.api_tokens.filter(created_at__lt=timezone.now() - _max_age()).delete()
    row = user.api_tokens.create()
    return signing.dumps({"u": user.pk, "t": row.pk, "p": _password_fingerprint(user)},
                         salt=TOKEN_SALT, compress=True)


def _payload(token: str) -> dict | None:
    try:
        payload = signing.loads(token, salt=TOKEN_SALT,
                                max_age=_max_age().total_seconds())
    except signing.BadSignature:
        return None
    return payload if isinstance(payload, dict) else None


def user_for_token(token: str):
    """Return the active user a token belongs to, or None (bad, expired or revoked)."""
    payload = _payload(token)
    if payload is None or not isinstance(payload.get("t"), int):
        return None
    # [:1] and not first(): the keys are unique, and ordering costs CPU on every request
    user = next(iter(get_user_model().objects.filter(
        pk=payload.get("u"), is_active=True, api_tokens__pk=payload["t"])[:1]), None)
    if user is None or not constant_time_compare(str(payload.get("p")),
                                                 _password_fingerprint(user)):
        return None
    return user


def revoke_token(user, token: str) -> int:
    """Revoke one of `user`'s tokens; 1, or 0 for a token that is not theirs."""
    payload = _payload(token)
    if payload is None or not isinstance(payload.get("t"), int):
        return 0
    deleted, _ = user.api_tokens.filter(pk=payload["t"]).delete()
    return deleted


def revoke_all_tokens(user) -> int:
    """Revoke every token of `user`; how many there were."""
    deleted, _ = user.api_tokens.all().delete()
    return deleted


class BearerTokenAuthentication(authentication.BaseAuthentication):
    """`Authorization: Bearer <token>` for people. Lead-source keys are checked by the
    intake views themselves, so a token that is not a user token is left to them."""

    keyword = "Bearer"

    def authenticate(self, request):
        header = authentication.get_authorization_header(request).decode("latin-1").split()
        if not header or header[0].lower() != self.keyword.lower():
            return None
        if len(header) != 2:
            raise exceptions.AuthenticationFailed("Send one token after 'Bearer'.")
        token = header[1]
        if token.count(":") < 2:  # not a signed user token: maybe a lead-source key
            return None
        user = user_for_token(token)
        if user is None:
            raise exceptions.AuthenticationFailed(
                "The token is not valid, has expired or was revoked.")
        return user, token

    def authenticate_header(self, request) -> str:
        return self.keyword
