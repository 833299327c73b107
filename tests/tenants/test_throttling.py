"""The login throttle behind a shared address: an ingress, an office's NAT.

Many people can share the address the app sees; failures from it (one person's or an
attacker's) must not stop another person's correct sign-in, while an attacker cannot dodge
the limits by writing their own X-Forwarded-For entries.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml
from django.test import Client

from tests.tenants.factories import PASSWORD, UserFactory

ROOT = Path(__file__).resolve().parents[2]
TOKEN_URL = "/api/v1/auth/token"
INGRESS = "10.42.0.7"  # the address every request arrives from behind the ingress


def sign_in(email: str, password: str, *, forwarded_for: str | None = None,
            remote_addr: str = INGRESS, host: str = "localhost") -> int:
    extra = {"REMOTE_ADDR": remote_addr}
    if forwarded_for is not None:
        extra["HTTP_X_FORWARDED_FOR"] = forwarded_for
    response = Client(HTTP_HOST=host, **extra).post(
        TOKEN_URL, data=json.dumps({"email": email, "password": password}),
        content_type="application/json")
    return response.status_code


def k8s_config() -> dict[str, str]:
    return yaml.safe_load((ROOT / "infra/k8s/configmap.yaml").read_text())["data"]


@pytest.fixture
def other(db):
    return UserFactory()


def test_the_k8s_manifests_count_the_ingress_as_one_proxy_hop():
    assert k8s_config()["TRUSTED_PROXY_HOPS"] == "1"


def test_behind_the_k8s_ingress_failures_at_one_account_do_not_stop_anothers_sign_in(
        acme, other, settings):
    # given the proxy hops the k8s manifests set, and one person failing many times
    settings.TRUSTED_PROXY_HOPS = int(k8s_config()["TRUSTED_PROXY_HOPS"])
    failures = {sign_in(other.email, "nope", forwarded_for="203.0.113.7")
                for _ in range(settings.LOGIN_THROTTLE_ATTEMPTS + 2)}

    # when another person signs in through the same ingress
    status = sign_in(acme.admin.email, PASSWORD, forwarded_for="198.51.100.1")

    # then
    assert failures == {401, 429}
    assert status == 200


def test_a_flood_of_failures_from_one_shared_address_does_not_stop_a_correct_sign_in(
        acme, other, settings):
    # given no proxy hop is counted: everybody shares the one address the app sees
    settings.TRUSTED_PROXY_HOPS = 0
    settings.LOGIN_THROTTLE_ADDRESS_ATTEMPTS = 5
    statuses = [sign_in(f"guess{n}@acme.test", "nope") for n in range(6)]
    statuses += [sign_in(other.email, "nope") for _ in range(12)]

    # when a person whose account has not failed from it signs in
    status = sign_in(acme.admin.email, PASSWORD)

    # then
    assert set(statuses) == {401, 429}
    assert status == 200


def test_an_address_failing_across_many_accounts_gets_one_guess_per_account(acme, settings):
    settings.LOGIN_THROTTLE_ADDRESS_ATTEMPTS = 3
    sprayed = [sign_in(f"guess{n}@acme.test", "nope") for n in range(3)]

    first_guess = sign_in(acme.admin.email, "nope")
    second_guess = sign_in(acme.admin.email, PASSWORD)
    elsewhere = sign_in(acme.admin.email, PASSWORD, remote_addr="10.99.0.1")

    assert sprayed == [401, 401, 401]
    assert first_guess == 401
    assert second_guess == 429
    assert elsewhere == 200


def test_writing_ones_own_forwarded_for_entries_does_not_dodge_the_limits(acme, settings):
    # given one trusted hop: only the right-most entry, appended by the ingress, counts
    settings.TRUSTED_PROXY_HOPS = 1
    settings.LOGIN_THROTTLE_ATTEMPTS = 3
    settings.LOGIN_THROTTLE_ADDRESS_ATTEMPTS = 3

    def attacker(n: int) -> str:
        return f"6.6.6.{n}, 203.0.113.66"

    at_one_account = [sign_in(acme.admin.email, "nope", forwarded_for=attacker(n))
                      for n in range(4)]
    sprayed = [sign_in(f"guess{n}@acme.test", "nope", forwarded_for=attacker(10 + n))
               for n in range(3)]
    again = sign_in("guess0@acme.test", "nope", forwarded_for=attacker(20))

    assert at_one_account == [401, 401, 401, 429]
    assert sprayed == [401, 401, 401]
    assert again == 429
