"""Scale-out: two workers in one consumer group, over topics with several
partitions, give the same findings as one worker (= the replay, see parity)."""

from __future__ import annotations

import uuid
from pathlib import Path

from kafka_broker import (
    WorkerProcess,
    ids_of,
    late_records,
    progress_lines,
    replay_late_records,
    simulate_and_replay,
    wait_for_log,
    wait_for_outputs,
)


def ready_count(worker: WorkerProcess) -> int:
    return worker.log().count("Worker ready")


def accepted(worker: WorkerProcess) -> int:
    lines = progress_lines(worker)
    return sum(v for k, v in (lines[-1] if lines else {}).items() if k.startswith("accepted:"))


def test_two_workers_one_group_same_findings(kafka_bootstrap: str, tmp_path: Path) -> None:
    sim, expected = simulate_and_replay(tmp_path)
    prefix = f"scale-{uuid.uuid4().hex[:8]}"
    # The input is produced while both workers run (the high-water marks they see
    # move under them), and the idle close is the helper's short default: neither
    # may change a finding (see streams.ordering).
    one = WorkerProcess(kafka_bootstrap, prefix, tmp_path, partitions=4, name="one")
    two = WorkerProcess(kafka_bootstrap, prefix, tmp_path, partitions=4, name="two")
    one.start()
    try:
        assert wait_for_log(one, lambda w: ready_count(w) >= 1, 120)
        two.start()
        # The group settles: the second worker is ready and the first has recovered
        # again after giving up half of its partitions.
        assert wait_for_log(two, lambda w: ready_count(w) >= 1, 120)
        assert wait_for_log(one, lambda w: ready_count(w) >= 2, 120)
        one.produce(sim)
        got = wait_for_outputs(kafka_bootstrap, one, expected, workers=[one, two])
        # Both did part of the work.
        assert wait_for_log(one, lambda w: accepted(w) > 0, 30)
        assert wait_for_log(two, lambda w: accepted(w) > 0, 30)
    finally:
        one.stop()
        two.stop()
    assert ids_of(got) == ids_of(expected)
    # Not only the same findings: no key saw an event after closing its step, where
    # replay did not either (the findings could hide a disorder that happened not
    # to change a decision this time).
    assert late_records(one) + late_records(two) == replay_late_records(sim)
    assert accepted(one) + accepted(two) >= len(sim.read_bytes().splitlines())
