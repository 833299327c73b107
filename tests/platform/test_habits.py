"""Habits the code keeps (issue 7), checked on the source: tasks are sent through one
kernel helper, and the large services modules are packages by subject whose public names
are importable as before."""

from __future__ import annotations

import importlib
import pkgutil
import re
from pathlib import Path

import pytest

CLOZINGS = Path(__file__).resolve().parents[2] / "clozings"
SENDER = CLOZINGS / "platform" / "tenancy.py"
DIRECT_SEND = re.compile(r"send_task\(|\.delay\(|apply_async\(")

# The public names of territories' and billing's services before they became packages.
TERRITORIES = [
    "ZIP_RE", "RESERVATION", "WAITLIST", "MAX_SLOTS", "MAX_PRICE_CENTS", "OFFER_MAIL",
    "grace_days", "suspended_days", "offer_hours", "clean_zip_code", "price_for", "hold_slot",
    "activate_reservation", "abandon_hold", "schedule_release", "release_reservation",
    "release_due", "record_period_end", "mark_brokerage_past_due", "restore_brokerage",
    "suspend_overdue", "release_suspended", "join_waitlist", "offer_next", "send_offer_email",
    "expire_offers", "claim_offer", "cancel_waitlist_entry", "hand_over_reservations",
    "update_territory", "set_tier_price",
]
BILLING = [
    "PAYMENT_METHOD_RE", "NO_CARD_MESSAGE", "PAST_DUE_MESSAGE", "PAST_DUE_STATES",
    "GOOD_STATES", "ENDED_STATES", "HANDLED_EVENT_PREFIXES", "PAID_INVOICE_EVENTS",
    "CLAIM_SECONDS", "SWEEP_AFTER_SECONDS", "MAX_EVENT_DEPTH", "SWEEP_BATCH",
    "MAX_EVENT_ATTEMPTS", "account_for", "ensure_customer", "create_setup_intent",
    "attach_payment_method", "retry_open_invoice", "reserve_and_pay", "accept_offer",
    "release_and_bill", "record_item_removal", "remove_reservation_item", "SEATS_SYNC_ROUNDS",
    "sync_seat_quantity", "record_webhook_event", "process_webhook_event",
    "record_webhook_failure", "sync_billing_status", "SWEEP_LOCK", "sweep",
    "reconcile_pending_holds",
]


def test_tasks_are_sent_only_through_the_kernels_helper():
    # given every module of the product but the one that sends
    offenders = [
        f"{path.relative_to(CLOZINGS.parent)}:{number}: {line.strip()}"
        for path in sorted(CLOZINGS.rglob("*.py")) if path != SENDER
        for number, line in enumerate(path.read_text().splitlines(), start=1)
        if DIRECT_SEND.search(line)
    ]
    # then none sends a task itself (enqueue_on_commit / enqueue_now /
    # enqueue_after_answer in clozings.platform.tenancy do, with the imported task)
    assert offenders == [], "send tasks with clozings.platform.tenancy:\n" + "\n".join(offenders)


@pytest.mark.parametrize(("package", "names"), [
    ("clozings.territories.services", TERRITORIES),
    ("clozings.billing.services", BILLING),
])
def test_services_are_a_package_by_subject_that_exports_every_public_name(package, names):
    # given
    services = importlib.import_module(package)
    modules = [importlib.import_module(f"{package}.{info.name}")
               for info in pkgutil.iter_modules(getattr(services, "__path__", []))]
    # then: a package of several subjects
    assert len(modules) >= 3
    # every name importable as before is exported, once
    assert sorted(services.__all__) == sorted(set(services.__all__))
    assert set(names) <= set(services.__all__)
    assert all(hasattr(services, name) for name in services.__all__)
    # and every public function of its modules is exported
    functions = {name for module in modules for name, value in vars(module).items()
                 if callable(value) and not name.startswith("_")
                 and getattr(value, "__module__", None) == module.__name__}
    assert functions <= set(services.__all__)
