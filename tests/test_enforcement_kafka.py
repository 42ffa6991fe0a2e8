"""The enforcer end to end: signed commands on a real Kafka topic, applied to a real Redis.

Also the case the loop exists for: Redis stopped and restarted (empty) while the
enforcer runs; it notices the store is gone and re-reads the topic, so every
command still in force is back, and rejected records stay rejected.
"""

from __future__ import annotations

import asyncio
import json
import time
import uuid

import pytest
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition
from throttle_commands import now_ms

from detector.signing import sign_command
from streams.enforcement.admission import AdmissionClient
from streams.enforcement.enforcer import Enforcer, run_enforcer
from streams.enforcement.store import ThrottleStore
from streams.kafka_io import ensure_topics
from streams.metrics import Metrics

pytestmark = [pytest.mark.kafka, pytest.mark.redis]

KEY = "kafka-test-key"


def command(command_id: str, action: str, account: str, ttl_ms: int = 120_000) -> dict:
    now = now_ms()
    return {
        "command_id": command_id,
        "ts": now,
        "action": action,
        "scope": {"account_id": account},
        "expires_at": now + ttl_ms,
        "reason": "kafka test",
    }


async def produce(bootstrap: str, topic: str, values: list[dict]) -> None:
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap)
    await producer.start()
    try:
        for value in values:
            key = value.get("scope", {}).get("account_id", "").encode()
            await producer.send_and_wait(topic, json.dumps(value).encode(), key=key)
    finally:
        await producer.stop()


async def committed_total(bootstrap: str, topic: str, group: str) -> int:
    consumer = AIOKafkaConsumer(bootstrap_servers=bootstrap, group_id=group,
                                enable_auto_commit=False)
    await consumer.start()
    try:
        total = 0
        for p in consumer.partitions_for_topic(topic) or await _partitions(consumer, topic):
            total += await consumer.committed(TopicPartition(topic, p)) or 0
        return total
    finally:
        await consumer.stop()


async def _partitions(consumer: AIOKafkaConsumer, topic: str) -> set[int]:
    await consumer._client.force_metadata_update()  # noqa: SLF001 - no public call for this
    return consumer.partitions_for_topic(topic) or set()


async def wait_until(predicate, timeout_s: float = 60.0) -> bool:  # noqa: ANN001
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if await asyncio.to_thread(predicate):
            return True
        await asyncio.sleep(0.1)
    return False


@pytest.mark.timeout(300)
def test_enforcer_applies_signed_commands_from_kafka_and_rebuilds_after_redis_restart(
    kafka_bootstrap, redis_process, redis_url
):
    topic = f"sms.throttle.enf-{uuid.uuid4().hex[:8]}"
    group = f"enforcer-{topic}"
    metrics = Metrics()
    store = ThrottleStore(redis_url, timeout_ms=200)
    enforcer = Enforcer(store, KEY, metrics=metrics, first_backoff_s=0.05, max_backoff_s=0.5)
    client = AdmissionClient(redis_url, timeout_ms=200, down_backoff_ms=0)

    def blocked(account: str) -> bool:
        return client.check(account, "+4915112345678").reason == "blocked"

    first = [sign_command(command(f"k-{i}", "block", f"acct-{i}"), KEY) for i in range(6)]
    forged = command("k-evil", "block", "victim")  # unsigned: must be rejected
    tampered = sign_command(command("k-tamper", "block", "acct-0"), KEY)
    tampered["action"] = "release"
    release = sign_command(command("k-rel", "release", "acct-5"), KEY)

    async def rebuilt(released_before: int) -> bool:
        """Has the rebuild replayed the topic: every block back, and acct-5's release
        (after its block, in the same partition) applied again? Blocks in the other
        partition can all be back while acct-5's release is still on its way."""
        return await wait_until(lambda: blocked("acct-late")
                                and all(blocked(f"acct-{i}") for i in range(5))
                                and enforcer.outcomes["released"] > released_before)

    async def scenario() -> int:
        await ensure_topics(kafka_bootstrap, {topic: 2})
        await produce(kafka_bootstrap, topic, [*first, forged, tampered, release])
        stop = asyncio.Event()
        loop = asyncio.create_task(
            run_enforcer(enforcer, kafka_bootstrap, topic, group, stop=stop,
                         check_interval_s=0.3)
        )
        try:
            assert await wait_until(lambda: all(blocked(f"acct-{i}") for i in range(5)))
            assert await wait_until(lambda: enforcer.outcomes["released"] >= 1)
            assert not blocked("acct-5") and not blocked("victim")
            # Redis goes away (and comes back empty) while more commands flow.
            released = enforcer.outcomes["released"]
            redis_process.stop()
            await produce(kafka_bootstrap, topic,
                          [sign_command(command("k-late", "block", "acct-late"), KEY)])
            await asyncio.sleep(1.0)
            redis_process.start()
            assert await rebuilt(released)
            assert not blocked("acct-5") and not blocked("victim")
            # Once more with no command flowing at all: the periodic watermark check
            # notices the empty Redis by itself.
            released = enforcer.outcomes["released"]
            redis_process.stop()
            redis_process.start()
            assert await rebuilt(released)
            assert not blocked("acct-5") and not blocked("victim")
        finally:
            stop.set()
            await asyncio.wait_for(loop, timeout=60)
        return await committed_total(kafka_bootstrap, topic, group)

    committed = asyncio.run(scenario())
    assert committed == len(first) + 3 + 1  # every record handled, none left behind
    assert enforcer.outcomes["rejected_unsigned"] >= 1
    assert enforcer.outcomes["rejected_bad_signature"] >= 1
    assert enforcer.rewinds >= 2  # Redis came back empty twice and the enforcer noticed
    # 6 blocks, the late one, then all 7 again after each time Redis came back empty.
    assert enforcer.outcomes["applied"] >= 6 + 1 + 6 + 7
    assert metrics.registry.get_sample_value(
        "smsguard_enforcer_commands_total", {"outcome": "rejected_unsigned"}
    ) >= 1
    client.close()
    store.close()
