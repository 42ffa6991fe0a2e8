"""The enforcer: ``sms.throttle`` from Kafka, authenticated, into the Redis throttle store.

Delivery guarantee: a record's offset is committed only after Redis accepted
it (or it was rejected as untrustworthy, which no retry can fix). While Redis
is down the enforcer retries the same record with capped exponential backoff
and commits nothing, so after Redis returns (or after the enforcer restarts)
it continues from the first record Redis never saw. Redelivery is harmless:
``apply.lua`` applies each command id once.

Redis losing data (a restart without persistence, a flush, a failover to a
lagging replica) is detected, not assumed away: with every command Redis
stores, atomically, how far it has applied each partition (its watermark). If
the watermark is missing or behind what the enforcer last wrote, the enforcer
seeks the partition back to the watermark (or the beginning) and re-applies;
expired commands are then rejected as such.

:class:`Enforcer` holds the per-record logic with no Kafka in it (tests drive
it directly); :func:`run_enforcer` is the thin aiokafka loop around it.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterator, Mapping
from typing import Any

import redis

from streams.enforcement.intake import CommandRejected, authenticate
from streams.enforcement.store import OffsetMark, ThrottleStore

log = logging.getLogger("smsguard.enforcer")


class EnforcerStopped(Exception):
    """Raised when a stop was requested while a record still waited for Redis."""


def backoff_delays(first_s: float = 0.05, cap_s: float = 5.0) -> Iterator[float]:
    """Capped exponential delays: 0.05, 0.1, 0.2, ... up to ``cap_s`` forever.

    >>> from itertools import islice
    >>> list(islice(backoff_delays(0.1, 0.5), 5))
    [0.1, 0.2, 0.4, 0.5, 0.5]
    """
    delay = first_s
    while True:
        yield min(delay, cap_s)
        delay = min(delay * 2, cap_s)


class Enforcer:
    """Authenticates one throttle record and applies it through a :class:`ThrottleStore`.

    Parameters
    ----------
    store
        Where commands are materialised.
    signing_key
        The shared HMAC key (``config.signing.key``).
    require_signature
        ``config.signing.require``: unsigned records are rejected when true.
    metrics
        A ``streams.metrics.Metrics`` (``enforcer_commands`` by outcome), or None.
    clock_ms
        Wall clock in epoch ms, for the expiry check.
    """

    def __init__(
        self,
        store: ThrottleStore,
        signing_key: str | bytes,
        require_signature: bool = True,
        metrics: Any = None,
        clock_ms: Callable[[], int] = lambda: int(time.time() * 1000),
        first_backoff_s: float = 0.05,
        max_backoff_s: float = 5.0,
    ) -> None:
        if require_signature and not signing_key:
            raise ValueError("signing.require is on but signing.key is empty")
        self.store = store
        self.signing_key = signing_key
        self.require_signature = require_signature
        self.metrics = metrics
        self.clock_ms = clock_ms
        self.first_backoff_s = first_backoff_s
        self.max_backoff_s = max_backoff_s
        # Outcome tallies of this process (also exported as metrics when given).
        self.outcomes: Counter[str] = Counter()
        self.redis_failures = 0
        self.rewinds = 0

    def handle(self, raw: bytes | str | Mapping[str, Any], mark: OffsetMark | None = None) -> str:
        """Authenticate and apply one record; returns the outcome label.

        Outcomes: ``applied``, ``released``, ``release_noop``, ``duplicate``, ``stale``,
        ``expired`` (from the store) or ``rejected_<reason>`` (``unsigned``,
        ``bad_signature``, ``expired``, ``invalid``, ``unsupported_scope``, ``not_json``),
        or ``lost`` when ``mark`` shows that Redis lost records it had applied (nothing
        was done: the caller rewinds). Raises ``redis.RedisError`` when Redis did not
        accept it (nothing counted then).
        """
        try:
            command = authenticate(
                raw, self.signing_key, self.clock_ms(), require_signature=self.require_signature
            )
        except CommandRejected as exc:
            # Rejected records still move the watermark, or they would look like lost ones.
            if mark is not None and self.store.mark(mark) == "lost":
                return self._lost(mark)
            outcome = f"rejected_{exc.reason}"
            log.warning("rejected throttle record: %s", exc)
        else:
            result = self.store.apply(command, mark)
            if result.status == "lost":
                return self._lost(mark)
            outcome = result.status
            log.info("%s %s %s (%s)", outcome, command.action, result.scope, command.command_id)
        self.count_outcome(outcome)
        return outcome

    def _lost(self, mark: OffsetMark | None) -> str:
        self.rewinds += 1
        # Counted so operators can alert on it: Redis dropped commands it had accepted.
        self.count_outcome("redis_lost")
        log.warning("Redis lost throttle commands of %s (watermark behind %s): re-reading",
                    mark.field if mark else "?", mark.expected if mark else "?")
        return "lost"

    def handle_until_applied(
        self,
        raw: bytes | str | Mapping[str, Any],
        stop: threading.Event | None = None,
        mark: OffsetMark | None = None,
    ) -> str:
        """:meth:`handle`, retried with backoff while Redis is unavailable (blocking)."""
        for delay in backoff_delays(self.first_backoff_s, self.max_backoff_s):
            try:
                return self.handle(raw, mark)
            except redis.RedisError as exc:
                self._redis_failed(exc, delay)
            if stop is not None and stop.wait(delay):
                raise EnforcerStopped("stopped while waiting for Redis")
            if stop is None:
                time.sleep(delay)
        raise AssertionError("unreachable")  # backoff_delays never ends

    async def handle_until_applied_async(
        self,
        raw: bytes | str | Mapping[str, Any],
        stop: asyncio.Event | None = None,
        mark: OffsetMark | None = None,
    ) -> str:
        """Async :meth:`handle_until_applied`: Redis calls run in a thread, waits are awaited."""
        for delay in backoff_delays(self.first_backoff_s, self.max_backoff_s):
            try:
                return await asyncio.to_thread(self.handle, raw, mark)
            except redis.RedisError as exc:
                self._redis_failed(exc, delay)
            if stop is None:
                await asyncio.sleep(delay)
                continue
            try:
                await asyncio.wait_for(stop.wait(), timeout=delay)
            except TimeoutError:
                continue
            raise EnforcerStopped("stopped while waiting for Redis")
        raise AssertionError("unreachable")

    def refresh_gauges(self) -> None:
        """Set ``smsguard_active_throttles`` by action from the store's index."""
        if self.metrics is None:
            return
        counts = Counter(t.action for t in self.store.active())
        for action in ("limit", "block"):
            self.metrics.active_throttles.labels(action=action).set(counts.get(action, 0))

    def _redis_failed(self, exc: Exception, delay: float) -> None:
        self.redis_failures += 1
        log.warning("Redis did not accept the command (%s); retrying in %.2fs", exc, delay)

    def count_outcome(self, outcome: str) -> None:
        """Tally one outcome (and export it when metrics were given)."""
        self.outcomes[outcome] += 1
        if self.metrics is not None:
            self.metrics.enforcer_commands.labels(outcome=outcome).inc()


