"""Plain aiokafka helpers around the worker: wait for a broker, create topics,
send a replay file to the input topics, and read output topics.

Used by ``smsguard produce`` / ``smsguard tail``, the benchmark and the tests.
Only loopback or configured brokers are ever contacted: the bootstrap address
always comes from the caller.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import AsyncIterator, Iterable, Mapping
from dataclasses import dataclass
from typing import Any

import orjson
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient, NewTopic
from aiokafka.errors import KafkaError, TopicAlreadyExistsError

INPUT_ROLES = ("sms.send", "sms.dlr", "sms.verify")
OUTPUT_ROLES = ("sms.alerts", "sms.throttle", "sms.deadletter")


async def wait_for_broker(bootstrap: str, timeout_s: float = 60.0) -> None:
    """Return once the broker answers a metadata request; raise TimeoutError otherwise."""
    deadline = time.monotonic() + timeout_s
    last: Exception | None = None
    while time.monotonic() < deadline:
        admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap, request_timeout_ms=5000)
        try:
            await admin.start()
            await admin.list_topics()
            return
        except (KafkaError, OSError) as exc:
            last = exc
        finally:
            await admin.close()
        await asyncio.sleep(0.3)
    raise TimeoutError(f"Kafka at {bootstrap} did not answer within {timeout_s}s: {last!r}")


async def ensure_topics(
    bootstrap: str, partitions: Mapping[str, int], replication: int = 1,
    configs: Mapping[str, Mapping[str, str]] | None = None,
) -> None:
    """Create the topics that do not exist yet (name -> partition count).

    The worker creates its input and output topics before it subscribes: a topic
    auto-created later by a producer would get the broker's default partition
    count and would not be seen by an already running consumer for minutes.
    ``configs``: topic settings by name (e.g. ``cleanup.policy=compact``), used
    only when this call creates the topic. Returns once the broker's metadata
    shows every topic with all its partitions.
    """
    configs = configs or {}
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap, request_timeout_ms=15000)
    await admin.start()
    try:
        existing = set(await admin.list_topics())
        missing = [
            NewTopic(name, count, replication, topic_configs=dict(configs.get(name, {})))
            for name, count in partitions.items()
            if name not in existing
        ]
        if missing:
            # Another worker may create it between list and create.
            with contextlib.suppress(TopicAlreadyExistsError):
                await admin.create_topics(missing)
        # Creation is asynchronous on the broker: wait until metadata shows them,
        # the new ones with all their partitions (a topic listed before its
        # partitions are is what a second worker's consumer could otherwise
        # snapshot as "0 partitions"). A topic that existed is taken as it is.
        want = {t.name: t.num_partitions for t in missing}
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            described = await admin.describe_topics(list(partitions))
            ready = {t["topic"] for t in described
                     if not t.get("error_code")
                     and len(t.get("partitions") or ()) >= want.get(t["topic"], 1)}
            if set(partitions) <= ready:
                return
            await asyncio.sleep(0.2)
    finally:
        await admin.close()


@dataclass
class ProduceSummary:
    records: int = 0
    by_topic: dict[str, int] | None = None
    seconds: float = 0.0


def record_key(value: Any) -> bytes | None:
    """Contract key of an input record: its ``account_id`` (None when it has none)."""
    if isinstance(value, Mapping):
        account = value.get("account_id")
        if isinstance(account, str):
            return account.encode()
    return None


def record_ts(value: Any) -> int | None:
    """The record's event time, used as the Kafka timestamp too (None if absent/bad)."""
    if isinstance(value, Mapping):
        ts = value.get("ts")
        if isinstance(ts, int) and not isinstance(ts, bool) and 0 < ts < 2**62:
            return ts
    return None


def encode_value(value: Any) -> bytes:
    """Bytes on the wire: a JSON value as JSON, a ``str`` as its UTF-8 text (raw input)."""
    if isinstance(value, bytes):
        return value
    if isinstance(value, str):
        return value.encode()
    return orjson.dumps(value)


