"""The one rule for "who is acting, for which seat" and "this object is the caller's
brokerage's", for API views and pages alike.

The rule:
- The caller is the person's active seat in the brokerage of the host (request.seat, set by
  SeatRequiredMiddleware for sessions, looked up by `seat_for` for bearer tokens).
- An agent acts only for themselves: naming any other seat id (a colleague's, another
  brokerage's, one that does not exist) is `Forbidden` (403 `permission_denied`), the same
  answer whatever the id, so it tells nothing about which ids exist.
- An admin acts for themselves or for any active seat of their brokerage; a seat id that is
  not one (another brokerage's, deactivated, none) is a field error on the id (400
  `validation_error`), as every id sent in a body is.
- An object named in the path is looked up within the caller's brokerage (and, for an
  agent, among their own when the object belongs to a seat); anything else is 404
  `not_found`, never 403, so another brokerage's ids look like no ids at all.

The API's exception handler turns these into its error format; pages show the message.
"""

from __future__ import annotations

from django.db.models import Model, QuerySet
from django.http import Http404

from clozings.platform.api import ApiView
from clozings.platform.errors import DomainError, Forbidden
from clozings.tenants.models import Seat
from clozings.tenants.permissions import HasSeat, seat_for

ACTING_FOR_OTHERS = "You can act for yourself only; an admin of the brokerage acts for others."
NO_SUCH_SEAT = "There is no active seat with this id in this brokerage."


def acting_seat(request, agent_id: int | None, *, field: str = "agent_id") -> Seat:
    """The seat a request acts for: the caller's own when `agent_id` is empty or theirs;
    for an admin, the active seat of the brokerage it names. Raises Forbidden or a
    `validation_error` on `field` (see the module's rule)."""
    caller = seat_for(request)
    if caller is None:
        raise Forbidden("You have no active seat in this brokerage.")
    if agent_id is None or agent_id == caller.pk:
        return caller
    if not caller.is_admin:
        raise Forbidden(ACTING_FOR_OTHERS)
    agent = Seat.objects.filter(pk=agent_id, brokerage=request.brokerage,
                                status=Seat.Status.ACTIVE).first()
    if agent is None:
        raise DomainError("Some fields are not valid.", code="validation_error",
                          fields={field: [NO_SUCH_SEAT]})
    return agent


def seat_scope(request) -> Seat | None:
    """What the caller may see of seat-owned things: None (the whole brokerage) for an
    admin, their own seat for an agent."""
    caller = seat_for(request)
    return None if caller is not None and caller.is_admin else caller


def scoped(queryset: QuerySet, request, *, owner: str | None = None) -> QuerySet:
    """`queryset` within the caller's brokerage; with `owner` (the field naming the seat an
    object belongs to), an agent's own objects only."""
    queryset = queryset.filter(brokerage=request.brokerage)
    if owner is not None:
        scope = seat_scope(request)
        if scope is not None:
            queryset = queryset.filter(**{owner: scope})
    return queryset


def get_scoped_or_404(queryset: QuerySet, request, pk: int, *,
                      owner: str | None = None) -> Model:
    """One object of the caller's brokerage (see `scoped`), else Http404 (the API's
    handler answers 404 `not_found`, pages the 404 page)."""
    found = scoped(queryset, request, owner=owner).filter(pk=pk).first()
    if found is None:
        raise Http404("Not found.")
    return found


class SeatScopedApiView(ApiView):
    """Base of brokerage-host API views that act for a seat: a seat is required, and the
    module's rule is one method away."""

    permission_classes = [HasSeat]

    def caller(self) -> Seat:
        return seat_for(self.request)

    def acting_seat(self, agent_id: int | None, *, field: str = "agent_id") -> Seat:
        return acting_seat(self.request, agent_id, field=field)

    def seat_scope(self) -> Seat | None:
        return seat_scope(self.request)

    def get_scoped(self, queryset: QuerySet, pk: int, *, owner: str | None = None) -> Model:
        return get_scoped_or_404(queryset, self.request, pk, owner=owner)
