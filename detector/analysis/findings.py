"""Load what the detector emitted: a replay output or a captured output-topic dump.

Both use the contract's replay line format, ``{"topic": ..., "value": {...}}``;
bare records, one a line (``smsguard tail alerts --json``), are read too.
Topic names may be the configured ones rather than the default role names, so
a line is classified by its value's shape first (``alert_id`` without
``command_id`` is an alert, ``command_id`` a throttle command) and by topic
name only as a tie-breaker. Lines that are neither (dead letters, input
records in a mixed dump) are counted, not kept.
"""

from __future__ import annotations

import json
import os
from collections import Counter
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any

ALERTS = "sms.alerts"
THROTTLE = "sms.throttle"


@dataclass
class Findings:
    """Alerts and throttle commands, each list sorted by event time (``ts``)."""

    alerts: list[dict[str, Any]] = field(default_factory=list)
    throttles: list[dict[str, Any]] = field(default_factory=list)
    skipped: Counter[str] = field(default_factory=Counter)

    @property
    def span(self) -> tuple[int, int] | None:
        """(first ts, last ts) over alerts and throttles, or None when empty."""
        stamps = [r["ts"] for r in self.alerts] + [r["ts"] for r in self.throttles]
        return (min(stamps), max(stamps)) if stamps else None

    def alert(self, alert_id: str) -> dict[str, Any]:
        """The alert with this id (KeyError when absent)."""
        for record in self.alerts:
            if record.get("alert_id") == alert_id:
                return record
        raise KeyError(alert_id)


def read_jsonl(path: str | os.PathLike[str]) -> Iterator[dict[str, Any]]:
    """Yield each non-blank line of a JSON-lines file as an object."""
    with open(path, encoding="utf-8") as fh:
        for number, line in enumerate(fh, 1):
            if not line.strip():
                continue
            try:
                yield json.loads(line)
            except json.JSONDecodeError as exc:
                raise ValueError(f"{path}:{number}: not JSON ({exc.msg})") from None


def line_value(line: Mapping[str, Any]) -> Any:
    """The record of a line: its ``value``, or the line itself when it is a bare record
    (``smsguard tail --json`` prints records without the ``{"topic", "value"}`` wrapper)."""
    if "value" not in line and ("alert_id" in line or "command_id" in line):
        return line
    return line.get("value")


def output_role(line: Mapping[str, Any], topic_roles: Mapping[str, str] | None = None) -> str:
    """``sms.alerts``, ``sms.throttle`` or ``other`` for one output line."""
    value = line_value(line)
    if not isinstance(value, Mapping):
        return "other"
    topic = str(line.get("topic", ""))
    role = (topic_roles or {}).get(topic, topic)
    if "command_id" in value and "scope" in value:
        return THROTTLE
    if "alert_id" in value and "kind" in value and "entity" in value:
        return ALERTS
    return role if role in (ALERTS, THROTTLE) and "ts" in value else "other"


def findings_from_lines(
    lines: Iterable[Mapping[str, Any]], topic_roles: Mapping[str, str] | None = None
) -> Findings:
    """Split output lines into alerts and throttles (sorted by ``ts``, stable)."""
    found = Findings()
    for line in lines:
        role = output_role(line, topic_roles)
        if role == ALERTS:
            found.alerts.append(dict(line_value(line)))
        elif role == THROTTLE:
            found.throttles.append(dict(line_value(line)))
        else:
            found.skipped[str(line.get("topic", "?"))] += 1
    found.alerts.sort(key=lambda r: r["ts"])
    found.throttles.sort(key=lambda r: r["ts"])
    return found


def load_findings(
    path: str | os.PathLike[str], topic_roles: Mapping[str, str] | None = None
) -> Findings:
    """Read a replay output (or output-topic dump) file into :class:`Findings`.

    ``topic_roles`` maps configured topic names to roles, e.g. from
    :func:`topic_roles_of`, for dumps whose values lack the usual shape.
    """
    return findings_from_lines(read_jsonl(path), topic_roles)


def topic_roles_of(config: Any) -> dict[str, str]:
    """Configured topic name → contract role, for every topic in ``config.kafka``."""
    kafka = config.kafka
    return {
        kafka.topic_send: "sms.send",
        kafka.topic_dlr: "sms.dlr",
        kafka.topic_verify: "sms.verify",
        kafka.topic_alerts: ALERTS,
        kafka.topic_throttle: THROTTLE,
        kafka.topic_deadletter: "sms.deadletter",
    }
