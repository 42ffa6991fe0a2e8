"""Parity: one simulated file through produce → worker → output topics gives the
same alert ids and command ids as ``smsguard replay`` (the in-process pipeline)."""

from __future__ import annotations

import uuid
from pathlib import Path

from kafka_broker import WorkerProcess, ids_of, simulate_and_replay, wait_for_outputs


def test_worker_matches_replay(kafka_bootstrap: str, tmp_path: Path) -> None:
    sim, expected = simulate_and_replay(tmp_path)
    want_alerts, want_commands = ids_of(expected)
    assert want_alerts and want_commands  # the file must exercise detection at all

    worker = WorkerProcess(kafka_bootstrap, f"parity-{uuid.uuid4().hex[:8]}", tmp_path,
                           store="memory://")
    worker.produce(sim)
    worker.start()
    try:
        got = wait_for_outputs(kafka_bootstrap, worker, expected)
    finally:
        worker.stop()
    alerts, commands = ids_of(got)
    assert alerts == want_alerts
    assert commands == want_commands
    # Same ids and same content: the contract's records are identical, not just their ids.
    by_id = {record_id(o): o["value"] for o in got}
    for line in expected:
        assert by_id[record_id(line)] == line["value"]


def record_id(line: dict) -> tuple[str, str]:
    if line["topic"].endswith("alerts"):
        return "alert", line["value"]["alert_id"]
    return "command", line["value"]["command_id"]
