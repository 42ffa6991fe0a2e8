"""Per-entity baseline of a share (OTP conversion, delivered rate, URL share, ...).

A decayed Beta estimate: hits and trials decay with time, and ``prior_weight``
pseudo-trials at the population's ``prior`` share keep a new or quiet entity
near what is typical. Scoring asks how surprising a window's share is in one
direction only (a conversion rate that *drops*, a URL share that *rises*), and
only when the change is large enough to matter (``min_effect``): with enough
volume even a harmless 2-point wobble is "statistically significant".

>>> conv = ProportionBaseline(prior=0.8, direction="down")
>>> for _ in range(50):
...     conv.learn_one({"hits": 8, "trials": 10})
>>> round(conv.mean, 2)
0.8
>>> conv.score_one({"hits": 7, "trials": 10})
0.0
>>> conv.score_one({"hits": 0, "trials": 30}) > 10
True
"""

from __future__ import annotations

from typing import Any

from models.surprise import binomial_surprise


class ProportionBaseline:
    """Parameters: ``prior`` share and its ``prior_weight`` in trials; ``direction``
    "up" or "down"; ``min_effect``: the share must move by at least this
    fraction of the way from the mean to the extreme (1 for "up", 0 for "down");
    ``half_life`` in observations."""

    def __init__(self, prior: float, direction: str = "up", prior_weight: float = 20.0,
                 min_effect: float = 0.3, half_life: float = 360.0) -> None:
        if direction not in ("up", "down"):
            raise ValueError("direction is 'up' or 'down'")
        self.prior = prior
        self.direction = direction
        self.prior_weight = prior_weight
        self.min_effect = min_effect
        self.half_life = half_life
        self._decay = 0.5 ** (1.0 / half_life)
        self.hits = 0.0
        self.trials = 0.0

    @property
    def mean(self) -> float:
        return (self.hits + self.prior * self.prior_weight) / (self.trials + self.prior_weight)

    def learn_one(self, x: dict[str, Any]) -> None:
        self.learn(x["hits"], x["trials"])

    def learn(self, hits: float, trials: float) -> None:
        """:meth:`learn_one` without the dict: the scopes learn and score shares
        hundreds of thousands of times a replay, and a dict apiece is a fair share
        of what that costs."""
        self.hits = self.hits * self._decay + float(hits)
        self.trials = self.trials * self._decay + float(trials)

    def score_one(self, x: dict[str, Any]) -> float:
        return self.score(x["hits"], x["trials"])

    def score(self, hits: float, trials: float) -> float:
        """:meth:`score_one` without the dict (see :meth:`learn`)."""
        hits, trials = float(hits), float(trials)
        if trials <= 0:
            return 0.0
        # self.mean, written out: scoring runs many times per judged step.
        prior_weight = self.prior_weight
        mean = (self.hits + self.prior * prior_weight) / (self.trials + prior_weight)
        share = hits / trials
        if self.direction == "up":
            if share < mean + self.min_effect * (1.0 - mean):
                return 0.0
            return binomial_surprise(hits, trials, mean, upper=True)
        if share > mean * (1.0 - self.min_effect):
            return 0.0
        return binomial_surprise(hits, trials, mean, upper=False)

    def __repr__(self) -> str:
        return f"ProportionBaseline(mean={self.mean:.3g}, trials={self.trials:.3g})"
