"""Findings over time and the entities that drew the most of them.

Bins are aligned to multiples of the bin width in epoch milliseconds, so two
series binned at the same width line up without resampling.
"""

from __future__ import annotations

from collections import Counter, defaultdict
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from detector.analysis.findings import Findings

# Widths a person reads easily on an axis, in seconds.
NICE_BINS_S = (10, 30, 60, 300, 600, 900, 1800, 3600, 3 * 3600, 6 * 3600, 86400)


def choose_bin_s(span_ms: int, target_bins: int = 60) -> int:
    """The smallest readable bin width giving at most ``target_bins`` bins over the span.

    >>> choose_bin_s(3_600_000)
    60
    >>> choose_bin_s(0)
    10
    """
    for width in NICE_BINS_S:
        if span_ms <= width * 1000 * target_bins:
            return width
    return NICE_BINS_S[-1]


def bin_start(ts: int, bin_s: int) -> int:
    """Start (epoch ms) of the bin holding ``ts``.

    >>> bin_start(61_500, 60)
    60000
    """
    width = bin_s * 1000
    return ts - ts % width


def bin_edges(start_ms: int, end_ms: int, bin_s: int) -> list[int]:
    """Bin starts covering [start_ms, end_ms] inclusive.

    >>> bin_edges(5_000, 25_000, 10)
    [0, 10000, 20000]
    """
    first, last = bin_start(start_ms, bin_s), bin_start(end_ms, bin_s)
    return list(range(first, last + 1, bin_s * 1000))


@dataclass
class KindSeries:
    """Alert counts per bin for each kind, on a shared axis of bin starts (epoch ms)."""

    bin_s: int
    bins: list[int]
    counts: dict[str, list[int]]
    throttles: dict[str, list[int]] = field(default_factory=dict)


def count_per_bin(stamps: Iterable[int], bins: list[int], bin_s: int) -> list[int]:
    """How many of ``stamps`` fall into each bin of ``bins`` (stamps outside are dropped)."""
    if not bins:
        return []
    index = {b: i for i, b in enumerate(bins)}
    out = [0] * len(bins)
    for ts in stamps:
        i = index.get(bin_start(ts, bin_s))
        if i is not None:
            out[i] += 1
    return out


def findings_over_time(
    findings: Findings, bin_s: int | None = None, span: tuple[int, int] | None = None
) -> KindSeries:
    """Alerts per bin by kind, and throttle commands per bin by action.

    ``span`` widens the axis (e.g. to the input traffic's span) so quiet
    stretches show as zeros instead of being cut off.
    """
    bounds = span or findings.span
    if bounds is None:
        return KindSeries(bin_s=bin_s or NICE_BINS_S[0], bins=[], counts={})
    if findings.span is not None:
        bounds = (min(bounds[0], findings.span[0]), max(bounds[1], findings.span[1]))
    width = bin_s or choose_bin_s(bounds[1] - bounds[0])
    bins = bin_edges(bounds[0], bounds[1], width)
    by_kind: dict[str, list[int]] = defaultdict(list)
    for alert in findings.alerts:
        by_kind[str(alert.get("kind", "unknown"))].append(alert["ts"])
    by_action: dict[str, list[int]] = defaultdict(list)
    for command in findings.throttles:
        by_action[str(command.get("action", "unknown"))].append(command["ts"])
    return KindSeries(
        bin_s=width,
        bins=bins,
        counts={k: count_per_bin(v, bins, width) for k, v in sorted(by_kind.items())},
        throttles={k: count_per_bin(v, bins, width) for k, v in sorted(by_action.items())},
    )


@dataclass
class EntityTally:
    """What one entity drew: alerts by kind, the worst score and severity, throttles."""

    entity_type: str
    entity_id: str
    alerts: int = 0
    kinds: Counter[str] = field(default_factory=Counter)
    max_score: float = 0.0
    worst_severity: str = "info"
    throttles: int = 0
    first_ts: int | None = None
    last_ts: int | None = None
    account_ids: set[str] = field(default_factory=set)

    @property
    def label(self) -> str:
        return f"{self.entity_type}:{self.entity_id}"


SEVERITY_RANK = {"info": 0, "warning": 1, "critical": 2}


