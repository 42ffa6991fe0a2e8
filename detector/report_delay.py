"""How long a route keeps its senders waiting for their delivery reports.

A route whose carrier starts queueing still delivers, and says so: its delivered
share holds, every report comes, only later and later, until the messages left
waiting longest expire (hours on many networks, long after anyone could act). The
codes it carries arrive after the person gave up waiting for them. What shows early
is the wait itself: the time from a send to its report, which on a healthy route
stays near its usual level whatever the traffic does.

Waits are compared on a log scale by their median (one report in seconds, one in
minutes: a few stragglers, handsets that were off, cannot move the median the way
they move a mean), against the median the route showed while it was healthy. A
fault is a window of reports whose median wait is ``SLOWER`` times the usual (on
1 + the wait in seconds) and at least ``MIN_EXTRA_S`` seconds longer; its surprise
is the sign test's: how many of the window's reports took longer than the usual
median, which half of them would on a healthy route. And it slows every sender: with
the busiest sender's reports set aside, the others' median is as slow (one sender's
slow reports are its own affair: pumped numbers behind a fake termination answer
late, whatever the route does); with too few others to tell, it is not judged.

>>> def senders(waits):  # two senders' reports
...     return [("shop", w) for w in waits[:2]] + [("bank", w) for w in waits[2:]]
>>> delay = ReportDelay(window_steps=6)
>>> for step in range(60):  # reports in ~3 s, then in ~20 s
...     waits = [3_000, 2_500, 4_000, 3_500] if step < 50 else [18_000, 25_000, 20_000, 21_000]
...     delay.add_step(step, senders(waits))
...     delay.learn() if step < 50 else delay.skip_lesson()
>>> surprise, waited_s, usual_s = delay.signal(step, sends=24)
>>> round(waited_s), round(usual_s), surprise > 6
(20, 3, True)
>>> healthy = ReportDelay(window_steps=6)
>>> for step in range(60):  # a carrier that reports in batches: 0 to 60 s, steadily
...     healthy.add_step(step, senders([1_000, 30_000, 60_000, 45_000]))
...     healthy.learn()
>>> healthy.signal(step) is None
True
>>> quiet = ReportDelay(window_steps=6)
>>> for step in range(60):  # busy, then no sends: only the stragglers' reports come
...     quiet.add_step(step, senders([3_000, 2_500, 4_000, 3_500] if step < 50
...                                  else [300_000] * 4))
...     quiet.learn()
>>> quiet.signal(step, sends=0) is None
True
>>> pumped = ReportDelay(window_steps=6)
>>> for step in range(60):  # the shop's numbers start answering in a minute
...     shop = [3_000, 2_500] if step < 50 else [60_000, 70_000, 65_000]
...     pumped.add_step(step, [("shop", w) for w in shop] + [("bank", 4_000), ("bank", 3_500)])
...     pumped.learn() if step < 50 else pumped.skip_lesson()
>>> pumped.signal(step, sends=30) is None
True
"""

from __future__ import annotations

import math
from collections import deque
from statistics import median

from models.surprise import binomial_surprise

# A window of reports whose median wait is this many times the route's usual (on 1 +
# the wait in seconds), and at least MIN_EXTRA_S seconds longer: a queue, not a wobble
# (a code that comes five seconds late is one a person starts to wait for).
SLOWER = 2.0
MIN_EXTRA_S = 5.0
# Reports the usual wait is learnt from before the route is judged on it, and reports
# in a window for it to be judged (a few late batches on a quiet route say little), of
# them from senders other than the busiest.
MIN_LEARNT_REPORTS = 100
MIN_REPORTS = 20
MIN_OTHERS = 10
# Weight of a report in the usual wait: about the last few thousand reports.
ALPHA_PER_REPORT = 0.0005
# Reports of a window whose median is already this many times the usual do not teach
# it: a queue that builds up over an hour would otherwise be learnt as it grows, and
# never be twice the usual it taught.
DRIFTING = 1.5


