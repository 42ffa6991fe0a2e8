"""Every notebook runs top to bottom on a small simulated file; a broken cell fails the suite.

The kernel is this interpreter (the venv's), whatever ``python`` is first on
PATH: a ``python3`` kernelspec pointing at ``sys.executable`` is placed first on
``JUPYTER_PATH``. Notebook outputs are checked for message bodies, which must
never be shown.
"""

from __future__ import annotations

import asyncio
import json
import sys
import uuid
from collections.abc import Iterator
from pathlib import Path

import nbformat
import pytest
from jupyter_client.kernelspec import KernelSpecManager
from nbclient import NotebookClient

from detector.config import load_config

NOTEBOOKS = Path(__file__).resolve().parent.parent / "notebooks"
NOTEBOOK_NAMES = [
    "01_explore_traffic.ipynb",
    "02_investigate_alert.ipynb",
    "03_backtest_and_tune.ipynb",
]
MARKER = "Qzx-notebook-body-marker"


@pytest.fixture(scope="module")
def venv_kernel(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A ``python3`` kernelspec that runs this interpreter, first on JUPYTER_PATH."""
    root = tmp_path_factory.mktemp("jupyter")
    spec_dir = root / "kernels" / "python3"
    spec_dir.mkdir(parents=True)
    (spec_dir / "kernel.json").write_text(json.dumps({
        "argv": [sys.executable, "-m", "ipykernel_launcher", "-f", "{connection_file}"],
        "display_name": "Python 3 (smsguard venv)",
        "language": "python",
    }))
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("JUPYTER_PATH", str(root))
        assert KernelSpecManager().get_kernel_spec("python3").argv[0] == sys.executable
        yield "python3"


@pytest.fixture(scope="module")
def small_sim(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """A small simulated file (some bodies carry a marker) and its labels."""
    # Imported here so a missing stage fails these tests, not the whole suite's collection.
    from detector.simulation import simulate

    root = tmp_path_factory.mktemp("notebook-data")
    raw, labels = root / "raw.jsonl", root / "small.labels.jsonl"
    simulate(raw, labels, seed=11, hours=2.0, accounts=30)
    marked = root / "small.jsonl"
    with open(raw, encoding="utf-8") as src, open(marked, "w", encoding="utf-8") as dst:
        for n, line in enumerate(src):
            record = json.loads(line)
            if n % 7 == 0 and record["value"].get("body"):
                record["value"]["body"] = f"{MARKER} {n} {record['value']['body']}"[:150]
            dst.write(json.dumps(record) + "\n")
    return {"input": marked, "labels": labels, "root": root}


@pytest.fixture(scope="module")
def small_run(small_sim: dict[str, Path]) -> dict[str, Path]:
    """The small simulated file with its replay output."""
    from detector.replay import replay_file

    output = small_sim["root"] / "small.out.jsonl"
    replay_file(small_sim["input"], output)
    return {**small_sim, "output": output}


def bodies_of(path: Path) -> set[str]:
    with open(path, encoding="utf-8") as fh:
        return {b for line in fh if (b := json.loads(line)["value"].get("body"))}


def output_text(notebook: nbformat.NotebookNode) -> str:
    """Everything a reader sees in the executed notebook, except images."""
    parts = []
    for cell in notebook.cells:
        for out in cell.get("outputs", []):
            parts.append(out.get("text", ""))
            for mime, data in out.get("data", {}).items():
                if not mime.startswith("image/"):
                    parts.append(data if isinstance(data, str) else json.dumps(data))
            parts.extend(out.get("traceback", []))
    return "\n".join(parts)


@pytest.mark.parametrize("name", NOTEBOOK_NAMES)
def test_notebook_is_stored_without_outputs(name: str) -> None:
    notebook = nbformat.read(NOTEBOOKS / name, as_version=4)
    nbformat.validate(notebook)
    code = [c for c in notebook.cells if c.cell_type == "code"]
    assert code
    assert all(c.outputs == [] and c.execution_count is None for c in code)
    source = "\n".join(c.source for c in code)
    assert "import" in source and ("from detector" in source or "import detector" in source)


def execute(name: str, kernel: str, workdir: Path) -> nbformat.NotebookNode:
    """Run a notebook in ``workdir``; raises CellExecutionError (failing the test) on any error."""
    notebook = nbformat.read(NOTEBOOKS / name, as_version=4)
    client = NotebookClient(notebook, timeout=600, kernel_name=kernel,
                            resources={"metadata": {"path": str(workdir)}})
    client.execute()
    return notebook


@pytest.mark.parametrize("name", NOTEBOOK_NAMES)
def test_notebook_runs_top_to_bottom_without_showing_bodies(
    name: str, venv_kernel: str, request: pytest.FixtureRequest, tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # 01 reads only the input; the others need the replay output too.
    data = request.getfixturevalue("small_sim" if name.startswith("01") else "small_run")
    monkeypatch.delenv("KAFKA_BOOTSTRAP", raising=False)
    monkeypatch.setenv("SMSGUARD_NOTEBOOK_INPUT", str(data["input"]))
    monkeypatch.setenv("SMSGUARD_NOTEBOOK_LABELS", str(data["labels"]))
    if "output" in data:
        monkeypatch.setenv("SMSGUARD_NOTEBOOK_OUTPUT", str(data["output"]))
    monkeypatch.setenv("SMSGUARD_NOTEBOOK_WORKDIR", str(tmp_path))
    # A 2 × 2 grid still has two thresholds and two sensitivities to compare.
    monkeypatch.setenv("SMSGUARD_NOTEBOOK_WARNING_SCORES", "4,9")
    monkeypatch.setenv("SMSGUARD_NOTEBOOK_SENSITIVITIES", "0.75,1")
    notebook = execute(name, venv_kernel, tmp_path)

    images = [o for c in notebook.cells for o in c.get("outputs", [])
              if "image/png" in o.get("data", {})]
    assert images, "the notebook drew no figure"
    text = output_text(notebook)
    assert MARKER not in text
    leaked = [b for b in bodies_of(data["input"]) if b in text]
    assert leaked == []
    if name.startswith("03"):
        settings = tmp_path / "tuned.toml"
        assert settings.exists(), "the backtest wrote no settings file"
        config = load_config(settings, env={})
        written = settings.read_text(encoding="utf-8")
        assert f"warning_score = {config.policy.warning_score!r}" in written


@pytest.mark.kafka
def test_explore_notebook_reads_a_window_of_the_input_topics(
    kafka_bootstrap: str, venv_kernel: str, small_sim: dict[str, Path], tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """With KAFKA_BOOTSTRAP, notebook 01 reads the configured input topics, not a file."""
    from detector.analysis.traffic import load_traffic
    from streams.kafka_io import ensure_topics, produce_records, read_replay_file

    prefix = f"nb01-{uuid.uuid4().hex[:8]}"
    topics = {role: f"{prefix}.{role}" for role in ("sms.send", "sms.dlr", "sms.verify")}
    records = [(topics[t], v) for t, v in read_replay_file(str(small_sim["input"]))]
    asyncio.run(ensure_topics(kafka_bootstrap, {t: 3 for t in topics.values()}))
    asyncio.run(produce_records(kafka_bootstrap, records))
    expected = load_traffic(small_sim["input"])

    monkeypatch.setenv("KAFKA_BOOTSTRAP", kafka_bootstrap)
    for role, key in (("sms.send", "SEND"), ("sms.dlr", "DLR"), ("sms.verify", "VERIFY")):
        monkeypatch.setenv(f"SMSGUARD_KAFKA__TOPIC_{key}", topics[role])
    monkeypatch.setenv("SMSGUARD_NOTEBOOK_KAFKA_RECORDS", str(len(records) + 1))
    monkeypatch.setenv("SMSGUARD_NOTEBOOK_INPUT", str(tmp_path / "not-read.jsonl"))
    notebook = execute("01_explore_traffic.ipynb", venv_kernel, tmp_path)

    text = output_text(notebook)
    assert f"source: Kafka at {kafka_bootstrap}" in text
    assert f"sends {len(expected.sends):,} " in text
    assert f"delivery reports {len(expected.dlrs):,} " in text
    assert MARKER not in text


def test_notebook_default_input_is_a_small_simulation(
    venv_kernel: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Without SMSGUARD_NOTEBOOK_INPUT a notebook simulates its own small labelled file."""
    from detector.analysis.traffic import load_traffic

    for name in ("KAFKA_BOOTSTRAP", "SMSGUARD_NOTEBOOK_INPUT", "SMSGUARD_NOTEBOOK_LABELS",
                 "SMSGUARD_NOTEBOOK_OUTPUT"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("SMSGUARD_NOTEBOOK_WORKDIR", str(tmp_path))
    notebook = execute("01_explore_traffic.ipynb", venv_kernel, tmp_path)

    simulated = tmp_path / "simulated.jsonl"
    assert simulated.exists() and (tmp_path / "simulated.labels.jsonl").exists()
    traffic = load_traffic(simulated)
    text = output_text(notebook)
    assert f"source: {simulated}" in text
    assert f"sends {len(traffic.sends):,} " in text
