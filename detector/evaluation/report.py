"""The evaluation report: per-incident results, totals, and a table for people."""

from __future__ import annotations

import statistics
from dataclasses import asdict, dataclass, field


@dataclass
class IncidentResult:
    incident_id: str
    kind: str
    description: str
    benign: bool
    start_ts: int
    end_ts: int
    attack_sends: int = 0
    detected: bool = False
    delay_s: float | None = None  # from the labelled start
    # From the first attack message: what the detector could not shorten is the wait
    # before it (a slow ramp's first message may come minutes after its start). The
    # same as delay_s for an incident without messages of its own (a route going dark).
    delay_from_first_s: float | None = None
    first_attack_ts: int | None = None
    first_alert_id: str | None = None
    wrong_kinds: list[str] = field(default_factory=list)
    sends_after_detection: int = 0
    stopped_after_detection: int = 0
    stopped_total: int = 0
    money_at_risk: float = 0.0
    money_before_detection: float = 0.0  # attack spend the detector let through before its alert
    money_saved: float = 0.0
    # benign incidents only
    throttled: bool = False
    commands: list[str] = field(default_factory=list)
    alerts_touching: int = 0
    money_lost: float = 0.0

    @property
    def stopped_share(self) -> float | None:
        """Share of attack sends after detection that the commands stopped."""
        if not self.detected or self.sends_after_detection == 0:
            return None
        return self.stopped_after_detection / self.sends_after_detection


@dataclass
class FalseAlert:
    entity_type: str
    entity_id: str
    kind: str
    count: int
    first_ts: int
    max_severity: str


@dataclass
class FalseThrottle:
    command_id: str
    action: str
    scope: dict
    ts: int
    legit_stopped: int
    cost: float
    benign_incidents: list[str]


@dataclass
class EvaluationReport:
    incidents: list[IncidentResult]
    false_alerts: list[FalseAlert]
    false_throttles: list[FalseThrottle]
    benign_throttled: list[str]
    alerts: int
    commands: int
    sends: int
    legit_sends_stopped: int
    money_saved: float
    money_cost: float

    @property
    def malicious(self) -> list[IncidentResult]:
        return [r for r in self.incidents if not r.benign]

    @property
    def all_detected(self) -> bool:
        return all(r.detected for r in self.malicious)

    @property
    def delays(self) -> list[float]:
        return [r.delay_s for r in self.malicious if r.delay_s is not None]

    @property
    def median_delay_s(self) -> float | None:
        return statistics.median(self.delays) if self.delays else None

    @property
    def max_delay_s(self) -> float | None:
        return max(self.delays) if self.delays else None

    @property
    def delays_from_first(self) -> list[float]:
        return [r.delay_from_first_s for r in self.malicious if r.delay_from_first_s is not None]

    def stopped_share(self, kind: str | None = None) -> float | None:
        """Pooled share of attack sends after detection that were stopped."""
        rows = [r for r in self.malicious if r.detected and (kind is None or r.kind == kind)]
        after = sum(r.sends_after_detection for r in rows)
        if after == 0:
            return None
        return sum(r.stopped_after_detection for r in rows) / after

    def to_dict(self) -> dict:
        incidents = []
        for r in self.incidents:
            row = asdict(r)
            row["stopped_share"] = r.stopped_share
            incidents.append(row)
        return {
            "incidents": incidents,
            "summary": {
                "malicious_incidents": len(self.malicious),
                "detected": sum(r.detected for r in self.malicious),
                "all_detected": self.all_detected,
                "median_delay_s": self.median_delay_s,
                "max_delay_s": self.max_delay_s,
                "median_delay_from_first_s": (statistics.median(self.delays_from_first)
                                              if self.delays_from_first else None),
                "max_delay_from_first_s": max(self.delays_from_first, default=None),
                "pumping_stopped_share": self.stopped_share("sms_pumping"),
                "attack_stopped_share": self.stopped_share(),
                "false_alerts": sum(a.count for a in self.false_alerts),
                "false_alert_groups": len(self.false_alerts),
                "false_throttles": len(self.false_throttles),
                "benign_throttled": self.benign_throttled,
                "alerts": self.alerts,
                "commands": self.commands,
                "sends": self.sends,
                "legit_sends_stopped": self.legit_sends_stopped,
                "money_saved_usd": round(self.money_saved, 2),
                "money_cost_usd": round(self.money_cost, 2),
            },
            "false_alerts": [asdict(a) for a in self.false_alerts],
            "false_throttles": [asdict(t) for t in self.false_throttles],
        }

    def format_table(self) -> str:
        lines = [
            f"{'incident':<32} {'kind':<21} {'caught':<7} {'delay':>7} {'1st msg':>7} "
            f"{'stopped':>8} {'saved $':>9}  description",
        ]
        for r in self.incidents:
            money = r.money_saved
            if r.benign:
                caught = "THROTL" if r.throttled else ("alerted" if r.alerts_touching else "ok")
                delay = first = "-"
                stopped = f"{r.stopped_total} sent" if r.stopped_total else "-"
                money = -r.money_lost if r.money_lost else 0.0
            else:
                caught = "yes" if r.detected else "NO"
                delay = f"{r.delay_s:.0f}s" if r.delay_s is not None else "-"
                first = (f"{r.delay_from_first_s:.0f}s" if r.delay_from_first_s is not None
                         else "-")
                share = r.stopped_share
                stopped = f"{share:.0%}" if share is not None else "-"
            extra = f" (also alerted as {', '.join(r.wrong_kinds)})" if r.wrong_kinds else ""
            lines.append(
                f"{r.incident_id:<32} {r.kind:<21} {caught:<7} {delay:>7} {first:>7} "
                f"{stopped:>8} {money:>9.2f}  {r.description}{extra}"
            )
        mal = self.malicious
        med, mx = self.median_delay_s, self.max_delay_s
        pump = self.stopped_share("sms_pumping")
        lines += [
            "",
            f"detected: {sum(r.detected for r in mal)}/{len(mal)} malicious incidents"
            + ("" if self.all_detected else "  (missed: "
               + ", ".join(r.incident_id for r in mal if not r.detected) + ")"),
            "detection delay: median "
            + (f"{med:.0f}s" if med is not None else "-")
            + ", max " + (f"{mx:.0f}s" if mx is not None else "-")
            + (f" (from each incident's first attack message: max "
               f"{max(self.delays_from_first):.0f}s)" if self.delays_from_first else ""),
            "pumping traffic stopped after detection: "
            + (f"{pump:.1%}" if pump is not None else "-"),
            f"false alerts: {sum(a.count for a in self.false_alerts)} "
            f"({len(self.false_alerts)} entity/kind groups)",
            f"false throttles: {len(self.false_throttles)} commands, "
            f"{self.legit_sends_stopped} legitimate sends stopped",
            "benign surges throttled: "
            + (", ".join(self.benign_throttled) if self.benign_throttled else "none"),
            f"money: ${self.money_saved:,.2f} of attack traffic stopped, "
            f"${self.money_cost:,.2f} of legitimate traffic stopped",
            f"({self.alerts} alerts, {self.commands} throttle commands, {self.sends} sends)",
        ]
        if self.false_alerts:
            lines.append("")
            lines.append("false alerts by entity and kind (top 10):")
            for a in sorted(self.false_alerts, key=lambda a: -a.count)[:10]:
                lines.append(f"  {a.kind:<21} {a.entity_type}:{a.entity_id}  x{a.count} "
                             f"(max {a.max_severity})")
        return "\n".join(lines)