async def produce_records(
    bootstrap: str,
    records: Iterable[tuple[str, Any]],
    rate_per_s: float | None = None,
    linger_ms: int = 10,
) -> ProduceSummary:
    """Send ``(topic, value)`` pairs keyed by account_id, Kafka timestamp = ``ts``.

    ``rate_per_s`` paces the sends (a steady load for the benchmark); otherwise
    as fast as the broker takes them. Idempotent producer: a retry never doubles a record.
    """
    producer = AIOKafkaProducer(
        bootstrap_servers=bootstrap,
        acks="all",
        enable_idempotence=True,
        linger_ms=linger_ms,
        max_batch_size=256 * 1024,
    )
    await producer.start()
    summary = ProduceSummary(by_topic={})
    started = time.monotonic()
    pending: list[asyncio.Future[Any]] = []
    try:
        for topic, value in records:
            if rate_per_s:
                ahead = summary.records / rate_per_s - (time.monotonic() - started)
                if ahead > 0.002:
                    await asyncio.sleep(ahead)
            pending.append(
                await producer.send(
                    topic,
                    encode_value(value),
                    key=record_key(value),
                    timestamp_ms=record_ts(value),
                )
            )
            summary.records += 1
            summary.by_topic[topic] = summary.by_topic.get(topic, 0) + 1
            if len(pending) >= 5000:
                await asyncio.gather(*pending)
                pending.clear()
        await asyncio.gather(*pending)
        await producer.flush()
    finally:
        await producer.stop()
    summary.seconds = time.monotonic() - started
    return summary


def read_replay_file(path: str) -> Iterable[tuple[str, Any]]:
    """``(topic, value)`` pairs of a replay file (one ``{"topic", "value"}`` object a line)."""
    with open(path, "rb") as fh:
        for line in fh:
            if not line.strip():
                continue
            obj = orjson.loads(line)
            yield obj["topic"], obj["value"]


@dataclass(frozen=True)
class OutputRecord:
    topic: str
    partition: int
    offset: int
    key: bytes | None
    timestamp_ms: int
    raw: bytes

    def json(self) -> Any:
        return orjson.loads(self.raw)


async def follow(
    bootstrap: str,
    topics: Iterable[str],
    from_beginning: bool = True,
    idle_timeout_s: float | None = None,
) -> AsyncIterator[OutputRecord]:
    """Yield records of ``topics`` (no consumer group, nothing committed).

    Stops after ``idle_timeout_s`` seconds without a new record, or never when None.
    """
    consumer = AIOKafkaConsumer(
        bootstrap_servers=bootstrap,
        enable_auto_commit=False,
        auto_offset_reset="earliest" if from_beginning else "latest",
    )
    await consumer.start()
    try:
        parts: list[TopicPartition] = []
        for topic in topics:
            for _ in range(50):  # the topic may not exist yet: wait for its metadata
                found = consumer.partitions_for_topic(topic)
                if found:
                    break
                await consumer._client.force_metadata_update()  # noqa: SLF001
                await asyncio.sleep(0.1)
            parts.extend(TopicPartition(topic, p) for p in sorted(found or ()))
        consumer.assign(parts)
        if from_beginning:
            await consumer.seek_to_beginning(*parts)
        else:
            await consumer.seek_to_end(*parts)
        last = time.monotonic()
        while True:
            batch = await consumer.getmany(timeout_ms=200, max_records=2000)
            if batch:
                last = time.monotonic()
            for tp, msgs in batch.items():
                for m in msgs:
                    yield OutputRecord(tp.topic, tp.partition, m.offset, m.key, m.timestamp,
                                       m.value)
            if idle_timeout_s is not None and time.monotonic() - last > idle_timeout_s:
                return
    finally:
        await consumer.stop()


async def read_all(bootstrap: str, topics: Iterable[str], idle_timeout_s: float = 2.0
                   ) -> list[OutputRecord]:
    """Everything currently in ``topics`` (reads until ``idle_timeout_s`` of silence)."""
    return [r async for r in follow(bootstrap, topics, True, idle_timeout_s)]


async def end_offsets(bootstrap: str, topics: Iterable[str]) -> dict[str, int]:
    """Total number of records (sum of end offsets) per topic."""
    consumer = AIOKafkaConsumer(bootstrap_servers=bootstrap, enable_auto_commit=False)
    await consumer.start()
    try:
        out: dict[str, int] = {}
        for topic in topics:
            parts = [TopicPartition(topic, p) for p in (consumer.partitions_for_topic(topic)
                                                         or ())]
            if not parts:
                await consumer._client.force_metadata_update()  # noqa: SLF001
                parts = [TopicPartition(topic, p)
                         for p in (consumer.partitions_for_topic(topic) or ())]
            ends = await consumer.end_offsets(parts) if parts else {}
            out[topic] = sum(ends.values())
        return out
    finally:
        await consumer.stop()
