"""Scenarios: a population, its normal traffic and the incidents injected into it.

``simulate`` plans everything up front from one seed (who, when, how strong),
then merges every record source by ts and streams the replay file to disk; the
labels file is written at the end, once the attack message ids are known. Each
source draws from its own generator spawned from the seed, so output bytes
depend on the seed only.
"""

from __future__ import annotations

import heapq
import os
from collections import Counter
from dataclasses import dataclass, field
from operator import itemgetter
from pathlib import Path

import orjson

from detector.simulation.incidents import IncidentLabel
from detector.simulation.planner import Planner


@dataclass(frozen=True)
class Scenario:
    name: str
    hours: float
    accounts: int
    target_records: int | None = None


SCENARIOS = {
    "default": Scenario("default", hours=8.0, accounts=300),
    "bench": Scenario("bench", hours=8.0, accounts=300, target_records=1_000_000),
}


@dataclass
class SimulationSummary:
    out_path: str
    labels_path: str
    records: int
    by_topic: Counter
    incidents: list[IncidentLabel] = field(default_factory=list)
    start_ts: int = 0
    end_ts: int = 0


def default_labels_path(out_path: str | os.PathLike[str]) -> str:
    out = str(out_path)
    return (out[: -len(".jsonl")] if out.endswith(".jsonl") else out) + ".labels.jsonl"


def simulate(
    out_path: str | os.PathLike[str],
    labels_path: str | os.PathLike[str] | None = None,
    seed: int = 1,
    scenario: str = "default",
    hours: float | None = None,
    accounts: int | None = None,
    target_records: int | None = None,
) -> SimulationSummary:
    """Write a replay file and its labels; returns counts and the incident labels."""
    base = SCENARIOS[scenario]
    hours = base.hours if hours is None else float(hours)
    n_accounts = base.accounts if accounts is None else int(accounts)
    target = base.target_records if target_records is None else target_records
    labels_path = default_labels_path(out_path) if labels_path is None else str(labels_path)
    if n_accounts < 20:
        raise ValueError("a scenario needs at least 20 accounts to place its incidents")
    plan = Planner(seed, hours, n_accounts, target).build()
    by_topic: Counter = Counter()
    records = 0
    Path(out_path).parent.mkdir(parents=True, exist_ok=True)
    dumps = orjson.dumps
    with open(out_path, "wb", buffering=1 << 20) as out:
        batch: list[bytes] = []
        for _ts, topic, value in heapq.merge(*plan.sources, key=itemgetter(0)):
            batch.append(dumps({"topic": topic, "value": value}))
            by_topic[topic] += 1
            if len(batch) >= 4096:
                out.write(b"\n".join(batch) + b"\n")
                records += len(batch)
                batch.clear()
        if batch:
            out.write(b"\n".join(batch) + b"\n")
            records += len(batch)
    _start_at_first_message(out_path, plan.labels)
    plan.labels.sort(key=lambda lab: (lab.start_ts, lab.incident_id))
    Path(labels_path).parent.mkdir(parents=True, exist_ok=True)
    with open(labels_path, "wb") as fh:
        for label in plan.labels:
            fh.write(dumps(label.to_dict()) + b"\n")
    return SimulationSummary(
        out_path=str(out_path), labels_path=labels_path, records=records, by_topic=by_topic,
        incidents=plan.labels, start_ts=plan.world.start_ms, end_ts=plan.world.end_ms,
    )


def _start_at_first_message(replay_path: str | os.PathLike[str],
                            labels: list[IncidentLabel]) -> None:
    """Start each attack's label at its first message.

    The planner schedules when an attack begins, and a slow one draws its first send
    as a random arrival after that: on some seeds minutes later. Nothing of the attack
    exists before its first message, so that is when it starts, and when a detection
    delay starts counting. Incidents without messages of their own (a route going
    dark, benign events) keep their scheduled start.
    """
    owner = {mid: label for label in labels if not label.benign for mid in label.message_ids}
    first: dict[str, int] = {}
    with open(replay_path, "rb") as fh:
        for line in fh:
            if b'"sms.send"' not in line:
                continue
            value = orjson.loads(line)["value"]
            label = owner.get(value["message_id"])
            if label is not None and label.incident_id not in first:
                first[label.incident_id] = value["ts"]  # the file is in ts order
                if len(first) == len({lab.incident_id for lab in owner.values()}):
                    break
    for label in labels:
        if label.incident_id in first:
            label.start_ts = max(label.start_ts, first[label.incident_id])
