"""Event-time alignment of several FIFO sources: a k-way merge with watermarks.

Why: the core decides on closed event-time steps, per entity, and tolerates
arrival disorder up to ``detector.lateness_s``. Kafka orders records only
within a partition, and a worker reads its partitions (and the send, DLR and
verify topics) at different paces: replaying an hour of traffic in seconds
turns a few thousand records of read skew into many minutes of event time.
So before the core sees them, records are merged back into event-time order:

- input side: per partition, the ``sms.send``/``sms.dlr``/``sms.verify`` partitions
  are merged; a source with nothing buffered holds the merge back unless it is
  caught up (its last offset reached the partition's high-water mark);
- family side: per repartition partition, the events forwarded by every input
  partition (origin) are merged; origins send *watermarks* ("nothing older than
  ``w`` will follow from me", or "idle") so an origin that routes nothing here
  does not hold the merge back.

A source that holds the merge back and has not been heard of (no record, no
watermark) for ``max_wait_s`` of wall time is taken as idle until it speaks
again (a finished, stalled or lost source must not stop detection; the other
sources stay in order among themselves). That is the only place the order can
differ from the replay file's.
"""

from __future__ import annotations

import time
from collections import deque
from collections.abc import Callable, Iterable
from typing import Any

IDLE = object()


class EventMerger:
    """Merge per-source FIFO queues by the event time of their heads.

    ``sources`` are the sources known up front (the merge waits for each of them);
    ``caught_up(source)`` may say that an empty source has nothing in flight.

    >>> m = EventMerger(["a", "b"])
    >>> m.push("a", 10, "a10"); m.push("a", 30, "a30"); m.push("b", 20, "b20")
    >>> m.pop_ready()  # a30 waits: b may still send something older
    ['a10', 'b20']
    >>> m.set_watermark("b", 40)
    >>> m.pop_ready()
    ['a30']
    """

    def __init__(self, sources: Iterable[str] = (), max_wait_s: float = 5.0,
                 caught_up: Callable[[str], bool] | None = None) -> None:
        self.queues: dict[str, deque[tuple[int, Any]]] = {s: deque() for s in sources}
        self.watermarks: dict[str, Any] = {}
        self.max_wait_s = max_wait_s
        self.caught_up = caught_up
        self.blocked_since: float | None = None
        self.heard: dict[str, float] = {}
        self.started = time.monotonic()
        self.size = 0
        self.forced = 0  # releases that skipped a silent source (figures, metrics)

    def push(self, source: str, ts: int, item: Any) -> None:
        queue = self.queues.get(source)
        if queue is None:
            queue = self.queues[source] = deque()
        queue.append((ts, item))
        self.size += 1
        self.heard[source] = time.monotonic()
        if self.watermarks.get(source) is IDLE:
            del self.watermarks[source]  # it speaks again: wait for it again

    def set_watermark(self, source: str, ts: int | None) -> None:
        """``ts``: no later item of ``source`` is older; ``None``: the source is idle."""
        self.queues.setdefault(source, deque())
        self.watermarks[source] = IDLE if ts is None else ts
        self.heard[source] = time.monotonic()

    def _open(self, source: str, ts: int) -> bool:
        """May the merge pass ``ts`` while ``source`` has nothing buffered?"""
        mark = self.watermarks.get(source)
        if mark is IDLE or (mark is not None and mark >= ts):
            return True
        return self.caught_up is not None and self.caught_up(source)

    def pop_ready(self, force: bool = False, now: float | None = None) -> list[Any]:
        """Items that can go out in event-time order now (all of them with ``force``)."""
        out: list[Any] = []
        while self.size:
            best_source, best_ts = None, None
            for source, queue in self.queues.items():
                if queue and (best_ts is None or queue[0][0] < best_ts):
                    best_source, best_ts = source, queue[0][0]
            assert best_source is not None and best_ts is not None
            if not force:
                blocked = [s for s, q in self.queues.items()
                           if not q and not self._open(s, best_ts)]
                if blocked and not self._give_up_on(blocked, now):
                    break
            self.blocked_since = None
            out.append(self.queues[best_source].popleft()[1])
            self.size -= 1
        if not self.size:
            self.blocked_since = None
        return out

    def _give_up_on(self, blocked: list[str], now: float | None) -> bool:
        """After ``max_wait_s`` blocked, mark the silent blocking sources idle."""
        now = time.monotonic() if now is None else now
        if self.blocked_since is None:
            self.blocked_since = now
        if now - self.blocked_since < self.max_wait_s:
            return False
        silent = [s for s in blocked
                  if now - self.heard.get(s, self.started) >= self.max_wait_s]
        for source in silent:
            self.watermarks[source] = IDLE
            self.forced += 1
        return len(silent) == len(blocked)

    def drop(self, source: str) -> None:
        self.size -= len(self.queues.pop(source, ()))
        self.watermarks.pop(source, None)
