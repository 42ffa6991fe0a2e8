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
        out.extend(merger.pop_ready())
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
