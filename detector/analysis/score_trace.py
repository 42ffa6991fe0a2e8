"""Every finding the detector judged, step by step: the score line behind the alerts.

Alerts show the score only when the policy decides to speak (an episode opens,
escalates or reminds). To draw how a score rose and fell, this replays the
input through a :class:`detector.pipeline.Detector` whose policies are observed:
each closed step's findings are recorded on their way into
``Policy.step`` (the detector's own decisions are unchanged). Findings exist
only for steps the detector judged suspicious enough to score
(``detector.surprise_threshold``), so the trace has gaps where all was calm.

This reaches one level below the public pipeline API (``Detector.families``
and each processor's ``policy``), which is why the report makes it opt-in.
"""

from __future__ import annotations

import os
from typing import Any

from detector.config import Config


def trace_findings(
    input_path: str | os.PathLike[str], config: Config | None = None
) -> list[dict[str, Any]]:
    """Replay ``input_path`` and return every finding as a dict, in step order.

    Each has ``ts`` (when its step closed, as the policy stamps alerts), ``kind``,
    ``entity`` (``{"type", "id"}``), ``account_id`` and ``score``.
    """
    from detector.pipeline import Detector
    from detector.replay import replay_records

    detector = Detector(config)
    step_ms = detector.config.detector.step_s * 1000
    found: list[dict[str, Any]] = []
    for processor in detector.families.values():
        decide = processor.policy.step

        def observed(state: Any, findings: list[Any], step: int, ts: int | None = None,
                     _decide: Any = decide) -> Any:
            if ts is None:
                ts = (step + 1) * step_ms - 1
            for f in findings:
                found.append({"ts": ts, "kind": f.kind, "score": float(f.score),
                              "entity": {"type": f.entity_type, "id": f.entity_id},
                              "account_id": f.account_id})
            return _decide(state, findings, step, ts)

        processor.policy.step = observed
    with open(input_path, "rb") as fh:
        for _ in replay_records((line for line in fh if line.strip()), detector=detector):
            pass
    found.sort(key=lambda f: f["ts"])
    return found
