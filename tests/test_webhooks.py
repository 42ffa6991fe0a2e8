"""The webhook sink against a real HTTP server on loopback (aiohttp.web, ephemeral port).

The server answers from a script (status codes, Retry-After, dropped connections)
and records every body it received, so the tests check what actually went over
the wire. Retry waits go through a recording ``sleep`` and the storm window
through a hand-moved clock: nothing here depends on how fast the machine is.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from dataclasses import replace
from typing import Any

import pytest
from aiohttp import web

from detector.config import WebhookConfig
from detector.signing import sign_command
from streams.metrics import Metrics
from streams.webhooks import WebhookSink

Script = list[tuple[int, dict[str, str]] | str]


class Endpoint:
    """A webhook receiver: answers from ``script`` (then 202), records what it got."""

    def __init__(self, script: Script | None = None) -> None:
        self.script = list(script or [])
        self.bodies: list[Any] = []  # every request, retries included
        self.accepted: list[Any] = []  # the ones answered 2xx

    async def handle(self, request: web.Request) -> web.StreamResponse:
        body = await request.json()
        self.bodies.append(body)
        step = self.script.pop(0) if self.script else (202, {})
        if step == "drop":
            # Hang up without answering: the client sees a connection error.
            request.transport.close()
            return web.Response(status=500)
        status, headers = step
        if 200 <= status < 300:
            self.accepted.append(body)
        return web.Response(status=status, headers=headers, text="{}")


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def run(
    scenario: Callable[[WebhookSink, Endpoint, Clock], Awaitable[None]],
    script: Script | None = None,
    metrics: Metrics | None = None,
    signing_key: str = "",
    **config: Any,
) -> tuple[Endpoint, list[float]]:
    """Start the endpoint and a sink pointed at it, run ``scenario``, close both."""
    endpoint = Endpoint(script)
    sleeps: list[float] = []

    async def fake_sleep(seconds: float) -> None:
        sleeps.append(seconds)
        await asyncio.sleep(0)

    async def main() -> None:
        app = web.Application()
        app.router.add_post("/hook", endpoint.handle)
        runner = web.AppRunner(app)
        await runner.setup()
        site = web.TCPSite(runner, "127.0.0.1", 0)
        await site.start()
        host, port = runner.addresses[0][:2]
        cfg = replace(WebhookConfig(), url=f"http://{host}:{port}/hook", **config)
        clock = Clock()
        sink = WebhookSink(
            cfg, metrics=metrics or Metrics(), clock=clock, sleep=fake_sleep,
            signing_key=signing_key,
        )
        await sink.start(tick_s=0)
        try:
            await scenario(sink, endpoint, clock)
        finally:
            await sink.close()
            await runner.cleanup()

    asyncio.run(main())
    return endpoint, sleeps


def alert(n: int, kind: str = "sms_pumping", severity: str = "critical", **extra: Any) -> dict:
    return {
        "alert_id": f"{kind}-{n}",
        "ts": 1_700_000_000_000 + n,
        "kind": kind,
        "severity": severity,
        "entity": {"type": "prefix", "id": f"+2547{n}"},
        "account_id": f"acc-{n}",
        "score": 12.5 + n,
        "evidence": [
            {"feature": f"feature_{i}", "value": 100 + i, "baseline": i} for i in range(5)
        ],
        "action": "throttle",
        **extra,
    }


def deliveries(metrics: Metrics, fmt: str, outcome: str) -> float:
    value = metrics.registry.get_sample_value(
        "smsguard_webhook_deliveries_total", {"format": fmt, "outcome": outcome}
    )
    return value or 0.0


def test_retries_through_5xx_dropped_connection_and_429_then_one_delivery():
    metrics = Metrics()
    sent = alert(1)

    async def scenario(sink, endpoint, clock):
        assert sink.submit_alert(sent) == "queued"
        await sink.drain()

    script = [(503, {}), "drop", (429, {"Retry-After": "7"})]
    endpoint, sleeps = run(scenario, script, metrics, backoff_base_s=0.5)
    assert len(endpoint.bodies) == 4  # three failures, then the success
    assert endpoint.accepted == [sent]  # generic format: the contract alert, unchanged
    assert len(sleeps) == 3
    assert 0.0 <= sleeps[0] <= 0.5 and 0.0 <= sleeps[1] <= 1.0  # jittered exponential
    assert sleeps[2] == 7.0  # Retry-After honoured
    assert deliveries(metrics, "generic", "delivered") == 1
    assert deliveries(metrics, "generic", "retried") == 3
    assert deliveries(metrics, "generic", "failed") == 0


def test_400_is_not_retried():
    metrics = Metrics()

    async def scenario(sink, endpoint, clock):
        sink.submit_alert(alert(1))
        await sink.drain()

    endpoint, sleeps = run(scenario, [(400, {})], metrics)
    assert len(endpoint.bodies) == 1
    assert endpoint.accepted == []
    assert sleeps == []
    assert deliveries(metrics, "generic", "failed") == 1


def test_gives_up_after_max_retries():
    metrics = Metrics()

    async def scenario(sink, endpoint, clock):
        sink.submit_alert(alert(1))
        await sink.drain()

    endpoint, sleeps = run(scenario, [(500, {})] * 10, metrics, max_retries=2)
    assert len(endpoint.bodies) == 3
    assert len(sleeps) == 2
    assert deliveries(metrics, "generic", "failed") == 1


def test_one_alert_id_is_paged_once():
    metrics = Metrics()
    outcomes = []

    async def scenario(sink, endpoint, clock):
        outcomes.append(sink.submit_alert(alert(1)))
        outcomes.append(sink.submit_alert(alert(1)))  # redelivered while queued
        await sink.drain()
        outcomes.append(sink.submit_alert(alert(1)))  # re-emitted after delivery
        outcomes.append(sink.submit_alert(alert(2)))
        await sink.drain()

    endpoint, _ = run(scenario, metrics=metrics)
    assert outcomes == ["queued", "duplicate", "duplicate", "queued"]
    assert [b["alert_id"] for b in endpoint.bodies] == ["sms_pumping-1", "sms_pumping-2"]
    assert deliveries(metrics, "generic", "duplicate") == 2


def test_storm_of_one_kind_becomes_one_page():
    metrics = Metrics()
    flushed_early = []

    async def scenario(sink, endpoint, clock):
        for n in range(10):
            sink.submit_alert(alert(n))
            clock.now += 1.0
        sink.submit_alert(alert(99, kind="account_takeover"))  # another kind: paged alone
        flushed_early.append(sink.flush_storms())  # the window that the storm opened is open
        await sink.drain()
        clock.now += 60.0
        flushed_early.append(sink.flush_storms())
        await sink.drain()

    endpoint, _ = run(scenario, metrics=metrics, storm_threshold=3, storm_window_s=60.0)
    assert flushed_early == [0, 1]
    singles = [b for b in endpoint.bodies if "alert_id" in b]
    storms = [b for b in endpoint.bodies if b.get("event") == "storm"]
    assert [b["alert_id"] for b in singles] == [
        "sms_pumping-0", "sms_pumping-1", "sms_pumping-2", "account_takeover-99",
    ]
    assert len(storms) == 1
    storm = storms[0]
    assert storm["kind"] == "sms_pumping" and storm["count"] == 7
    assert [a["alert_id"] for a in storm["alerts"]] == [f"sms_pumping-{n}" for n in range(3, 10)]
    assert storm["dedup_key"] == "storm:sms_pumping:sms_pumping-3"
    assert deliveries(metrics, "generic", "grouped") == 7


def test_a_huge_storm_lists_the_first_alerts_and_counts_them_all():
    async def scenario(sink, endpoint, clock):
        for n in range(250):
            sink.submit_alert(alert(n))
        sink.flush_storms(force=True)
        await sink.drain()

    endpoint, _ = run(scenario, format="pagerduty", storm_threshold=1, storm_window_s=60.0)
    trigger, storm = endpoint.bodies
    assert trigger["dedup_key"] == "sms_pumping-0"
    details = storm["payload"]["custom_details"]
    assert details["count"] == 249 and len(details["alert_ids"]) == 249
    assert 0 < len(details["alerts"]) < 249  # listed in full up to a bound, the rest by id
    assert "249 sms_pumping alerts" in storm["payload"]["summary"]


def test_alerts_spread_over_more_than_a_window_are_not_a_storm():
    async def scenario(sink, endpoint, clock):
        for n in range(8):
            sink.submit_alert(alert(n))
            clock.now += 31.0  # at most two in any 60 s window
        await sink.drain()

    endpoint, _ = run(scenario, storm_threshold=2, storm_window_s=60.0)
    assert len(endpoint.bodies) == 8
    assert all("alert_id" in b for b in endpoint.bodies)


def test_slack_payload_is_readable_text():
    sent = alert(4, action="block")

    async def scenario(sink, endpoint, clock):
        sink.submit_alert(sent)
        await sink.drain()

    endpoint, _ = run(scenario, format="slack")
    (body,) = endpoint.accepted
    assert set(body) == {"text"}
    text = body["text"]
    for needle in ("CRITICAL", "sms_pumping", "prefix +25474", "account acc-4", "block",
                   "sms_pumping-4", "feature_0 = 100 (baseline 0)", "feature_2"):
        assert needle in text, needle
    assert "feature_3" not in text  # top evidence only


def test_pagerduty_trigger_shape_and_severity_mapping():
    sent = [alert(1, severity="critical"), alert(2, kind="spam_burst", severity="warning"),
            alert(3, kind="anomaly", severity="info")]

    async def scenario(sink, endpoint, clock):
        for a in sent:
            sink.submit_alert(a)
        await sink.drain()

    endpoint, _ = run(scenario, format="pagerduty", routing_key="R0UT1NG", min_severity="info")
    assert len(endpoint.accepted) == 3
    for a, body in zip(sent, endpoint.accepted, strict=True):
        assert body["routing_key"] == "R0UT1NG"
        assert body["event_action"] == "trigger"
        assert body["dedup_key"] == a["alert_id"]
        payload = body["payload"]
        assert payload["severity"] == a["severity"]
        assert payload["source"] == "smsguard"
        assert a["kind"] in payload["summary"] and a["entity"]["id"] in payload["summary"]
        assert payload["custom_details"]["evidence"] == a["evidence"]
        assert payload["timestamp"].endswith("Z")


def test_min_severity_filters_quiet_alerts():
    metrics = Metrics()

    async def scenario(sink, endpoint, clock):
        assert sink.submit_alert(alert(1, severity="info")) == "filtered"
        sink.submit_alert(alert(2, severity="warning"))
        await sink.drain()

    endpoint, _ = run(scenario, metrics=metrics, min_severity="warning")
    assert [b["alert_id"] for b in endpoint.bodies] == ["sms_pumping-2"]
    assert deliveries(metrics, "generic", "filtered") == 1


def test_release_resolves_the_page_by_alert_id_or_by_scope():
    outcomes = []

    async def scenario(sink, endpoint, clock):
        sink.submit_alert(alert(1))
        sink.submit_alert(alert(2))
        await sink.drain()
        scope = {"account_id": "acc-2", "prefix": "+25472"}
        outcomes.append(sink.submit_command(
            {"command_id": "c1", "action": "block", "scope": {"account_id": "acc-1"},
             "alert_id": "sms_pumping-1", "reason": "pumping", "expires_at": 1, "ts": 0}))
        outcomes.append(sink.submit_command(
            {"command_id": "c2", "action": "limit", "scope": scope, "rate_per_s": 1.0,
             "alert_id": "sms_pumping-2", "reason": "pumping", "expires_at": 1, "ts": 0}))
        # Release naming the alert.
        outcomes.append(sink.submit_command(
            {"command_id": "c3", "action": "release", "scope": {"account_id": "acc-1"},
             "alert_id": "sms_pumping-1", "reason": "quiet again", "expires_at": 1, "ts": 1}))
        # Release naming only the scope of an earlier limit.
        outcomes.append(sink.submit_command(
            {"command_id": "c4", "action": "release", "scope": dict(scope),
             "reason": "quiet again", "expires_at": 1, "ts": 1}))
        # Nothing was paged for this one.
        outcomes.append(sink.submit_command(
            {"command_id": "c5", "action": "release", "scope": {"account_id": "acc-9"},
             "alert_id": "never-paged", "reason": "x", "expires_at": 1, "ts": 1}))
        # A second release of the same alert does not resolve twice.
        outcomes.append(sink.submit_command(
            {"command_id": "c6", "action": "release", "scope": {"account_id": "acc-1"},
             "alert_id": "sms_pumping-1", "reason": "again", "expires_at": 1, "ts": 2}))
        await sink.drain()

    endpoint, _ = run(scenario, format="pagerduty", routing_key="RK")
    assert outcomes == ["noted", "noted", "resolved", "resolved", "ignored", "ignored"]
    resolves = [b for b in endpoint.bodies if b["event_action"] == "resolve"]
    assert resolves == [
        {"routing_key": "RK", "dedup_key": "sms_pumping-1", "event_action": "resolve"},
        {"routing_key": "RK", "dedup_key": "sms_pumping-2", "event_action": "resolve"},
    ]


def test_storm_page_resolves_when_all_its_alerts_are_released():
    outcomes = []

    async def scenario(sink, endpoint, clock):
        for n in range(4):
            sink.submit_alert(alert(n))
        clock.now += 61.0
        sink.flush_storms()
        await sink.drain()
        for n in (2, 3):
            outcomes.append(sink.submit_command(
                {"command_id": f"r{n}", "action": "release", "alert_id": f"sms_pumping-{n}",
                 "scope": {"account_id": f"acc-{n}"}, "reason": "ok", "expires_at": 1, "ts": 1}))
        await sink.drain()

    endpoint, _ = run(scenario, format="pagerduty", storm_threshold=2, storm_window_s=60.0)
    assert outcomes == ["ignored", "resolved"]
    triggers = [b["dedup_key"] for b in endpoint.bodies if b["event_action"] == "trigger"]
    resolves = [b["dedup_key"] for b in endpoint.bodies if b["event_action"] == "resolve"]
    assert triggers == ["sms_pumping-0", "sms_pumping-1", "storm:sms_pumping:sms_pumping-2"]
    assert resolves == ["storm:sms_pumping:sms_pumping-2"]
    storm = endpoint.bodies[2]["payload"]["custom_details"]
    assert storm["count"] == 2


def test_with_a_signing_key_only_signed_commands_resolve():
    key = "shared-secret"
    outcomes = []
    release = {"command_id": "r1", "action": "release", "scope": {"account_id": "acc-1"},
               "alert_id": "sms_pumping-1", "reason": "ok", "expires_at": 1, "ts": 1}

    async def scenario(sink, endpoint, clock):
        sink.submit_alert(alert(1))
        await sink.drain()
        outcomes.append(sink.submit_command(release))  # unsigned
        forged = dict(sign_command(release, "attacker-key"))
        outcomes.append(sink.submit_command(forged))
        tampered = dict(sign_command(release, key), alert_id="sms_pumping-2")
        outcomes.append(sink.submit_command(tampered))
        await sink.drain()
        assert len(endpoint.bodies) == 1  # nothing resolved yet
        outcomes.append(sink.submit_command(sign_command(release, key)))
        await sink.drain()

    endpoint, _ = run(scenario, format="pagerduty", signing_key=key)
    assert outcomes == ["rejected_command"] * 3 + ["resolved"]
    assert [b["event_action"] for b in endpoint.bodies] == ["trigger", "resolve"]


@pytest.mark.parametrize(
    ("overflow", "expected", "refused"), [("drop_oldest", [2, 3], 0), ("reject_new", [0, 1], 2)]
)
def test_full_queue_drops_oldest_or_rejects_new(overflow, expected, refused):
    metrics = Metrics()

    async def scenario(sink, endpoint, clock):
        # Stop the delivery task so that the queue really fills up.
        sink._task.cancel()
        await asyncio.sleep(0)
        outcomes = [sink.submit_alert(alert(n, kind=f"k{n}")) for n in range(4)]
        assert outcomes.count("dropped") == refused
        await sink.start(tick_s=0)  # a fresh delivery task drains what is left
        await sink.drain()

    endpoint, _ = run(scenario, metrics=metrics, queue_size=2, overflow=overflow)
    assert [b["alert_id"] for b in endpoint.bodies] == [f"k{n}-{n}" for n in expected]
    assert deliveries(metrics, "generic", "dropped") == 2


async def wait_for(predicate: Callable[[], bool], what: str, limit_s: float = 60.0) -> None:
    """Bounded wait for something the other side does (not a timing assertion)."""
    for _ in range(int(limit_s / 0.1)):
        if predicate():
            return
        await asyncio.sleep(0.1)
    raise AssertionError(f"gave up waiting for {what}")


@pytest.mark.kafka
def test_notify_pages_from_kafka_and_resolves_on_signed_release(kafka_bootstrap):
    """``smsguard notify``'s loop: alerts and throttle commands from a real broker."""
    import json
    import uuid

    from aiokafka import AIOKafkaProducer

    from detector.config import Config
    from streams.commands.notify import consume
    from streams.kafka_io import ensure_topics

    key = "notify-test-key"
    run_id = uuid.uuid4().hex[:8]
    config = Config()
    config.kafka.bootstrap = kafka_bootstrap
    config.kafka.topic_alerts = f"alerts-{run_id}"
    config.kafka.topic_throttle = f"throttle-{run_id}"
    config.webhook.group = f"notify-{run_id}"
    paged = alert(1)
    block = sign_command(
        {"command_id": "c-block", "ts": 1, "action": "block", "scope": {"account_id": "acc-1"},
         "expires_at": 2, "reason": "pumping", "alert_id": paged["alert_id"]}, key)
    forged_release = {"command_id": "c-forged", "ts": 2, "action": "release",
                      "scope": {"account_id": "acc-1"}, "expires_at": 3, "reason": "forged"}
    release = sign_command(
        {"command_id": "c-release", "ts": 3, "action": "release",
         "scope": {"account_id": "acc-1"}, "expires_at": 4, "reason": "quiet again"}, key)

    async def send(topic: str, values: list[Any]) -> None:
        producer = AIOKafkaProducer(bootstrap_servers=kafka_bootstrap)
        await producer.start()
        try:
            for value in values:
                raw = value if isinstance(value, bytes) else json.dumps(value).encode()
                await producer.send_and_wait(topic, raw, key=b"acc-1")
        finally:
            await producer.stop()

    async def scenario(sink, endpoint, clock):
        await ensure_topics(kafka_bootstrap, {config.kafka.topic_alerts: 2,
                                              config.kafka.topic_throttle: 2})
        stop = asyncio.Event()
        loop = asyncio.create_task(consume(sink, config, stop, offset_reset="earliest"))
        try:
            # The same finding twice (a redelivery) and a record that is not JSON.
            await send(config.kafka.topic_alerts, [paged, b"\xff not json", paged])
            await send(config.kafka.topic_throttle, [block, forged_release])
            await wait_for(lambda: len(endpoint.accepted) >= 1, "the page")
            await wait_for(lambda: deliveries(metrics, "pagerduty", "duplicate") == 1,
                           "the redelivered alert")
            await wait_for(lambda: deliveries(metrics, "pagerduty", "rejected_command") == 1,
                           "the forged release")
            await sink.drain()
            assert len(endpoint.bodies) == 1  # the forged release resolved nothing
            await send(config.kafka.topic_throttle, [release])
            await wait_for(lambda: len(endpoint.accepted) >= 2, "the resolve")
        finally:
            stop.set()
            await loop
        await sink.drain()

    metrics = Metrics()
    endpoint, _ = run(scenario, metrics=metrics, format="pagerduty", routing_key="RK",
                      signing_key=key)
    assert [(b["event_action"], b["dedup_key"]) for b in endpoint.bodies] == [
        ("trigger", paged["alert_id"]), ("resolve", paged["alert_id"]),
    ]
