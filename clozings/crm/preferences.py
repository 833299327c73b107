"""An agent's own settings on the brokerage host: the daily digest's hour and the time
zone pages and the digest use (the person's, User.time_zone)."""

from __future__ import annotations

from django.core.exceptions import ValidationError
from django.db import transaction

from clozings.tenants.models import Seat, User, validate_time_zone

_UNSET = object()


def update_preferences(*, seat: Seat, digest_hour=_UNSET, time_zone: str | None = None) -> Seat:
    """Set the digest hour (0-23, or None: no digest) and the person's time zone."""
    errors: dict[str, list[str]] = {}
    if digest_hour is not _UNSET and digest_hour is not None and not 0 <= digest_hour <= 23:
        errors["digest_hour"] = ["Choose an hour from 0 to 23, or no digest."]
    if time_zone is not None:
        try:
            validate_time_zone(time_zone)
        except ValidationError as exc:
            errors["time_zone"] = list(exc.messages)
    if errors:
        raise ValidationError(errors)
    with transaction.atomic():
        if digest_hour is not _UNSET:
            Seat.objects.filter(pk=seat.pk).update(digest_hour=digest_hour)
            seat.digest_hour = digest_hour
        if time_zone is not None and seat.user_id is not None:
            User.objects.filter(pk=seat.user_id).update(time_zone=time_zone)
            seat.user.time_zone = time_zone
    return seat
