"""Hand-built record streams through the whole in-process pipeline."""

from __future__ import annotations

from detector.pipeline import Detector


def alerts_of(records: list[dict]) -> list[dict]:
    """The alerts a replay of ``records`` (in ``ts`` order, then end of input) raises.

    Every send must be accepted: a stream built by hand that the parser rejects
    would test nothing.
    """
    det = Detector()
    alerts = []
    for rec in sorted(records, key=lambda r: r["value"]["ts"]):
        alerts += [o.value for o in det.process(rec["topic"], rec["value"])
                   if o.topic == "sms.alerts"]
    alerts += [o.value for o in det.finish() if o.topic == "sms.alerts"]
    assert det.counters["accepted:sms.send"] == sum(r["topic"] == "sms.send" for r in records)
    return alerts
