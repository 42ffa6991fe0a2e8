"""The one interface every smsguard model speaks (river's anomaly-detector shape).

``learn_one(x)`` folds one observation into the model's state; ``score_one(x)``
says how anomalous ``x`` is without learning it, higher meaning more anomalous.
Scores of the count and proportion models are *surprises*: -log10 of an upper
bound on the probability of seeing ``x`` under the learnt baseline, so 6 means
"one in a million" whatever the feature.
"""

from __future__ import annotations

from typing import Any, Protocol


class AnomalyModel(Protocol):
    def learn_one(self, x: dict[str, Any]) -> None: ...

    def score_one(self, x: dict[str, Any]) -> float: ...
