"""The Settings page says where the follow-up pages are: an admin gets the brokerage's
(cadences, contact rules, do-not-contact list), an agent only their own."""

from __future__ import annotations

import pytest

from tests.conftest import host_client
from tests.tenants.factories import SeatFactory

pytestmark = pytest.mark.django_db


def test_an_admin_finds_the_brokerages_follow_up_pages_from_settings(acme):
    page = host_client(acme.host, acme.admin).get("/settings/").content.decode()

    for path in ("/cadences/", "/settings/contact-rules/", "/settings/do-not-contact/",
                 "/leads/revive/", "/lead-alerts/"):
        assert f'href="{path}"' in page


def test_an_agent_finds_the_cadences_but_not_the_brokerages_contact_rules(acme):
    agent = SeatFactory(brokerage=acme.brokerage)
    page = host_client(acme.host, agent.user).get("/settings/").content.decode()

    assert 'href="/cadences/"' in page and 'href="/leads/revive/"' in page
    assert "/settings/contact-rules/" not in page and "/settings/do-not-contact/" not in page
