"""Event-time alignment of the worker's sources (streams.ordering), without Kafka."""

from __future__ import annotations

import random
import time

from streams.ordering import EventMerger


def test_any_arrival_interleaving_comes_out_in_event_time_order() -> None:
    rng = random.Random(5)
    sources = {s: sorted(rng.randrange(10_000) for _ in range(300)) for s in "abc"}
    for _trial in range(20):
        merger = EventMerger(sources, max_wait_s=3600)
        cursors = dict.fromkeys(sources, 0)
        out: list[int] = []
        while any(cursors[s] < len(v) for s, v in sources.items()):
            s = rng.choice([s for s, v in sources.items() if cursors[s] < len(v)])
            burst = rng.randint(1, 40)  # one fetch of a partition
            for ts in sources[s][cursors[s]:cursors[s] + burst]:
                merger.push(s, ts, ts)
            cursors[s] += burst
            if cursors[s] >= len(sources[s]):
                merger.set_watermark(s, None)  # this source has nothing more
            out.extend(merger.pop_ready())
        # Declared idle is taken once the burst is max_wait old (see the burst test).
        out.extend(merger.pop_ready(now=time.monotonic() + 3600))
        assert out == sorted(ts for v in sources.values() for ts in v)
        assert merger.size == 0 and merger.forced == 0


def test_watermark_lets_the_merge_pass_a_source_with_nothing_buffered() -> None:
    merger = EventMerger(["a", "b"], max_wait_s=3600)
    merger.push("a", 10, "a10")
    merger.push("a", 20, "a20")
    assert merger.pop_ready() == []  # b may still send something older than 10
    merger.set_watermark("b", 15)
    assert merger.pop_ready() == ["a10"]
    merger.push("b", 17, "b17")
    assert merger.pop_ready() == ["b17"]  # b has said nothing about > 17 yet: a20 waits
    merger.set_watermark("b", 30)
    assert merger.pop_ready() == ["a20"]


def test_a_silent_source_is_given_up_on_only_after_max_wait() -> None:
    merger = EventMerger(["a", "b"], max_wait_s=5.0)
    merger.push("a", 10, "a10")
    now = time.monotonic()
    assert merger.pop_ready(now=now) == []
    assert merger.pop_ready(now=now + 4.0) == []
    assert merger.pop_ready(now=now + 6.0) == ["a10"]
    assert merger.forced == 1
    # Once it speaks again it is waited for again.
    merger.push("b", 50, "b50")
    merger.push("a", 60, "a60")
    assert merger.pop_ready() == ["b50"]
    assert merger.pop_ready() == []


def test_a_source_that_keeps_talking_is_never_skipped() -> None:
    merger = EventMerger(["a", "b"], max_wait_s=0.3)
    merger.push("a", 100, "a100")
    for step in range(10):  # b stays behind a for three times max_wait, but talks
        merger.set_watermark("b", 50 + step)
        assert merger.pop_ready() == []
        time.sleep(0.1)
    assert merger.forced == 0
    merger.set_watermark("b", 100)
    assert merger.pop_ready() == ["a100"]


def test_being_caught_up_is_not_evidence_that_nothing_older_follows() -> None:
    # While a producer writes, a consumer at the high-water mark of one partition
    # may get records older than another partition's head a moment later. The
    # merge must wait for the source to speak, not trust the snapshot.
    merger = EventMerger(["send", "dlr"], max_wait_s=5.0, caught_up=lambda s: True)
    now = time.monotonic()
    merger.push("send", 100, "s100", now=now)
    merger.push("send", 900, "s900", now=now)
    assert merger.pop_ready(now=now + 1.0) == []
    merger.push("dlr", 150, "d150", now=now + 1.0)
    assert merger.pop_ready(now=now + 1.0) == ["s100", "d150"]
    assert merger.pop_ready(now=now + 1.0) == []  # dlr may still bring < 900
    assert merger.forced == 0


def test_a_silent_source_with_unread_records_is_never_given_up_on() -> None:
    backlog = {"dlr": True}
    merger = EventMerger(["send", "dlr"], max_wait_s=1.0,
                         caught_up=lambda s: not backlog.get(s, False))
    now = time.monotonic()
    merger.push("send", 100, "s100", now=now)
    assert merger.pop_ready(now=now + 60) == []  # records wait in Kafka: a slow reader
    backlog["dlr"] = False
    assert merger.pop_ready(now=now + 61) == ["s100"]
    assert merger.forced == 1


def test_a_source_idle_before_a_burst_gets_max_wait_to_speak_in_it() -> None:
    merger = EventMerger(["a", "b"], max_wait_s=5.0, now=0.0)
    merger.set_watermark("b", None, now=1.0)  # b's owner: nothing to say (no input yet)
    assert merger.idle(now=10.0)
    # Input starts after a quiet spell: a's records come first, b's are on the way.
    merger.push("a", 10, "a10", now=20.0)
    merger.push("a", 500, "a500", now=20.0)
    assert merger.pop_ready(now=21.0) == []
    merger.push("b", 20, "b20", now=21.5)
    assert merger.pop_ready(now=21.5) == ["a10", "b20"]
    # b stays silent after that: passed once the burst is max_wait old.
    merger.set_watermark("b", None, now=22.0)
    assert merger.pop_ready(now=24.0) == []
    assert merger.pop_ready(now=25.0) == ["a500"]


def test_without_the_silence_rule_only_a_watermark_passes_a_source() -> None:
    merger = EventMerger(["a", "b"], max_wait_s=1.0, silence_idles=False, now=0.0)
    merger.push("a", 10, "a10", now=0.0)
    assert merger.pop_ready(now=3600.0) == []  # b's owner is busy or being replaced
    merger.set_watermark("b", 10, now=3600.0)
    assert merger.pop_ready(now=3600.0) == ["a10"]
    assert not merger.idle(now=7200.0)  # b never said it is idle


def test_equal_times_come_out_in_source_order_whatever_the_arrival() -> None:
    # Millisecond timestamps collide (a send and a DLR in the same ms); the order of
    # such items must not depend on which partition happened to be read first.
    rng = random.Random(11)
    names = ["send", "dlr", "verify"]
    sources = {s: sorted(rng.randrange(60) for _ in range(80)) for s in names}
    expected = sorted(((ts, names.index(s), i) for s, v in sources.items()
                       for i, ts in enumerate(v)))
    for _trial in range(30):
        merger = EventMerger(names, max_wait_s=3600)
        cursors = dict.fromkeys(names, 0)
        out: list[tuple[int, int, int]] = []
        while any(cursors[s] < len(v) for s, v in sources.items()):
            s = rng.choice([s for s, v in sources.items() if cursors[s] < len(v)])
            burst = rng.randint(1, 10)
            for i in range(cursors[s], min(cursors[s] + burst, len(sources[s]))):
                merger.push(s, sources[s][i], (sources[s][i], names.index(s), i))
            cursors[s] += burst
            if cursors[s] >= len(sources[s]):
                merger.set_watermark(s, None)
            out.extend(merger.pop_ready())
        out.extend(merger.pop_ready(now=time.monotonic() + 3600))
        assert out == expected
