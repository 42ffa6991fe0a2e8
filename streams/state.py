"""The core's per-entity state, checkpointed into Faust tables so a restarted
(or rebalanced) worker resumes warm instead of cold.

Layout: one Faust table per scope family (``account``, ``prefix``, ...), backed
by a changelog topic (RocksDB on disk in the worker, memory in unit tests).
Each partition of a family has its own :class:`FamilyProcessor` (a partition is
the unit Kafka moves between workers). Table keys are ``"<partition>|<entity>"``
→ the checkpoint's generation (4 bytes) and ``export_state(entity)``, plus two
markers per partition: ``"<partition>|\\x00applied"`` → the generation, the last
input offset applied per origin (``"topic:partition"``), the stream clock and the
event time the partition's processing began, as of the last complete checkpoint;
``"<partition>|\\x00pending"`` → the generation and offsets of the checkpoint being
written.

Why the markers: Faust commits input offsets on its own schedule, while the
state is checkpointed every few seconds. The input agents therefore ack records
only after a checkpoint that covers them (so the committed offset never runs
ahead of the stored state: nothing is lost), and after a restart they skip
records the restored state already contains (offset <= marker: nothing is
counted twice). Checkpoint writes for one partition go to one changelog
partition in order, marker last, so a visible marker implies the state before it.

The converse does not hold: a worker killed in the middle of a checkpoint leaves
some entities newer than the marker, and replaying the records after the marker
would count those records twice in them. Hence the pending marker, written first:
an entity stamped with a generation past the marker's holds everything up to the
pending offsets, and the records up to there skip it (but still move the stream
clock and reach the other entities).
"""

from __future__ import annotations

import asyncio
import logging
import struct
import time
import zlib
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any, Protocol

import orjson

from detector.pipeline import SWEEP_EVERY_MS

log = logging.getLogger("smsguard.worker")

MARKER = "\x00applied"
PENDING = "\x00pending"
GENERATION = struct.Struct(">I")  # prefix of every entity value: the checkpoint that wrote it


class Processor(Protocol):
    """What the worker needs of the core's ``FamilyProcessor``."""

    entities: dict[str, Any]
    clock: int
    started_ms: int | None

    def key_of(self, event: Any) -> str | None: ...
    def advance(self, ts: int) -> list[Any]: ...
    def annotate(self, event: Any) -> None: ...
    def process(self, event: Any) -> list[Any]: ...
    def sweep(self, now_ts: int) -> int: ...
    def export_state(self, key: str) -> bytes: ...
    def import_state(self, key: str, blob: bytes) -> bool: ...
    def holds(self, key: str) -> bool: ...
    def dirty_keys(self) -> set[str]: ...
    def mark_clean(self) -> None: ...
    def state_size(self) -> int: ...


@dataclass
class PartitionScope:
    """One family's processor for one partition, with its checkpoint bookkeeping."""

    family: str
    partition: int
    processor: Processor
    applied: dict[str, int] = field(default_factory=dict)
    restored_keys: int = 0
    dropped_keys: int = 0  # checkpointed by a version with another state shape
    restored_warm: int = 0  # restored entities that have closed steps (a history)
    unflushed: int = 0  # records applied since the last checkpoint
    next_sweep: int = 0  # event time of the next sweep of idle entities
    finished: bool = False  # every open step closed by an idle close, nothing new since
    touched: set[str] = field(default_factory=set)  # changed outside process() (idle close)
    lock: asyncio.Lock = field(default_factory=asyncio.Lock)
    last_checkpoint: float = field(default_factory=time.monotonic)

    generation: int = 0  # of the last checkpoint written (or restored)
    # Checkpoints interrupted since the last complete one: generation -> its offsets.
    # Carried in the next pending marker until a checkpoint completes, as entities
    # they wrote may still be in the table (a worker may die twice in a row).
    unfinished: dict[int, dict[str, int]] = field(default_factory=dict)
    # Entities restored from an interrupted checkpoint: they hold every record up to
    # their checkpoint's offsets, which must not reach them again.
    ahead: dict[str, dict[str, int]] = field(default_factory=dict)

    def already_applied(self, origin: str, offset: int) -> bool:
        return offset <= self.applied.get(origin, -1)

    def applied_now(self, origin: str, offset: int) -> None:
        self.applied[origin] = max(offset, self.applied.get(origin, -1))
        self.unflushed += 1

    def apply(self, event: Any, origin: str, offset: int) -> list[Any]:
        """The core's decision for one record of this partition (``offset`` in ``origin``).

        Idle entities are swept every ``SWEEP_EVERY_MS`` of event time, as in replay.
        """
        self.finished = False
        ahead = self.ahead.get(self.processor.key_of(event)) if self.ahead else None
        if ahead is not None and offset <= ahead.get(origin, -1):
            self.processor.annotate(event)  # its entity has it already
            outputs = self.processor.advance(event.ts)
        else:
            outputs = self.processor.process(event)
        if event.ts >= self.next_sweep:
            self.next_sweep = event.ts + SWEEP_EVERY_MS
            self.processor.sweep(event.ts)  # what it forgets is deleted at the next checkpoint
        return outputs

    def caught_up_with_ahead(self) -> bool:
        """Has the stream passed every record an interrupted checkpoint's entities hold?"""
        return all(offset <= self.applied.get(origin, -1)
                   for through in self.ahead.values() for origin, offset in through.items())


def table_key(partition: int, entity: str) -> str:
    return f"{partition}|{entity}"


def _text(key: Any) -> str:
    return key.decode() if isinstance(key, bytes | bytearray) else str(key)


