"""Prometheus metrics of every smsguard process (workers, enforcer, notifier).

Design: one :class:`Metrics` object owns a private ``CollectorRegistry`` (never
prometheus_client's global default), so a test can build a fresh ``Metrics()``
and see only its own numbers. Processes share the module-level default
instance ``METRICS``; ``REGISTRY`` is its registry (``METRICS.registry``).

    from streams.metrics import METRICS, serve_metrics
    serve_metrics(config.worker.metrics_port, config.worker.metrics_addr)  # METRICS.registry
    METRICS.records.labels(topic="sms.send", outcome="accepted").inc()
    METRICS.lag.labels(topic="sms.send").set(now_s - event_ts_ms / 1000)

Every metric name starts with ``smsguard_``; ``METRIC_NAMES`` lists the names
Prometheus exposes (counters get their ``_total`` suffix), which the Grafana
dashboard test checks its queries against.

The core (``detector/``) never reads the wall clock, so the event-time lag gauge
is set by the streams layer, which knows both "now" and the latest event ``ts``.
"""

from __future__ import annotations

import os
import time
from collections import Counter as TallyCounter
from collections.abc import Iterable, Mapping
from typing import Any

from prometheus_client import CollectorRegistry, Counter, Gauge, start_http_server

__all__ = ["METRICS", "METRIC_NAMES", "REGISTRY", "Metrics", "serve_metrics"]

ENV_METRICS_ADDR = "SMSGUARD_WORKER__METRICS_ADDR"  # = config.worker.metrics_addr


