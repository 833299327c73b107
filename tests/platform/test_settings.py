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
