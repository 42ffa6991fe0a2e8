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
    Path(labels_path).parent.mkdir(parents=True, exist_ok=True)
    with open(labels_path, "wb") as fh:
        for label in plan.labels:
            fh.write(dumps(label.to_dict()) + b"\n")
    return SimulationSummary(
        out_path=str(out_path), labels_path=labels_path, records=records, by_topic=by_topic,
        incidents=plan.labels, start_ts=plan.world.start_ms, end_ts=plan.world.end_ms,
    )
