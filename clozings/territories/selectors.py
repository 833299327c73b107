"""Reads about territories worth a name: the catalogue search, holders, waitlist positions,
the staff inventory. Each returns one query's worth of rows, never one query per ZIP."""

from __future__ import annotations

import math

from django.db.models import (
    Count,
    Exists,
    F,
    IntegerField,
    OuterRef,
    Q,
    QuerySet,
    Subquery,
    Value,
)
from django.db.models.expressions import RawSQL
from django.db.models.functions import Coalesce
from django.utils import timezone

from clozings.tenants.models import Brokerage, Seat
from clozings.territories.models import Reservation, Slot, Territory, TierPrice, WaitlistEntry

EARTH_RADIUS_MILES = 3958.7613
MILES_PER_DEGREE_LATITUDE = 69.09

# Great-circle distance (haversine) from a fixed point, computed in PostgreSQL.
_HAVERSINE = (
    "%s * 2 * asin(least(1.0, sqrt("
    "power(sin(radians(territories_territory.latitude - %s) / 2), 2) + "
    "cos(radians(%s)) * cos(radians(territories_territory.latitude)) * "
    "power(sin(radians(territories_territory.longitude - %s) / 2), 2))))"
)


def _count_of(queryset: QuerySet) -> Subquery:
    """A correlated COUNT(*) of `queryset` (already filtered on OuterRef) as an integer."""
    return Coalesce(
        Subquery(queryset.order_by().values("territory_id").annotate(n=Count("*")).values("n"),
                 output_field=IntegerField()),
        Value(0))


def haversine_miles(lat1: float, lon1: float, lat2: float, lon2: float) -> float:
    """The same formula in Python (tests and callers that already hold coordinates)."""
    phi1, phi2 = math.radians(lat1), math.radians(lat2)
    a = (math.sin(math.radians(lat2 - lat1) / 2) ** 2
         + math.cos(phi1) * math.cos(phi2) * math.sin(math.radians(lon2 - lon1) / 2) ** 2)
    return EARTH_RADIUS_MILES * 2 * math.asin(min(1.0, math.sqrt(a)))


def territory_rows(*, zip_code: str | None = None, state: str | None = None,
                   city: str | None = None, near: Territory | None = None,
                   radius_miles: float | None = None, tier: str | None = None,
                   availability: str | None = None, include_inactive: bool = False
                   ) -> QuerySet[Territory]:
    """Catalogue rows with `taken`, `waitlist_length`, `effective_price_cents` (and
    `distance_miles` when `near` is given), filtered and ordered, ready to paginate.

    `near` + `radius_miles`: a bounding box on latitude/longitude (indexed) cuts the
    candidates, then the exact haversine distance keeps those within the radius.
    `availability`: "free" (a place left), "full", "waitlisted" (someone waiting).
    """
    rows = Territory.objects.all() if include_inactive else Territory.objects.filter(
        is_active=True)
    rows = rows.annotate(
        taken=_count_of(Slot.objects.filter(territory=OuterRef("pk"))),
        waitlist_length=_count_of(WaitlistEntry.objects.filter(
            territory=OuterRef("pk"), status=WaitlistEntry.Status.WAITING)),
        effective_price_cents=Coalesce(
            F("price_cents"),
            Subquery(TierPrice.objects.filter(tier=OuterRef("tier")).values("price_cents")[:1])),
    )
    if zip_code:
        rows = rows.filter(zip_code=zip_code)
    if state:
        rows = rows.filter(state=state.upper())
    if city:
        rows = rows.filter(city__iexact=city)
    if tier:
        rows = rows.filter(tier=tier)
    if availability == "free":
        rows = rows.filter(taken__lt=F("slots"))
    elif availability == "full":
        rows = rows.filter(taken__gte=F("slots"))
    elif availability == "waitlisted":
        rows = rows.filter(waitlist_length__gt=0)
    if near is None:
        return rows.order_by("zip_code")
    radius = float(radius_miles or 10)
    lat, lon = near.latitude, near.longitude
    dlat = radius / MILES_PER_DEGREE_LATITUDE
    # a degree of longitude shrinks with the cosine of the latitude; never divide by ~0
    dlon = radius / (MILES_PER_DEGREE_LATITUDE * max(math.cos(math.radians(lat)), 0.01))
    return (
        rows.filter(latitude__range=(lat - dlat, lat + dlat),
                    longitude__range=(lon - dlon, lon + dlon))
        .annotate(distance_miles=RawSQL(_HAVERSINE, (EARTH_RADIUS_MILES, lat, lat, lon)))
        .filter(distance_miles__lte=radius)
        .order_by("distance_miles", "zip_code")
    )


