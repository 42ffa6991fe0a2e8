"""Hand-built record streams through the whole in-process pipeline."""

from __future__ import annotations

from detector.pipeline import Detector, Output


def outputs_of(records: list[dict]) -> list[Output]:
    """What a replay of ``records`` (in ``ts`` order, then end of input) emits.

    Every send must be accepted: a stream built by hand that the parser rejects
    would test nothing.
    """
    det = Detector()
    out: list[Output] = []
    for rec in sorted(records, key=lambda r: r["value"]["ts"]):
        out += det.process(rec["topic"], rec["value"])
    out += det.finish()
    assert det.counters["accepted:sms.send"] == sum(r["topic"] == "sms.send" for r in records)
    return out


def alerts_of(records: list[dict]) -> list[dict]:
    """The alerts a replay of ``records`` raises."""
    return [o.value for o in outputs_of(records) if o.topic == "sms.alerts"]


def commands_of(records: list[dict]) -> list[dict]:
    """The throttle commands a replay of ``records`` issues."""
    return [o.value for o in outputs_of(records) if o.topic == "sms.throttle"]
