"""Test overrides: fast password hashing, no HTTPS, tasks go to the real broker, and a key
that is not the development one (DEBUG is off here too, as in production)."""

import os
from urllib.parse import urlsplit, urlunsplit


def worker_redis_url(url: str, worker: str, dbs: str = "") -> str:
    """The Redis URL of pytest-xdist worker `worker` ("gw0", "gw1", ...): a database of its
    own, so that one worker's Celery queues, purges and cache never touch another's. The
    database is the N-th of `dbs` ("8,10") when given, else the URL's database plus N."""
    number = int(worker.removeprefix("gw"))
    parts = urlsplit(url)
    choices = [d.strip() for d in dbs.split(",") if d.strip()]
    if choices:
        db = int(choices[number])
    else:
        db = int(parts.path.strip("/") or 0) + number
    return urlunsplit(parts._replace(path=f"/{db}"))


# Set in the environment, before the settings read it, so that the processes the tests
# start (Celery workers, servers, benchmarks) inherit the worker's database; the marker
# keeps a test process started with these settings from moving on again.
_WORKER = os.environ.get("PYTEST_XDIST_WORKER", "")
if _WORKER.startswith("gw") and "CLOZINGS_TEST_REDIS_WORKER" not in os.environ:
    os.environ["REDIS_URL"] = worker_redis_url(
        os.environ.get("REDIS_URL", "redis://127.0.0.1:6379/0"), _WORKER,
        os.environ.get("CLOZINGS_TEST_REDIS_DBS", ""))
    os.environ["CLOZINGS_TEST_REDIS_WORKER"] = _WORKER

from clozings.platform.settings import *  # noqa: E402, F403

SECRET_KEY = env.str(  # noqa: F405
    "SECRET_KEY", default="tests-only-key-7Qp2Lx9Vb4Nc8Zr1Hs6Md3Kw5Jt0Yf7Ug2Ea9Io4")

# Argon2 is what production uses (tests/platform/test_settings.py checks); tests hash fast.
PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
CLOZINGS_HTTPS = False
SESSION_COOKIE_SECURE = CSRF_COOKIE_SECURE = SECURE_SSL_REDIRECT = False
SECURE_HSTS_SECONDS = 0
DATABASES["default"]["CONN_MAX_AGE"] = 0  # noqa: F405
WHITENOISE_AUTOREFRESH = True
