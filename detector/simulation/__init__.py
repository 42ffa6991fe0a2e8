"""Labelled synthetic SMS traffic: normal tenants plus injected attacks and benign surges.

``simulate(out_path, ...)`` writes a contract replay file (``{"topic", "value"}``
a line, in ts order) and a labels file (one incident a line); see
``scenario`` for the plan and ``incidents`` for what each attack looks like.
"""

from detector.simulation.incidents import BENIGN_KINDS, MALICIOUS_KINDS, IncidentLabel
from detector.simulation.scenario import (
    SCENARIOS,
    Scenario,
    SimulationSummary,
    default_labels_path,
    simulate,
)

__all__ = [
    "BENIGN_KINDS",
    "MALICIOUS_KINDS",
    "SCENARIOS",
    "IncidentLabel",
    "Scenario",
    "SimulationSummary",
    "default_labels_path",
    "simulate",
]
