"""Bearer tokens for the API: signed, expiring, and void once the password changes.

Kernel module: imports no app (the user model comes from get_user_model()).
"""

from __future__ import annotations

from django.conf import settings
from django.contrib.auth import get_user_model
from django.core import signing
from django.utils.crypto import constant_time_compare, salted_hmac
from rest_framework import authentication, exceptions

TOKEN_SALT = "clozings.api-token"


def _password_fingerprint(user) -> str:
    return salted_hmac(TOKEN_SALT, user.password or "").hexdigest()[:16]


def issue_token(user) -> str:
    return signing.dumps({"u": user.pk, "p": _password_fingerprint(user)}, salt=TOKEN_SALT,
                         compress=True)


def user_for_token(token: str):
    """Return the active user a token belongs to, or None."""
    max_age = settings.API_TOKEN_MAX_AGE_DAYS * 86400
    try:
        payload = signing.loads(token, salt=TOKEN_SALT, max_age=max_age)
    except signing.BadSignature:
        return None
    if not isinstance(payload, dict):
        return None
    # [:1] and not first(): the key is unique, and ordering it costs CPU on every request
    user = next(iter(get_user_model().objects.filter(pk=payload.get("u"), is_active=True)[:1]),
                None)
    if user is None or not constant_time_compare(str(payload.get("p")),
                                                 _password_fingerprint(user)):
        return None
    return user


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
            raise exceptions.AuthenticationFailed("The token is not valid or has expired.")
        return user, token

    def authenticate_header(self, request) -> str:
        return self.keyword
