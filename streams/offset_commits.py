"""A fix for faust-streaming's offset commits stalling on duplicate acks.

Faust commits, for each partition, the first run of consecutive offsets in its
list of acked offsets (``Consumer._new_offset``). When it has recorded a gap in a
partition's offsets (it does at a restart, when the first message it reads is
past the offset it expected) it later adds the gap's offsets to that list
without checking which are already there. With an offset twice in the list, a
run stops at the repeat: each commit then moves the partition on by one or two
offsets, every ``broker_commit_interval``, and a worker that restarted after a
crash takes minutes to commit what it processed in seconds (our crash test saw
the committed offsets crawl for over 90 s after every record was processed).
Reported upstream: robinhood/faust#625 and #559, still in faust-streaming 0.15.

The fix removes repeats from the list before Faust looks for its run, so a
repeat left by one commit is gone by the next.
"""

from __future__ import annotations

from typing import Any

_PATCHED = "_smsguard_dedupes_acks"


def dedupe_acks_before_commit() -> None:
    """Patch Faust's consumer (once per process) to ignore repeated acked offsets."""
    from faust.transport.consumer import Consumer

    original = Consumer._new_offset
    if getattr(original, _PATCHED, False):
        return

    def _new_offset(self: Any, tp: Any) -> int | None:
        acked = self._acked.get(tp)
        if acked and len(set(acked)) != len(acked):
            acked[:] = sorted(set(acked))
        return original(self, tp)

    setattr(_new_offset, _PATCHED, True)
    _new_offset.__wrapped__ = original  # type: ignore[attr-defined]
    Consumer._new_offset = _new_offset  # type: ignore[method-assign]
