"""Data shaping for pictures: load replay files and outputs, build timelines and tallies.

Everything here is pure (no plotting, no Kafka, no wall clock) so the report
command, the notebooks and the tests share one implementation. Message bodies
never reach this package's results: input records go through the core's
parser, which reduces a body to features (length, URL, fingerprint) and drops
the text.
"""

from detector.analysis.findings import (
    Findings,
    findings_from_lines,
    load_findings,
    read_jsonl,
)
from detector.analysis.timelines import (
    EntityTally,
    KindSeries,
    choose_bin_s,
    findings_over_time,
    top_entities,
)

__all__ = [
    "EntityTally",
    "Findings",
    "KindSeries",
    "choose_bin_s",
    "findings_from_lines",
    "findings_over_time",
    "load_findings",
    "read_jsonl",
    "top_entities",
]