class Metrics:
    """All smsguard metrics, registered on one registry (a fresh one unless given)."""

    def __init__(self, registry: CollectorRegistry | None = None) -> None:
        self.registry = registry if registry is not None else CollectorRegistry()
        reg = self.registry
        self.records = Counter(
            "smsguard_records_total",
            "Input records by topic and outcome (accepted, rejected).",
            ["topic", "outcome"],
            registry=reg,
        )
        self.deadletters = Counter(
            "smsguard_deadletters_total",
            "Records sent to the dead-letter topic, by source topic and reason.",
            ["topic", "reason"],
            registry=reg,
        )
        self.lag = Gauge(
            "smsguard_event_time_lag_seconds",
            "Wall clock now minus the newest event ts seen on the topic.",
            ["topic"],
            registry=reg,
        )
        self.findings = Counter(
            "smsguard_findings_total",
            "Alerts emitted, by kind and severity.",
            ["kind", "severity"],
            registry=reg,
        )
        self.throttle_commands = Counter(
            "smsguard_throttle_commands_total",
            "Throttle commands emitted by the detector, by action.",
            ["action"],
            registry=reg,
        )
        self.active_throttles = Gauge(
            "smsguard_active_throttles",
            "Throttles currently materialised in Redis, by action (limit, block).",
            ["action"],
            registry=reg,
        )
        self.admission = Counter(
            "smsguard_admission_decisions_total",
            "Gateway admission checks, by decision (allow, deny, retry, error).",
            ["decision"],
            registry=reg,
        )
        self.enforcer_commands = Counter(
            "smsguard_enforcer_commands_total",
            "Throttle commands seen by the enforcer, by outcome "
            "(applied, duplicate, released, rejected_unsigned, rejected_bad_signature, ...).",
            ["outcome"],
            registry=reg,
        )
        self.webhook_deliveries = Counter(
            "smsguard_webhook_deliveries_total",
            "Webhook sink events by format and outcome (delivered, failed, retried, dropped,"
            " duplicate, grouped, filtered, rejected_command).",
            ["format", "outcome"],
            registry=reg,
        )
        self.webhook_queue = Gauge(
            "smsguard_webhook_queue_depth",
            "Pages waiting in the webhook sink's queue.",
            registry=reg,
        )
        self.entities = Gauge(
            "smsguard_entities_tracked",
            "Entities held in detector state, by family (account, prefix, destination, route).",
            ["family"],
            registry=reg,
        )
        # Last seen values of a cumulative Detector.counters, so sync_counters adds deltas.
        self._synced: TallyCounter[str] = TallyCounter()
        # Per-topic children of the per-record metrics: ``labels()`` costs a lock and a
        # tuple build every call, a few percent of a worker's time at one call a record.
        self._accepted: dict[str, tuple[Any, Any]] = {}

    def observe_accepted(self, topic: str, event_ts_ms: int, now_s: float | None = None
                         ) -> None:
        """One accepted record of ``topic``: count it and set the topic's event-time lag."""
        children = self._accepted.get(topic)
        if children is None:
            children = self._accepted[topic] = (
                self.records.labels(topic=topic, outcome="accepted"),
                self.lag.labels(topic=topic))
        children[0].inc()
        children[1].set((time.time() if now_s is None else now_s) - event_ts_ms / 1000.0)

    def observe_outputs(self, outputs: Iterable[Any]) -> None:
        """Count the core's ``Output`` objects: findings by kind/severity, commands by action.

        Duck-typed on ``.topic`` (an output role) and ``.value`` (the contract record).
        """
        for out in outputs:
            topic, value = out.topic, out.value
            if topic == "sms.alerts":
                self.findings.labels(
                    kind=str(value.get("kind", "unknown")),
                    severity=str(value.get("severity", "unknown")),
                ).inc()
            elif topic == "sms.throttle":
                self.throttle_commands.labels(action=str(value.get("action", "unknown"))).inc()

    def sync_counters(self, counters: Mapping[str, int], topic: str = "unknown") -> None:
        """Mirror a cumulative ``Detector.counters`` into the record/dead-letter counters.

        Keys ``accepted:<topic>`` and ``rejected:<topic>`` count records; ``rejected:<reason>``
        (no topic in the key) counts a dead letter of ``topic`` with that reason, and
        ``rejected:<topic>:<reason>`` both. Other keys (``alerts``, ``throttles``) are left to
        :meth:`observe_outputs`. Only the growth since the previous call is added, so this can
        be called after every batch.
        """
        for key, total in counters.items():
            delta = int(total) - self._synced[key]
            if delta <= 0:
                continue
            self._synced[key] = int(total)
            outcome, _, rest = key.partition(":")
            if outcome not in ("accepted", "rejected") or not rest:
                continue
            if outcome == "accepted":
                self.records.labels(topic=rest, outcome="accepted").inc(delta)
                continue
            src, _, reason = rest.partition(":")
            if not reason:
                # "rejected:not_json": the key names the reason, the caller names the topic.
                src, reason = topic, rest
            self.records.labels(topic=src, outcome="rejected").inc(delta)
            self.deadletters.labels(topic=src, reason=reason).inc(delta)

    def observe_lag(self, topic: str, event_ts_ms: int, now_s: float | None = None) -> None:
        """Set the event-time lag of ``topic``: ``now_s`` (default: wall clock) minus the event ts.

        Call it with the newest ``ts`` seen on the topic; negative values mean events
        stamped in the future (a producer's clock is ahead).
        """
        now = time.time() if now_s is None else now_s
        self.lag.labels(topic=topic).set(now - event_ts_ms / 1000.0)

    def metric_names(self) -> set[str]:
        """Every sample name this registry exposes (``smsguard_records_total``, ...)."""
        names: set[str] = set()
        for family in self.registry.collect():
            # A counter family is named without its suffix but only ``_total`` is exposed.
            names.add(family.name + "_total" if family.type == "counter" else family.name)
            names.update(s.name for s in family.samples)
        return names


METRICS = Metrics()
REGISTRY = METRICS.registry
METRIC_NAMES = frozenset(METRICS.metric_names())


def serve_metrics(
    port: int, addr: str | None = None, registry: CollectorRegistry | None = None
) -> Any:
    """Serve ``/metrics`` of ``registry`` (default ``REGISTRY``) from a daemon thread.

    Pass ``config.worker.metrics_addr`` as ``addr``. Without one it binds what
    ``SMSGUARD_WORKER__METRICS_ADDR`` says, else loopback (127.0.0.1): containers set
    that variable to 0.0.0.0 so Prometheus can scrape them even when a caller forgot.
    ``port=0`` picks a free port; the returned server's ``server_port`` tells which.
    Call ``.shutdown()`` on the returned server to stop it.
    """
    if addr is None:
        addr = os.environ.get(ENV_METRICS_ADDR, "127.0.0.1")
    server, _thread = start_http_server(port, addr=addr, registry=registry or REGISTRY)
    return server