def rewind_target(expected: int | None, watermark: int | None) -> int | None:
    """Where to re-read a partition from, or None when Redis holds all it should.

    ``expected`` is the watermark the enforcer last wrote (or the group's committed
    offset when it took the partition over); ``watermark`` is what Redis has now.

    >>> rewind_target(None, None), rewind_target(120, 120), rewind_target(120, 130)
    (None, None, None)
    >>> rewind_target(120, None), rewind_target(120, 80)
    (0, 80)
    """
    if expected is None or expected <= 0:
        return None
    if watermark is None:
        return 0
    return watermark if watermark < expected else None


async def run_enforcer(
    enforcer: Enforcer,
    bootstrap: str,
    topic: str,
    group_id: str,
    stop: asyncio.Event | None = None,
    max_records: int = 500,
    check_interval_s: float = 5.0,
) -> None:
    """Consume ``topic`` in ``group_id`` and apply every record, until ``stop`` is set.

    Offsets are committed manually, after the records up to them were handled.
    Every ``check_interval_s`` it compares Redis's watermarks with what it wrote
    (so a Redis that came back empty is rebuilt even when no new command arrives)
    and refreshes the active-throttle gauges.
    """
    from aiokafka import AIOKafkaConsumer, TopicPartition
    from aiokafka.errors import CommitFailedError, KafkaError

    stop = stop or asyncio.Event()
    consumer = AIOKafkaConsumer(
        topic,
        bootstrap_servers=bootstrap,
        group_id=group_id,
        enable_auto_commit=False,
        # A new group starts from the oldest record: commands still in force get applied,
        # expired ones are rejected as such.
        auto_offset_reset="earliest",
    )
    # Per partition: the watermark Redis should have (what we last wrote there).
    expected: dict[TopicPartition, int | None] = {}

    async def rewind(tp: TopicPartition, target: int) -> None:
        if target <= 0:
            await consumer.seek_to_beginning(tp)
        else:
            consumer.seek(tp, target)
        expected[tp] = target if target > 0 else None
        log.warning("re-reading %s[%d] from offset %d", tp.topic, tp.partition, target)

    async def verify_watermarks() -> None:
        assigned = consumer.assignment()
        for tp in list(expected):
            if tp not in assigned:
                del expected[tp]
        for tp in assigned:
            if tp not in expected:
                expected[tp] = await consumer.committed(tp)
        marks = await asyncio.to_thread(enforcer.store.offset_marks, topic)
        for tp in assigned:
            target = rewind_target(expected[tp], marks.get(tp.partition))
            if target is not None:
                enforcer.rewinds += 1
                enforcer.count_outcome("redis_lost")
                await rewind(tp, target)

    await consumer.start()
    log.info("enforcer consuming %s as group %s from %s", topic, group_id, bootstrap)
    next_check = 0.0
    try:
        while not stop.is_set():
            if time.monotonic() >= next_check or any(
                tp not in expected for tp in consumer.assignment()
            ):
                next_check = time.monotonic() + check_interval_s
                with contextlib.suppress(redis.RedisError):
                    await verify_watermarks()
                    await asyncio.to_thread(enforcer.refresh_gauges)
            batches = await consumer.getmany(timeout_ms=500, max_records=max_records)
            done: dict[TopicPartition, int] = {}
            try:
                for tp, records in batches.items():
                    if tp not in expected:
                        expected[tp] = await consumer.committed(tp)
                    for record in records:
                        mark = OffsetMark(tp.topic, tp.partition, record.offset + 1,
                                          expected=expected[tp])
                        outcome = await enforcer.handle_until_applied_async(
                            record.value, stop, mark
                        )
                        if outcome == "lost":
                            done.pop(tp, None)
                            try:
                                marks = await asyncio.to_thread(
                                    enforcer.store.offset_marks, topic
                                )
                            except redis.RedisError:
                                marks = {}  # from the beginning is always safe
                            await rewind(tp, marks.get(tp.partition) or 0)
                            break
                        expected[tp] = record.offset + 1
                        done[tp] = record.offset + 1
            except EnforcerStopped:
                pass
            finally:
                if done:
                    try:
                        await consumer.commit(done)
                    except (CommitFailedError, KafkaError) as exc:
                        # A rebalance took the partition: its new owner re-applies from the
                        # last commit, which the applied-once markers make harmless.
                        log.warning("offset commit failed (%s); records will be redelivered", exc)
    finally:
        await consumer.stop()
