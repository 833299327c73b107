"""Every write about billing, by subject: the Stripe customer and its card
(payment_methods), reserve-and-pay and the seats item (subscriptions), Stripe's events
and the standing they lead to (webhooks), and periodic repair (sweeps). Import from here:
`from clozings.billing.services import reserve_and_pay`.

Territories never import billing; billing calls territories' services (DESIGN.md).
"""

from clozings.billing.services.payment_methods import (
    PAYMENT_METHOD_RE,
    account_for,
    attach_payment_method,
    create_setup_intent,
    ensure_customer,
    retry_open_invoice,
)
from clozings.billing.services.subscriptions import (
    CLAIM_SECONDS,
    GOOD_STATES,
    NO_CARD_MESSAGE,
    PAST_DUE_MESSAGE,
    SEATS_SYNC_ROUNDS,
    accept_offer,
    record_item_removal,
    release_and_bill,
    remove_reservation_item,
    reserve_and_pay,
    sync_seat_quantity,
)
from clozings.billing.services.sweeps import (
    MAX_EVENT_ATTEMPTS,
    SWEEP_AFTER_SECONDS,
    SWEEP_BATCH,
    SWEEP_LOCK,
    reconcile_pending_holds,
    sweep,
)
from clozings.billing.services.webhooks import (
    ENDED_STATES,
    HANDLED_EVENT_PREFIXES,
    MAX_EVENT_DEPTH,
    PAID_INVOICE_EVENTS,
    PAST_DUE_STATES,
    process_webhook_event,
    record_webhook_event,
    record_webhook_failure,
    sync_billing_status,
)

__all__ = [
    # payment methods
    "PAYMENT_METHOD_RE", "account_for", "ensure_customer", "create_setup_intent",
    "attach_payment_method", "retry_open_invoice",
    # subscriptions
    "NO_CARD_MESSAGE", "PAST_DUE_MESSAGE", "GOOD_STATES", "CLAIM_SECONDS",
    "SEATS_SYNC_ROUNDS", "reserve_and_pay", "accept_offer", "release_and_bill",
    "record_item_removal", "remove_reservation_item", "sync_seat_quantity",
    # webhooks
    "PAST_DUE_STATES", "ENDED_STATES", "HANDLED_EVENT_PREFIXES", "PAID_INVOICE_EVENTS",
    "MAX_EVENT_DEPTH", "record_webhook_event", "process_webhook_event",
    "record_webhook_failure", "sync_billing_status",
    # sweeps
    "SWEEP_AFTER_SECONDS", "SWEEP_BATCH", "MAX_EVENT_ATTEMPTS", "SWEEP_LOCK", "sweep",
    "reconcile_pending_holds",
]
