"""Event-time sliding windows over closed steps, as differences of running totals.

Time is cut into steps (``detector.step_s``). Each entity keeps, for every
*non-empty* closed step, the running total of its aggregate vectors up to and
including that step. A window is ``(length, lag)`` in steps and covers the steps
in ``(now - lag - length, now - lag]``; its sum is the difference of two running
totals found by bisection. Closing a step costs one vector addition whatever
the number of windows, a window is only summed when someone reads it, and a
quiet entity stores nothing for its quiet steps. The lag gives "OTP sends old
enough to have been verified" the same machinery as everything else.

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

from bisect import bisect_right
from operator import add, sub


class SlidingSums:
    """Window sums of ``width``-long vectors over several ``(length, lag)`` windows."""

    __slots__ = ("width", "windows", "_steps", "_totals", "_zero", "_now", "_horizon", "_read")

    def __init__(self, width: int, windows: tuple[tuple[int, int], ...]) -> None:
        self.width = width
        self.windows = windows
        self._steps: list[int] = []
        self._totals: list[list[float]] = []  # running total up to and including _steps[i]
        self._zero = [0.0] * width
        self._now: int | None = None
        self._horizon = max(length + lag for length, lag in windows)
        self._read: dict[int, list[float]] = {}  # window sums read since the last move

    def add(self, step: int, values: list[float]) -> None:
        """Append a closed step (steps arrive in increasing order) and move to it."""
        steps = self._steps
        if steps and step <= steps[-1]:
            raise ValueError(f"step {step} is not after {steps[-1]}")
        last = self._totals[-1] if self._totals else self._zero
        steps.append(step)
        # map over operator.add runs in C: the same float additions as a comprehension,
        # at a fraction of the cost (this runs at every step close of every scope).
        self._totals.append(list(map(add, last, values)))
        self._read.clear()
        self.advance(step)

    def advance(self, now: int) -> None:
        """Move the windows' end to ``now``, forgetting steps no window can reach."""
        if self._now is not None and now <= self._now:
            return
        self._now = now
        self._read.clear()
        # Keep the last step at or before the oldest window start: it is the base total.
        cut = bisect_right(self._steps, now - self._horizon) - 1
        if cut > 0:
            del self._steps[:cut]
            del self._totals[:cut]

    def totals(self, window: int) -> list[float]:
        """The window's sums (a shared list: read it, do not change it)."""
        cached = self._read.get(window)
        if cached is not None:
            return cached
        if self._now is None:
            return list(self._zero)
        length, lag = self.windows[window]
        # The running totals at the window's end and just before its start, by bisection
        # (written out, no helper call: this is read several times at every judged step).
        steps, running, end_step = self._steps, self._totals, self._now - lag
        i = bisect_right(steps, end_step)
        end = running[i - 1] if i else self._zero
        i = bisect_right(steps, end_step - length, 0, i)
        start = running[i - 1] if i else self._zero
        sums = self._read[window] = list(map(sub, end, start))
        return sums

    def total_of(self, window: int, index: int) -> float:
        """One component of :meth:`totals`, without building the vector."""
        if self._now is None:
            return 0.0
        length, lag = self.windows[window]
        steps, running, end_step = self._steps, self._totals, self._now - lag
        i = bisect_right(steps, end_step)
        end = running[i - 1] if i else self._zero
        i = bisect_right(steps, end_step - length, 0, i)  # the start is never after the end
        start = running[i - 1] if i else self._zero
        return end[index] - start[index]

    def __len__(self) -> int:
        return len(self._steps)

    def __getstate__(self) -> dict:
        return {name: getattr(self, name) for name in self.__slots__}

    def __setstate__(self, state: dict) -> None:
        for name, value in state.items():
            setattr(self, name, value)
