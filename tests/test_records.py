"""Input validation: every kind of bad record is rejected with a reason, never raised."""

from __future__ import annotations

import orjson
import pytest

from detector.pipeline import Detector
from detector.records import RecordParser, Rejected

TS = 1_772_438_400_000
SEND = {"message_id": "m1", "ts": TS, "account_id": "a1", "destination": "+4915112345678",
        "api_key_id": "k1", "category": "otp", "body": "Your code is 123456", "price": 0.07}
DLR = {"message_id": "m1", "ts": TS + 5000, "account_id": "a1",
       "destination": "+4915112345678", "status": "delivered"}
VERIFY = {"ts": TS + 9000, "account_id": "a1", "destination": "+4915112345678",
          "verified": True}


def _raw(value: object) -> bytes:
    return orjson.dumps(value)


BAD = [
    ("sms.send", b"\x00\xffgarbage", "not_json"),
    ("sms.send", b"[1, 2]", "not_object"),
    ("sms.send", _raw({k: v for k, v in SEND.items() if k != "account_id"}), "missing_field"),
    ("sms.send", _raw({**SEND, "ts": "yesterday"}), "bad_type"),
    ("sms.send", _raw({**SEND, "ts": True}), "bad_type"),
    ("sms.send", _raw({**SEND, "destination": "004915112345678"}), "bad_destination"),
    ("sms.send", _raw({**SEND, "destination": "+99912345678"}), "bad_destination"),
    ("sms.send", _raw({**SEND, "ts": 1_000}), "ts_out_of_range"),
    ("sms.send", _raw({**SEND, "body": "x" * 5000}), "body_too_large"),
    ("sms.send", _raw({**SEND, "segments": 0}), "bad_value"),
    ("sms.send", _raw({**SEND, "price": -1}), "bad_value"),
    ("sms.send", _raw({**SEND, "category": "phishing"}), "bad_value"),
    ("sms.send", _raw({**SEND, "message_id": "m" * 1000}), "bad_value"),
    ("sms.send", b"{" + b" " * 70_000 + b"}", "record_too_large"),
    ("sms.dlr", _raw({**DLR, "status": "exploded"}), "unknown_status"),
    ("sms.dlr", _raw({k: v for k, v in DLR.items() if k != "status"}), "missing_field"),
    ("sms.verify", _raw({**VERIFY, "verified": "yes"}), "bad_type"),
    ("sms.elsewhere", _raw(SEND), "unknown_topic"),
]


@pytest.mark.parametrize(("role", "raw", "reason"), BAD)
def test_bad_records_are_rejected_with_their_reason(role: str, raw: bytes, reason: str) -> None:
    with pytest.raises(Rejected) as err:
        RecordParser().parse(role, raw)
    assert err.value.reason == reason


def test_a_record_from_far_in_the_future_of_the_stream_is_rejected() -> None:
    parser = RecordParser()
    parser.parse("sms.send", _raw(SEND))
    with pytest.raises(Rejected) as err:
        parser.parse("sms.send", _raw({**SEND, "ts": TS + 2 * 86_400_000}))
    assert err.value.reason == "ts_out_of_range"


def test_good_records_parse_and_are_enriched() -> None:
    parser = RecordParser()
    send = parser.parse("sms.send", _raw(SEND))
    assert (send.country, send.number_type, send.calling_code) == ("DE", "mobile", "49")
    assert parser.parse("sms.dlr", _raw(DLR)).status == "delivered"
    assert parser.parse("sms.verify", _raw(VERIFY)).verified is True


def test_the_body_never_survives_parsing() -> None:
    secret = "Click https://evil.example/x to claim"
    event = RecordParser().parse("sms.send", _raw({**SEND, "body": secret}))
    assert event.has_url and event.body_length == len(secret)
    assert secret not in repr(event.to_dict())
    assert "body" not in event.to_dict()


def test_bad_input_goes_to_the_dead_letter_with_a_reason_and_is_counted() -> None:
    det = Detector()
    outputs = []
    for role, raw, _reason in BAD:
        outputs += det.process(role, raw, source={"topic": role, "partition": 0, "offset": 7})
    assert len(outputs) == len(BAD)
    assert all(o.topic == "sms.deadletter" for o in outputs)
    assert [o.value["reason"] for o in outputs] == [reason for _, _, reason in BAD]
    assert outputs[0].value["offset"] == 7
    assert sum(v for k, v in det.counters.items() if k.startswith("rejected:")) == len(BAD)
    # and the stream goes on
    assert det.process("sms.send", _raw(SEND)) == []
    assert det.counters["accepted:sms.send"] == 1


@pytest.mark.parametrize("role,value", [("sms.send", SEND), ("sms.dlr", DLR),
                                        ("sms.verify", VERIFY)])
def test_events_survive_the_repartition_round_trip(role, value) -> None:
    from detector.records import event_from_dict

    event = RecordParser().parse(role, _raw(value))
    data = orjson.loads(orjson.dumps(event.to_dict()))  # as a repartition topic carries it
    assert event_from_dict(data) == event
    assert data["role"] == role and data["ts"] == value["ts"]


def test_a_number_outside_every_known_range_is_judged_not_dead_lettered() -> None:
    # Pumping rings favour odd, little-used ranges; a send the gateway made to one is
    # traffic to judge. Only what no number of the calling code can be is refused.
    event = RecordParser().parse("sms.send", _raw({**SEND, "destination": "+31671234567"}))
    assert (event.country, event.number_type) == ("NL", "unknown")
    with pytest.raises(Rejected) as err:
        RecordParser().parse("sms.send", _raw({**SEND, "destination": "+2327749123"}))
    assert err.value.reason == "bad_destination"