def territory_for_zip(*, zip_code: str) -> Territory | None:
    return Territory.objects.filter(zip_code=zip_code, is_active=True).first()


def city_places(*, names: list[str]) -> list[tuple[str, str]]:
    """(city, state) pairs of the catalogue spelled like the first of `names` that matches
    (case-insensitive; the alternatives are spellings like "St Louis" / "Saint Louis"),
    the place with the most ZIPs first."""
    for name in names:
        rows = (Territory.objects.filter(is_active=True, city__iexact=name)
                .values("city", "state").annotate(n=Count("*")).order_by("-n", "state", "city"))
        places = [(row["city"], row["state"]) for row in rows]
        if places:
            return places
    return []


def cities_starting(*, prefix: str, state: str | None = None,
                    limit: int = 3) -> list[tuple[str, str]]:
    """The biggest (city, state) pairs whose name starts with `prefix` (in `state`, when
    given): suggestions for a city the catalogue does not know."""
    rows = Territory.objects.filter(is_active=True, city__istartswith=prefix)
    if state:
        rows = rows.filter(state=state)
    rows = rows.values("city", "state").annotate(n=Count("*")).order_by("-n", "city", "state")
    return [(row["city"], row["state"]) for row in rows[:limit]]


def reservations_for(*, brokerage: Brokerage, seat: Seat | None = None,
                     include_released: bool = False) -> QuerySet[Reservation]:
    """A brokerage's reservations (a seat's only, when given), newest first, with the
    territory and the seat loaded."""
    rows = Reservation.objects.filter(brokerage=brokerage).select_related(
        "territory", "seat")
    if seat is not None:
        rows = rows.filter(seat=seat)
    if not include_released:
        rows = rows.exclude(status=Reservation.Status.RELEASED)
    return rows.order_by("territory__zip_code", "-created_at")


def eligible_reservations(*, zip_code: str) -> QuerySet[Reservation]:
    """Holders of a ZIP that may receive its leads: active or in their grace period
    (past due), with an active seat, not past a scheduled release that the periodic task
    has yet to carry out. Suspended reservations keep the place, not the leads."""
    return Reservation.objects.filter(
        Q(release_at__isnull=True) | Q(release_at__gt=timezone.now()),
        territory__zip_code=zip_code, status__in=Reservation.ELIGIBLE,
        seat__status=Seat.Status.ACTIVE,
    ).select_related("seat", "brokerage", "territory").order_by("activated_at", "id")


def _position_subquery() -> Subquery:
    """1 + the number of waiting entries of the same territory ahead of this one."""
    ahead = WaitlistEntry.objects.filter(
        territory=OuterRef("territory"), status=WaitlistEntry.Status.WAITING,
    ).filter(Q(created_at__lt=OuterRef("created_at"))
             | Q(created_at=OuterRef("created_at"), id__lt=OuterRef("id")))
    return _count_of(ahead) + 1


def waitlist_position(*, entry: WaitlistEntry) -> int | None:
    """Place in line of a waiting entry (1 = next to be offered); 0 for an open offer
    (their turn now); None once the entry is closed."""
    if entry.status == WaitlistEntry.Status.OFFERED:
        return 0
    if entry.status != WaitlistEntry.Status.WAITING:
        return None
    return WaitlistEntry.objects.filter(
        territory_id=entry.territory_id, status=WaitlistEntry.Status.WAITING,
    ).filter(Q(created_at__lt=entry.created_at)
             | Q(created_at=entry.created_at, id__lt=entry.pk)).count() + 1


