"""Event-time alignment of several FIFO sources: a k-way merge with watermarks.

Why: the core decides on closed event-time steps, per entity, and tolerates
arrival disorder up to ``detector.lateness_s``. Kafka orders records only
within a partition, and a worker reads its partitions (and the send, DLR and
verify topics) at different paces: replaying an hour of traffic in seconds
turns a few thousand records of read skew into many minutes of event time.
So before the core sees them, records are merged back into event-time order:

- input side: per partition, the ``sms.send``/``sms.dlr``/``sms.verify`` partitions
  are merged; a source with nothing buffered holds the merge back until it
  speaks again;
- family side: per repartition partition, the events forwarded by every input
  partition (origin) are merged; origins send *watermarks* ("nothing older than
  ``w`` will follow from me", or "idle") so an origin that routes nothing here
  does not hold the merge back.

Event time only moves on what the data says. In particular, "this consumer has
read up to the partition's high-water mark" is *not* taken as "nothing older is
in flight": while a producer is still writing, the high-water mark is a
snapshot, and a source that looks caught up may deliver records minutes older
(in event time) a few milliseconds later. Trusting it let a partition's verify
records overtake its sends by ~9 event-time minutes when two workers read a
fast replay, which is what made the scale-out run differ from replay.

The one place wall time enters is the end of a stream: a source that has said
nothing for ``max_wait_s`` (and, on the input side, has nothing unread in
Kafka) is taken as idle until it speaks again, so the tail of the input is not
held back forever. Silence is counted from the start of the current burst too
(the first record after the merge was quiet for ``max_wait_s``): a source that
was idle before a burst, because nothing was being produced, gets
``max_wait_s`` to speak up before the merge passes it. A declared idle
watermark (from an origin whose owner saw its input go quiet) follows the
same rule.
"""

from __future__ import annotations

import time
from collections import deque
from collections.abc import Callable, Iterable
from typing import Any

IDLE = object()


class EventMerger:
    """Merge per-source FIFO queues by the event time of their heads.

    Items of equal time go by source order (the order sources became known), so
    the output order depends on the data only, not on when each item arrived.

    ``sources`` are the sources known up front (the merge waits for each of them).
    ``silence_idles``: a source silent for ``max_wait_s`` counts as idle (input
    side: Kafka partitions cannot say they are idle); when ``False`` only a
    declared watermark lets the merge pass a source (family side: every origin's
    owner speaks for it). ``caught_up(source)``, if given, must also hold before
    a silent source counts as idle: one with records unread in Kafka never is.

    >>> m = EventMerger(["a", "b"])
    >>> m.push("a", 10, "a10"); m.push("a", 30, "a30"); m.push("b", 20, "b20")
    >>> m.pop_ready()  # a30 waits: b may still send something older
    ['a10', 'b20']
    >>> m.set_watermark("b", 40)
    >>> m.pop_ready()
    ['a30']
    """

    def __init__(self, sources: Iterable[str] = (), max_wait_s: float = 5.0,
                 caught_up: Callable[[str], bool] | None = None,
                 silence_idles: bool = True, now: float | None = None) -> None:
        now = time.monotonic() if now is None else now
        self.queues: dict[str, deque[tuple[int, Any]]] = {s: deque() for s in sources}
        self.watermarks: dict[str, Any] = {}
        self.last_ts: dict[str, int] = {}  # newest item of each source (FIFO in event time)
        self.max_wait_s = max_wait_s
        self.caught_up = caught_up
        self.silence_idles = silence_idles
        self.heard: dict[str, float] = {}
        self.started = now
        self.burst_start = now  # first push after a quiet spell (or creation)
        self.last_push: float | None = None
        self.size = 0
        self.forced = 0  # releases past a source taken as idle by its silence (figures)

    def push(self, source: str, ts: int, item: Any, now: float | None = None) -> None:
        now = time.monotonic() if now is None else now
        if self.size == 0 and (self.last_push is None
                               or now - self.last_push >= self.max_wait_s):
            # A new burst after a quiet spell: idleness learnt during the quiet
            # spell says nothing about what this burst brings.
            self.burst_start = now
        self.last_push = now
        queue = self.queues.get(source)
        if queue is None:
            queue = self.queues[source] = deque()
        queue.append((ts, item))
        self.size += 1
        self.heard[source] = now
        if source not in self.last_ts or ts > self.last_ts[source]:
            self.last_ts[source] = ts
        if self.watermarks.get(source) is IDLE:
            del self.watermarks[source]  # it speaks again: wait for it again

    def set_watermark(self, source: str, ts: int | None, now: float | None = None) -> None:
        """``ts``: no later item of ``source`` is older; ``None``: the source is idle."""
        self.queues.setdefault(source, deque())
        self.watermarks[source] = IDLE if ts is None else ts
        self.heard[source] = time.monotonic() if now is None else now

    def _quiet_long_enough(self, source: str, now: float, since: float) -> bool:
        return now - max(since, self.burst_start) >= self.max_wait_s

    def is_idle(self, source: str, now: float) -> bool:
        """Has ``source`` nothing buffered and nothing more to say for now?"""
        if self.queues.get(source):
            return False
        if self.watermarks.get(source) is IDLE:
            return self._quiet_long_enough(source, now, self.burst_start)
        if not self.silence_idles:
            return False
        if not self._quiet_long_enough(source, now, self.heard.get(source, self.started)):
            return False
        return self.caught_up is None or self.caught_up(source)

    def idle(self, now: float | None = None) -> bool:
        """Nothing buffered and every source idle: the stream has ended for now."""
        now = time.monotonic() if now is None else now
        return self.size == 0 and all(self.is_idle(s, now) for s in self.queues)

    def _open(self, source: str, ts: int, now: float, after: bool) -> bool | None:
        """May the merge pass ``ts`` while ``source`` has nothing buffered?

        ``True`` on the source's own word (watermark, or a newer item already
        seen: sources are FIFO), ``None`` when only its silence says so, ``False``
        when it must be waited for. ``after``: ``source`` comes after the head's
        source among equal times, so a later item of it at exactly ``ts`` would
        go after the head anyway (ties go by source order, whatever the timing).
        """
        mark = self.watermarks.get(source)
        if mark is not None and mark is not IDLE and (mark > ts or (after and mark == ts)):
            return True
        seen = self.last_ts.get(source)
        if seen is not None and (seen > ts or (after and seen == ts)):
            return True
        if mark is IDLE and self._quiet_long_enough(source, now, self.burst_start):
            return True
        if self.silence_idles and self.is_idle(source, now):
            return None
        return False

    def pop_ready(self, now: float | None = None) -> list[Any]:
        """Items that can go out in event-time order now."""
        now = time.monotonic() if now is None else now
        out: list[Any] = []
        while self.size:
            best_source, best_ts = None, None
            for source, queue in self.queues.items():
                if queue and (best_ts is None or queue[0][0] < best_ts):
                    best_source, best_ts = source, queue[0][0]
            assert best_source is not None and best_ts is not None
            forced = False
            after = False  # sources iterate in their order: later ones come after the head's
            for source, queue in self.queues.items():
                if source == best_source:
                    after = True
                if queue:
                    continue
                is_open = self._open(source, best_ts, now, after)
                if is_open is False:
                    return out
                forced = forced or is_open is None
            self.forced += forced
            out.append(self.queues[best_source].popleft()[1])
            self.size -= 1
        return out

    def drop(self, source: str) -> None:
        self.size -= len(self.queues.pop(source, ()))
        self.watermarks.pop(source, None)
