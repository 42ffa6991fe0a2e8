"""The /metrics endpoint, scraped over real HTTP on loopback."""

from __future__ import annotations

import urllib.request
from collections import Counter
from dataclasses import dataclass

import pytest
from prometheus_client.parser import text_string_to_metric_families

from streams.metrics import METRIC_NAMES, Metrics, serve_metrics


@dataclass(frozen=True)
class FakeOutput:
    """Shape of detector.pipeline.Output (topic role, key, contract value)."""

    topic: str
    key: str
    value: dict


def scrape(port: int) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5) as resp:
        assert resp.status == 200
        text = resp.read().decode()
    samples = {}
    for family in text_string_to_metric_families(text):
        for s in family.samples:
            samples[(s.name, tuple(sorted(s.labels.items())))] = s.value
    return samples


@pytest.fixture
def served():
    metrics = Metrics()
    server = serve_metrics(0, registry=metrics.registry)
    try:
        yield metrics, server.server_port
    finally:
        server.shutdown()
        server.server_close()


def test_counters_move_on_the_scraped_endpoint(served):
    metrics, port = served
    key = ("smsguard_records_total", (("outcome", "accepted"), ("topic", "sms.send")))
    before = scrape(port).get(key, 0.0)
    metrics.records.labels(topic="sms.send", outcome="accepted").inc(3)
    metrics.observe_lag("sms.send", event_ts_ms=1_700_000_000_000, now_s=1_700_000_001.5)
    metrics.entities.labels(family="prefix").set(42)
    after = scrape(port)
    assert after[key] == before + 3
    assert after[("smsguard_event_time_lag_seconds", (("topic", "sms.send"),))] == 1.5
    assert after[("smsguard_entities_tracked", (("family", "prefix"),))] == 42


def test_an_accepted_record_counts_and_sets_the_lag(served):
    metrics, port = served
    key = ("smsguard_records_total", (("outcome", "accepted"), ("topic", "sms.dlr")))
    before = scrape(port).get(key, 0.0)
    metrics.observe_accepted("sms.dlr", event_ts_ms=1_700_000_000_000, now_s=1_700_000_002.0)
    metrics.observe_accepted("sms.dlr", event_ts_ms=1_700_000_001_000, now_s=1_700_000_002.0)
    after = scrape(port)
    assert after[key] == before + 2
    assert after[("smsguard_event_time_lag_seconds", (("topic", "sms.dlr"),))] == 1.0


def test_detector_counters_are_mirrored_as_deltas(served):
    metrics, port = served
    tally = Counter({"accepted:sms.send": 5, "rejected:not_json": 2, "alerts": 1})
    metrics.sync_counters(tally, topic="sms.dlr")
    tally["accepted:sms.send"] += 4
    tally["rejected:sms.verify:bad_type"] += 1
    metrics.sync_counters(tally, topic="sms.dlr")
    got = scrape(port)
    assert got[("smsguard_records_total", (("outcome", "accepted"), ("topic", "sms.send")))] == 9
    assert got[("smsguard_deadletters_total", (("reason", "not_json"), ("topic", "sms.dlr")))] == 2
    bad_type = ("smsguard_deadletters_total", (("reason", "bad_type"), ("topic", "sms.verify")))
    assert got[bad_type] == 1
    assert got[("smsguard_records_total", (("outcome", "rejected"), ("topic", "sms.dlr")))] == 2


def test_outputs_count_findings_and_commands(served):
    metrics, port = served
    metrics.observe_outputs(
        [
            FakeOutput("sms.alerts", "acc1", {"kind": "sms_pumping", "severity": "critical"}),
            FakeOutput("sms.alerts", "acc2", {"kind": "sms_pumping", "severity": "critical"}),
            FakeOutput("sms.throttle", "acc1", {"action": "block"}),
            FakeOutput("sms.deadletter", "x", {"reason": "not_json"}),
        ]
    )
    got = scrape(port)
    findings = ("smsguard_findings_total", (("kind", "sms_pumping"), ("severity", "critical")))
    assert got[findings] == 2
    assert got[("smsguard_throttle_commands_total", (("action", "block"),))] == 1


def test_fresh_instances_do_not_share_numbers():
    a, b = Metrics(), Metrics()
    a.admission.labels(decision="deny").inc()
    assert a.registry.get_sample_value("smsguard_admission_decisions_total", {"decision": "deny"})
    assert b.registry.get_sample_value(
        "smsguard_admission_decisions_total", {"decision": "deny"}
    ) is None
    assert "smsguard_webhook_deliveries_total" in METRIC_NAMES
