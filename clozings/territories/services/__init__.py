"""Every write about territories, by subject: a ZIP's places and their lock (slots),
holds and releases (reservations), the waitlist, lapses driven by billing, and staff
edits of the catalogue (catalogue_prices). Import from here:
`from clozings.territories import services; services.hold_slot(...)`.

Locking order, everywhere: the territory row first, then its reservations and waitlist
entries (slots.py says why).
"""

from clozings.territories.services.catalogue_prices import (
    MAX_PRICE_CENTS,
    MAX_SLOTS,
    set_tier_price,
    update_territory,
)
from clozings.territories.services.lapses import (
    grace_days,
    mark_brokerage_past_due,
    record_period_end,
    release_suspended,
    restore_brokerage,
    suspend_overdue,
    suspended_days,
)
from clozings.territories.services.reservations import (
    abandon_hold,
    activate_reservation,
    hand_over_reservations,
    hold_slot,
    release_due,
    release_reservation,
    schedule_release,
)
from clozings.territories.services.slots import (
    RESERVATION,
    WAITLIST,
    ZIP_RE,
    clean_zip_code,
    price_for,
)
from clozings.territories.services.waitlist import (
    OFFER_MAIL,
    cancel_waitlist_entry,
    claim_offer,
    expire_offers,
    join_waitlist,
    offer_hours,
    offer_next,
    send_offer_email,
)

__all__ = [
    # slots
    "RESERVATION", "WAITLIST", "ZIP_RE", "clean_zip_code", "price_for",
    # reservations
    "hold_slot", "activate_reservation", "abandon_hold", "schedule_release",
    "release_reservation", "release_due", "hand_over_reservations",
    # waitlist
    "OFFER_MAIL", "offer_hours", "join_waitlist", "offer_next", "send_offer_email",
    "expire_offers", "claim_offer", "cancel_waitlist_entry",
    # lapses
    "grace_days", "suspended_days", "record_period_end", "mark_brokerage_past_due",
    "restore_brokerage", "suspend_overdue", "release_suspended",
    # catalogue prices
    "MAX_SLOTS", "MAX_PRICE_CENTS", "update_territory", "set_tier_price",
]
