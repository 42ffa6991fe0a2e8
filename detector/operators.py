"""A route's delivery, operator by operator.

A route into a country reaches several mobile operators, and the interconnect to one
of them can break on its own: everything to that operator's numbers comes back
undelivered while the rest is delivered as ever. The route's own delivered share
falls by that operator's share of its traffic only (two in five for a big one, one in
ten for a small one), which may be well short of a fault the route's share would
show. Each operator's reports, over the last ten minutes and against that operator's
own usual share on this route, show it whole.

The operator is the one ``phonenumbers`` names for the number's range (ported
numbers stay with their range's first holder: near enough for a route's
interconnects, which are what fails).

>>> health = OperatorDelivery(window_steps=6, prior=0.9)
>>> for step in range(30):  # both operators deliver, then MTN's reports all fail
...     mtn = [4, 4, 4] if step < 24 else [4, 4, 0]  # [sends, reports, delivered]
...     health.add_step(step, {"GH MTN": mtn, "GH Telecel": [4, 4, 4]})
...     health.learn() if step < 24 else health.skip_lesson()
>>> operator, surprise, value, usual = health.worst(step, min_reports=8, sees_sends=True)
>>> operator, round(value, 2), surprise > 10
('GH MTN', 0.0, True)
"""

from __future__ import annotations

from collections import deque

from detector.features import own_reports
from models.proportion import ProportionBaseline

# Operators remembered a route (a hub into many countries reaches hundreds): the ones
# with the fewest recent reports are forgotten first.
OPERATOR_CAP = 64
# An operator is failing when under half of its usual share is delivered: a broken
# interconnect delivers next to nothing, and the route's own share judges the drifts.
OPERATOR_MIN_EFFECT = 0.5


class OperatorDelivery:
    """Parameters: ``window_steps``, the steps the recent window spans; ``prior``, the
    delivered share an operator new to the route is assumed to have (the route's)."""

    def __init__(self, window_steps: int, prior: float) -> None:
        self.window_steps = window_steps
        self.prior = prior
        self._steps: deque[tuple[int, dict[str, list[int]]]] = deque()
        self._recent: dict[str, list[int]] = {}  # operator -> [sends, reports, delivered]
        self._pending: dict[str, list[int]] = {}  # closed since the last lesson
        self._usual: dict[str, ProportionBaseline] = {}
        self.worst_operator: str | None = None  # of the last judgement (for evidence)

    def add_step(self, step: int, counts: dict[str, list[int]]) -> None:
        """Fold a closed step's counts, by operator ([sends, reports, delivered])."""
        self._steps.append((step, counts))
        for operator, counted in counts.items():
            for memory in (self._recent, self._pending):
                tally = memory.get(operator)
                if tally is None:
                    memory[operator] = list(counted)
                else:
                    for i, n in enumerate(counted):
                        tally[i] += n
        self._slide(step)

    def _slide(self, step: int) -> None:
        """Forget the steps the window ending at ``step`` has left behind."""
        horizon = step - self.window_steps
        while self._steps and self._steps[0][0] <= horizon:
            _, old = self._steps.popleft()
            for operator, counted in old.items():
                tally = self._recent[operator]
                for i, n in enumerate(counted):
                    tally[i] -= n
                if not any(tally):
                    del self._recent[operator]

    def worst(self, step: int, min_reports: int, sees_sends: bool
              ) -> tuple[str, float, float, float] | None:
        """The operator whose share over the window ending at ``step`` is the most
        surprising against its usual one: (operator, surprise, delivered share, usual
        share); None if none has ``min_reports`` reports in the window.

        As for the route's own share, reports beyond the window's sends to the operator
        are the slow tail of earlier ones (see detector.features.own_reports), unless
        the route does not see all its sends (``sees_sends``).
        """
        self._slide(step)
        self.worst_operator = None
        best = None
        for operator, (sends, reports, delivered) in self._recent.items():
            delivered, reports = own_reports(delivered, reports, sends, sees_sends)
            if reports < min_reports:
                continue
            usual = self._usual_of(operator)
            surprise = usual.score(delivered, reports)
            if best is None or (surprise, operator) > (best[1], best[0]):
                best = (operator, surprise, delivered / reports, usual.mean)
        if best is not None:
            self.worst_operator = best[0]
        return best

    def learn(self) -> None:
        """Teach each operator's usual share what closed since the last lesson."""
        for operator, (_, reports, delivered) in self._pending.items():
            if reports:
                self._usual_of(operator).learn(delivered, reports)
        self._pending = {}
        if len(self._usual) > OPERATOR_CAP:
            for operator in sorted(self._usual, key=self._weight)[: len(self._usual)
                                                                   - OPERATOR_CAP]:
                del self._usual[operator]

    def skip_lesson(self) -> None:
        """Forget what closed since the last lesson (it raised a finding)."""
        self._pending = {}

    def _usual_of(self, operator: str) -> ProportionBaseline:
        usual = self._usual.get(operator)
        if usual is None:
            usual = self._usual[operator] = ProportionBaseline(
                self.prior, "down", min_effect=OPERATOR_MIN_EFFECT)
        return usual

    def _weight(self, operator: str) -> tuple[int, float, str]:
        recent = self._recent.get(operator)
        return (recent[1] if recent else 0, self._usual[operator].trials, operator)
