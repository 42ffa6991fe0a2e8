"""Half-space trees over an entity's feature vector, for what no rule anticipated.

river's :class:`~river.anomaly.HalfSpaceTrees` wants features in [0, 1]. Counts
and money are squashed with ``x / (x + scale)`` (monotone, no fitted bounds to go
stale); shares are already in [0, 1]. The trees stay silent until they have
seen ``warmup`` observations: an empty reference window would call everything
anomalous.

>>> model = SquashedHalfSpaceTrees(scales={"sends": 10.0}, seed=1, warmup=20, window_size=20)
>>> for i in range(200):
...     model.learn_one({"sends": 8 + i % 4, "url_share": 0.0})
>>> model.score_one({"sends": 9, "url_share": 0.0}) < 0.5
True
>>> model.score_one({"sends": 900, "url_share": 1.0}) > 0.8
True
"""

from __future__ import annotations

from typing import Any

from river import anomaly


class SquashedHalfSpaceTrees:
    """Parameters: ``scales`` maps count-like features to their squash scale (all
    other features must already be shares in [0, 1]); ``n_trees``, ``height``,
    ``window_size`` and ``seed`` go to river; ``warmup`` observations before scoring."""

    def __init__(self, scales: dict[str, float] | None = None, n_trees: int = 10,
                 height: int = 6, window_size: int = 60, seed: int = 7,
                 warmup: int = 60) -> None:
        self.scales = dict(scales or {})
        self.n_trees = n_trees
        self.height = height
        self.window_size = window_size
        self.seed = seed
        self.warmup = warmup
        self.seen = 0
        self._trees: anomaly.HalfSpaceTrees | None = None

    def _squash(self, x: dict[str, Any]) -> dict[str, float]:
        out = {}
        for name, value in x.items():
            scale = self.scales.get(name)
            value = float(value)
            if scale is None:
                out[name] = min(max(value, 0.0), 1.0)
            else:
                value = max(value, 0.0)
                out[name] = value / (value + scale)
        return out

    def learn_one(self, x: dict[str, Any]) -> None:
        if self._trees is None:
            self._trees = anomaly.HalfSpaceTrees(
                n_trees=self.n_trees, height=self.height,
                window_size=self.window_size, seed=self.seed,
            )
        self._trees.learn_one(self._squash(x))
        self.seen += 1

    def score_one(self, x: dict[str, Any]) -> float:
        if self._trees is None or self.seen < self.warmup:
            return 0.0
        return float(self._trees.score_one(self._squash(x)))
