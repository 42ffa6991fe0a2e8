"""Faust commits past repeated acked offsets (see streams/offset_commits.py)."""

from __future__ import annotations

from collections import defaultdict
from types import SimpleNamespace

from faust.transport.consumer import Consumer
from faust.types import TP
from intervaltree import IntervalTree

from streams.offset_commits import dedupe_acks_before_commit

TOPIC = TP("sms.send", 0)


def consumer_after_a_restart() -> SimpleNamespace:
    """Offsets 781..790 acked once each, 782..784 a second time (a gap Faust folded in)."""
    acked = sorted([*range(781, 791), 782, 783, 784])
    return SimpleNamespace(
        _acked=defaultdict(list, {TOPIC: acked}),
        _acked_index=defaultdict(set, {TOPIC: set(acked)}),
        _gap=defaultdict(IntervalTree),
        _committed_offset=defaultdict(lambda: None, {TOPIC: 781}),
    )


def test_unpatched_faust_commits_only_up_to_the_first_repeat() -> None:
    # The upstream behaviour this module exists for (this fails once Faust fixes it).
    original = getattr(Consumer._new_offset, "__wrapped__", Consumer._new_offset)
    assert original(consumer_after_a_restart(), TOPIC) == 783


def test_patched_faust_commits_every_acked_offset_at_once() -> None:
    dedupe_acks_before_commit()
    dedupe_acks_before_commit()  # idempotent
    assert Consumer._new_offset(consumer_after_a_restart(), TOPIC) == 791
