"""The core's per-entity state, checkpointed into Faust tables so a restarted
(or rebalanced) worker resumes warm instead of cold.

Layout: one Faust table per scope family (``account``, ``prefix``, ...), backed
by a changelog topic (RocksDB on disk in the worker, memory in unit tests).
Each partition of a family has its own :class:`FamilyProcessor` (a partition is
the unit Kafka moves between workers). Table keys are ``"<partition>|<entity>"``
→ ``export_state(entity)`` bytes, plus one marker per partition,
``"<partition>|\\x00applied"`` → the last input offset applied per origin
(``"topic:partition"``).

Why the marker: Faust commits input offsets on its own schedule, while the
state is checkpointed every few seconds. The input agents therefore ack records
only after a checkpoint that covers them (so the committed offset never runs
ahead of the stored state: nothing is lost), and after a restart they skip
records the restored state already contains (offset <= marker: nothing is
counted twice). Checkpoint writes for one partition go to one changelog
partition in order, marker last, so a visible marker implies the state before it.
"""

from __future__ import annotations

import asyncio
import logging
import time
import zlib
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any, Protocol

import orjson

log = logging.getLogger("smsguard.worker")

MARKER = "\x00applied"


class Processor(Protocol):
    """What the worker needs of the core's ``FamilyProcessor``."""

    entities: dict[str, Any]

    def process(self, event: Any) -> list[Any]: ...
    def export_state(self, key: str) -> bytes: ...
    def import_state(self, key: str, blob: bytes) -> None: ...
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
    restored_warm: int = 0  # restored entities that have closed steps (a history)
    unflushed: int = 0  # records applied since the last checkpoint
    next_sweep: int = 0  # event time of the next sweep of expired entities
    finished: bool = False  # every open step closed by an idle close, nothing new since
    expired: set[str] = field(default_factory=set)  # swept entities, deleted at checkpoint
    touched: set[str] = field(default_factory=set)  # changed outside process() (idle close)
    lock: asyncio.Lock = field(default_factory=asyncio.Lock)
    last_checkpoint: float = field(default_factory=time.monotonic)

    def already_applied(self, origin: str, offset: int) -> bool:
        return offset <= self.applied.get(origin, -1)

    def applied_now(self, origin: str, offset: int) -> None:
        self.applied[origin] = max(offset, self.applied.get(origin, -1))
        self.unflushed += 1


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
        for raw_key, blob in list(self.tables[family].items()):
            key = _text(raw_key)
            if not key.startswith(head) or blob is None:
                continue
            entity = key[len(head):]
            if entity == MARKER:
                scope.applied = {str(k): int(v) for k, v in orjson.loads(blob).items()}
            else:
                scope.processor.import_state(entity, zlib.decompress(bytes(blob)))
                scope.restored_keys += 1
        scope.processor.mark_clean()
        if scope.restored_keys:
            warm = sum(1 for e in scope.processor.entities.values()
                       if getattr(e, "closed_through", None) is not None)
            scope.restored_warm = warm
            log.info("smsguard restored %s partition %d: %d entities, %d with history, "
                     "applied offsets %s", family, partition, scope.restored_keys, warm,
                     scope.applied)
        return scope

    def due(self, scope: PartitionScope) -> bool:
        return (scope.unflushed > 0 or bool(scope.touched)) and (
            scope.unflushed >= self.max_records
            or time.monotonic() - scope.last_checkpoint >= self.interval_s
        )

    def checkpoint(self, scope: PartitionScope) -> int:
        """Write the dirty entities and then the marker; returns entities written.

        Call from an agent while it handles an event of ``scope.partition``, after
        the outputs of the covered records were flushed to Kafka.
        """
        table = self.tables[scope.family]
        written = 0
        dirty = scope.processor.dirty_keys() | scope.touched | scope.expired
        for entity in sorted(dirty):
            key = table_key(scope.partition, entity)
            blob = (scope.processor.export_state(entity)
                    if entity in scope.processor.entities else None)
            if blob:
                # zlib level 1: a model's pickled floats shrink ~5x for about the cost
                # of the pickling itself; the changelog and the restore move less.
                table[key] = zlib.compress(blob, 1)
            elif key in table:
                del table[key]  # the entity expired from the core's state
            written += 1
        scope.processor.mark_clean()
        scope.touched.clear()
        scope.expired.clear()
        table[table_key(scope.partition, MARKER)] = orjson.dumps(scope.applied)
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
