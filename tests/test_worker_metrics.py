"""A running worker's /metrics, scraped over HTTP, moves with the traffic it reads."""

from __future__ import annotations

import re
import socket
import time
import urllib.request
import uuid
from pathlib import Path

from kafka_broker import WorkerProcess, simulate_and_replay, wait_for_outputs


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _scrape(port: int) -> str:
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5) as response:
        return response.read().decode()


def _total(text: str, name: str, **labels: str) -> float:
    """Sum of a metric's samples whose labels include ``labels``."""
    total = 0.0
    for line in text.splitlines():
        match = re.match(rf"{name}(?:{{(.*)}})? ([0-9.e+-]+)$", line)
        if not match:
            continue
        found = dict(re.findall(r'(\w+)="([^"]*)"', match.group(1) or ""))
        if all(found.get(k) == v for k, v in labels.items()):
            total += float(match.group(2))
    return total


def test_worker_metrics_count_records_findings_and_state(kafka_bootstrap: str,
                                                         tmp_path: Path) -> None:
    sim, expected = simulate_and_replay(tmp_path, seed=4)
    port = _free_port()
    worker = WorkerProcess(kafka_bootstrap, f"metrics-{uuid.uuid4().hex[:8]}", tmp_path,
                           store="memory://", metrics_port=port)
    worker.start()
    try:
        before = _wait_for_scrape(port, worker)
        assert _total(before, "smsguard_records_total") == 0
        worker.produce(sim)
        wait_for_outputs(kafka_bootstrap, worker, expected)
        after = _scrape(port)
    finally:
        worker.stop()
    records = len(sim.read_bytes().splitlines())
    assert _total(after, "smsguard_records_total") == records
    assert _total(after, "smsguard_records_total", topic="sms.send", outcome="accepted") > 0
    alerts = sum(1 for line in expected if line["topic"].endswith("alerts"))
    assert _total(after, "smsguard_findings_total") == alerts
    assert _total(after, "smsguard_entities_tracked", family="account") > 0


def _wait_for_scrape(port: int, worker: WorkerProcess, timeout_s: float = 60.0) -> str:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        assert worker.alive(), worker.log()[-2000:]
        try:
            return _scrape(port)
        except OSError:
            time.sleep(0.5)
    raise AssertionError(f"no /metrics on port {port}\n{worker.log()[-2000:]}")
