"""The fair share of a shared ZIP, as pure decisions (no database)."""

from __future__ import annotations

from fractions import Fraction

import pytest

from clozings.distribution.fair_share import pick

WEIGHTS = {"a": 1, "b": 1, "c": 2}


def run(decisions: int, eligible_at) -> tuple[dict, dict, float]:
    """Route `decisions` leads; `eligible_at(n)` names the holders who may take lead n.
    Returns the leads each got, each one's fair share over the time it was eligible, and
    the largest gap between the two seen after any decision."""
    credits: dict[str, str] = {}
    got = dict.fromkeys(WEIGHTS, 0)
    share = dict.fromkeys(WEIGHTS, Fraction(0))
    worst = Fraction(0)
    for n in range(decisions):
        holders = [(key, WEIGHTS[key]) for key in WEIGHTS if key in eligible_at(n)]
        total = sum(weight for _, weight in holders)
        for key, weight in holders:
            share[key] += Fraction(weight, total)
        chosen, credits = pick(candidates=holders, credits=credits)
        got[chosen] += 1
        worst = max(worst, *(abs(share[key] - got[key]) for key in WEIGHTS))
    return got, share, float(worst)


def test_10000_leads_with_weights_1_1_2_go_out_within_one_lead_of_each_share():
    got, share, worst = run(10_000, lambda n: set(WEIGHTS))

    assert got == {"a": 2500, "b": 2500, "c": 5000}
    assert worst <= 1


def test_a_holder_paused_for_a_while_gets_its_share_of_the_time_it_was_eligible():
    # b is paused for leads 3,001 to 6,500 (a vacation); the others share those leads
    got, share, worst = run(10_000, lambda n: {"a", "c"} if 3_000 <= n < 6_500 else set(WEIGHTS))

    assert sum(got.values()) == 10_000
    assert got["b"] == pytest.approx(6_500 / 4, abs=1)
    assert got["a"] == pytest.approx(6_500 / 4 + 3_500 / 3, abs=1)
    assert got["c"] == pytest.approx(6_500 / 2 + 3_500 * 2 / 3, abs=1)
    assert worst <= 1


def test_the_same_history_gives_the_same_decisions():
    credits: dict[str, str] = {}
    order = []
    for _ in range(8):
        chosen, credits = pick(candidates=list(WEIGHTS.items()), credits=credits)
        order.append(chosen)

    assert order == ["c", "a", "b", "c", "c", "a", "b", "c"]
