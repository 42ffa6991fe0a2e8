"""``smsguard bench-stream``: the worker's figures through a real Kafka broker.

1. Throughput: a simulated file is produced to fresh input topics; a bare
   aiokafka consumer loop reads them (the ceiling), then the worker processes
   them end to end (parse, account features, re-keying, family features,
   outputs, checkpoints). Reported: both rates and their ratio, plus a bare loop
   that also runs the in-process core, which tells Kafka/Faust overhead from
   detection cost.
2. Latency: a steady load (default 5,000 records/s) whose ``ts`` is the wall
   clock at send time; for every alert, the time from the event that raised it
   (the alert's ``ts``: the record that closed its step, or the quiet-close
   deadline) to the moment the worker wrote it (Kafka timestamp of the alert).
   How long an attack runs before some record closes a step that shows it is
   the detection delay, in event time (``smsguard bench``), not latency.

Without ``--bootstrap`` it starts the local broker (``ops/kafka/local-kafka.sh``)
in a temporary directory and stops it at the end. Figures, not tests.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

SCRIPT = Path(__file__).resolve().parents[2] / "ops" / "kafka" / "local-kafka.sh"


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "bench-stream", help="throughput and alert latency of the worker on real Kafka",
        description=__doc__,
    )
    parser.add_argument("--bootstrap", help="broker to use (default: start the local one)")
    parser.add_argument("--partitions", type=int, default=4)
    parser.add_argument("--records", type=int, default=60_000,
                        help="about how many records for the throughput run")
    parser.add_argument("--rate", type=float, default=5000.0,
                        help="records/s of the steady load for the latency run")
    parser.add_argument("--duration", type=float, default=30.0,
                        help="seconds of steady load (default 30)")
    parser.add_argument("--skip-latency", action="store_true")
    parser.add_argument("--skip-throughput", action="store_true")
    parser.add_argument("--json", action="store_true", help="print the figures as JSON")
    parser.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    figures = run_bench(args)
    if args.json:
        import orjson

        print(orjson.dumps(figures, option=orjson.OPT_INDENT_2).decode())
    else:
        for key, value in figures.items():
            print(f"{key:45} {value}")
    sys.stdout.flush()
    return 0


def _smsguard() -> str:
    return str(Path(sys.executable).parent / "smsguard")


class _Broker:
    """The local broker, started only when no ``--bootstrap`` was given."""

    def __init__(self, bootstrap: str | None) -> None:
        self.bootstrap = bootstrap
        self.dir: str | None = None

    def __enter__(self) -> str:
        import os
        import subprocess
        import tempfile

        if self.bootstrap:
            return self.bootstrap
        self.dir = tempfile.mkdtemp(prefix="smsguard-bench-kafka-")
        done = subprocess.run(["bash", str(SCRIPT), "start", self.dir], capture_output=True,
                              text=True, env=dict(os.environ, KAFKA_PORT="0"), check=True)
        self.bootstrap = done.stdout.strip().splitlines()[-1]
        return self.bootstrap

    def __exit__(self, *exc: object) -> None:
        import shutil
        import subprocess

        if self.dir is not None:
            subprocess.run(["bash", str(SCRIPT), "stop", self.dir], capture_output=True)
            shutil.rmtree(self.dir, ignore_errors=True)


class _Worker:
    """``smsguard worker`` subprocess with a progress line every second."""

    def __init__(self, bootstrap: str, prefix: str, workdir: Path, partitions: int) -> None:
        self.bootstrap, self.prefix, self.workdir = bootstrap, prefix, workdir
        self.partitions = partitions
        self.log = workdir / f"{prefix}.log"
        self.proc: Any = None

    def topic(self, role: str) -> str:
        return f"{self.prefix}.{role.split('.', 1)[1]}"

    def args(self) -> list[str]:
        out = ["--bootstrap", self.bootstrap, "--partitions", str(self.partitions)]
        for role in ("sms.send", "sms.dlr", "sms.verify", "sms.alerts", "sms.throttle",
                     "sms.deadletter"):
            out += [f"--topic-{role.split('.', 1)[1]}", self.topic(role)]
        return out

    def start(self) -> None:
        import os
        import subprocess

        env = dict(os.environ, SMSGUARD_WORKER__REPORT_INTERVAL_S="0.5")
        with open(self.log, "ab") as log:
            self.proc = subprocess.Popen(
                [_smsguard(), "worker", *self.args(), "--app-id", self.prefix,
                 "--data-dir", str(self.workdir / f"{self.prefix}-data"),
                 "--metrics-port", "-1", "--idle-close", "3", "--loglevel", "info"],
                stdout=log, stderr=subprocess.STDOUT, env=env)

    def stop(self) -> None:
        import subprocess

        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=60)
            except subprocess.TimeoutExpired:
                self.proc.kill()

    def progress(self) -> list[tuple[float, dict[str, int], int]]:
        """(wall time, counters, buffered) of every progress line so far."""
        import ast
        import re
        from datetime import datetime

        text = self.log.read_text(errors="replace") if self.log.exists() else ""
        out = []
        for m in re.finditer(r"\[(\d{4}-\d\d-\d\d \d\d:\d\d:\d\d,\d+)\].*?"
                             r"smsguard progress (\{.*?\}) forced=\d+ buffered=(\d+)", text):
            stamp = datetime.strptime(m.group(1), "%Y-%m-%d %H:%M:%S,%f").timestamp()
            out.append((stamp, ast.literal_eval(m.group(2)), int(m.group(3))))
        return out


def _accepted(counters: dict[str, int]) -> int:
    return sum(v for k, v in counters.items() if k.startswith("accepted:"))


def _simulate(workdir: Path, records: int) -> Path:
    import subprocess

    path = workdir / "bench.jsonl"
    hours = max(1, round(records / 10_000))
    subprocess.run([_smsguard(), "simulate", "--out", str(path), "--hours", str(hours),
                    "--accounts", "60", "--target-records", str(records), "--quiet"],
                   check=True, capture_output=True)
    return path


def _bare_rates(bootstrap: str, topics: list[str], total: int) -> tuple[float, float]:
    """Records/s of a bare aiokafka loop: reading only, and reading + the in-process core."""
    import asyncio
    import time

    from aiokafka import AIOKafkaConsumer

    async def loop(with_core: bool) -> float:
        from detector.pipeline import Detector

        roles = {t: "sms." + t.rsplit(".", 1)[1] for t in topics}
        det = Detector() if with_core else None
        consumer = AIOKafkaConsumer(*topics, bootstrap_servers=bootstrap,
                                    auto_offset_reset="earliest", enable_auto_commit=False,
                                    group_id=None)
        await consumer.start()
        n, started = 0, None
        try:
            while n < total:
                batch = await consumer.getmany(timeout_ms=1000, max_records=5000)
                if started is None and batch:
                    started = time.perf_counter()
                for tp, msgs in batch.items():
                    n += len(msgs)
                    if det is not None:
                        role = roles[tp.topic]
                        for m in msgs:
                            det.process(role, m.value)
        finally:
            await consumer.stop()
        return n / (time.perf_counter() - (started or time.perf_counter()))

    return asyncio.run(loop(False)), asyncio.run(loop(True))


def _throughput(bootstrap: str, args: argparse.Namespace, workdir: Path) -> dict[str, Any]:
    import asyncio
    import time
    import uuid

    from streams.kafka_io import ensure_topics, produce_records, read_replay_file

    sim = _simulate(workdir, args.records)
    worker = _Worker(bootstrap, f"bench-{uuid.uuid4().hex[:8]}", workdir, args.partitions)
    roles = ("sms.send", "sms.dlr", "sms.verify")
    topics = [worker.topic(r) for r in roles]

    async def produce() -> int:
        await ensure_topics(bootstrap, dict.fromkeys(topics, args.partitions))
        summary = await produce_records(
            bootstrap, ((worker.topic(t if t.startswith("sms.") else "sms." + t), v)
                        for t, v in read_replay_file(str(sim))))
        return summary.records

    total = asyncio.run(produce())
    bare, bare_core = _bare_rates(bootstrap, topics, total)
    worker.start()
    try:
        deadline = time.monotonic() + max(600.0, total / 100)
        start = done = None
        while time.monotonic() < deadline:
            time.sleep(1.0)
            lines = worker.progress()
            for stamp, counters, _ in lines:
                if start is None and _accepted(counters) > 0:
                    start = stamp
            if lines and _accepted(lines[-1][1]) >= total and lines[-1][2] == 0:
                done = next(s for s, c, b in lines if _accepted(c) >= total and b == 0)
                break
    finally:
        worker.stop()
    if start is None or done is None:
        raise RuntimeError(f"worker did not finish; see {worker.log}")
    # The first progress line after the start is up to one report interval late.
    seconds = max(done - start + 0.5, 0.5)
    rate = total / seconds
    return {
        "throughput.records": total,
        "throughput.bare_aiokafka_read_per_s": round(bare),
        "throughput.bare_aiokafka_plus_core_per_s": round(bare_core),
        "throughput.worker_end_to_end_per_s": round(rate),
        "throughput.ratio_to_bare_read": round(rate / bare, 3),
        "throughput.ratio_to_bare_plus_core": round(rate / bare_core, 3),
    }


def _latency(bootstrap: str, args: argparse.Namespace, workdir: Path) -> dict[str, Any]:
    import asyncio
    import time
    import uuid

    from detector.config import load_config
    from streams.kafka_io import ensure_topics, produce_records, read_all, read_replay_file

    config = load_config(args.config)
    count = int(args.rate * args.duration)
    sim = _simulate(workdir, count)
    worker = _Worker(bootstrap, f"lat-{uuid.uuid4().hex[:8]}", workdir, args.partitions)
    inputs = [worker.topic(r) for r in ("sms.send", "sms.dlr", "sms.verify")]
    asyncio.run(ensure_topics(bootstrap, dict.fromkeys(
        inputs + [worker.topic("sms.alerts")], args.partitions)))
    worker.start()
    time.sleep(15.0)  # let it join its group before the load starts

    def live() -> Any:
        # The file's order, with ts = the wall clock at send time: event time is real time.
        for n, (topic, value) in enumerate(read_replay_file(str(sim))):
            if n >= count:
                return
            if isinstance(value, dict):
                value = dict(value, ts=int(time.time() * 1000))
            yield worker.topic(topic if topic.startswith("sms.") else "sms." + topic), value

    try:
        summary = asyncio.run(produce_records(bootstrap, live(), rate_per_s=args.rate))
        load_end_ms = int(time.time() * 1000)
        time.sleep(config.detector.step_s + config.detector.lateness_s + 10.0)
    finally:
        worker.stop()
    alerts = asyncio.run(read_all(bootstrap, [worker.topic("sms.alerts")], idle_timeout_s=2.0))
    total = []
    by_entity: dict[str, list[int]] = {}
    for rec in alerts:
        value = rec.json()
        if rec.timestamp_ms > load_end_ms:
            continue  # closed by the idle close after the load, not by traffic
        total.append(rec.timestamp_ms - value["ts"])
        by_entity.setdefault(value["entity"]["type"], []).append(total[-1])
    total.sort()

    def pct(values: list[int], q: float) -> float | None:
        if not values:
            return None
        return round(values[min(len(values) - 1, int(q * len(values)))] / 1000, 3)

    return {
        "latency.load_records_per_s": round(summary.records / summary.seconds),
        "latency.records": summary.records,
        "latency.alerts": len(alerts),
        "latency.alerts_during_load": len(total),
        "latency.event_to_alert_p50_s": pct(total, 0.5),
        "latency.event_to_alert_p99_s": pct(total, 0.99),
        "latency.event_to_alert_max_s": pct(total, 1.0),
        # The account family runs where the input is read; the others after re-keying.
        "latency.p99_by_entity_s": {kind: pct(sorted(v), 0.99)
                                    for kind, v in sorted(by_entity.items())},
        "latency.step_s": config.detector.step_s,
        "latency.lateness_s": config.detector.lateness_s,
    }


def run_bench(args: argparse.Namespace) -> dict[str, Any]:
    import tempfile

    figures: dict[str, Any] = {}
    with tempfile.TemporaryDirectory(prefix="smsguard-bench-") as tmp, \
            _Broker(args.bootstrap) as bootstrap:
        workdir = Path(tmp)
        if not args.skip_throughput:
            figures.update(_throughput(bootstrap, args, workdir))
        if not args.skip_latency:
            figures.update(_latency(bootstrap, args, workdir))
    return figures
