"""The shipped commands: ``smsguard check``, ``bench-admission``, ``enforcer`` (a process)."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import subprocess
import sys
import time
import urllib.request
import uuid
from pathlib import Path

import pytest
import redis
from prometheus_client.parser import text_string_to_metric_families
from redis_server import free_port
from throttle_commands import now_ms

from detector.signing import sign_command
from streams.cli import main
from streams.enforcement.admission import AdmissionClient
from streams.enforcement.store import ThrottleStore
from streams.kafka_io import ensure_topics

pytestmark = pytest.mark.redis
REPO = Path(__file__).resolve().parent.parent


def block(command_id: str, scope: dict, ttl_ms: int = 120_000) -> dict:
    now = now_ms()
    return {"command_id": command_id, "ts": now, "action": "block", "scope": scope,
            "expires_at": now + ttl_ms, "reason": "cli test"}


def test_check_prints_the_decision_and_exits_1_on_deny(redis_url, capsys):
    store = ThrottleStore(redis_url)
    store.apply(block("cli-1", {"account_id": "A", "prefix": "+4915"}))
    store.close()
    assert main(["check", "--account", "A", "--destination", "+4915112345678",
                 "--redis", redis_url, "--list"]) == 1
    out = capsys.readouterr().out
    assert "DENY" in out and "reason=blocked" in out and "scope=account_id=A|prefix=+4915" in out
    assert "1 throttle(s) in force" in out and "cli-1" in out
    assert main(["check", "--account", "B", "--destination", "+4915112345678",
                 "--redis", redis_url]) == 0
    assert capsys.readouterr().out.startswith("ALLOW  reason=no_throttle")


def test_check_follows_the_fail_mode_when_redis_is_unreachable(capsys):
    dead = f"redis://127.0.0.1:{free_port()}/0"
    args = ["check", "--account", "A", "--destination", "+4915112345678", "--redis", dead]
    assert main([*args, "--fail-mode", "closed"]) == 1
    assert "reason=redis_unavailable" in capsys.readouterr().out
    assert main([*args, "--fail-mode", "open"]) == 0


def test_bench_admission_reports_figures_and_cleans_up(redis_url, capsys):
    assert main(["bench-admission", "--redis", redis_url, "--seconds", "0.3", "--json"]) == 0
    figures = json.loads(capsys.readouterr().out)
    assert figures["pipelined_checks_per_s"] > 0 and figures["single_checks_per_s"] > 0
    assert figures["server_us_per_check"] > 0
    # The bench exercises every path of the script, not only the empty one.
    assert {"no_throttle", "within_limit", "blocked"} <= set(figures["decisions"])
    raw = redis.Redis.from_url(redis_url)
    assert list(raw.scan_iter(match="smsguard-bench:*")) == []
    raw.close()


def scrape(port: int) -> dict[tuple[str, tuple], float]:
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5) as resp:
        text = resp.read().decode()
    return {
        (s.name, tuple(sorted(s.labels.items()))): s.value
        for family in text_string_to_metric_families(text)
        for s in family.samples
    }


@pytest.mark.kafka
@pytest.mark.timeout(300)
def test_enforcer_process_applies_commands_and_serves_metrics(kafka_bootstrap, redis_url):
    from aiokafka import AIOKafkaProducer

    topic = f"sms.throttle.cli-{uuid.uuid4().hex[:8]}"
    key = "cli-shared-key"
    records = [
        sign_command(block("p-1", {"account_id": "A"}), key),
        sign_command(block("p-2", {"prefix": "+4477"}), key),
        block("p-evil", {"account_id": "LEGIT"}),  # unsigned
    ]

    async def produce() -> None:
        await ensure_topics(kafka_bootstrap, {topic: 1})
        producer = AIOKafkaProducer(bootstrap_servers=kafka_bootstrap)
        await producer.start()
        try:
            for value in records:
                await producer.send_and_wait(topic, json.dumps(value).encode())
        finally:
            await producer.stop()

    asyncio.run(produce())
    port = free_port()
    env = dict(os.environ, SMSGUARD_SIGNING__KEY=key)
    proc = subprocess.Popen(
        [sys.executable, "-m", "streams.cli", "enforcer", "--bootstrap", kafka_bootstrap,
         "--topic", topic, "--group", f"g-{topic}", "--redis", redis_url,
         "--metrics-port", str(port), "--log-level", "WARNING"],
        cwd=REPO, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
    )
    client = AdmissionClient(redis_url, timeout_ms=500)
    try:
        deadline = time.monotonic() + 120
        applied = blocks = 0.0
        while time.monotonic() < deadline:
            assert proc.poll() is None, proc.stdout.read().decode()[-3000:]
            try:
                samples = scrape(port)
            except OSError:
                samples = {}
            applied = samples.get(
                ("smsguard_enforcer_commands_total", (("outcome", "applied"),)), 0.0)
            blocks = samples.get(("smsguard_active_throttles", (("action", "block"),)), 0.0)
            if applied >= 2 and blocks >= 2:
                break
            time.sleep(0.5)
        assert applied >= 2 and blocks == 2
        assert samples[("smsguard_enforcer_commands_total", (("outcome", "rejected_unsigned"),))] \
            >= 1
        assert client.check("A", "+4915112345678").reason == "blocked"
        assert client.check("Z", "+447700900123").reason == "blocked"
        assert client.check("LEGIT", "+4915112345678").allowed
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=60) == 0
    finally:
        client.close()
        if proc.poll() is None:
            proc.kill()
            proc.wait()
