"""Production settings pass Django's deployment checks; passwords use Argon2; a CSP."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import host_client

ROOT = Path(__file__).resolve().parents[2]
CLOZINGS = [sys.executable, "-m", "clozings.platform.cli"]


def production_environment() -> dict[str, str]:
    env = {key: value for key, value in os.environ.items()
           if not key.startswith(("DJANGO_", "CLOZINGS_", "SENTRY_"))
           and key not in {"DEBUG", "SECRET_KEY", "ALLOWED_HOSTS"}}
    env.update({
        "DJANGO_SETTINGS_MODULE": "clozings.platform.settings",
        "DEBUG": "false",
        "SECRET_KEY": "q9!vZ2#kT7@mW4$pL8^xN1&bR6*cY3(hJ5)fG0-dS2+aE7=uI4_oK9",
        "CLOZINGS_HTTPS": "true",
        "CLOZINGS_DOMAIN": "clozings.example.com",
        "ALLOWED_HOSTS": "clozings.example.com,.clozings.example.com",
    })
    return env


def test_check_deploy_reports_no_issues_with_production_settings():
    # when
    result = subprocess.run(
        [*CLOZINGS, "check", "--deploy", "--fail-level", "DEBUG"],
        env=production_environment(), cwd=ROOT, capture_output=True, text=True, timeout=120)

    # then
    assert result.returncode == 0, result.stdout + result.stderr
    assert "System check identified no issues" in result.stdout


def test_check_deploy_flags_the_development_secret_key():
    # given: production settings but the development key (the check can fail)
    env = production_environment()
    del env["SECRET_KEY"]

    # when
    result = subprocess.run(
        [*CLOZINGS, "check", "--deploy", "--fail-level", "WARNING"],
        env=env, cwd=ROOT, capture_output=True, text=True, timeout=120)

    # then
    assert result.returncode != 0
    assert "security.W009" in result.stdout + result.stderr


def test_production_settings_hash_passwords_with_argon2():
    # when: a password is hashed under the production settings module
    result = subprocess.run(
        [sys.executable, "-c",
         "import django; django.setup(); "
         "from django.conf import settings; "
         "from django.contrib.auth.hashers import make_password; "
         "print(settings.PASSWORD_HASHERS[0]); print(make_password('open-house-sunday'))"],
        env=production_environment(), cwd=ROOT, capture_output=True, text=True, timeout=120)

    # then
    assert result.returncode == 0, result.stderr
    first_hasher, hashed = result.stdout.split()
    assert first_hasher == "django.contrib.auth.hashers.Argon2PasswordHasher"
    assert hashed.startswith("argon2$argon2id$")


@pytest.mark.django_db
def test_content_security_policy_is_on_platform_responses(platform_client):
    # when
    response = platform_client.get("/healthz")

    # then
    policy = response["Content-Security-Policy"]
    assert "script-src 'self'" in policy
    assert "frame-ancestors 'none'" in policy
    assert "unsafe-inline" not in policy


def test_content_security_policy_is_on_brokerage_pages_and_errors(acme):
    # when: a page that does not exist on a brokerage host
    response = host_client(acme.host).get("/no-such-page/")

    # then
    assert response.status_code == 404
    assert "default-src 'self'" in response["Content-Security-Policy"]


# --- with DEBUG off, the web server and Celery refuse the development secrets ----------------
GUNICORN_CONF = ROOT / "clozings/platform/gunicorn.conf.py"


def _start(argv: list[str], env: dict[str, str]) -> subprocess.CompletedProcess:
    return subprocess.run(argv, env=env, cwd=ROOT, capture_output=True, text=True, timeout=120)


def _free_port() -> int:
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def test_gunicorn_refuses_to_start_on_the_development_secret_key():
    env = production_environment()
    del env["SECRET_KEY"]

    result = _start([sys.executable, "-m", "gunicorn", "--config", str(GUNICORN_CONF),
                     "--bind", f"127.0.0.1:{_free_port()}", "--workers", "1"], env)

    assert result.returncode != 0
    assert "SECRET_KEY is the development key" in result.stderr


@pytest.mark.parametrize("process", ["worker", "beat"])
def test_celery_refuses_to_start_on_the_development_secret_key(process, tmp_path):
    env = production_environment()
    del env["SECRET_KEY"]
    extra = ["--schedule", str(tmp_path / "schedule")] if process == "beat" else []

    result = _start([sys.executable, "-m", "celery", "-A", "clozings.platform.celery", process,
                     *extra], env)

    assert result.returncode != 0
    assert f"Refusing to start the Celery {process}" in result.stderr
    assert "SECRET_KEY is the development key" in result.stderr


WSGI_IMPORT = [sys.executable, "-c", "import clozings.platform.wsgi"]


@pytest.mark.parametrize("key", ["short-but-not-the-default", "a" * 60])
def test_the_web_server_refuses_a_short_or_plain_secret_key(key):
    env = {**production_environment(), "SECRET_KEY": key}

    result = _start(WSGI_IMPORT, env)

    assert result.returncode != 0
    assert "SECRET_KEY is too short or too plain" in result.stderr


def test_with_stripe_configured_the_web_server_refuses_the_local_webhook_secret():
    env = {**production_environment(), "STRIPE_SECRET_KEY": "sk_live_51Hxyz"}
    env.pop("STRIPE_WEBHOOK_SECRET", None)
    env.pop("STRIPE_API_BASE", None)

    refused = _start(WSGI_IMPORT, env)
    started = _start(WSGI_IMPORT, {**env, "STRIPE_WEBHOOK_SECRET": "whsec_8fJ2kQ"})

    assert refused.returncode != 0
    assert "STRIPE_WEBHOOK_SECRET is the local default" in refused.stderr
    assert started.returncode == 0, started.stderr


def test_production_settings_with_their_own_secrets_start_and_debug_allows_the_development_key():
    debug = production_environment()
    del debug["SECRET_KEY"]
    debug["DEBUG"] = "true"

    production = _start(WSGI_IMPORT, production_environment())
    development = _start(WSGI_IMPORT, debug)

    assert production.returncode == 0, production.stderr
    assert development.returncode == 0, development.stderr


def test_testserver_is_no_host_of_production():
    # given production settings with the default ALLOWED_HOSTS
    env = production_environment()
    del env["ALLOWED_HOSTS"]
    script = (
        "from clozings.platform.wsgi import application\n"
        "from django.conf import settings\n"
        "from clozings.tenants.middleware import platform_hosts\n"
        "from tests.wsgi_client import call_wsgi\n"
        "print(sorted(settings.ALLOWED_HOSTS))\n"
        "print('testserver' in platform_hosts())\n"
        "for path in ('/healthz', '/api/v1/brokerages'):\n"
        "    print(call_wsgi(application, host='testserver', path=path).status_code)\n")

    # when
    result = _start([sys.executable, "-c", script], env)

    # then: Django's test client's host is refused like any unknown host
    assert result.returncode == 0, result.stderr
    hosts, platform, *statuses = result.stdout.split("\n")[:4]
    assert hosts == "['.clozings.example.com', '127.0.0.1', 'clozings.example.com']"
    assert platform == "False"
    assert statuses == ["400", "400"]
