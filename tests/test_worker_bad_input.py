"""Bad input on every input topic lands in the dead-letter topic with its place
and a reason, and the worker goes on detecting on the good records around it."""

from __future__ import annotations

import asyncio
import base64
import uuid
from pathlib import Path

import orjson
from aiokafka import AIOKafkaProducer
from kafka_broker import WorkerProcess, ids_of, simulate_and_replay, wait_for_outputs

from detector.records import RecordParser, Rejected
from streams.kafka_io import ensure_topics, read_all

TS = 1_772_440_000_000
HUGE = 300 * 1024


def bad_records() -> dict[str, list[bytes]]:
    """Garbage bytes, wrong types and huge values for each input role."""
    def common(role: str) -> list[bytes]:
        return [
            b"\x00\xff\xfe\x80 not json at all",
            b"",
            b"[1, 2, 3]",
            b'{"ts": "yesterday", "account_id": 7, "destination": true}',
            orjson.dumps({"account_id": "acct_x", "ts": TS}),  # required fields missing
            orjson.dumps({"message_id": "m", "ts": TS, "account_id": "a" * HUGE,
                          "destination": "+4915112345678", "verified": True,
                          "status": "delivered"}),
        ]

    send = common("sms.send") + [
        orjson.dumps({"message_id": "m-big", "ts": TS, "account_id": "acct_x",
                      "destination": "+4915112345678", "body": "x" * HUGE}),
        orjson.dumps({"message_id": "m-dst", "ts": TS, "account_id": "acct_x",
                      "destination": "0049 151 12345678"}),
        orjson.dumps({"message_id": "m-seg", "ts": TS, "account_id": "acct_x",
                      "destination": "+4915112345678", "segments": "many", "price": "free"}),
    ]
    dlr = common("sms.dlr") + [
        orjson.dumps({"message_id": "m", "ts": TS, "account_id": "acct_x",
                      "destination": "+4915112345678", "status": "teleported"}),
        orjson.dumps({"message_id": "m", "ts": 12, "account_id": "acct_x",
                      "destination": "+4915112345678", "status": "delivered"}),
    ]
    verify = common("sms.verify") + [
        orjson.dumps({"ts": TS, "account_id": "acct_x", "destination": "+4915112345678",
                      "verified": "yes"}),
    ]
    return {"sms.send": send, "sms.dlr": dlr, "sms.verify": verify}


def test_bad_records_go_to_the_dead_letter_topic(kafka_bootstrap: str, tmp_path: Path) -> None:
    sim, expected = simulate_and_replay(tmp_path)
    worker = WorkerProcess(kafka_bootstrap, f"bad-{uuid.uuid4().hex[:8]}", tmp_path,
                           store="memory://")
    bad = bad_records()
    # What the core itself says about each record: the reasons the worker must report.
    want_reasons: dict[str, list[str]] = {}
    for role, values in bad.items():
        for raw in values:
            try:
                RecordParser().parse(role, raw)
            except Rejected as err:
                want_reasons.setdefault(role, []).append(err.reason)
            else:
                raise AssertionError(f"{raw[:80]!r} is not bad input for {role}")

    async def send_bad() -> None:
        await ensure_topics(kafka_bootstrap, {worker.topic(r): 4 for r in bad})
        producer = AIOKafkaProducer(bootstrap_servers=kafka_bootstrap,
                                    max_request_size=4 * 1024 * 1024)
        await producer.start()
        try:
            for role, values in bad.items():
                for n, raw in enumerate(values):
                    key = None if n % 2 else b"acct_x"
                    await producer.send_and_wait(worker.topic(role), raw, key=key)
        finally:
            await producer.stop()

    asyncio.run(send_bad())
    worker.produce(sim)  # good traffic after the garbage, on the same topics
    worker.start()
    try:
        got = wait_for_outputs(kafka_bootstrap, worker, expected)
        assert worker.alive()
    finally:
        worker.stop()

    # Detection went on: the good records gave every finding of the replay.
    assert ids_of(got) == ids_of(expected)

    topics = {worker.topic(r): r for r in bad}
    letters = [r.json() for r in asyncio.run(
        read_all(kafka_bootstrap, [worker.topic("sms.deadletter")], idle_timeout_s=1.0))]
    assert len(letters) == sum(len(v) for v in bad.values())
    inputs = asyncio.run(read_all(kafka_bootstrap, list(topics), idle_timeout_s=1.0))
    at = {(r.topic, r.partition, r.offset): r.raw for r in inputs}
    got_reasons: dict[str, list[str]] = {}
    for letter in letters:
        place = (letter["topic"], letter["partition"], letter["offset"])
        assert place in at, letter  # topic, partition and offset name the bad record
        raw = base64.b64decode(letter["raw_base64"])
        assert at[place].startswith(raw) and (raw == at[place] or len(at[place]) > 60_000)
        assert letter["detail"]
        got_reasons.setdefault(topics[letter["topic"]], []).append(letter["reason"])
    assert {r: sorted(v) for r, v in got_reasons.items()} == \
        {r: sorted(v) for r, v in want_reasons.items()}