class ReportDelay:
    """Parameters: ``window_steps``, the steps the recent window spans."""

    def __init__(self, window_steps: int) -> None:
        self.window_steps = window_steps
        # (sender, log wait of 1 + seconds) of each closed step's reports in the window.
        self._steps: deque[tuple[int, list[tuple[str, float]]]] = deque()
        self._pending: list[float] = []  # log waits closed since the last lesson
        self.usual = 0.0  # median log wait while healthy
        self.learnt = 0  # reports learnt

    def add_step(self, step: int, waits_ms: list[tuple[str, int]]) -> None:
        """Fold a closed step's reports: (sender, milliseconds from send to report)."""
        logs = [(sender, math.log1p(max(wait, 0) / 1000.0)) for sender, wait in waits_ms]
        self._steps.append((step, logs))
        self._pending.extend(log for _, log in logs)
        self._slide(step)

    def _slide(self, step: int) -> None:
        horizon = step - self.window_steps
        while self._steps and self._steps[0][0] <= horizon:
            self._steps.popleft()

    def _window(self) -> list[tuple[str, float]]:
        return [report for _, reports in self._steps for report in reports]

    def signal(self, step: int, sends: float | None = None
               ) -> tuple[float, float, float] | None:
        """(surprise, median wait over the window in seconds, the usual one) if the
        window ending at ``step`` holds ``MIN_REPORTS`` reports, the usual wait is
        learnt, and the window's median is ``SLOWER`` times and ``MIN_EXTRA_S`` longer;
        else None.

        ``sends``: the route's sends in the window, when it sees them all. Reports
        beyond them are the slow tail of earlier sends (a route gone quiet after a
        burst hears only its stragglers), and the slowest are set aside.
        """
        self._slide(step)
        if self.learnt < MIN_LEARNT_REPORTS:
            return None
        reports = self._window()
        if sends is not None and len(reports) > sends:
            reports = sorted(reports, key=lambda report: report[1])[:int(sends)]
        if len(reports) < MIN_REPORTS:
            return None
        logs = [log for _, log in reports]
        middle = median(logs)
        waited, usual = math.expm1(middle), math.expm1(self.usual)
        if not self._slow(middle, waited, usual) or not self._slows_others(reports, usual):
            return None
        slower = sum(log > self.usual for log in logs)
        return binomial_surprise(slower, len(logs), 0.5), waited, usual

    def _slow(self, middle: float, waited: float, usual: float) -> bool:
        return middle - self.usual >= math.log(SLOWER) and waited - usual >= MIN_EXTRA_S

    def _slows_others(self, reports: list[tuple[str, float]], usual: float) -> bool:
        """Are the reports of every sender but the busiest as slow?"""
        counts: dict[str, int] = {}
        for sender, _ in reports:
            counts[sender] = counts.get(sender, 0) + 1
        busiest = max(counts, key=lambda sender: (counts[sender], sender))
        others = [log for sender, log in reports if sender != busiest]
        if len(others) < MIN_OTHERS:
            return False
        middle = median(others)
        return self._slow(middle, math.expm1(middle), usual)

    def learn(self) -> None:
        """Teach the usual wait what closed since the last lesson, unless the window's
        median is already ``DRIFTING`` times the usual."""
        pending, self._pending = self._pending, []
        if not pending:
            return
        if self.learnt >= MIN_LEARNT_REPORTS:
            logs = [log for _, log in self._window()]
            if len(logs) >= MIN_REPORTS and median(logs) - self.usual > math.log(DRIFTING):
                return
        # (Lessons come a minute apart or more: their median is the minute's typical
        # report, weighted by how many it is.)
        weight = len(pending)
        alpha = max(min(1.0, ALPHA_PER_REPORT * weight), weight / (self.learnt + weight))
        self.usual += alpha * (median(pending) - self.usual)
        self.learnt += weight

    def skip_lesson(self) -> None:
        """Forget what closed since the last lesson (the route was off its normal)."""
        self._pending = []
