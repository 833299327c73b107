"""Test overrides: fast password hashing, no HTTPS, tasks go to the real broker, and a key
that is not the development one (DEBUG is off here too, as in production)."""

from clozings.platform.settings import *  # noqa: F403

SECRET_KEY = env.str(  # noqa: F405
    "SECRET_KEY", default="tests-only-key-7Qp2Lx9Vb4Nc8Zr1Hs6Md3Kw5Jt0Yf7Ug2Ea9Io4")

# Argon2 is what production uses (tests/platform/test_settings.py checks); tests hash fast.
PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
CLOZINGS_HTTPS = False
SESSION_COOKIE_SECURE = CSRF_COOKIE_SECURE = SECURE_SSL_REDIRECT = False
SECURE_HSTS_SECONDS = 0
DATABASES["default"]["CONN_MAX_AGE"] = 0  # noqa: F405
WHITENOISE_AUTOREFRESH = True
