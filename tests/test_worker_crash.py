"""Crash: kill -9 the worker mid-stream and start it again.

Afterwards no input record is lost (the group's committed offsets reach the end
of every input topic and every finding of the uninterrupted run is there), no
throttle command id carries two different contents, the ids are exactly the
uninterrupted run's, and the restarted worker (on an empty data directory)
restored the account baselines from the tables' changelog topics instead of
starting cold.
"""

from __future__ import annotations

import asyncio
import time
import uuid
from pathlib import Path

import orjson
from kafka_broker import (
    WorkerProcess,
    committed_offsets,
    ids_of,
    progress_lines,
    restored,
    simulate_and_replay,
    split_file,
    wait_for_log,
    wait_for_outputs,
    worker_outputs,
)

from streams.kafka_io import end_offsets

INPUTS = ("sms.send", "sms.dlr", "sms.verify")


def accepted(lines: list[dict]) -> int:
    last = lines[-1] if lines else {}
    return sum(v for k, v in last.items() if k.startswith("accepted:"))


def test_kill_9_mid_stream_then_restart(kafka_bootstrap: str, tmp_path: Path) -> None:
    sim, expected = simulate_and_replay(tmp_path)
    head, tail = split_file(sim, 0.6)
    prefix = f"crash-{uuid.uuid4().hex[:8]}"
    # No idle close in the first life: a pause between the two halves must not
    # close steps early (that is what the idle close is for, but not what this tests).
    first = WorkerProcess(kafka_bootstrap, prefix, tmp_path, name="first", idle_close_s=600)
    first.produce(head)
    first.start()
    try:
        # Let it checkpoint and commit part of the stream, then give it the rest and
        # kill it while it works on that.
        assert wait_for_log(first, lambda w: accepted(progress_lines(w)) > 2000, 180)
        assert wait_for_log(
            first,
            lambda w: sum(committed_offsets(kafka_bootstrap, prefix,
                                            [w.topic(r) for r in INPUTS]).values()) > 0,
            120,
        )
        first.produce(tail)
        time.sleep(1.0)
        assert first.alive()
        first.kill()
    finally:
        first.stop()
    done_before = worker_outputs(kafka_bootstrap, first)
    total = asyncio.run(end_offsets(kafka_bootstrap, [first.topic(r) for r in INPUTS]))
    committed = committed_offsets(kafka_bootstrap, prefix, [first.topic(r) for r in INPUTS])
    assert sum(committed.values()) < sum(total.values())  # it really died mid-stream

    # Same app id (consumer group), a new data directory: as if the machine was lost
    # too, so the state must come back from the changelog topics (Faust's recovery
    # reads them into a fresh RocksDB store), not from the local disk.
    second = WorkerProcess(kafka_bootstrap, prefix, tmp_path, name="second")
    second.start()
    try:
        got = wait_for_outputs(kafka_bootstrap, second, expected)
        assert wait_for_log(
            second,
            lambda w: committed_offsets(kafka_bootstrap, prefix,
                                        [w.topic(r) for r in INPUTS]) == total,
            90,
        ), ("the group never committed every input record: committed "
            f"{committed_offsets(kafka_bootstrap, prefix, [second.topic(r) for r in INPUTS])}"
            f" of {total}")
    finally:
        second.stop()

    want_alerts, want_commands = ids_of(expected)
    alerts, commands = ids_of(got)
    assert want_alerts <= alerts and want_commands <= commands  # every finding is there
    assert alerts == want_alerts and commands == want_commands  # and nothing else
    contents: dict[str, set[bytes]] = {}
    for line in got:
        if line["topic"] == "sms.throttle":
            contents.setdefault(line["value"]["command_id"], set()).add(
                orjson.dumps(line["value"], option=orjson.OPT_SORT_KEYS))
    assert all(len(c) == 1 for c in contents.values())
    assert len(got) >= len(done_before)

    # Warm restart: account state came back from the tables, with history (closed
    # steps, learnt baselines), and processing resumed after what it already held.
    back = [r for r in restored(second) if r["family"] == "account"]
    assert back, second.log()[-3000:]
    assert sum(r["warm"] for r in back) > 0
    assert all(r["applied"] for r in back)
