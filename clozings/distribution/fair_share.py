"""Weighted fair share of a shared territory's leads (smooth weighted round-robin).

Each holder keeps a credit: the leads it is owed, i.e. its share (weight / the eligible
holders' total weight) of every lead routed while it was eligible, less the leads it got.
Each lead first adds every eligible holder's share to its credit, then goes to the holder
owed most (ties: the larger weight, then the earlier holder), whose credit drops by one.

So a holder's credit is exactly (its fair share so far - the leads it got). Credits of all
holders add up to zero; over 10,000 decisions with weights 1/1/2 and one holder paused for
a while, every credit stays within one lead (tests/distribution/test_fair_share.py).
Credits are exact fractions, so decisions are deterministic; a holder that is not eligible
keeps its credit frozen until it is eligible again. Pure functions: no database.
"""

from __future__ import annotations

from collections.abc import Sequence
from fractions import Fraction


def pick(*, candidates: Sequence[tuple[str, int]],
         credits: dict[str, str]) -> tuple[str, dict[str, str]]:
    """The holder that gets the next lead, and the credits after it.

    `candidates`: (holder key, weight >= 1) of the eligible holders, in a stable order;
    `credits`: every holder's credit as "p/q" (missing: 0), ineligible ones included.
    """
    if not candidates:
        raise ValueError("no eligible holder")
    total = sum(weight for _, weight in candidates)
    owed = {key: Fraction(value) for key, value in credits.items()}
    for key, weight in candidates:
        owed[key] = owed.get(key, Fraction(0)) + Fraction(weight, total)
    order = {key: index for index, (key, _) in enumerate(candidates)}
    chosen, _ = max(candidates, key=lambda c: (owed[c[0]], c[1], -order[c[0]]))
    owed[chosen] -= 1
    return chosen, {key: str(value) for key, value in owed.items()}
