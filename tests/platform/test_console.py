"""The staff console lives in the composition root (clozings.platform.console): it reads
across apps, so no app reads another's tables for it."""

from __future__ import annotations

import ast
import re
from pathlib import Path

import pytest
from django.urls import resolve
from django.utils import timezone

from clozings.billing.models import WebhookEvent
from clozings.billing.services import MAX_EVENT_ATTEMPTS
from tests.conftest import host_client
from tests.tenants.factories import UserFactory

TENANTS = Path(__file__).resolve().parents[2] / "clozings" / "tenants"
# What other apps' tables look like from tenants: their models' reverse relations from
# Brokerage / Seat / User, their table names, or a model looked up by name.
FOREIGN_READS = re.compile(
    r"""["'](?:reservations|waitlist_entries|item_removals|billing_account|leads|"""
    r"""inbound_leads|routings)(?:__\w+)?["']|\b(?:territories|billing|crm|distribution)_\w+|"""
    r"""get_model\(""")


@pytest.mark.parametrize(("path", "name"), [
    ("/staff/", "staff_home"),
    ("/staff/territories/", "staff_territories"),
    ("/staff/territories/10001/", "staff_territory_update"),
    ("/staff/tiers/premium/", "staff_tier_update"),
    ("/staff/orphans/", "staff_orphans"),
    ("/staff/orphans/7/assign/", "staff_orphan_assign"),
    ("/staff/delivery/", "staff_delivery"),
    ("/api/v1/brokerages", "api-brokerages"),
    ("/api/v1/staff/orphans", "api-staff-orphans"),
    ("/api/v1/staff/orphans/7/assign", "api-staff-orphan-assign"),
    ("/api/v1/staff/delivery", "api-staff-delivery"),
])
def test_the_staff_pages_and_the_cross_app_staff_api_are_the_consoles(path, name):
    match = resolve(path, urlconf="clozings.platform.urls_public")

    assert match.url_name == name
    assert match.func.__module__.startswith("clozings.platform.console.")


def test_tenants_reads_no_other_apps_tables():
    """No import (import-linter checks those), and no reverse relation, table name or
    model looked up by name either."""
    found = []
    for source in TENANTS.rglob("*.py"):
        if "migrations" in source.parts:
            continue
        tree = ast.parse(source.read_text())
        strings = [node.value for node in ast.walk(tree)
                   if isinstance(node, ast.Constant) and isinstance(node.value, str)
                   and not _is_docstring(node, tree)]
        calls = [ast.unparse(node.func) for node in ast.walk(tree)
                 if isinstance(node, ast.Call)]
        found += [(source.name, s) for s in strings if FOREIGN_READS.search(repr(s))]
        found += [(source.name, c) for c in calls if c.endswith("get_model")]

    assert found == []


def _is_docstring(node: ast.Constant, tree: ast.Module) -> bool:
    for parent in ast.walk(tree):
        body = getattr(parent, "body", None)
        if isinstance(body, list) and body and isinstance(body[0], ast.Expr) \
                and body[0].value is node:
            return True
    return False


@pytest.mark.django_db
def test_the_staff_home_lists_stripe_events_left_for_staff():
    now = timezone.now()
    WebhookEvent.objects.create(stripe_event_id="evt_given_up", type="invoice.paid",
                                payload={}, received_at=now, attempts=MAX_EVENT_ATTEMPTS,
                                error="KeyError: 'customer'")
    WebhookEvent.objects.create(stripe_event_id="evt_rejected", type="invoice.created",
                                payload={}, received_at=now, rejected=True)
    WebhookEvent.objects.create(stripe_event_id="evt_in_flight", type="invoice.paid",
                                payload={}, received_at=now, attempts=1)
    WebhookEvent.objects.create(stripe_event_id="evt_done", type="invoice.paid",
                                payload={}, received_at=now, processed_at=now,
                                attempts=MAX_EVENT_ATTEMPTS)

    page = host_client("localhost", UserFactory(is_staff=True)).get("/staff/")

    html = page.content.decode()
    assert page.status_code == 200
    assert "Stripe events left for staff" in html
    assert "evt_given_up" in html and "KeyError" in html and "evt_rejected" in html
    assert "evt_in_flight" not in html and "evt_done" not in html


@pytest.mark.django_db
def test_with_no_stuck_event_the_staff_home_says_so():
    page = host_client("localhost", UserFactory(is_staff=True)).get("/staff/")

    assert "None: every Stripe event was processed." in page.content.decode()
