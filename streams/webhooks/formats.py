"""Webhook bodies for the on-call feed: generic JSON, Slack incoming webhooks, PagerDuty v2.

A :class:`Page` is what the sink decided to send (one alert, a storm of alerts of
one kind grouped together, or the resolve of an earlier page); :func:`render`
turns it into the JSON body of one HTTP POST in the configured format.

- ``generic``: a single alert is posted as the contract's ``sms.alerts`` record,
  unchanged; a storm is ``{"event": "storm", "kind", "count", "alerts": [...]}``;
  a resolve is ``{"event": "resolve", "dedup_key", "alert_ids", "reason"}``.
- ``slack``: ``{"text": ...}`` with kind, severity, entity, the top evidence lines
  and the action, readable on a phone.
- ``pagerduty``: Events API v2 (``routing_key``, ``event_action`` trigger/resolve,
  ``dedup_key`` = the alert id, or ``storm:<kind>:<first alert id>`` for a storm).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

FORMATS = ("generic", "slack", "pagerduty")
SEVERITY_RANK = {"info": 0, "warning": 1, "critical": 2}
# PagerDuty knows critical/error/warning/info; the contract's three map one to one.
PAGERDUTY_SEVERITY = {"critical": "critical", "warning": "warning", "info": "info"}
EVIDENCE_LINES = 3  # Slack: enough to decide, short enough for a phone screen
STORM_LINES = 20  # Slack: alerts listed in a storm page before "and N more"
SUMMARY_MAX = 1024  # PagerDuty rejects longer summaries
# Full alerts kept in one storm page (all ids are kept): PagerDuty takes at most 512 kB.
STORM_LIST_MAX = 100


@dataclass
class Page:
    """One thing to tell on-call: a trigger (one alert or a storm) or a resolve."""

    dedup_key: str
    kind: str
    alerts: list[dict[str, Any]]
    resolve: bool = False
    reason: str = ""  # resolve: the release command's reason
    alert_ids: list[str] = field(default_factory=list)

    def __post_init__(self) -> None:
        if not self.alert_ids:
            self.alert_ids = [str(a.get("alert_id", "")) for a in self.alerts]

    @property
    def count(self) -> int:
        """Alerts the page stands for (a storm lists at most STORM_LIST_MAX of them in full)."""
        return len(self.alert_ids)

    @property
    def is_storm(self) -> bool:
        return not self.resolve and (self.count > 1 or not self.alerts)

    @property
    def severity(self) -> str:
        """The highest severity among the page's alerts."""
        sevs = [str(a.get("severity", "warning")) for a in self.alerts] or ["warning"]
        return max(sevs, key=lambda s: SEVERITY_RANK.get(s, 1))


def entity_text(alert: dict[str, Any]) -> str:
    """``prefix +2547 (account acc-9)``: the entity, and the account when it is another one."""
    entity = alert.get("entity") or {}
    text = f"{entity.get('type', '?')} {entity.get('id', '?')}"
    account = alert.get("account_id")
    if account and not (entity.get("type") == "account" and entity.get("id") == account):
        text += f" (account {account})"
    return text


def summary(page: Page) -> str:
    """One line naming what happened, for titles and PagerDuty summaries."""
    if page.is_storm:
        text = f"Alert storm: {page.count} {page.kind} alerts ({page.severity})"
    elif page.alerts:
        alert = page.alerts[0]
        text = (
            f"{page.severity.upper()} {page.kind} on {entity_text(alert)}: "
            f"action {alert.get('action', 'none')}"
        )
    else:
        text = f"{page.kind} {page.dedup_key}"
    return text[:SUMMARY_MAX]


def evidence_line(item: dict[str, Any]) -> str:
    return f"{item.get('feature', '?')} = {item.get('value')} (baseline {item.get('baseline')})"


