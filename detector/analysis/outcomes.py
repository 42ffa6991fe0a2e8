"""The evaluation's verdict per incident, shaped for the report.

The metrics themselves (detection, delay, stopped share, false alerts and
throttles) are :func:`detector.evaluation.evaluate`'s; this module only picks
the fields the report shows.
"""

from __future__ import annotations

import os
from typing import Any


def evaluate_outcomes(
    input_path: str | os.PathLike[str],
    labels_path: str | os.PathLike[str],
    output_path: str | os.PathLike[str],
) -> tuple[dict[str, dict[str, Any]], dict[str, Any]]:
    """(incident id → {detected, delay_s, stopped_share, throttled, money_usd, wrong_kinds},
    headline figures, plus the list of false-alert groups under "false alert groups")."""
    from detector.evaluation import evaluate

    report = evaluate(input_path, labels_path, output_path)
    outcomes = {
        r.incident_id: {
            "detected": None if r.benign else r.detected,
            "delay_s": r.delay_s,
            "stopped_share": r.stopped_share,
            "throttled": r.throttled if r.benign else None,
            # Attack money the throttles stopped; for a benign surge, legitimate money lost.
            "money_usd": -r.money_lost if r.benign else r.money_saved,
            "wrong_kinds": list(r.wrong_kinds),
        }
        for r in report.incidents
    }
    summary = report.to_dict()["summary"]
    median, longest = summary["median_delay_s"], summary["max_delay_s"]
    stopped = summary["attack_stopped_share"]
    headline = {
        "malicious incidents detected": f"{summary['detected']}/{summary['malicious_incidents']}",
        "detection delay (median / max)": "–" if median is None
        else f"{median:.0f} s / {longest:.0f} s",
        "attack sends stopped after detection": "–" if stopped is None else f"{stopped:.1%}",
        "false alerts": summary["false_alerts"],
        "false throttles": summary["false_throttles"],
        "benign surges throttled": ", ".join(summary["benign_throttled"]) or "none",
    }
    # Not figures for the headline table: the report lists them on their own.
    headline["false alert groups"] = [
        {"entity": f"{a.entity_type}:{a.entity_id}", "kind": a.kind, "alerts": a.count,
         "first_ts": a.first_ts, "max_severity": a.max_severity}
        for a in sorted(report.false_alerts, key=lambda a: (-a.count, a.first_ts))
    ]
    return outcomes, headline
