"""The simulator writes deterministic, contract-valid, consistently labelled traffic."""

from __future__ import annotations

import hashlib
from collections import Counter
from pathlib import Path

import orjson
import phonenumbers
import pytest

from detector.records import parse_record
from detector.simulation import BENIGN_KINDS, MALICIOUS_KINDS, simulate
from detector.simulation.numbering import COUNTRIES, mobile_ranges

SEND_FIELDS = {
    "message_id": str, "ts": int, "account_id": str, "destination": str, "api_key_id": str,
    "source_ip": str, "sender_id": str, "category": str, "body": str, "segments": int,
    "price": float, "route": str,
}
DLR_REQUIRED = {"message_id": str, "ts": int, "account_id": str, "destination": str,
                "status": str}
DLR_OPTIONAL = {"error_code": str, "route": str}
VERIFY_REQUIRED = {"ts": int, "account_id": str, "destination": str, "verified": bool}
VERIFY_OPTIONAL = {"message_id": str}
STATUSES = {"delivered", "undelivered", "failed", "expired", "rejected", "unknown"}


def _check_fields(value: dict, required: dict, optional: dict) -> None:
    for name in required:
        assert name in value, f"missing {name}: {value}"
    for name, item in value.items():
        kind = required.get(name) or optional.get(name)
        assert kind is not None, f"field {name} not in the contract: {value}"
        assert type(item) is kind, f"{name} should be {kind.__name__}: {value}"


def _check_mobile(destination: str) -> None:
    parsed = phonenumbers.parse(destination)
    assert phonenumbers.is_valid_number(parsed), destination
    assert phonenumbers.number_type(parsed) in (
        phonenumbers.PhoneNumberType.MOBILE, phonenumbers.PhoneNumberType.FIXED_LINE_OR_MOBILE
    ), destination
    assert phonenumbers.format_number(parsed, phonenumbers.PhoneNumberFormat.E164) == destination


@pytest.fixture(scope="module")
def small_sim(tmp_path_factory):
    out = tmp_path_factory.mktemp("sim") / "small.jsonl"
    summary = simulate(out, seed=11, hours=2.0, accounts=60)
    lines = out.read_bytes().splitlines()
    labels = [orjson.loads(x) for x in Path(summary.labels_path).read_bytes().splitlines()]
    return summary, out, lines, labels


def test_same_seed_same_bytes_other_seed_differs(tmp_path):
    a, b, c = tmp_path / "a.jsonl", tmp_path / "b.jsonl", tmp_path / "c.jsonl"
    simulate(a, seed=3, hours=1.5, accounts=40)
    simulate(b, seed=3, hours=1.5, accounts=40)
    simulate(c, seed=4, hours=1.5, accounts=40)

    def digest(p):
        return hashlib.sha256(p.read_bytes()).hexdigest()

    assert digest(a) == digest(b)
    assert (tmp_path / "a.labels.jsonl").read_bytes() == (tmp_path / "b.labels.jsonl").read_bytes()
    assert digest(a) != digest(c)


def test_every_record_follows_the_contract(small_sim):
    summary, _, lines, _ = small_sim
    assert len(lines) == summary.records > 10_000
    last_ts = 0
    topics: Counter = Counter()
    sends: dict[str, dict] = {}
    for line in lines:
        obj = orjson.loads(line)
        assert set(obj) == {"topic", "value"}
        topic, value = obj["topic"], obj["value"]
        topics[topic] += 1
        assert value["ts"] >= last_ts, "replay file must be in ts order"
        last_ts = value["ts"]
        if topic == "sms.send":
            _check_fields(value, SEND_FIELDS, {})
            assert value["category"] in {"otp", "transactional", "marketing"}
            assert value["segments"] >= 1 and value["price"] > 0
            assert value["message_id"] not in sends, "message ids must be unique"
            sends[value["message_id"]] = value
        elif topic == "sms.dlr":
            _check_fields(value, DLR_REQUIRED, DLR_OPTIONAL)
            assert value["status"] in STATUSES
            send = sends[value["message_id"]]  # a DLR follows its send
            assert value["ts"] > send["ts"]
            assert (value["destination"], value["account_id"], value["route"]) == (
                send["destination"], send["account_id"], send["route"])
            if value["status"] == "delivered":
                assert "error_code" not in value
        else:
            assert topic == "sms.verify"
            _check_fields(value, VERIFY_REQUIRED, VERIFY_OPTIONAL)
            send = sends[value["message_id"]]
            assert send["category"] == "otp" and value["ts"] > send["ts"]
        # The lead's parser accepts every record too (raises Rejected otherwise).
        parse_record(topic, value)
    assert set(topics) == {"sms.send", "sms.dlr", "sms.verify"}
    assert topics["sms.dlr"] > 0.95 * topics["sms.send"]


