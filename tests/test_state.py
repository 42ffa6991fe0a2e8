"""Checkpointed state: a worker restored from its tables goes on as if it had never
stopped, even when it died in the middle of writing a checkpoint.

No Kafka here: a table is a dict, as Faust's ``memory://`` store is, and a kill is a
table that stops taking writes. ``tests/test_worker_crash.py`` does the same against
the real broker and a real ``kill -9``, where the moment of death is left to chance.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import orjson
import pytest

from detector.config import Config
from detector.families import FamilyProcessor
from detector.records import RecordParser
from streams.state import MARKER, CheckpointedState

FAMILIES = ("account", "prefix", "destination", "route")
CHECKPOINT_EVERY = 500  # records between checkpoints


class Killed(Exception):
    """The worker died here."""


class DyingTable(dict):
    """A table whose process is killed after ``writes_left`` more writes (-1: right
    before the write of a checkpoint's marker, when every entity has been written)."""

    writes_left: int | None = None

    def _write(self, key: str) -> None:
        if self.writes_left is None:
            return
        if self.writes_left == 0 or (self.writes_left < 0 and key.endswith(MARKER)):
            raise Killed
        self.writes_left -= 1

    def __setitem__(self, key: str, value: Any) -> None:
        self._write(key)
        super().__setitem__(key, value)

    def __delitem__(self, key: str) -> None:
        self._write(key)
        super().__delitem__(key)


def stream(path: Path) -> list[tuple[str, int, Any]]:
    """(origin, offset, event) per record: one partition per input topic."""
    parser = RecordParser()
    offsets: dict[str, int] = {}
    out = []
    for line in path.read_bytes().splitlines():
        record = orjson.loads(line)
        origin = f"{record['topic']}:0"
        offsets[origin] = offsets.get(origin, -1) + 1
        out.append((origin, offsets[origin], parser.parse(record["topic"], record["value"])))
    return out


def new_state(tables: dict[str, DyingTable]) -> CheckpointedState:
    config = Config()
    return CheckpointedState(lambda family: FamilyProcessor(family, config), tables)


def run(records: list, tables: dict[str, DyingTable], die_at: int | None = None,
        writes: int = 0) -> list[bytes]:
    """One life of a single-partition worker over ``records`` (from the start, as a
    consumer group that committed nothing more than the markers cover).

    Checkpoints every ``CHECKPOINT_EVERY`` records; when ``die_at`` is given, dies
    ``writes`` table writes into the first checkpoint at or after that record.
    Returns every output it published, as bytes.
    """
    state = new_state(tables)
    scopes = {family: state.scope(family, 0) for family in FAMILIES}
    published: list[bytes] = []
    try:
        for n, (origin, offset, event) in enumerate(records, 1):
            for scope in scopes.values():
                if scope.already_applied(origin, offset):
                    continue
                published.extend(orjson.dumps(o.value) for o in scope.apply(event, origin, offset))
                scope.applied_now(origin, offset)
            if n % CHECKPOINT_EVERY == 0:
                for family, scope in scopes.items():
                    if die_at is not None and n >= die_at and family == "account":
                        tables[family].writes_left = writes
                    state.checkpoint(scope)
    except Killed:
        return published
    for scope in scopes.values():
        published.extend(orjson.dumps(o.value) for o in scope.processor.finish())
    return published


@pytest.fixture(scope="module")
def records(tmp_path_factory: pytest.TempPathFactory) -> list:
    from detector.simulation import simulate

    path = tmp_path_factory.mktemp("state") / "sim.jsonl"
    simulate(path, seed=3, hours=1, accounts=20)
    return stream(path)


@pytest.fixture(scope="module")
def uninterrupted(records: list) -> set[bytes]:
    published = run(records, {f: DyingTable() for f in FAMILIES})
    assert any(b'"kind"' in o for o in published)  # alerts to compare
    return set(published)


@pytest.mark.parametrize("writes", [0, 1, 3, -1])
def test_killed_mid_checkpoint_then_restored_publishes_what_an_unbroken_run_does(
        records: list, uninterrupted: set[bytes], writes: int) -> None:
    """Killed after ``writes`` writes of a checkpoint (none; the pending marker; it and
    two accounts; all but the marker), the restarted worker publishes exactly the
    unbroken run's outputs: the accounts written before the kill do not count the
    replayed records again."""
    tables = {f: DyingTable() for f in FAMILIES}
    first = run(records, tables, die_at=len(records) * 2 // 3, writes=writes)
    for table in tables.values():
        table.writes_left = None
    second = run(records, tables)
    assert set(first) | set(second) == uninterrupted


def test_killed_twice_in_checkpoints_then_restored_publishes_what_an_unbroken_run_does(
        records: list, uninterrupted: set[bytes]) -> None:
    """The first life dies with every account written but no marker; the second dies
    two checkpoints further on, after its pending marker and one account. The accounts
    of the first torn checkpoint hold less than those of the second: each keeps the
    offsets of its own checkpoint."""
    tables = {f: DyingTable() for f in FAMILIES}
    die_at = len(records) // 2
    first = run(records, tables, die_at=die_at, writes=-1)
    second = run(records, tables, die_at=die_at + 2 * CHECKPOINT_EVERY, writes=2)
    for table in tables.values():
        table.writes_left = None
    third = run(records, tables)
    assert set(first) | set(second) | set(third) == uninterrupted


def test_a_number_s_held_records_survive_a_restart() -> None:
    """Two sends to a number are held until a third makes it tracked; a restart in
    between must not forget the first two."""
    parser = RecordParser()
    t0 = 1_767_225_600_000

    def send(i: int) -> Any:
        return parser.parse("sms.send", {
            "message_id": f"m{i}", "ts": t0 + i * 1000, "account_id": "a1",
            "destination": "+447911123456", "price": 0.05})

    tables = {"destination": DyingTable()}
    state = new_state(tables)
    scope = state.scope("destination", 0)
    for i in range(2):
        scope.apply(send(i), "sms.send:0", i)
        scope.applied_now("sms.send:0", i)
    state.checkpoint(scope)
    restored = new_state(tables).scope("destination", 0)
    assert restored.processor.candidates == scope.processor.candidates != {}
    restored.apply(send(2), "sms.send:0", 2)
    assert "+447911123456" in restored.processor.entities


def test_checkpoints_of_another_state_shape_are_dropped_not_fatal(records: list) -> None:
    """A worker upgraded over checkpoints written by a version whose entities had
    another shape (here: a bare pickle, as before ``STATE_FORMAT``; a narrower
    aggregate vector would crash on the first record) restores nothing from them,
    counts them, and goes on judging those keys afresh."""
    import pickle
    import zlib

    from streams.state import GENERATION

    tables = {f: DyingTable() for f in FAMILIES}
    run(records[: CHECKPOINT_EVERY * 2], tables)
    table = tables["account"]
    for key, blob in list(table.items()):
        if blob is None or key.endswith(MARKER) or "\x00" in key:
            continue
        generation = blob[:GENERATION.size]
        payload = pickle.loads(zlib.decompress(blob[GENERATION.size:]))
        old = pickle.dumps(payload[1])  # what an older version wrote: no format tag
        table[key] = generation + zlib.compress(old)
    state = new_state(tables)
    scope = state.scope("account", 0)
    assert scope.restored_keys > 0
    assert scope.processor.entities == {}
    assert scope.processor.counters["state_dropped"] == scope.restored_keys
    published = [o for origin, offset, event in records[CHECKPOINT_EVERY * 2:]
                 for o in scope.apply(event, origin, offset)]
    assert scope.processor.entities  # the keys are judged afresh
    assert all(o.topic in ("sms.alerts", "sms.throttle") for o in published)
