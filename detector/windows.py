"""Event-time sliding windows over closed steps, as running sums.

Time is cut into steps (``detector.step_s``). Each entity keeps the aggregate
vectors of its *non-empty* closed steps in one deque, and a running total for
each window. A window is ``(length, lag)`` in steps: it covers the steps in
``(now - lag - length, now - lag]``. The lag gives "OTP sends old enough to have
been verified" the same machinery as everything else. Adding and expiring a
step costs one vector add or subtract per window, whatever the window's length,
and a quiet entity stores nothing for its quiet steps.

>>> sums = SlidingSums(width=1, windows=((2, 0), (2, 1)))
>>> for step, value in [(1, 1.0), (2, 10.0), (3, 100.0)]:
...     sums.add(step, [value])
>>> sums.totals(0), sums.totals(1)
([110.0], [11.0])
>>> sums.advance(5)
>>> sums.totals(0), sums.totals(1)
([0.0], [100.0])
"""

from __future__ import annotations

from collections import deque


class SlidingSums:
    """Running totals of ``width``-long vectors over several ``(length, lag)`` windows."""

    __slots__ = ("width", "windows", "_steps", "_values", "_lo", "_hi", "_sums", "_now")

    def __init__(self, width: int, windows: tuple[tuple[int, int], ...]) -> None:
        self.width = width
        self.windows = windows
        self._steps: deque[int] = deque()
        self._values: deque[list[float]] = deque()
        # Per window: index of its first and one-past-last entry in the deques.
        self._lo = [0] * len(windows)
        self._hi = [0] * len(windows)
        self._sums = [[0.0] * width for _ in windows]
        self._now: int | None = None

    def add(self, step: int, values: list[float]) -> None:
        """Append a closed step (steps arrive in increasing order) and move to it."""
        if self._steps and step <= self._steps[-1]:
            raise ValueError(f"step {step} is not after {self._steps[-1]}")
        self._steps.append(step)
        self._values.append(values)
        self.advance(step)

    def advance(self, now: int) -> None:
        """Move every window's end to ``now`` (no new data), expiring what falls out."""
        if self._now is not None and now < self._now:
            return
        self._now = now
        steps, values = self._steps, self._values
        for i, (length, lag) in enumerate(self.windows):
            total = self._sums[i]
            end, start = now - lag, now - lag - length
            hi = self._hi[i]
            while hi < len(steps) and steps[hi] <= end:
                _add(total, values[hi])
                hi += 1
            self._hi[i] = hi
            lo = self._lo[i]
            while lo < hi and steps[lo] <= start:
                _sub(total, values[lo])
                lo += 1
            self._lo[i] = lo
        drop = min(self._lo)
        for _ in range(drop):
            steps.popleft()
            values.popleft()
        if drop:
            self._lo = [lo - drop for lo in self._lo]
            self._hi = [hi - drop for hi in self._hi]

    def totals(self, window: int) -> list[float]:
        return self._sums[window]

    def __len__(self) -> int:
        return len(self._steps)

    def __getstate__(self) -> dict:
        return {name: getattr(self, name) for name in self.__slots__}

    def __setstate__(self, state: dict) -> None:
        for name, value in state.items():
            setattr(self, name, value)


def _add(total: list[float], values: list[float]) -> None:
    for j, v in enumerate(values):
        if v:
            total[j] += v


def _sub(total: list[float], values: list[float]) -> None:
    for j, v in enumerate(values):
        if v:
            total[j] -= v
