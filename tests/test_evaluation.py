"""Evaluation on tiny hand-made files: detection, delay, token buckets, releases, money."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from detector.evaluation import evaluate

T0 = 1_772_409_600_000  # 2026-03-02T00:00Z
PUMP_PREFIX = "+99440123"  # AZ mobile range
ATTACK_ACCOUNT = "acct_pump"
LEGIT_ACCOUNT = "acct_legit"
BENIGN_ACCOUNT = "acct_campaign"


def _send(mid: str, ts: int, account: str, destination: str, price: float = 0.3) -> dict:
    return {"topic": "sms.send", "value": {
        "message_id": mid, "ts": ts, "account_id": account, "destination": destination,
        "api_key_id": f"key_{account}", "category": "otp", "price": price, "route": "r1"}}


def _alert(ts: int, kind: str, etype: str, eid: str, account: str | None = None,
           alert_id: str | None = None) -> dict:
    value = {"alert_id": alert_id or f"al_{kind}_{eid}_{ts}", "ts": ts, "kind": kind,
             "severity": "critical", "entity": {"type": etype, "id": eid}, "score": 20.0,
             "evidence": [], "action": "throttle"}
    if account is not None:
        value["account_id"] = account
    return {"topic": "sms.alerts", "value": value}


def _command(cid: str, ts: int, action: str, scope: dict, expires_at: int,
             rate: float | None = None) -> dict:
    value = {"command_id": cid, "ts": ts, "action": action, "scope": scope,
             "expires_at": expires_at, "reason": "test"}
    if rate is not None:
        value["rate_per_s"] = rate
    return {"topic": "sms.throttle", "value": value}


def _write(path: Path, rows: list[dict]) -> Path:
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    return path


@pytest.fixture
def scene(tmp_path):
    """100 attack sends (one per 100 ms from T0+60 s), legit and benign sends around them."""
    rows, attack_ids, benign_ids = [], [], []
    start = T0 + 60_000
    for i in range(100):
        mid = f"atk{i:03d}"
        attack_ids.append(mid)
        rows.append(_send(mid, start + 100 * i, ATTACK_ACCOUNT, f"{PUMP_PREFIX}{i:04d}"))
    for i in range(20):  # legit traffic of the same account to Germany, every 500 ms
        rows.append(_send(f"leg{i:03d}", start + 500 * i + 50, ATTACK_ACCOUNT,
                          f"+4915123{i:06d}", price=0.08))
    for i in range(10):
        mid = f"ben{i:03d}"
        benign_ids.append(mid)
        rows.append(_send(mid, start + 1000 * i + 70, BENIGN_ACCOUNT, f"+4479001{i:05d}",
                          price=0.04))
    for i in range(10):
        rows.append(_send(f"oth{i:03d}", start + 1000 * i + 90, LEGIT_ACCOUNT,
                          f"+1201555{i:04d}", price=0.01))
    rows.sort(key=lambda r: r["value"]["ts"])
    labels = [
        {"incident_id": "inc_pump", "kind": "sms_pumping", "benign": False, "start_ts": start,
         "end_ts": start + 9_900, "account_ids": [ATTACK_ACCOUNT],
         "entities": [{"type": "account", "id": ATTACK_ACCOUNT},
                      {"type": "prefix", "id": "+99440"}, {"type": "prefix", "id": PUMP_PREFIX},
                      {"type": "country", "id": "AZ"}],
         "description": "pumping", "message_ids": attack_ids},
        {"incident_id": "inc_route", "kind": "delivery_degradation", "benign": False,
         "start_ts": start, "end_ts": start + 60_000, "account_ids": [],
         "entities": [{"type": "route", "id": "r9"}], "description": "dark route",
         "message_ids": []},
        {"incident_id": "inc_campaign", "kind": "benign_campaign", "benign": True,
         "start_ts": start, "end_ts": start + 10_000, "account_ids": [BENIGN_ACCOUNT],
         "entities": [{"type": "account", "id": BENIGN_ACCOUNT}], "description": "campaign",
         "message_ids": benign_ids},
    ]
    inp = _write(tmp_path / "in.jsonl", rows)
    lab = _write(tmp_path / "in.labels.jsonl", labels)
    return tmp_path, inp, lab, start


def _result(report, incident_id):
    return next(r for r in report.incidents if r.incident_id == incident_id)


def test_delay_also_counts_from_the_first_attack_message(scene):
    """A label may start before its first message (a slow ramp's first send can come
    minutes later): the report gives both delays, and only the first can exceed what
    the traffic allowed."""
    tmp, inp, lab, start = scene
    labels = [json.loads(line) for line in lab.read_text().splitlines()]
    labels[0]["start_ts"] = start - 30_000
    lab = _write(tmp / "early.labels.jsonl", labels)
    out = _write(tmp / "out.jsonl", [
        _alert(start + 2_500, "sms_pumping", "account", ATTACK_ACCOUNT, ATTACK_ACCOUNT),
        _alert(start + 5_000, "delivery_degradation", "route", "r9")])
    report = evaluate(inp, lab, out)
    pump = _result(report, "inc_pump")
    assert pump.delay_s == 32.5 and pump.delay_from_first_s == 2.5
    assert pump.first_attack_ts == start
    route = _result(report, "inc_route")  # no messages of its own: counted from its start
    assert route.first_attack_ts is None and route.delay_from_first_s == route.delay_s == 5.0
    summary = report.to_dict()["summary"]
    assert summary["max_delay_s"] == 32.5 and summary["max_delay_from_first_s"] == 5.0
    assert "first attack message: max 5s" in report.format_table()


def test_detection_delay_and_wrong_kind(scene):
    tmp, inp, lab, start = scene
    out = _write(tmp / "out.jsonl", [
        _alert(start + 1_000, "anomaly", "account", ATTACK_ACCOUNT, ATTACK_ACCOUNT),
        _alert(start + 2_500, "sms_pumping", "prefix", PUMP_PREFIX + "5"),  # deeper prefix
        _alert(start + 4_000, "sms_pumping", "account", ATTACK_ACCOUNT, ATTACK_ACCOUNT),
        # Right kind, wrong route, then the right route too late (after end + 10 min).
        _alert(start + 5_000, "delivery_degradation", "route", "r1"),
        _alert(start + 60_000 + 600_001, "delivery_degradation", "route", "r9"),
    ])
    report = evaluate(inp, lab, out)
    pump = _result(report, "inc_pump")
    assert pump.detected and pump.delay_s == 2.5
    assert pump.wrong_kinds == ["anomaly"]
    assert pump.first_alert_id == f"al_sms_pumping_{PUMP_PREFIX}5_{start + 2500}"
    route = _result(report, "inc_route")
    assert not route.detected and route.delay_s is None
    assert not report.all_detected
    assert report.median_delay_s == 2.5 and report.max_delay_s == 2.5
    # The r1 alert and the late r9 alert name no incident: two false-alert groups.
    assert sorted((a.entity_id, a.count) for a in report.false_alerts) == [("r1", 1), ("r9", 1)]
    assert report.commands == 0 and report.money_saved == 0 and not report.false_throttles


def test_sibling_prefix_does_not_name_the_range(scene):
    tmp, inp, lab, start = scene
    out = _write(tmp / "out.jsonl", [_alert(start + 1_000, "sms_pumping", "prefix", "+99440999")])
    report = evaluate(inp, lab, out)
    assert not _result(report, "inc_pump").detected
    assert len(report.false_alerts) == 1


def test_limit_is_a_token_bucket_from_detection_on(scene):
    tmp, inp, lab, start = scene
    # Detected at start+2 s; limit 2/s on the account x prefix scope from then on.
    # Sends every 100 ms from start+2000 (80 of them, the last at start+9900). Bucket:
    # burst 2, refill 0.2 per 100 ms: admitted at 2000, 2100, then one every 500 ms
    # (2600, 3100, ..., 9600 = 15 sends) => 17 admitted, 63 of 80 stopped.
    out = _write(tmp / "out.jsonl", [
        _alert(start + 2_000, "sms_pumping", "account", ATTACK_ACCOUNT, ATTACK_ACCOUNT),
        _command("c1", start + 2_000, "limit", {"account_id": ATTACK_ACCOUNT,
                                                "prefix": PUMP_PREFIX}, start + 3_600_000, 2.0),
    ])
    report = evaluate(inp, lab, out)
    pump = _result(report, "inc_pump")
    assert pump.sends_after_detection == 80
    assert pump.money_before_detection == pytest.approx(20 * 0.3)
    assert pump.stopped_after_detection == 63
    assert pump.stopped_share == pytest.approx(63 / 80)
    assert pump.money_saved == pytest.approx(63 * 0.3)
    # The prefix scope spares the account's legitimate German traffic.
    assert report.legit_sends_stopped == 0 and report.money_cost == 0
    assert not report.false_throttles and not report.benign_throttled


def test_block_release_and_expiry(scene):
    tmp, inp, lab, start = scene
    # Block by country (AZ, derived from the number) from start+1 s; released at start+3 s;
    # blocked again at start+5 s until it expires at start+7 s.
    # Attack sends in [1000, 3000) and [5000, 7000) ms: 20 + 20 stopped, all after detection.
    out = _write(tmp / "out.jsonl", [
        _alert(start + 1_000, "sms_pumping", "country", "AZ", ATTACK_ACCOUNT),
        _command("b1", start + 1_000, "block", {"country": "AZ"}, start + 3_600_000),
        _command("r1", start + 3_000, "release", {"country": "AZ"}, start + 3_600_000),
        _command("b2", start + 5_000, "block", {"country": "AZ"}, start + 7_000),
        _command("b2", start + 8_000, "block", {"country": "AZ"}, start + 9_000),  # same id
    ])
    report = evaluate(inp, lab, out)
    pump = _result(report, "inc_pump")
    assert pump.delay_s == 1.0
    assert pump.sends_after_detection == 90
    assert pump.stopped_after_detection == 40 == pump.stopped_total
    assert report.legit_sends_stopped == 0


def test_false_throttle_and_benign_surge_throttled(scene):
    tmp, inp, lab, start = scene
    out = _write(tmp / "out.jsonl", [
        # Blocks a plain legit account: stops 10 sends, no attack => a false throttle.
        _command("f1", start, "block", {"account_id": LEGIT_ACCOUNT}, start + 3_600_000),
        # Limits the campaign account (0.5/s, burst 1): sends every 1 s at start+70+1000*i
        # => admitted at i = 0, 2, 4, 6, 8, stopped at i = 1, 3, 5, 7, 9.
        _command("f2", start, "limit", {"account_id": BENIGN_ACCOUNT}, start + 3_600_000, 0.5),
        # Blocks the attacking account outright: stops all 100 attack sends and the 20 legit.
        _command("a1", start, "block", {"account_id": ATTACK_ACCOUNT}, start + 3_600_000),
        # An alert on the campaign account: a false alert that touches the benign surge.
        _alert(start + 500, "spam_burst", "account", BENIGN_ACCOUNT, BENIGN_ACCOUNT),
    ])
    report = evaluate(inp, lab, out)
    assert report.benign_throttled == ["inc_campaign"]
    campaign = _result(report, "inc_campaign")
    assert campaign.throttled and campaign.commands == ["f2"] and campaign.stopped_total == 5
    assert campaign.money_lost == pytest.approx(5 * 0.04) and campaign.alerts_touching == 1
    assert [(a.entity_id, a.kind) for a in report.false_alerts] == [(BENIGN_ACCOUNT, "spam_burst")]
    assert sorted(t.command_id for t in report.false_throttles) == ["f1", "f2"]
    f1 = next(t for t in report.false_throttles if t.command_id == "f1")
    assert f1.legit_stopped == 10 and f1.cost == pytest.approx(0.1)
    assert report.legit_sends_stopped == 10 + 5 + 20
    assert report.money_cost == pytest.approx(10 * 0.01 + 5 * 0.04 + 20 * 0.08)
    assert report.money_saved == pytest.approx(100 * 0.3)
    pump = _result(report, "inc_pump")
    assert pump.stopped_total == 100 and not pump.detected and pump.stopped_share is None


def test_cli_prints_table_and_json(scene):
    tmp, inp, lab, start = scene
    out = _write(tmp / "out.jsonl", [
        _alert(start + 3_000, "sms_pumping", "account", ATTACK_ACCOUNT, ATTACK_ACCOUNT)])
    cmd = [sys.executable, "-m", "streams.cli", "evaluate", "--input", str(inp),
           "--labels", str(lab), "--output", str(out)]
    table = subprocess.run(cmd, capture_output=True, text=True, check=True).stdout
    assert "inc_pump" in table and "3s" in table and "detected: 1/2" in table
    data = json.loads(subprocess.run(cmd + ["--json"], capture_output=True, text=True,
                                     check=True).stdout)
    assert data["summary"]["detected"] == 1 and data["summary"]["median_delay_s"] == 3.0
    by_id = {r["incident_id"]: r for r in data["incidents"]}
    assert by_id["inc_pump"]["detected"] and not by_id["inc_route"]["detected"]


def test_input_the_replay_dead_letters_is_left_out(scene):
    """A truncated line, a line that is no object and a send the parser rejects are
    what the replay dead-letters: the evaluation leaves them out instead of stopping."""
    tmp, inp, lab, start = scene
    bad_send = _send("bad000", start + 1, LEGIT_ACCOUNT, "12015550000")  # no "+": not E.164
    inp.write_text(inp.read_text() + '{"topic": "sms.send", "value": {"message_id"\n'
                   + "[1, 2]\n" + json.dumps(bad_send) + "\n")
    out = _write(tmp / "out.jsonl", [
        _command("f1", start, "block", {"account_id": LEGIT_ACCOUNT}, start + 3_600_000)])
    report = evaluate(inp, lab, out)
    assert report.sends == 140  # 100 attack, 20 legit, 10 campaign, 10 other
    assert report.legit_sends_stopped == 10  # the rejected send was never traffic


def test_a_broken_labels_file_is_a_clear_error(scene):
    tmp, inp, lab, start = scene
    lab.write_text(lab.read_text() + '{"incident_id": "inc_x", "kind"\n')
    out = _write(tmp / "out.jsonl", [])
    with pytest.raises(ValueError, match=r"line 4: not JSON"):
        evaluate(inp, lab, out)
    cmd = [sys.executable, "-m", "streams.cli", "evaluate", "--input", str(inp),
           "--labels", str(lab), "--output", str(out)]
    run = subprocess.run(cmd, capture_output=True, text=True)
    assert run.returncode == 2 and "line 4: not JSON" in run.stderr
    assert "Traceback" not in run.stderr
