"""The whole detection pipeline in one process: records in, alerts and commands out.

:class:`Detector` is what ``smsguard replay``, the tests and the notebooks run.
The stream processor runs the very same pieces split across partitions: it
parses with :class:`~detector.records.RecordParser`, routes each event with
:func:`~detector.families.family_keys` and feeds one
:class:`~detector.families.FamilyProcessor` per family. Because each family key
only ever sees its own events, both paths make the same decisions.

>>> det = Detector()
>>> out = det.process("sms.send", b"not json")
>>> out[0].topic, out[0].value["reason"]
('sms.deadletter', 'not_json')
>>> det.counters["rejected:not_json"]
1
"""

from __future__ import annotations

import base64
from collections import Counter
from collections.abc import Mapping
from typing import Any

from detector.config import Config
from detector.families import SCOPE_FAMILIES, FamilyProcessor, family_keys
from detector.policy import ALERTS, THROTTLE, Output
from detector.records import INPUT_ROLES, RecordParser, Rejected

DEADLETTER = "sms.deadletter"
# Event time between sweeps of expired entities and idle candidate numbers: the
# candidates' own horizon, so held records never pile up for much longer than they
# can matter, at any traffic density. (Sweeps change memory only, never results:
# an expired entity or a stale held record is also ignored when its key speaks.)
SWEEP_EVERY_MS = 600_000
_ACCEPTED = {role: f"accepted:{role}" for role in INPUT_ROLES}

__all__ = ["SCOPE_FAMILIES", "Detector", "FamilyProcessor", "Output", "deadletter_record",
           "family_keys"]


class Detector:
    """Parses, routes and judges records; collects counters of everything it did."""

    def __init__(self, config: Config | None = None) -> None:
        self.config = config or Config()
        d = self.config.detector
        self.parser = RecordParser(max_future_ms=d.max_future_s * 1000,
                                   max_body_bytes=d.max_body_bytes)
        self.families = {name: FamilyProcessor(name, self.config) for name in SCOPE_FAMILIES}
        self._processors = tuple(self.families.values())
        self.counters: Counter[str] = Counter()
        self._next_sweep = 0  # event time of the next sweep

    def process(self, role: str, value: bytes | str | Mapping[str, Any],
                source: Mapping[str, Any] | None = None) -> list[Output]:
        try:
            event = self.parser.parse(role, value)
        except Rejected as err:
            self.counters[f"rejected:{err.reason}"] += 1
            return [Output(DEADLETTER, role, deadletter_record(role, value, err, source))]
        accepted = _ACCEPTED.get(role) or f"accepted:{role}"  # no f-string per record
        self.counters[accepted] += 1
        out: list[Output] = []
        for processor in self._processors:
            found = processor.process(event)  # [] when the event has no key in that family
            if found:
                out.extend(found)
        if event.ts >= self._next_sweep:
            for processor in self._processors:
                processor.sweep(event.ts)
                processor.mark_clean()  # nothing checkpoints here: keep no list of changes
            self._next_sweep = event.ts + SWEEP_EVERY_MS
        self._count(out)
        return out

    def finish(self) -> list[Output]:
        out: list[Output] = []
        for family in SCOPE_FAMILIES:
            out.extend(self.families[family].finish())
        self._count(out)
        return out

    def _count(self, out: list[Output]) -> None:
        for o in out:
            if o.topic == ALERTS:
                self.counters["alerts"] += 1
                self.counters[f"findings:{o.value['kind']}:{o.value['severity']}"] += 1
            elif o.topic == THROTTLE:
                self.counters["throttles"] += 1
                self.counters[f"commands:{o.value['action']}"] += 1

    def state_size(self) -> dict[str, int]:
        return {name: p.state_size() for name, p in self.families.items()}


def deadletter_record(role: str, raw: bytes | str | Mapping[str, Any], err: Rejected,
                      source: Mapping[str, Any] | None = None) -> dict[str, Any]:
    """The contract's dead letter: raw bytes (base64), where they came from, and why."""
    if isinstance(raw, Mapping):
        import orjson

        try:
            raw_bytes = orjson.dumps(raw)
        except TypeError:
            raw_bytes = repr(raw).encode()
    else:
        raw_bytes = raw.encode() if isinstance(raw, str) else bytes(raw)
    src = dict(source or {})
    return {
        "topic": src.get("topic", role),
        "partition": src.get("partition"),
        "offset": src.get("offset"),
        "reason": err.reason,
        "detail": err.detail,
        "raw_base64": base64.b64encode(raw_bytes).decode(),
    }
