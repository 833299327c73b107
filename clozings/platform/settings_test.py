"""Test overrides: fast password hashing, no HTTPS, tasks go to the real broker."""

from clozings.platform.settings import *  # noqa: F403

# Argon2 is what production uses (tests/platform/test_settings.py checks); tests hash fast.
PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
CLOZINGS_HTTPS = False
SESSION_COOKIE_SECURE = CSRF_COOKIE_SECURE = SECURE_SSL_REDIRECT = False
SECURE_HSTS_SECONDS = 0
DATABASES["default"]["CONN_MAX_AGE"] = 0  # noqa: F405
WHITENOISE_AUTOREFRESH = True
