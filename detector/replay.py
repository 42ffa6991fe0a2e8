"""Offline replay: a contract replay file through the detector, on event time.

The input is the contract's replay file (one ``{"topic", "value"}`` object a
line, in ``ts`` order); the output is every alert and throttle command in the
same line format. Topic names may be the contract's defaults or the configured
names. Deterministic: the same file and configuration give the same bytes.
"""

from __future__ import annotations

import contextlib
import gc
import sys
import time
from collections import Counter
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

import orjson

from detector.config import Config
from detector.pipeline import DEADLETTER, Detector
from detector.policy import Output
from detector.records import INPUT_ROLES, Event, RecordParser, Rejected


@dataclass
class ReplaySummary:
    records_in: int = 0
    accepted: int = 0
    rejected: Counter[str] = field(default_factory=Counter)
    alerts: int = 0
    throttles: int = 0
    seconds: float = 0.0
    counters: Counter[str] = field(default_factory=Counter)

    @property
    def records_per_s(self) -> float:
        return self.records_in / self.seconds if self.seconds > 0 else 0.0


def role_map(config: Config) -> dict[str, str]:
    """Topic name (configured or default) -> input role."""
    k = config.kafka
    roles = {role: role for role in INPUT_ROLES}
    roles.update({k.topic_send: "sms.send", k.topic_dlr: "sms.dlr", k.topic_verify: "sms.verify"})
    return roles


def replay_records(records: Iterable[Mapping[str, Any]], config: Config | None = None,
                   detector: Detector | None = None) -> Iterator[dict[str, Any]]:
    """Yield output lines (alerts and commands) for replay-file objects."""
    for output in _outputs(records, detector or Detector(config)):
        if output.topic != DEADLETTER:
            yield {"topic": output.topic, "value": output.value}


def _outputs(records: Iterable[Mapping[str, Any] | bytes], det: Detector) -> Iterator[Output]:
    roles = role_map(det.config)
    for n, record in enumerate(records):
        topic, role, value = unwrap_record(record, roles)
        yield from det.process(role, value, source={"topic": topic, "offset": n})
    yield from det.finish()


def unwrap_record(record: Mapping[str, Any] | bytes | str, roles: Mapping[str, str]
                  ) -> tuple[Any, str, Mapping[str, Any] | bytes]:
    """A replay-file line as (topic, input role, value) for the parser; what is not
    a ``{"topic", "value"}`` object is passed on whole, for the parser to reject."""
    if isinstance(record, bytes | str):
        try:
            record = orjson.loads(record)
        except orjson.JSONDecodeError:
            record = {"topic": None, "value": record}
    if not isinstance(record, Mapping):
        record = {"topic": None, "value": record}
    topic = record.get("topic")
    if isinstance(topic, str):
        role = roles.get(topic, topic)
    else:  # no topic: the parser judges it as a send; a non-string one (a list): unknown
        role = "sms.send" if topic is None else str(topic)
    value = record.get("value")
    if isinstance(value, str):
        value = value.encode()
    if value is None or not isinstance(value, Mapping | bytes):
        value = orjson.dumps(value)
    return topic, role, value


def replay_file(in_path: str | Path, out_path: str | Path, config: Config | None = None,
                progress: bool = False, deadletter_path: str | Path | None = None
                ) -> ReplaySummary:
    """Replay ``in_path`` into ``out_path``; dead letters go to ``deadletter_path`` if given."""
    det = Detector(config)
    summary = ReplaySummary()
    start = time.perf_counter()
    with contextlib.ExitStack() as files:
        files.enter_context(few_collections())
        src = files.enter_context(open(in_path, "rb"))
        out = files.enter_context(open(out_path, "wb"))
        dead = files.enter_context(open(deadletter_path, "wb")) if deadletter_path else None
        lines = _progress(src, in_path) if progress else src
        for output in _outputs(_count_lines(lines, summary), det):
            line = orjson.dumps({"topic": output.topic, "value": output.value}) + b"\n"
            if output.topic != DEADLETTER:
                out.write(line)
            elif dead is not None:
                dead.write(line)
    summary.seconds = time.perf_counter() - start
    c = det.counters
    summary.accepted = sum(v for k, v in c.items() if k.startswith("accepted:"))
    summary.rejected = Counter({k.split(":", 1)[1]: v for k, v in c.items()
                                if k.startswith("rejected:")})
    summary.alerts, summary.throttles = c["alerts"], c["throttles"]
    summary.counters = c
    for family in det.families.values():
        summary.counters.update({f"{family.family}:{k}": v for k, v in family.counters.items()})
    return summary


def parse_only(in_path: str | Path, config: Config | None = None) -> ReplaySummary:
    """Read, decode and validate ``in_path`` as :func:`replay_file` does, and no more.

    The benchmark's yardstick: how fast the input can be taken in at all, so the
    cost of detection reads as a ratio measured in the same run.
    """
    det = Detector(config)
    summary = ReplaySummary()
    start = time.perf_counter()
    with few_collections(), open(in_path, "rb") as src:
        lines = _count_lines(src, summary)
        for _, parsed in parse_lines(lines, det.parser, role_map(det.config)):
            if isinstance(parsed, Rejected):
                summary.rejected[parsed.reason] += 1
            else:
                summary.accepted += 1
    summary.seconds = time.perf_counter() - start
    return summary


def parse_lines(lines: Iterable[bytes], parser: RecordParser, roles: Mapping[str, str]
                ) -> Iterator[tuple[str, Event | Rejected]]:
    """Each replay-file line as (input role, its event or why it was rejected)."""
    for line in lines:
        _, role, value = unwrap_record(line, roles)
        try:
            yield role, parser.parse(role, value)
        except Rejected as err:
            yield role, err


@contextlib.contextmanager
def few_collections(gen0: int = 50_000) -> Iterator[None]:
    """Run the cyclic garbage collector rarely while a stream is processed.

    Every record allocates a few short-lived objects, so with the default threshold
    (700) the collector runs every few records and each run walks the young
    generation: a fifth of replay time. The detector's state holds no reference
    cycles that must die young (it is freed by reference counting), so collecting
    every 50,000 allocations loses no memory that matters.
    """
    before = gc.get_threshold()
    gc.set_threshold(gen0, 50, 1000)
    try:
        yield
    finally:
        gc.set_threshold(*before)


def _count_lines(lines: Iterable[bytes], summary: ReplaySummary) -> Iterator[bytes]:
    for line in lines:
        if line.strip():
            summary.records_in += 1
            yield line


def _progress(src: IO[bytes], path: str | Path) -> Iterable[bytes]:
    if not sys.stderr.isatty():
        return src
    from tqdm import tqdm

    size = Path(path).stat().st_size
    bar = tqdm(total=size, unit="B", unit_scale=True, desc="replay", file=sys.stderr)

    def lines() -> Iterator[bytes]:
        with bar:
            for line in src:
                bar.update(len(line))
                yield line

    return lines()
