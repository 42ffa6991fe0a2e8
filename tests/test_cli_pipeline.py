"""End to end: simulate -> replay (the real detector) -> evaluate, on a small scenario.

Every malicious incident kind of the simulator must be found, with the right
kind and an entity its label lists; the CLI runs the same three steps.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import orjson
import pytest

from detector.evaluation import alert_touches, evaluate, load_outputs
from detector.replay import parse_only, replay_file
from detector.simulation import MALICIOUS_KINDS, simulate

HOURS, ACCOUNTS, SEED = 2.5, 60, 21


@pytest.fixture(scope="module")
def replayed(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("pipeline")
    sim = tmp / "small.jsonl"
    summary = simulate(sim, seed=SEED, hours=HOURS, accounts=ACCOUNTS)
    out = tmp / "small.out.jsonl"
    replay = replay_file(sim, out)
    report = evaluate(sim, summary.labels_path, out)
    print(report.format_table())  # shown by pytest when an assertion fails
    return summary, replay, out, report


def _entity_alerts(alerts: list[dict], label: dict) -> list[dict]:
    """Alerts of the label's kind whose *entity* (not just account) is one the label lists."""
    by_entity = {**label, "account_ids": []}
    return [a for a in alerts if a.get("kind") == label["kind"] and alert_touches(a, by_entity)]


def test_replay_reads_every_record(replayed):
    summary, replay, _, _ = replayed
    assert replay.records_in == summary.records
    assert replay.accepted == summary.records and not replay.rejected


def test_every_malicious_kind_found_with_right_kind_and_entity(replayed):
    summary, _, out, report = replayed
    alerts, _ = load_outputs(out)
    found = set()
    for label in summary.incidents:
        if not label.benign and _entity_alerts(alerts, label.to_dict()):
            found.add(label.kind)
    missing = sorted(set(MALICIOUS_KINDS) - found)
    assert not missing, f"kinds never found: {missing}\n{report.format_table()}"


def test_every_malicious_incident_detected(replayed):
    *_, report = replayed
    missed = [r.incident_id for r in report.malicious if not r.detected]
    assert not missed, f"missed {missed}\n{report.format_table()}"


def test_cli_simulate_replay_evaluate(tmp_path):
    sim, out = tmp_path / "cli.jsonl", tmp_path / "cli.out.jsonl"
    base = [sys.executable, "-m", "streams.cli"]
    subprocess.run(base + ["simulate", "--out", str(sim), "--seed", "5", "--hours", "1",
                           "--accounts", "30", "--quiet"], check=True, capture_output=True)
    assert (tmp_path / "cli.labels.jsonl").exists()
    subprocess.run(base + ["replay", str(sim), "--out", str(out)], check=True,
                   capture_output=True)
    result = subprocess.run(base + ["evaluate", "--input", str(sim), "--output", str(out),
                                    "--json"], check=True, capture_output=True)
    data = orjson.loads(result.stdout)
    labels = [orjson.loads(x) for x in (tmp_path / "cli.labels.jsonl").read_bytes().split(b"\n")
              if x]
    assert len(data["incidents"]) == len(labels)
    assert data["summary"]["sends"] == sum(
        1 for x in sim.read_bytes().split(b"\n") if x and orjson.loads(x)["topic"] == "sms.send")


def test_bench_replay_child_reports_figures(replayed, tmp_path):
    summary, replay, _, _ = replayed
    result = subprocess.run(
        [sys.executable, "-m", "streams.commands.bench", "replay-child", summary.out_path,
         str(tmp_path / "child.out.jsonl")], check=True, capture_output=True, text=True)
    figures = orjson.loads(result.stdout.strip().splitlines()[-1])
    assert figures["records"] == summary.records
    # The child runs the same deterministic replay: same findings as in-process.
    assert (figures["alerts"], figures["throttles"]) == (replay.alerts, replay.throttles)
    assert figures["peak_rss_mib"] >= figures["rss_before_mib"] > 0
    assert figures["records_per_s"] > 0
    # Taking the input in without judging it is the yardstick: never the slower one.
    assert figures["parse_only_records_per_s"] > figures["records_per_s"]
    assert figures["replay_to_parse_only"] > 1


def test_parse_only_takes_in_what_the_replay_accepts(replayed, tmp_path):
    summary, replay, _, _ = replayed
    bad = tmp_path / "with-bad.jsonl"
    bad.write_bytes(Path(summary.out_path).read_bytes() + b"not json\n"
                    + b'{"topic": "sms.send", "value": {"ts": 1}}\n')
    intake = parse_only(bad)
    assert intake.records_in == replay.records_in + 2
    assert intake.accepted == replay.accepted
    assert sum(intake.rejected.values()) == 2
    assert intake.seconds > 0


def test_a_replay_line_whose_topic_is_not_a_name_is_rejected(tmp_path):
    # A list is not hashable: looked up as a topic name it used to crash the replay.
    bad = tmp_path / "odd-topics.jsonl"
    bad.write_bytes(b'{"topic": [1], "value": {"ts": 1}}\n{"topic": 7, "value": {}}\n')
    dead = tmp_path / "dead.jsonl"
    summary = replay_file(bad, tmp_path / "out.jsonl", deadletter_path=dead)
    assert summary.rejected == {"unknown_topic": 2}
    assert len(dead.read_bytes().splitlines()) == 2


def test_bench_command_writes_json(tmp_path):
    fig = tmp_path / "figures.json"
    subprocess.run(
        [sys.executable, "-m", "streams.cli", "bench", "--skip-detection", "--sizes", "50000",
         "--workdir", str(tmp_path / "work"), "--json", str(fig)],
        check=True, capture_output=True)
    data = orjson.loads(fig.read_bytes())
    (row,) = data["throughput"]
    assert row["target_records"] == 50_000 and 35_000 < row["records"] < 70_000
    # Sizes grow in event time at one density: 50k records are ~1.1 h of traffic.
    assert 1.0 < row["event_hours"] < 1.3
    assert row["peak_rss_mib"] > 0 and "detection" not in data
