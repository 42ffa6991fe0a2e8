"""Per-entity event-rate baseline with time-of-day seasonality and a population prior.

An entity's level is a Gamma-Poisson estimate: exponentially decayed counts over
decayed time, plus ``prior_weight`` steps of pseudo-history at the population's
``prior_rate``. A brand-new account is therefore judged from its first minute
against what a typical account does, and its own history takes over as it
accumulates. Each hour of the day gets a multiplier, shrunk towards 1 until
that hour has been seen often enough.

Real traffic is burstier than Poisson. The model tracks the dispersion (the mean
squared Pearson residual of what it learnt) and divides the Poisson surprise by
it, as a quasi-Poisson test would, so a bursty account needs a bigger jump.

>>> model = SeasonalRate(prior_rate=1.0)
>>> for step in range(1000):
...     model.learn_one({"ts": step * 10_000, "count": 2, "span": 1})
>>> round(model.rate, 1)
2.0
>>> model.score_one({"ts": 1000 * 10_000, "count": 12, "span": 6}) < 0.1
True
>>> model.score_one({"ts": 1000 * 10_000, "count": 60, "span": 6}) > 10
True
"""

from __future__ import annotations

from typing import Any

from models.surprise import poisson_surprise

HOUR_MS = 3_600_000
DAY_HOURS = 24


class SeasonalRate:
    """Learns how many events an entity has per step; scores a window's count.

    Parameters
    ----------
    prior_rate
        Events per step of a typical entity of this kind (the population prior).
    prior_weight
        How many steps of history the prior is worth.
    half_life_steps
        Steps after which old history weighs half (level and dispersion).
    season_weight
        Expected events an hour of day needs before its own multiplier counts fully.
    dispersion_after
        Steps of own history before the dispersion is learnt. While the level is mostly
        prior, residuals measure how wrong the prior is for this entity as much as how
        bursty it is; for an entity whose first burst is what is being judged (a number
        tracked because it suddenly got messages), learning them would divide that very
        burst's surprise by up to a hundred.
    """

    def __init__(self, prior_rate: float = 0.1, prior_weight: float = 30.0,
                 half_life_steps: float = 2160.0, season_weight: float = 50.0,
                 dispersion_after: float = 0.0) -> None:
        self.prior_rate = prior_rate
        self.prior_weight = prior_weight
        self.half_life_steps = half_life_steps
        self.season_weight = season_weight
        self.dispersion_after = dispersion_after
        self._decay = 0.5 ** (1.0 / half_life_steps)
        self.count = 0.0
        self.time = 0.0
        self.dispersion_sum = 0.0
        self.dispersion_weight = 0.0
        self.hour_counts: list[float] | None = None  # built lazily: most entities never need it
        self.hour_expected: list[float] | None = None

    @property
    def rate(self) -> float:
        """Events per step, blending the entity's own history with the prior."""
        return (self.count + self.prior_rate * self.prior_weight) / (self.time + self.prior_weight)

    @property
    def dispersion(self) -> float:
        if self.dispersion_weight < 3:
            return 1.0
        return max(1.0, self.dispersion_sum / self.dispersion_weight)

    def seasonal_factor(self, ts: int) -> float:
        if self.hour_counts is None or self.hour_expected is None:
            return 1.0
        hour = (ts // HOUR_MS) % DAY_HOURS
        w = self.season_weight
        return (self.hour_counts[hour] + w) / (self.hour_expected[hour] + w)

    def expected(self, ts: int, span: float) -> float:
        return self.rate * span * self.seasonal_factor(ts)

    def learn_one(self, x: dict[str, Any]) -> None:
        """``x``: ``count`` events over the last ``span`` steps, ending at ``ts``."""
        self.learn(x["ts"], x["count"], x["span"])

    def learn(self, ts: int, count: float, span: float) -> None:
        """:meth:`learn_one` without the dict: the scopes' hot path (every lesson and
        every judgement of every scope) builds none."""
        count, span, ts = float(count), float(span), int(ts)
        expected = self.expected(ts, span)
        decay = self._decay**span
        if expected > 0 and self.time >= self.dispersion_after:
            residual = (count - expected) ** 2 / expected
            self.dispersion_sum = self.dispersion_sum * decay + min(residual, 100.0)
            self.dispersion_weight = self.dispersion_weight * decay + 1.0
        self.count = self.count * decay + count
        self.time = self.time * decay + span
        # The level is still mostly prior while warming up; a season learnt
        # against it would only record that warm-up bias.
        if self.time >= self.prior_weight:
            self._learn_season(ts, count, self.rate * span, decay)

    def _learn_season(self, ts: int, count: float, flat_expected: float, decay: float) -> None:
        if self.hour_counts is None or self.hour_expected is None:
            self.hour_counts = [0.0] * DAY_HOURS
            self.hour_expected = [0.0] * DAY_HOURS
        hour = (ts // HOUR_MS) % DAY_HOURS
        # Seasonal sums decay by whole days so one hour's history does not fade within the day.
        day_decay = decay ** (1.0 / DAY_HOURS)
        self.hour_counts[hour] = self.hour_counts[hour] * day_decay + count
        self.hour_expected[hour] = self.hour_expected[hour] * day_decay + flat_expected

    def score_one(self, x: dict[str, Any]) -> float:
        return self.score(x["ts"], x["count"], x["span"])

    def score(self, ts: int, count: float, span: float) -> float:
        """:meth:`score_one` without the dict (see :meth:`learn`)."""
        expected = self.expected(int(ts), float(span))
        # Over-dispersed counts (a negative binomial with clusters no bigger than a
        # geometric's) have a variance at most 1 + expected times their mean: the
        # dispersion learnt over long quiet stretches cannot apply in full to a window
        # expected to hold less than one event (a quiet account's first real burst).
        dispersion = min(self.dispersion, 1.0 + expected)
        return poisson_surprise(float(count), expected) / dispersion

    def history_steps(self) -> float:
        """Decayed steps of own history; small means the prior still dominates."""
        return self.time

    def __repr__(self) -> str:
        return f"SeasonalRate(rate={self.rate:.3g}, dispersion={self.dispersion:.3g})"


