"""One labelled incident, seen through the detector's eyes: volume, score, alerts, throttles.

The labels file comes from the simulator (one incident a line, see
``detector/simulation``). Volume is counted from the input's sends: the
incident's own messages (``message_ids``) and the whole scope they hide in
(its accounts, or its prefix/destination/route entities when no account is
named), so a reader sees how big the attack was next to normal traffic.
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from detector.analysis.findings import Findings, read_jsonl
from detector.analysis.timelines import bin_edges, choose_bin_s, count_per_bin

# Commands shortly before the labelled start still belong to the incident
# (labels mark the first attack message; a step may close a little later).
MATCH_MARGIN_MS = 60_000


def load_labels(path: str | os.PathLike[str]) -> list[dict[str, Any]]:
    """The incidents of a labels file, in file order."""
    return list(read_jsonl(path))


def _entity_keys(incident: Mapping[str, Any]) -> set[tuple[str, str]]:
    keys = {(str(e.get("type")), str(e.get("id"))) for e in incident.get("entities") or []}
    keys |= {("account", str(a)) for a in incident.get("account_ids") or []}
    return keys


def alert_matches(alert: Mapping[str, Any], incident: Mapping[str, Any]) -> bool:
    """Whether an alert is about this incident, by the evaluation's own rule."""
    from detector.evaluation.matching import alert_touches

    return alert_touches(alert, incident)


def throttle_matches(command: Mapping[str, Any], incident: Mapping[str, Any],
                     alert_ids: set[str], after_ms: int = 10 * 60_000) -> bool:
    """Whether a throttle command acts on this incident (names a matching alert or scope)."""
    if command.get("alert_id") in alert_ids:
        return True
    if not incident["start_ts"] - MATCH_MARGIN_MS <= command["ts"] <= incident["end_ts"] + after_ms:
        return False
    scope = command.get("scope") or {}
    keys = _entity_keys(incident)
    return any(
        (kind, str(scope[name])) in keys
        for name, kind in (("account_id", "account"), ("prefix", "prefix"),
                           ("api_key_id", "api_key"), ("country", "country"))
        if scope.get(name)
    )


def send_in_scope(send: Mapping[str, Any], incident: Mapping[str, Any]) -> bool:
    """Whether a send belongs to the traffic the incident hides in."""
    accounts = incident.get("account_ids") or []
    if accounts:
        return send.get("account_id") in accounts
    destination = str(send.get("destination", ""))
    for entity in incident.get("entities") or []:
        kind, ident = entity.get("type"), str(entity.get("id"))
        if kind == "prefix" and destination.startswith(ident):
            return True
        if kind == "destination" and destination == ident:
            return True
        if kind == "route" and send.get("route") == ident:
            return True
        if kind == "api_key" and send.get("api_key_id") == ident:
            return True
    return False


@dataclass
class IncidentTimeline:
    """Everything the report plots for one incident, on one axis of bin starts (epoch ms)."""

    incident: dict[str, Any]
    bin_s: int
    bins: list[int]
    scope_volume: list[int]
    attack_volume: list[int]
    alerts: list[dict[str, Any]] = field(default_factory=list)
    throttles: list[dict[str, Any]] = field(default_factory=list)
    warning_score: float | None = None
    critical_score: float | None = None
    outcome: dict[str, Any] = field(default_factory=dict)
    # Failed delivery reports of the incident's routes (route incidents only).
    failed_dlrs: list[int] | None = None
    # Every finding that touched the incident (see detector.analysis.score_trace), if traced.
    traced: list[dict[str, Any]] | None = None

    @property
    def incident_id(self) -> str:
        return str(self.incident.get("incident_id"))

    @property
    def score_points(self) -> list[tuple[int, float]]:
        """(ts, score) of every matching alert, the detector's score where it spoke."""
        return [(a["ts"], float(a.get("score", 0.0))) for a in self.alerts]


def incident_timeline(
    incident: Mapping[str, Any],
    findings: Findings,
    sends: Iterable[Mapping[str, Any]] = (),
    bin_s: int | None = None,
    context_ms: int = 10 * 60_000,
    warning_score: float | None = None,
    critical_score: float | None = None,
    outcome: Mapping[str, Any] | None = None,
    failed_dlrs: Iterable[Mapping[str, Any]] = (),
    trace: Iterable[Mapping[str, Any]] | None = None,
) -> IncidentTimeline:
    """Bin the incident's scope and attack volume and collect its alerts and throttles.

    ``context_ms`` of normal traffic either side frames the incident.
    ``sends`` are send records (dicts with ts, message_id, account_id,
    destination, route, api_key_id; bodies are not read). ``failed_dlrs``
    (dicts with ts and route) give route incidents, which have no attack
    messages of their own, a series of what went wrong. ``trace`` is the
    output of :func:`detector.analysis.score_trace.trace_findings`; the
    findings that touch the incident are kept for the score line.
    """
    start = int(incident["start_ts"]) - context_ms
    end = int(incident["end_ts"]) + context_ms
    width = bin_s or choose_bin_s(end - start)
    bins = bin_edges(start, end, width)
    attack_ids = set(incident.get("message_ids") or [])
    scope_ts: list[int] = []
    attack_ts: list[int] = []
    for send in sends:
        ts = send["ts"]
        if not start <= ts <= end:
            continue
        if send.get("message_id") in attack_ids:
            attack_ts.append(ts)
            scope_ts.append(ts)
        elif send_in_scope(send, incident):
            scope_ts.append(ts)
    routes = {str(e.get("id")) for e in incident.get("entities") or [] if e.get("type") == "route"}
    failures = None
    if routes:
        failures = count_per_bin(
            (d["ts"] for d in failed_dlrs if d.get("route") in routes), bins, width
        )
    alerts = [a for a in findings.alerts if alert_matches(a, incident)]
    alert_ids = {str(a.get("alert_id")) for a in alerts}
    throttles = [c for c in findings.throttles if throttle_matches(c, incident, alert_ids)]
    return IncidentTimeline(
        incident=dict(incident),
        bin_s=width,
        bins=bins,
        scope_volume=count_per_bin(scope_ts, bins, width),
        attack_volume=count_per_bin(attack_ts, bins, width),
        alerts=alerts,
        throttles=throttles,
        warning_score=warning_score,
        critical_score=critical_score,
        outcome=dict(outcome or {}),
        failed_dlrs=failures,
        traced=None if trace is None else [
            dict(f) for f in trace if start <= f["ts"] <= end and alert_matches(f, incident)
        ],
    )
