"""The local Kafka broker answers the protocol versions aiokafka and Faust speak."""

from __future__ import annotations

import asyncio
import uuid

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer

from streams.kafka_io import end_offsets, ensure_topics, read_all


def test_topics_produce_and_group_consume(kafka_bootstrap: str) -> None:
    topic = f"t-broker-{uuid.uuid4().hex[:8]}"

    async def scenario() -> tuple[list[bytes], dict[str, int], int]:
        await ensure_topics(kafka_bootstrap, {topic: 3})
        producer = AIOKafkaProducer(bootstrap_servers=kafka_bootstrap, enable_idempotence=True)
        await producer.start()
        try:
            for i in range(30):
                await producer.send_and_wait(topic, b"v%d" % i, key=b"k%d" % (i % 7))
        finally:
            await producer.stop()
        # A consumer group (the coordinator protocol Faust relies on) and a commit.
        consumer = AIOKafkaConsumer(
            topic,
            bootstrap_servers=kafka_bootstrap,
            group_id=f"g-{topic}",
            auto_offset_reset="earliest",
            enable_auto_commit=False,
        )
        await consumer.start()
        got: list[bytes] = []
        try:
            while len(got) < 30:
                batch = await consumer.getmany(timeout_ms=1000)
                got.extend(m.value for msgs in batch.values() for m in msgs)
            await consumer.commit()
            committed = 0
            for tp in consumer.assignment():
                committed += (await consumer.committed(tp)) or 0
        finally:
            await consumer.stop()
        return got, await end_offsets(kafka_bootstrap, [topic]), committed

    got, ends, committed = asyncio.run(scenario())
    assert sorted(got) == sorted(b"v%d" % i for i in range(30))
    assert ends == {topic: 30}
    assert committed == 30
    # Records with the same key land in one partition, in order.
    records = asyncio.run(read_all(kafka_bootstrap, [topic], idle_timeout_s=1.0))
    by_key: dict[bytes | None, set[int]] = {}
    for r in records:
        by_key.setdefault(r.key, set()).add(r.partition)
    assert all(len(parts) == 1 for parts in by_key.values())