def test_destinations_are_valid_mobile_numbers(small_sim):
    _, _, lines, _ = small_sim
    destinations = {orjson.loads(x)["value"]["destination"] for x in lines[::7]}
    for destination in list(destinations)[:3000]:
        _check_mobile(destination)


@pytest.mark.parametrize("region", sorted(COUNTRIES))
def test_every_generated_range_is_mobile(region):
    ranges = mobile_ranges(region)
    assert len(ranges) >= 5
    for rng_range in ranges[:: max(1, len(ranges) // 5)]:
        _check_mobile(rng_range.number(1234))


def test_labels_are_consistent(small_sim):
    summary, _, lines, labels = small_sim
    sends = {}
    for line in lines:
        obj = orjson.loads(line)
        if obj["topic"] == "sms.send":
            sends[obj["value"]["message_id"]] = obj["value"]
    kinds = Counter(lab["kind"] for lab in labels)
    assert set(MALICIOUS_KINDS) <= set(kinds)
    assert set(BENIGN_KINDS) <= set(kinds)
    assert kinds["sms_pumping"] >= 4 and kinds["delivery_degradation"] == 2
    ids = [lab["incident_id"] for lab in labels]
    assert len(set(ids)) == len(ids)
    for lab in labels:
        assert set(lab) == {"incident_id", "kind", "benign", "start_ts", "end_ts", "account_ids",
                            "entities", "description", "message_ids"}
        assert lab["benign"] == (lab["kind"] in BENIGN_KINDS)
        assert summary.start_ts <= lab["start_ts"] < lab["end_ts"] <= summary.end_ts
        assert lab["entities"] and all(set(e) == {"type", "id"} for e in lab["entities"])
        if lab["kind"] == "delivery_degradation":
            assert [e["type"] for e in lab["entities"]] == ["route"]
            route = lab["entities"][0]["id"]
            assert any(s["route"] == route for s in sends.values())
            continue
        assert lab["message_ids"], lab["incident_id"]
        if not lab["benign"]:  # an attack starts with its first message, not before
            assert lab["start_ts"] == min(sends[m]["ts"] for m in lab["message_ids"])
        for mid in lab["message_ids"]:
            send = sends[mid]
            assert lab["start_ts"] <= send["ts"] <= lab["end_ts"]
            assert send["account_id"] in lab["account_ids"]
        if lab["kind"] == "sms_bombing":
            victim = next(e["id"] for e in lab["entities"] if e["type"] == "destination")
            assert {sends[m]["destination"] for m in lab["message_ids"]} == {victim}
        if lab["kind"] == "sms_pumping":
            prefixes = [e["id"] for e in lab["entities"] if e["type"] == "prefix"]
            longest = max(prefixes, key=len)
            assert all(sends[m]["destination"].startswith(longest) for m in lab["message_ids"])
        if lab["kind"] == "account_takeover":
            key = next(e["id"] for e in lab["entities"] if e["type"] == "api_key")
            assert {sends[m]["api_key_id"] for m in lab["message_ids"]} == {key}
            earlier = {s["api_key_id"] for s in sends.values()
                       if s["ts"] < lab["start_ts"] and s["account_id"] in lab["account_ids"]}
            assert key not in earlier


def test_pumping_is_not_verified_but_normal_otp_is(small_sim):
    _, _, lines, labels = small_sim
    attack = {m for lab in labels if lab["kind"] == "sms_pumping" for m in lab["message_ids"]}
    otp_sent = verified = attack_verified = 0
    for line in lines:
        obj = orjson.loads(line)
        value = obj["value"]
        if obj["topic"] == "sms.send" and value["category"] == "otp" and (
                value["message_id"] not in attack):
            otp_sent += 1
        elif obj["topic"] == "sms.verify" and value["verified"]:
            if value["message_id"] in attack:
                attack_verified += 1
            else:
                verified += 1
    assert 0.5 < verified / otp_sent < 0.95
    assert attack_verified <= 0.02 * len(attack)


def test_target_records_scales_volume(tmp_path):
    small = simulate(tmp_path / "s.jsonl", seed=2, hours=1.0, accounts=40, target_records=40_000)
    large = simulate(tmp_path / "l.jsonl", seed=2, hours=1.0, accounts=40, target_records=120_000)
    assert 30_000 < small.records < 50_000
    assert 95_000 < large.records < 145_000
