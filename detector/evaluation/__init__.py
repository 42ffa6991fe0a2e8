"""Score a replay's alerts and throttle commands against the simulator's labels.

``evaluate(input_path, labels_path, output_path) -> EvaluationReport``: per
incident whether it was detected (an alert of the right kind naming it), how
fast, and what share of its traffic the throttle commands would have stopped
after detection; false alerts, false throttles, benign surges throttled, and
the money stopped on both sides. See ``gate`` for the enforcement semantics.
"""

from detector.evaluation.gate import Gate, country_of
from detector.evaluation.matching import DETECTION_GRACE_MS, alert_touches
from detector.evaluation.report import EvaluationReport, FalseAlert, FalseThrottle, IncidentResult
from detector.evaluation.scoring import evaluate, load_labels, load_outputs, write_report_json

__all__ = [
    "DETECTION_GRACE_MS",
    "EvaluationReport",
    "FalseAlert",
    "FalseThrottle",
    "Gate",
    "IncidentResult",
    "alert_touches",
    "country_of",
    "evaluate",
    "load_labels",
    "load_outputs",
    "write_report_json",
]
