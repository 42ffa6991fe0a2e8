"""Score a replay output (alerts, throttle commands) against the simulator's labels."""

from __future__ import annotations

import os
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

import orjson

from detector.config import Config
from detector.evaluation.gate import Gate
from detector.evaluation.matching import alert_touches
from detector.evaluation.report import EvaluationReport, FalseAlert, FalseThrottle, IncidentResult
from detector.records import SEND, RecordParser, Rejected
from detector.replay import parse_lines, role_map

_SEVERITY = {"info": 0, "warning": 1, "critical": 2}


def _lines(path: str | os.PathLike[str]) -> Iterator[dict]:
    """The JSON objects of a labels or replay-output file; anything else is an error
    that names the file and line (these files are written by tools, not gateways)."""
    with open(path, "rb") as fh:
        for n, line in enumerate(fh, start=1):
            line = line.strip()
            if not line:
                continue
            try:
                obj = orjson.loads(line)
            except orjson.JSONDecodeError as err:
                raise ValueError(f"{path} line {n}: not JSON ({err})") from None
            if not isinstance(obj, dict):
                raise ValueError(f"{path} line {n}: not a JSON object")
            yield obj


def accepted_sends(path: str | os.PathLike[str]) -> Iterator[Mapping[str, Any]]:
    """The input's sends that the detector takes in, in file order.

    A line the replay dead-letters (not JSON, a missing field, a number that is not
    E.164) is no traffic the detector saw or a gateway would have delivered: it is
    left out of the enforcement figures rather than stopping the evaluation.
    """
    with open(path, "rb") as fh:
        lines = (line for line in fh if line.strip())
        # Every role is parsed, not only sends: each moves the stream's clock.
        for role, parsed in parse_lines(lines, RecordParser(), role_map(Config())):
            if role == SEND and not isinstance(parsed, Rejected):
                yield parsed.to_dict()


_LABEL_FIELDS = ("incident_id", "kind", "benign", "start_ts", "end_ts", "message_ids")


def load_labels(path: str | os.PathLike[str]) -> list[dict]:
    labels = list(_lines(path))
    for n, label in enumerate(labels, start=1):
        missing = [name for name in _LABEL_FIELDS if name not in label]
        if missing:
            raise ValueError(f"{path}: label {n} has no {', '.join(missing)}")
    return labels


def load_outputs(path: str | os.PathLike[str]) -> tuple[list[dict], list[dict]]:
    """Alerts and throttle commands of a replay output file, each sorted by ts."""
    alerts, commands = [], []
    for obj in _lines(path):
        topic, value = str(obj.get("topic", "")), obj.get("value") or {}
        if topic.endswith("alerts"):
            alerts.append(value)
        elif topic.endswith("throttle"):
            commands.append(value)
    alerts.sort(key=lambda a: a.get("ts", 0))
    commands.sort(key=lambda c: c.get("ts", 0))
    return alerts, commands


