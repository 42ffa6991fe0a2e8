"""Tail surprises in log10 units, from Chernoff bounds (cheap, no special functions).

Chernoff bounds are tight in the exponent and cost a logarithm, which matters
when every entity is scored at every window step. They are upper bounds on
the tail probability, so the surprise never overstates the evidence.

>>> round(poisson_surprise(30, 5.0), 1)
12.5
>>> poisson_surprise(3, 5.0)
0.0
>>> round(binomial_surprise(0, 40, 0.8, upper=False), 1)
28.0
>>> binomial_surprise(35, 40, 0.8, upper=False)
0.0
"""

from __future__ import annotations

import math

LN10 = math.log(10.0)
_EPS = 1e-9


def poisson_surprise(count: float, expected: float, upper: bool = True) -> float:
    """-log10 P(X >= count) bound for X ~ Poisson(expected); 0 when count <= expected.

    ``upper=False`` asks about a count below ``expected`` (codes no longer entered):

    >>> round(poisson_surprise(0, 17.6, upper=False), 1), poisson_surprise(20, 17.6, upper=False)
    (7.6, 0.0)
    """
    expected = max(expected, _EPS)
    if (count <= expected) if upper else (count >= expected):
        return 0.0
    if count <= 0:
        return expected / LN10
    return (count * math.log(count / expected) - count + expected) / LN10


def binomial_surprise(hits: float, trials: float, p: float, upper: bool = True) -> float:
    """-log10 bound on seeing a share as extreme as hits/trials when the share is ``p``.

    ``upper=True`` asks about a share above ``p`` (e.g. URL share rising),
    ``upper=False`` about a share below it (e.g. OTP conversion collapsing).
    """
    if trials <= 0:
        return 0.0
    p = min(max(p, _EPS), 1 - _EPS)
    q = min(max(hits / trials, 0.0), 1.0)
    if (upper and q <= p) or (not upper and q >= p):
        return 0.0
    return trials * _kl(q, p) / LN10


def _kl(q: float, p: float) -> float:
    total = 0.0
    if q > 0:
        total += q * math.log(q / p)
    if q < 1:
        total += (1 - q) * math.log((1 - q) / (1 - p))
    return total
