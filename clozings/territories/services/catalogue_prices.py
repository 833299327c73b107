"""Staff edits of the catalogue: a ZIP's own price, tier, slots and whether it is offered,
and each tier's monthly price."""

from __future__ import annotations

import logging

from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils import timezone

from clozings.platform.errors import NotFound
from clozings.territories.models import Slot, Territory, Tier, TierPrice
from clozings.territories.services.slots import _lock_territory, _not_found, clean_zip_code
from clozings.territories.services.waitlist import _offer_free_slots

logger = logging.getLogger(__name__)

MAX_SLOTS = 100
MAX_PRICE_CENTS = 10_000_000  # $100,000 a month: anything above is a typo
_UNSET = object()


def _check_price(value, field: str, errors: dict, *, allow_none: bool) -> None:
    if value is None and allow_none:
        return
    if isinstance(value, bool) or not isinstance(value, int):
        errors[field] = ["Give the price as a whole number of cents."]
    elif value < 0:
        errors[field] = ["A price cannot be negative."]
    elif value > MAX_PRICE_CENTS:
        errors[field] = [f"A price cannot be more than {MAX_PRICE_CENTS} cents."]


def update_territory(*, zip_code: str, price_cents=_UNSET, tier=_UNSET, slots=_UNSET,
                     is_active=_UNSET) -> Territory:
    """Staff set a ZIP's own price (None: the tier's), tier, number of slots or whether
    it is offered. Slots never go below the places taken now; new places go to the
    waitlist first."""
    zip_code = clean_zip_code(zip_code)
    territory = Territory.objects.filter(zip_code=zip_code).first()
    if territory is None:
        raise _not_found(zip_code)
    errors: dict[str, list[str]] = {}
    if price_cents is not _UNSET:
        _check_price(price_cents, "price_cents", errors, allow_none=True)
    if tier is not _UNSET and tier not in Tier.values:
        errors["tier"] = [f"Choose one of: {', '.join(Tier.values)}."]
    if slots is not _UNSET and (isinstance(slots, bool) or not isinstance(slots, int)
                                or not 1 <= slots <= MAX_SLOTS):
        errors["slots"] = [f"Give a whole number of slots from 1 to {MAX_SLOTS}."]
    if is_active is not _UNSET and not isinstance(is_active, bool):
        errors["is_active"] = ["Give true or false."]
    if errors:
        raise ValidationError(errors)
    with transaction.atomic():
        territory = _lock_territory(territory.pk)
        if slots is not _UNSET:
            taken = Slot.objects.filter(territory=territory).count()
            if slots < taken:
                raise ValidationError({"slots": [
                    f"{taken} places of ZIP {zip_code} are taken; release some before "
                    f"going below {taken}."]})
            territory.slots = slots
        if price_cents is not _UNSET:
            territory.price_cents = price_cents
        if tier is not _UNSET:
            territory.tier = tier
        if is_active is not _UNSET:
            territory.is_active = is_active
        territory.save()
        _offer_free_slots(territory)
    logger.info("territory.updated", extra={"zip_code": zip_code})
    return territory


def set_tier_price(*, tier: str, price_cents) -> TierPrice:
    """Staff set the monthly price of a tier. Existing reservations keep their price."""
    if tier not in Tier.values:
        raise NotFound(f"There is no tier '{tier}'.")
    errors: dict[str, list[str]] = {}
    _check_price(price_cents, "price_cents", errors, allow_none=False)
    if errors:
        raise ValidationError(errors)
    tier_price, _ = TierPrice.objects.update_or_create(
        tier=tier, defaults={"price_cents": price_cents, "updated_at": timezone.now()})
    logger.info("territory.tier_priced", extra={"tier": tier, "price_cents": price_cents})
    return tier_price
