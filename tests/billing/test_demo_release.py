"""The demo agent's demo ZIP can be released like any other: the demo reservation has no
real Stripe item behind it ("si_demo"), and localstripe's 404 for it must not leave the
removal failing for ever."""

from __future__ import annotations

import pytest
from django.core.management import call_command
from django.test import Client

from clozings.billing.models import ItemRemoval
from clozings.billing.services import sweeps
from clozings.billing.services.subscriptions import remove_reservation_item
from clozings.platform.auth import issue_token
from clozings.platform.management.commands.demo import AGENT, DEMO_STRIPE_ITEM
from clozings.territories.models import Reservation
from tests.territories.factories import ensure_catalogue


@pytest.mark.django_db
def test_the_demo_agent_releases_the_demo_zip_and_the_removal_completes(tmp_path, monkeypatch):
    monkeypatch.setenv("CLOZINGS_HOME", str(tmp_path))
    ensure_catalogue()
    call_command("demo", verbosity=0)
    reservation = Reservation.objects.select_related("seat__user").get(seat__email=AGENT.email)
    client = Client(HTTP_HOST="demo.localhost",
                    HTTP_AUTHORIZATION=f"Bearer {issue_token(reservation.seat.user)}")

    response = client.delete(f"/api/v1/reservations/{reservation.pk}")

    assert response.status_code == 200, response.content
    reservation.refresh_from_db()
    assert (reservation.status, reservation.stripe_item_id) == ("released", DEMO_STRIPE_ITEM)
    # the task (run here in place of the worker), then the sweeper: nothing left to do
    remove_reservation_item(stripe_item_id=reservation.stripe_item_id,
                            brokerage_id=reservation.brokerage_id)
    removal = ItemRemoval.objects.get(stripe_item_id=reservation.stripe_item_id)
    # localstripe answered 404 for "si_demo": the item is as gone as it can be
    assert (removal.done_at is not None, removal.error, removal.attempts) == (True, "", 1)
    assert sweeps.sweep()["removals"] == 0

    # and the demo agent can take the ZIP again
    call_command("demo", verbosity=0)
    assert Reservation.objects.filter(seat__email=AGENT.email, status="active").count() == 1