def waitlist_for(*, brokerage: Brokerage, seat: Seat | None = None
                 ) -> QuerySet[WaitlistEntry]:
    """Open waitlist entries of a brokerage (a seat's only, when given), each with its
    `position` (1 = next in line; offered entries lead)."""
    rows = WaitlistEntry.objects.filter(
        brokerage=brokerage, status__in=WaitlistEntry.OPEN).select_related("territory", "seat")
    if seat is not None:
        rows = rows.filter(seat=seat)
    return rows.annotate(
        position=_position_subquery(),
        price_cents=Coalesce(F("territory__price_cents"), Subquery(
            TierPrice.objects.filter(tier=OuterRef("territory__tier")).values(
                "price_cents")[:1])),
    ).order_by("territory__zip_code")


def open_offers_and_places_in_line(*, brokerage: Brokerage, seat: Seat | None = None
                                   ) -> tuple[list[WaitlistEntry], list[WaitlistEntry]]:
    """(offers that can still be claimed, soonest deadline first; entries waiting in
    line), from one query. An offer past its deadline is in neither: it is closing."""
    now = timezone.now()
    entries = list(waitlist_for(brokerage=brokerage, seat=seat))
    offers = sorted((e for e in entries if e.status == WaitlistEntry.Status.OFFERED
                     and e.offer_expires_at and e.offer_expires_at > now),
                    key=lambda e: e.offer_expires_at)
    return offers, [e for e in entries if e.status == WaitlistEntry.Status.WAITING]


def open_offer(*, entry_id: int, brokerage: Brokerage, seat: Seat) -> WaitlistEntry | None:
    """A waitlist entry the seat may see: its own, or any of the brokerage's for an admin."""
    rows = WaitlistEntry.objects.filter(pk=entry_id, brokerage=brokerage).select_related(
        "territory", "seat")
    if not seat.is_admin:
        rows = rows.filter(seat=seat)
    return rows.first()


def offer_state(*, entry: WaitlistEntry) -> dict:
    """What a waitlist entry's page says: `state` is "waiting" (with `position`),
    "offered" (with `expires_at`), "claimed" (with its `reservation`), "expired" (also an
    offer past its deadline that the sweeper has not closed yet) or "cancelled"; `at`
    is when it closed."""
    status = entry.status
    if status == WaitlistEntry.Status.WAITING:
        return {"state": "waiting", "position": waitlist_position(entry=entry)}
    if status == WaitlistEntry.Status.OFFERED:
        if entry.offer_expires_at and entry.offer_expires_at > timezone.now():
            return {"state": "offered", "expires_at": entry.offer_expires_at}
        return {"state": "expired", "at": entry.offer_expires_at}
    if status == WaitlistEntry.Status.ACCEPTED:
        return {"state": "claimed", "at": entry.closed_at,
                "reservation": Reservation.objects.filter(waitlist_entry=entry).first()}
    if status == WaitlistEntry.Status.EXPIRED:
        return {"state": "expired", "at": entry.offer_expires_at or entry.closed_at}
    return {"state": "cancelled", "at": entry.closed_at}


def inventory_summary() -> dict[str, int]:
    """Platform-wide figures for staff, one query per figure."""
    active = Territory.objects.filter(is_active=True)
    holding = Reservation.objects.exclude(status=Reservation.Status.RELEASED)
    taken = Slot.objects.filter(territory=OuterRef("pk")).order_by().values(
        "territory_id").annotate(n=Count("*")).values("n")
    territories = active.count()
    full = active.annotate(taken=Subquery(taken, output_field=IntegerField())).filter(
        taken__gte=F("slots")).count()
    return {
        "territories": territories,
        "reserved": active.filter(Exists(holding.filter(territory=OuterRef("pk")))).count(),
        "free": territories - full,
        "full": full,
        "waitlisted": active.filter(Exists(WaitlistEntry.objects.filter(
            territory=OuterRef("pk"), status=WaitlistEntry.Status.WAITING))).count(),
        "reservations": holding.count(),
        "pending": holding.filter(status=Reservation.Status.PENDING).count(),
        "past_due": holding.filter(status=Reservation.Status.PAST_DUE).count(),
        "suspended": holding.filter(status=Reservation.Status.SUSPENDED).count(),
        "open_offers": WaitlistEntry.objects.filter(
            status=WaitlistEntry.Status.OFFERED).count(),
    }


def tier_prices() -> QuerySet[TierPrice]:
    return TierPrice.objects.order_by("price_cents", "tier")