def evaluate(
    input_path: str | os.PathLike[str],
    labels_path: str | os.PathLike[str],
    output_path: str | os.PathLike[str],
) -> EvaluationReport:
    """Per incident: detected, delay, share stopped; plus false alerts/throttles and money."""
    labels = load_labels(labels_path)
    alerts, commands = load_outputs(output_path)
    results = {
        lab["incident_id"]: IncidentResult(
            incident_id=lab["incident_id"], kind=lab["kind"],
            description=str(lab.get("description", "")),
            benign=bool(lab["benign"]), start_ts=lab["start_ts"], end_ts=lab["end_ts"],
        )
        for lab in labels
    }
    malicious = [lab for lab in labels if not lab["benign"]]
    benign = [lab for lab in labels if lab["benign"]]

    # Detection: the first alert of the right kind that names the incident.
    detected_at: dict[str, int] = {}
    false_groups: dict[tuple[str, str, str], FalseAlert] = {}
    for alert in alerts:
        touched = False
        for lab in malicious:
            if not alert_touches(alert, lab):
                continue
            touched = True
            res = results[lab["incident_id"]]
            if alert.get("kind") == lab["kind"]:
                if not res.detected:
                    res.detected = True
                    res.delay_s = max(0.0, (alert["ts"] - lab["start_ts"]) / 1000.0)
                    res.first_alert_id = alert.get("alert_id")
                    detected_at[lab["incident_id"]] = alert["ts"]
            elif alert.get("kind") not in res.wrong_kinds:
                res.wrong_kinds.append(str(alert.get("kind")))
        for lab in benign:
            if alert_touches(alert, lab):
                results[lab["incident_id"]].alerts_touching += 1
        if not touched:
            entity = alert.get("entity") or {}
            key = (str(entity.get("type")), str(entity.get("id")), str(alert.get("kind")))
            group = false_groups.get(key)
            severity = str(alert.get("severity", "info"))
            if group is None:
                false_groups[key] = FalseAlert(*key, count=1, first_ts=int(alert.get("ts", 0)),
                                               max_severity=severity)
            else:
                group.count += 1
                if _SEVERITY.get(severity, 0) > _SEVERITY.get(group.max_severity, 0):
                    group.max_severity = severity

    # Enforcement: replay the commands against every send, in ts order.
    owner: dict[str, tuple[str, bool]] = {}
    for lab in labels:
        for mid in lab["message_ids"]:
            owner[mid] = (lab["incident_id"], bool(lab["benign"]))
    gate = Gate()
    next_cmd = 0
    sends = legit_stopped = 0
    money_saved = money_cost = 0.0
    for send in accepted_sends(input_path):
        ts = send["ts"]
        sends += 1
        while next_cmd < len(commands) and commands[next_cmd].get("ts", 0) <= ts:
            gate.apply(commands[next_cmd])
            next_cmd += 1
        mid = send.get("message_id")
        incident_id, benign = owner.get(mid, (None, True))
        price = float(send.get("price") or 0.0)
        stopping = gate.stops(send)
        res = results.get(incident_id) if incident_id else None
        attack = res is not None and not benign
        if attack:
            res.attack_sends += 1
            if res.first_attack_ts is None or ts < res.first_attack_ts:
                res.first_attack_ts = ts
                if incident_id in detected_at:
                    res.delay_from_first_s = max(0.0, (detected_at[incident_id] - ts) / 1000.0)
            res.money_at_risk += price
            after = incident_id in detected_at and ts >= detected_at[incident_id]
            if after:
                res.sends_after_detection += 1
            else:
                res.money_before_detection += price
        if stopping is None:
            continue
        if attack:
            res.stopped_total += 1
            res.money_saved += price
            money_saved += price
            if after:
                res.stopped_after_detection += 1
            for cmd in stopping:
                cmd.stopped_attack += 1
                cmd.attack_saved += price
        else:
            legit_stopped += 1
            money_cost += price
            for cmd in stopping:
                cmd.stopped_legit += 1
                cmd.legit_cost += price
                if res is not None:  # a benign incident's send
                    cmd.stopped_benign += 1
                    cmd.benign_incidents.add(incident_id)
                    if cmd.command_id not in res.commands:
                        res.commands.append(cmd.command_id)
                    res.throttled = True
            if res is not None:
                res.stopped_total += 1
                res.money_lost += price

    false_throttles = [
        FalseThrottle(
            command_id=c.command_id, action=c.action, scope=c.scope, ts=c.ts,
            legit_stopped=c.stopped_legit, cost=round(c.legit_cost, 4),
            benign_incidents=sorted(c.benign_incidents),
        )
        for c in gate.all_commands.values()
        if c.stopped_attack == 0 and c.stopped_legit > 0
    ]
    ordered = [results[lab["incident_id"]] for lab in labels]
    for res in ordered:
        if res.detected and res.first_attack_ts is None:
            # No messages of its own (a route going dark): its start is the first sign.
            res.delay_from_first_s = res.delay_s
    return EvaluationReport(
        incidents=ordered,
        false_alerts=sorted(false_groups.values(), key=lambda a: (a.first_ts, a.entity_id)),
        false_throttles=false_throttles,
        benign_throttled=[r.incident_id for r in ordered if r.benign and r.throttled],
        alerts=len(alerts),
        commands=len(commands),
        sends=sends,
        legit_sends_stopped=legit_stopped,
        money_saved=money_saved,
        money_cost=money_cost,
    )


def write_report_json(report: EvaluationReport, path: str | os.PathLike[str]) -> None:
    Path(path).parent.mkdir(parents=True, exist_ok=True)
    Path(path).write_bytes(orjson.dumps(report.to_dict(), option=orjson.OPT_INDENT_2))