class CheckpointedState:
    """Per-(family, partition) processors, restored from and checkpointed to tables.

    ``tables`` maps a family to a dict-like Faust table (``memory://`` or
    ``rocksdb://``); writes must happen while the agent processes an event of the
    same partition (Faust routes a table write to the changelog partition of the
    current event, and the RocksDB store files it under that partition).
    """

    def __init__(
        self,
        make_processor: Callable[[str], Processor],
        tables: dict[str, Any],
        interval_s: float = 5.0,
        max_records: int = 20_000,
    ) -> None:
        self.make_processor = make_processor
        self.tables = tables
        self.interval_s = interval_s
        self.max_records = max_records
        self.scopes: dict[tuple[str, int], PartitionScope] = {}

    def scope(self, family: str, partition: int) -> PartitionScope:
        """The processor of ``family`` for ``partition``, restored from its table on first use."""
        found = self.scopes.get((family, partition))
        if found is None:
            found = self.scopes[(family, partition)] = self._restore(family, partition)
        return found

    def _restore(self, family: str, partition: int) -> PartitionScope:
        scope = PartitionScope(family, partition, self.make_processor(family))
        head = f"{partition}|"
        blobs: dict[str, bytes] = {}
        markers: dict[str, dict[str, Any]] = {}
        for raw_key, blob in list(self.tables[family].items()):
            key = _text(raw_key)
            if not key.startswith(head) or blob is None:
                continue
            entity = key[len(head):]
            if entity in (MARKER, PENDING):
                markers[entity] = orjson.loads(blob)
            else:
                blobs[entity] = bytes(blob)
        done = markers.get(MARKER, {"g": 0, "a": {}, "c": 0})
        pending = markers.get(PENDING, done)
        scope.generation = max(done["g"], pending["g"])
        scope.applied = {str(k): int(v) for k, v in done["a"].items()}
        scope.processor.clock = max(scope.processor.clock, int(done.get("c", 0)))
        if done.get("s") is not None:  # when this partition's processing began
            scope.processor.started_ms = int(done["s"])
        if pending["g"] > done["g"]:
            scope.unfinished = {int(g): offsets for g, offsets in pending.get("t", {}).items()}
            scope.unfinished[pending["g"]] = pending["a"]
        for entity, blob in blobs.items():
            (generation,) = GENERATION.unpack_from(blob)
            kept = scope.processor.import_state(
                entity, zlib.decompress(blob[GENERATION.size:]))
            scope.restored_keys += 1
            if not kept:
                scope.dropped_keys += 1
            elif generation > done["g"]:
                scope.ahead[entity] = scope.unfinished[generation]
        scope.processor.mark_clean()
        if scope.restored_keys:
            warm = sum(1 for e in scope.processor.entities.values()
                       if getattr(e, "closed_through", None) is not None)
            scope.restored_warm = warm
            log.info("smsguard restored %s partition %d: %d entities, %d with history, "
                     "%d ahead of the marker, applied offsets %s", family, partition,
                     scope.restored_keys, warm, len(scope.ahead), scope.applied)
            if scope.dropped_keys:
                log.warning("smsguard dropped %d of %s partition %d's checkpointed entities: "
                            "written by a version with another state shape; they start "
                            "afresh", scope.dropped_keys, family, partition)
        return scope

    def due(self, scope: PartitionScope) -> bool:
        return (scope.unflushed > 0 or bool(scope.touched)) and (
            scope.unflushed >= self.max_records
            or time.monotonic() - scope.last_checkpoint >= self.interval_s
        )

    def checkpoint(self, scope: PartitionScope) -> int:
        """Write the pending marker, the dirty entities, then the marker; returns
        entities written.

        Call from an agent while it handles an event of ``scope.partition``, after
        the outputs of the covered records were flushed to Kafka.
        """
        table = self.tables[scope.family]
        generation = scope.generation + 1
        offsets = dict(scope.applied)
        table[table_key(scope.partition, PENDING)] = orjson.dumps(
            {"g": generation, "a": offsets, "t": scope.unfinished},
            option=orjson.OPT_NON_STR_KEYS)
        written = 0
        dirty = scope.processor.dirty_keys() | scope.touched
        stamp = GENERATION.pack(generation)
        for entity in sorted(dirty):
            key = table_key(scope.partition, entity)
            blob = (scope.processor.export_state(entity)
                    if scope.processor.holds(entity) else None)
            if blob:
                # zlib level 1: a model's pickled floats shrink ~5x for about the cost
                # of the pickling itself; the changelog and the restore move less.
                table[key] = stamp + zlib.compress(blob, 1)
            elif key in table:
                del table[key]  # the entity expired from (or never entered) the core's state
            written += 1
        scope.processor.mark_clean()
        scope.touched.clear()
        table[table_key(scope.partition, MARKER)] = orjson.dumps(
            {"g": generation, "a": offsets, "c": scope.processor.clock,
             "s": scope.processor.started_ms})
        scope.generation = generation
        scope.unfinished = {}
        if scope.ahead and scope.caught_up_with_ahead():
            scope.ahead.clear()
        scope.unflushed = 0
        scope.last_checkpoint = time.monotonic()
        return written

    def drop(self, partitions: Iterable[int]) -> None:
        """Forget processors of partitions this worker no longer owns (after a rebalance).

        Their state lives on in the changelog; whoever owns them next restores it.
        """
        gone = set(partitions)
        for key in [k for k in self.scopes if k[1] in gone]:
            del self.scopes[key]

    def drop_one(self, family: str, partition: int) -> None:
        self.scopes.pop((family, partition), None)

    def entities_by_family(self) -> dict[str, int]:
        out: dict[str, int] = {}
        for (family, _), scope in self.scopes.items():
            out[family] = out.get(family, 0) + scope.processor.state_size()
        return out
