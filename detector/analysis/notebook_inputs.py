"""Where the notebooks read from: environment variables, else a small simulated file.

* ``SMSGUARD_NOTEBOOK_INPUT``: a replay input file (the contract's line format).
* ``SMSGUARD_NOTEBOOK_LABELS``: its incident labels; by default the simulator's
  naming convention next to the input (``X.labels.jsonl`` for ``X.jsonl``), if present.
* ``SMSGUARD_NOTEBOOK_OUTPUT``: the replay output of that input; by default the
  input is replayed with the notebook's config into the work directory.
* ``SMSGUARD_NOTEBOOK_WORKDIR``: where generated files go (default: a
  ``smsguard-notebooks`` directory under the system temporary directory).

None of these variables use the ``SMSGUARD_<SECTION>__<KEY>`` form, so they
never collide with configuration overrides.
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

INPUT_VAR = "SMSGUARD_NOTEBOOK_INPUT"
LABELS_VAR = "SMSGUARD_NOTEBOOK_LABELS"
OUTPUT_VAR = "SMSGUARD_NOTEBOOK_OUTPUT"
WORKDIR_VAR = "SMSGUARD_NOTEBOOK_WORKDIR"

# The default simulated file: small enough to replay in seconds, long enough
# for baselines to settle before the injected incidents.
DEFAULT_SIMULATION = {"seed": 7, "hours": 2.0, "accounts": 40}


@dataclass(frozen=True)
class NotebookInputs:
    input_path: Path
    labels_path: Path | None
    output_path: Path | None
    simulated: bool
    workdir: Path


def labels_next_to(input_path: Path) -> Path:
    """The simulator's labels file name for an input file (``X.jsonl`` → ``X.labels.jsonl``)."""
    from detector.simulation import default_labels_path

    return Path(default_labels_path(input_path))


def notebook_inputs(
    env: Mapping[str, str] | None = None, config: Any = None, need_output: bool = True
) -> NotebookInputs:
    """Resolve (and when needed, generate) the notebook's input, labels and replay output."""
    env = os.environ if env is None else env
    workdir = Path(env.get(WORKDIR_VAR) or Path(tempfile.gettempdir()) / "smsguard-notebooks")
    simulated = not env.get(INPUT_VAR)
    if simulated:
        workdir.mkdir(parents=True, exist_ok=True)
        input_path = workdir / "simulated.jsonl"
        labels_path: Path | None = labels_next_to(input_path)
        if not input_path.exists() or not labels_path.exists():
            simulate_small(input_path, labels_path)
    else:
        input_path = Path(env[INPUT_VAR])
        labels_path = Path(env[LABELS_VAR]) if env.get(LABELS_VAR) else labels_next_to(input_path)
        if not labels_path.exists():
            labels_path = None
    output_path: Path | None = Path(env[OUTPUT_VAR]) if env.get(OUTPUT_VAR) else None
    if output_path is None and need_output:
        workdir.mkdir(parents=True, exist_ok=True)
        output_path = workdir / (input_path.name.removesuffix(".jsonl") + ".out.jsonl")
        replay_to(input_path, output_path, config)
    return NotebookInputs(input_path, labels_path, output_path, simulated, workdir)


def simulate_small(out_path: Path, labels_path: Path) -> None:
    """Write the default small simulated file and its labels with the package's simulator."""
    from detector.simulation import simulate

    simulate(out_path, labels_path, **DEFAULT_SIMULATION)


def replay_to(input_path: Path, output_path: Path, config: Any = None) -> None:
    """Replay the input through the in-process detector into ``output_path``."""
    from detector.replay import replay_file

    replay_file(input_path, output_path, config=config)