def _scope_entity(scope: Mapping[str, Any]) -> tuple[str, str] | None:
    """The entity a throttle scope names, narrowest first (prefix before account)."""
    for key, kind in (("prefix", "prefix"), ("api_key_id", "api_key"),
                      ("account_id", "account"), ("country", "country")):
        if scope.get(key):
            return kind, str(scope[key])
    return None


def top_entities(findings: Findings, n: int = 10) -> list[EntityTally]:
    """The ``n`` entities with the most alerts (ties: higher score, then name).

    Throttle commands are attributed to the alert they name (``alert_id``)
    when it is known, else to the narrowest entity in their scope.
    """
    tallies: dict[tuple[str, str], EntityTally] = {}
    entity_of_alert: dict[str, tuple[str, str]] = {}

    def tally(key: tuple[str, str]) -> EntityTally:
        if key not in tallies:
            tallies[key] = EntityTally(entity_type=key[0], entity_id=key[1])
        return tallies[key]

    for alert in findings.alerts:
        entity = alert.get("entity") or {}
        key = (str(entity.get("type", "?")), str(entity.get("id", "?")))
        entity_of_alert[str(alert.get("alert_id"))] = key
        t = tally(key)
        t.alerts += 1
        t.kinds[str(alert.get("kind", "unknown"))] += 1
        t.max_score = max(t.max_score, float(alert.get("score", 0.0)))
        severity = str(alert.get("severity", "info"))
        if SEVERITY_RANK.get(severity, 0) > SEVERITY_RANK.get(t.worst_severity, 0):
            t.worst_severity = severity
        t.first_ts = alert["ts"] if t.first_ts is None else min(t.first_ts, alert["ts"])
        t.last_ts = alert["ts"] if t.last_ts is None else max(t.last_ts, alert["ts"])
        if alert.get("account_id"):
            t.account_ids.add(str(alert["account_id"]))
    for command in findings.throttles:
        key = entity_of_alert.get(str(command.get("alert_id")))
        if key is None:
            key = _scope_entity(command.get("scope") or {})
        if key is None:
            continue
        tally(key).throttles += 1
    ranked = sorted(
        tallies.values(),
        key=lambda t: (-t.alerts, -t.throttles, -t.max_score, t.label),
    )
    return ranked[:n]


def throttle_intervals(commands: Iterable[Mapping[str, Any]]) -> list[tuple[int, int, str]]:
    """When each scope was limited or blocked: merged ``(start, end, action)`` periods.

    The detector extends a throttle by re-issuing it, so drawing every command
    buries the picture; a gateway keeps one command per scope, ending at its
    ``expires_at`` or at a ``release`` of that scope. Overlapping periods of
    one scope merge (a merged period is ``block`` if any part of it was).

    >>> cmds = [{"ts": 0, "action": "limit", "scope": {"account_id": "a"}, "expires_at": 10},
    ...         {"ts": 5, "action": "block", "scope": {"account_id": "a"}, "expires_at": 20},
    ...         {"ts": 12, "action": "release", "scope": {"account_id": "a"}, "expires_at": 12}]
    >>> throttle_intervals(cmds)
    [(0, 12, 'block')]
    """
    by_scope: dict[tuple, list[Mapping[str, Any]]] = defaultdict(list)
    for command in commands:
        by_scope[tuple(sorted((command.get("scope") or {}).items()))].append(command)
    out: list[tuple[int, int, str]] = []
    for scope_commands in by_scope.values():
        current: list[Any] | None = None  # [start, end, action]
        for command in sorted(scope_commands, key=lambda c: c["ts"]):
            ts, action = int(command["ts"]), str(command.get("action"))
            if current is not None and ts >= current[1]:
                out.append((current[0], current[1], current[2]))
                current = None
            if action == "release":
                if current is not None:
                    out.append((current[0], ts, current[2]))
                    current = None
                continue
            end = int(command.get("expires_at", ts))
            if current is None:
                current = [ts, end, action]
            else:
                current[1] = end  # the newer command replaces the older one
                if action == "block":
                    current[2] = "block"
        if current is not None:
            out.append((current[0], current[1], current[2]))
    return sorted(out)