def render(page: Page, fmt: str, routing_key: str = "", source: str = "smsguard") -> dict:
    """The JSON body of one POST for ``page`` in format ``fmt``."""
    if fmt == "generic":
        return _generic(page)
    if fmt == "slack":
        return _slack(page)
    if fmt == "pagerduty":
        return _pagerduty(page, routing_key, source)
    raise ValueError(f"unknown webhook format {fmt!r} (expected one of {', '.join(FORMATS)})")


def _generic(page: Page) -> dict:
    if page.resolve:
        return {
            "event": "resolve",
            "dedup_key": page.dedup_key,
            "kind": page.kind,
            "alert_ids": page.alert_ids,
            "reason": page.reason,
        }
    if page.is_storm:
        return {
            "event": "storm",
            "dedup_key": page.dedup_key,
            "kind": page.kind,
            "severity": page.severity,
            "count": page.count,
            "alert_ids": page.alert_ids,
            "alerts": page.alerts,
        }
    return dict(page.alerts[0])


def _slack(page: Page) -> dict:
    if page.resolve:
        ids = ", ".join(page.alert_ids[:STORM_LINES])
        text = f":white_check_mark: *Resolved* {page.kind} ({ids})"
        if page.reason:
            text += f"\n{page.reason}"
        return {"text": text}
    if page.is_storm:
        lines = [f":rotating_light: *{summary(page)}*"]
        for alert in page.alerts[:STORM_LINES]:
            lines.append(
                f"• {alert.get('severity', '?')} {entity_text(alert)} "
                f"score {_num(alert.get('score'))} action {alert.get('action', 'none')} "
                f"`{alert.get('alert_id', '')}`"
            )
        if page.count > STORM_LINES:
            lines.append(f"… and {page.count - min(STORM_LINES, len(page.alerts))} more")
        return {"text": "\n".join(lines)}
    alert = page.alerts[0]
    icon = ":rotating_light:" if page.severity == "critical" else ":warning:"
    lines = [
        f"{icon} *{page.severity.upper()}* {page.kind} on {entity_text(alert)}",
        f"score {_num(alert.get('score'))} · action *{alert.get('action', 'none')}* "
        f"· alert `{alert.get('alert_id', '')}`",
    ]
    lines += [f"• {evidence_line(e)}" for e in (alert.get("evidence") or [])[:EVIDENCE_LINES]]
    return {"text": "\n".join(lines)}


def _pagerduty(page: Page, routing_key: str, source: str) -> dict:
    body: dict[str, Any] = {"routing_key": routing_key, "dedup_key": page.dedup_key}
    if page.resolve:
        body["event_action"] = "resolve"
        return body
    body["event_action"] = "trigger"
    first = page.alerts[0] if page.alerts else {}
    payload: dict[str, Any] = {
        "summary": summary(page),
        "source": source,
        "severity": PAGERDUTY_SEVERITY.get(page.severity, "warning"),
        "component": str((first.get("entity") or {}).get("type", "")),
        "group": str(first.get("account_id") or ""),
        "class": page.kind,
    }
    if isinstance(first.get("ts"), int):
        payload["timestamp"] = _iso(first["ts"])
    if page.is_storm:
        payload["custom_details"] = {
            "count": page.count,
            "alert_ids": page.alert_ids,
            "alerts": [
                {
                    "alert_id": a.get("alert_id"),
                    "severity": a.get("severity"),
                    "entity": a.get("entity"),
                    "account_id": a.get("account_id"),
                    "score": a.get("score"),
                    "action": a.get("action"),
                }
                for a in page.alerts
            ],
        }
    else:
        payload["custom_details"] = {
            "evidence": first.get("evidence") or [],
            "score": first.get("score"),
            "action": first.get("action"),
            "entity": first.get("entity"),
            "account_id": first.get("account_id"),
        }
    body["payload"] = payload
    return body


def _num(value: Any) -> str:
    return f"{value:.1f}" if isinstance(value, float) else str(value)


def _iso(ts_ms: int) -> str:
    return datetime.fromtimestamp(ts_ms / 1000, tz=UTC).isoformat().replace("+00:00", "Z")
