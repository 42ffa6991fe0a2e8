"""Backtesting: replay one recorded file under modified configurations and score each run.

Every run is the real detector (:func:`detector.replay.replay_file`) with a
copy of the configuration whose policy thresholds or per-account sensitivities
were changed, scored by :mod:`detector.evaluation` against the labels. Runs are
independent, so a sweep spreads them over processes.

The incident-level units that scikit-learn's metrics score are: every
labelled incident (positive when malicious) plus every group of false alerts
(entity and kind, always a negative the detector flagged). A unit's score is
the highest alert score that touched it, which is what
``precision_recall_curve`` sweeps.
"""

from __future__ import annotations

import copy
import json
import os
from collections.abc import Iterable, Mapping, Sequence
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from detector.config import Config


@dataclass(frozen=True)
class Variant:
    """One point of a sweep: policy thresholds and per-account sensitivity multipliers."""

    warning_score: float
    critical_score: float
    sensitivity: tuple[tuple[str, float], ...] = ()
    label: str = ""

    def config(self, base: Config) -> Config:
        """A copy of ``base`` with this variant's settings."""
        cfg = copy.deepcopy(base)
        cfg.policy.warning_score = float(self.warning_score)
        cfg.policy.critical_score = float(self.critical_score)
        cfg.sensitivity.update(dict(self.sensitivity))
        return cfg


def grid(
    warning_scores: Iterable[float],
    sensitivities: Iterable[float],
    accounts: Iterable[str],
    critical_ratio: float = 2.0,
) -> list[Variant]:
    """Every (warning score, uniform sensitivity) pair; critical = warning × ``critical_ratio``.

    A uniform sensitivity is set on every account of the file, since the
    configuration has sensitivity only per account.
    """
    accounts = sorted(set(accounts))
    out = []
    for w in warning_scores:
        for s in sensitivities:
            per_account = tuple((a, float(s)) for a in accounts) if s != 1.0 else ()
            out.append(Variant(float(w), float(w) * critical_ratio, per_account,
                               label=f"warning {w:g}, sensitivity {s:g}"))
    return out


@dataclass
class RunResult:
    """One replay of the recorded file under a variant, and its evaluation."""

    variant: Variant
    output_path: str
    evaluation: Any  # detector.evaluation.EvaluationReport
    units: list[dict[str, Any]] = field(default_factory=list)


def run_variant(
    variant: Variant, input_path: str, labels_path: str, output_path: str, base: Config
) -> RunResult:
    """Replay the file with the variant's configuration and evaluate the outputs."""
    from detector.evaluation import evaluate, load_labels, load_outputs
    from detector.replay import replay_file

    replay_file(input_path, output_path, config=variant.config(base))
    evaluation = evaluate(input_path, labels_path, output_path)
    alerts, _ = load_outputs(output_path)
    units = incident_units(evaluation, load_labels(labels_path), alerts)
    return RunResult(variant, output_path, evaluation, units)


def _run(args: tuple[Variant, str, str, str, Config]) -> RunResult:
    return run_variant(*args)


def sweep(
    variants: Sequence[Variant], input_path: str | Path, labels_path: str | Path,
    workdir: str | Path, base: Config | None = None, workers: int | None = None,
) -> list[RunResult]:
    """Run every variant, in parallel processes when there is more than one core.

    Each run's output goes to ``workdir/variant-<n>.out.jsonl``.
    """
    base = base or Config()
    Path(workdir).mkdir(parents=True, exist_ok=True)
    jobs = [(v, str(input_path), str(labels_path),
             str(Path(workdir) / f"variant-{n:03d}.out.jsonl"), base)
            for n, v in enumerate(variants)]
    workers = min(workers or os.cpu_count() or 1, len(jobs))
    if workers <= 1:
        return [_run(job) for job in jobs]
    with ProcessPoolExecutor(max_workers=workers) as pool:
        return list(pool.map(_run, jobs))


def incident_units(evaluation: Any, labels: Sequence[Mapping[str, Any]],
                   alerts: Sequence[Mapping[str, Any]]) -> list[dict[str, Any]]:
    """Units for scikit-learn: incidents and false-alert groups with truth, verdict and score.

    A malicious incident is flagged when the evaluation counts it detected; a
    benign one when it drew an alert or was throttled. False-alert groups
    whose alerts all name a benign incident are that incident's unit already,
    so they are not counted twice.
    """
    from detector.evaluation import alert_touches

    by_id = {str(label["incident_id"]): label for label in labels}
    benign = [label for label in labels if label["benign"]]
    units = []
    for result in evaluation.incidents:
        label = by_id[result.incident_id]
        # A malicious incident counts as detected only by an alert of its kind.
        scores = [float(a["score"]) for a in alerts if alert_touches(a, label)
                  and (result.benign or a.get("kind") == result.kind)]
        flagged = result.throttled or bool(scores) if result.benign else result.detected
        units.append({"unit": result.incident_id, "kind": result.kind,
                      "truth": 0 if result.benign else 1, "flagged": int(flagged),
                      "score": max(scores, default=0.0)})
    for group in evaluation.false_alerts:
        members = [a for a in alerts
                   if (a.get("entity") or {}) == {"type": group.entity_type, "id": group.entity_id}
                   and a.get("kind") == group.kind]
        if members and all(any(alert_touches(a, b) for b in benign) for a in members):
            continue
        units.append({"unit": f"{group.entity_type}:{group.entity_id}", "kind": group.kind,
                      "truth": 0, "flagged": 1,
                      "score": max((float(a["score"]) for a in members), default=0.0)})
    return units


def settings_toml(
    policy: Mapping[str, float], sensitivity: Mapping[str, float], comment: str = ""
) -> str:
    """TOML text for :func:`detector.config.load_config`: a ``[policy]`` and a ``[sensitivity]``.

    >>> print(settings_toml({"warning_score": 5.0}, {"acct_1": 0.5}, "tuned"))
    # tuned
    <BLANKLINE>
    [policy]
    warning_score = 5.0
    <BLANKLINE>
    [sensitivity]
    "acct_1" = 0.5
    <BLANKLINE>
    """
    lines = [f"# {line}" for line in comment.splitlines()]
    lines += ["", "[policy]"]
    lines += [f"{key} = {float(value)!r}" for key, value in policy.items()]
    if sensitivity:
        lines += ["", "[sensitivity]"]
        # JSON string escapes are valid TOML basic-string escapes.
        lines += [f"{json.dumps(str(k))} = {float(v)!r}" for k, v in sorted(sensitivity.items())]
    return "\n".join(lines).lstrip("\n") + "\n"
