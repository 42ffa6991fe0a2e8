"""A real, throw-away Kafka 4.x broker on 127.0.0.1 for the test suite.

Tests never mock Kafka: this drives ``ops/kafka/local-kafka.sh`` (jars from Maven
Central, KRaft storage formatted in a temporary directory, a combined
broker/controller on free loopback ports) and stops it at the end. When
``KAFKA_BOOTSTRAP`` is set, the suite uses that broker instead and starts nothing.
"""

from __future__ import annotations

import asyncio
import os
import shutil
import signal
import subprocess
import sys
import tempfile
from pathlib import Path

from streams.kafka_io import wait_for_broker

SCRIPT = Path(__file__).resolve().parent.parent / "ops" / "kafka" / "local-kafka.sh"


class LocalKafka:
    """One local broker process managed through ``local-kafka.sh`` in its own directory."""

    def __init__(self, workdir: str | os.PathLike[str] | None = None) -> None:
        self.workdir = Path(workdir or tempfile.mkdtemp(prefix="smsguard-kafka-"))
        self.bootstrap: str | None = None

    def start(self, timeout_s: float = 120.0) -> str:
        """Start the broker (fetching jars if needed) and wait until it serves metadata."""
        env = dict(os.environ, KAFKA_PORT="0", KAFKA_CONTROLLER_PORT="0")
        done = subprocess.run(
            ["bash", str(SCRIPT), "start", str(self.workdir)],
            env=env,
            capture_output=True,
            text=True,
            timeout=timeout_s + 300,  # the first run may fetch the jars
        )
        if done.returncode != 0:
            raise RuntimeError(
                f"local Kafka did not start (exit {done.returncode}):\n{done.stderr[-4000:]}"
            )
        self.bootstrap = done.stdout.strip().splitlines()[-1]
        asyncio.run(wait_for_broker(self.bootstrap, timeout_s=timeout_s))
        return self.bootstrap

    def stop(self) -> None:
        """SIGTERM the broker, SIGKILL it after a timeout, and remove its directory."""
        subprocess.run(
            ["bash", str(SCRIPT), "stop", str(self.workdir)],
            capture_output=True,
            text=True,
            timeout=120,
        )
        shutil.rmtree(self.workdir, ignore_errors=True)

    def running(self) -> bool:
        done = subprocess.run(
            ["bash", str(SCRIPT), "status", str(self.workdir)], capture_output=True, text=True
        )
        return done.returncode == 0


class WorkerProcess:
    """``smsguard worker`` as a child process with its own app id and topic names.

    Each test builds its own names (``prefix``), so tests sharing one broker never
    read each other's records or join each other's consumer group.
    """

    def __init__(self, bootstrap: str, prefix: str, workdir: Path, partitions: int = 4,
                 store: str = "rocksdb://", idle_close_s: float = 3.0,
                 name: str = "worker", metrics_port: int = -1) -> None:
        self.bootstrap = bootstrap
        self.prefix = prefix
        self.partitions = partitions
        self.store = store
        self.idle_close_s = idle_close_s
        self.name = name
        self.metrics_port = metrics_port
        self.workdir = Path(workdir)
        self.data_dir = self.workdir / f"{name}-data"
        self.log_path = self.workdir / f"{name}.log"
        self.process: subprocess.Popen[bytes] | None = None

    def topic(self, role: str) -> str:
        return f"{self.prefix}.{role.split('.', 1)[1]}"

    def topic_args(self) -> list[str]:
        args = []
        for role in ("sms.send", "sms.dlr", "sms.verify", "sms.alerts", "sms.throttle",
                     "sms.deadletter"):
            args += [f"--topic-{role.split('.', 1)[1]}", self.topic(role)]
        return args + ["--bootstrap", self.bootstrap, "--partitions", str(self.partitions)]

    def start(self) -> None:
        env = dict(os.environ, PYTHONUNBUFFERED="1")
        cmd = [
            str(Path(sys.executable).parent / "smsguard"), "worker",
            *self.topic_args(),
            "--app-id", self.prefix,
            "--store", self.store,
            "--data-dir", str(self.data_dir),
            "--metrics-port", str(self.metrics_port),
            "--idle-close", str(self.idle_close_s),
            "--checkpoint-interval", "1.0",
            "--loglevel", "info",
        ]
        log = open(self.log_path, "ab")  # noqa: SIM115 - handed to the child
        self.process = subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT, env=env)
        log.close()

    def alive(self) -> bool:
        return self.process is not None and self.process.poll() is None

    def kill(self) -> None:
        """kill -9: no shutdown, no final commit or flush."""
        if self.process is not None and self.process.poll() is None:
            self.process.send_signal(signal.SIGKILL)
            self.process.wait(timeout=30)

    def stop(self) -> None:
        if self.process is None or self.process.poll() is not None:
            return
        self.process.send_signal(signal.SIGTERM)
        try:
            self.process.wait(timeout=60)
        except subprocess.TimeoutExpired:
            self.kill()

    def log(self) -> str:
        return self.log_path.read_text(errors="replace") if self.log_path.exists() else ""

    def produce(self, path: str | os.PathLike[str]) -> None:
        """``smsguard produce`` the replay file into this worker's input topics."""
        cmd = [str(Path(sys.executable).parent / "smsguard"), "produce", str(path),
               *self.topic_args()]
        subprocess.run(cmd, check=True, capture_output=True, timeout=300)


def simulate_and_replay(workdir: Path, seed: int = 3) -> tuple[Path, list[dict]]:
    """A small simulated replay file and what ``smsguard replay`` makes of it.

    Uses the simulator's CLI (the same file a person would produce) and the
    in-process replay as the reference the worker's outputs are compared with.
    """
    import orjson

    path = workdir / f"sim-{seed}.jsonl"
    if not path.exists():
        subprocess.run(
            [str(Path(sys.executable).parent / "smsguard"), "simulate", "--out", str(path),
             "--hours", "1", "--accounts", "20", "--seed", str(seed), "--quiet"],
            check=True, capture_output=True, timeout=300,
        )
    out = workdir / f"replay-{seed}.jsonl"
    # A fresh process, like the worker's: the detection code is read from disk now,
    # not when this test session started.
    subprocess.run([str(Path(sys.executable).parent / "smsguard"), "replay", str(path),
                    "--out", str(out)], check=True, capture_output=True, timeout=600)
    with open(out, "rb") as fh:
        return path, [orjson.loads(line) for line in fh if line.strip()]


def replay_late_records(path: Path) -> int:
    """Records that reach a family key after it closed their step, in file order.

    The in-process reference for the worker's ``late:<family>`` counters: the
    worker's merges must give every key its events in an order no later than
    the replay file's.
    """
    import orjson

    from detector.config import Config
    from detector.pipeline import SCOPE_FAMILIES, FamilyProcessor
    from detector.records import RecordParser, Rejected

    config = Config()
    d = config.detector
    parser = RecordParser(max_future_ms=d.max_future_s * 1000, max_body_bytes=d.max_body_bytes)
    processors = [FamilyProcessor(f, config) for f in SCOPE_FAMILIES]
    with open(path, "rb") as fh:
        for line in fh:
            if not line.strip():
                continue
            obj = orjson.loads(line)
            try:
                event = parser.parse(obj["topic"], obj["value"])  # the simulator writes roles
            except Rejected:
                continue
            for processor in processors:
                processor.process(event)
    return sum(p.counters.get("late_records", 0) for p in processors)


def late_records(worker: WorkerProcess) -> int:
    """The worker's late records (``late:<family>``) in its last progress line."""
    lines = progress_lines(worker)
    return sum(v for k, v in (lines[-1] if lines else {}).items() if k.startswith("late:"))


def ids_of(lines: list[dict]) -> tuple[set[str], set[str]]:
    """(alert ids, command ids) of output-line objects ``{"topic", "value"}``."""
    alerts = {o["value"]["alert_id"] for o in lines if o["topic"].endswith("alerts")}
    commands = {o["value"]["command_id"] for o in lines if o["topic"].endswith("throttle")}
    return alerts, commands


def worker_outputs(bootstrap: str, worker: WorkerProcess) -> list[dict]:
    """Every alert and throttle record the worker wrote so far, as output-line objects."""
    from streams.kafka_io import read_all

    topics = [worker.topic("sms.alerts"), worker.topic("sms.throttle")]
    records = asyncio.run(read_all(bootstrap, topics, idle_timeout_s=1.0))
    return [{"topic": "sms.alerts" if r.topic == topics[0] else "sms.throttle",
             "value": r.json()} for r in records]


def wait_for_outputs(bootstrap: str, worker: WorkerProcess, expected: list[dict],
                     timeout_s: float = 240.0, settle_s: float = 6.0,
                     workers: list[WorkerProcess] | None = None) -> list[dict]:
    """Poll the output topics until every expected id is there (or ``timeout_s``),
    then wait ``settle_s`` more so extra outputs would show up too."""
    import time

    want_alerts, want_commands = ids_of(expected)
    deadline = time.monotonic() + timeout_s
    got: list[dict] = []
    while time.monotonic() < deadline:
        for w in workers or [worker]:
            if not w.alive():
                raise RuntimeError(f"{w.name} exited:\n{w.log()[-5000:]}")
        got = worker_outputs(bootstrap, worker)
        alerts, commands = ids_of(got)
        if want_alerts <= alerts and want_commands <= commands:
            time.sleep(settle_s)
            return worker_outputs(bootstrap, worker)
        time.sleep(2.0)
    return got


def split_file(path: Path, fraction: float) -> tuple[Path, Path]:
    """The replay file cut in two (in order) at ``fraction`` of its lines."""
    lines = path.read_bytes().splitlines(keepends=True)
    cut = int(len(lines) * fraction)
    head, tail = path.with_suffix(".head.jsonl"), path.with_suffix(".tail.jsonl")
    head.write_bytes(b"".join(lines[:cut]))
    tail.write_bytes(b"".join(lines[cut:]))
    return head, tail


def progress_lines(worker: WorkerProcess) -> list[dict]:
    """The counters of every ``smsguard progress`` line the worker logged."""
    import ast
    import re

    out = []
    for m in re.finditer(r"smsguard progress (\{.*?\}) forced", worker.log()):
        out.append(ast.literal_eval(m.group(1)))
    return out


def restored(worker: WorkerProcess) -> list[dict]:
    """What the worker restored from its tables, one dict per (family, partition)."""
    import ast
    import re

    pattern = (r"smsguard restored (\w+) partition (\d+): (\d+) entities, (\d+) with history, "
               r"(\d+) ahead of the marker, applied offsets (\{.*?\})")
    return [
        {"family": m.group(1), "partition": int(m.group(2)), "entities": int(m.group(3)),
         "warm": int(m.group(4)), "ahead": int(m.group(5)),
         "applied": ast.literal_eval(m.group(6))}
        for m in re.finditer(pattern, worker.log())
    ]


def wait_for_log(worker: WorkerProcess, predicate: object, timeout_s: float = 120.0) -> bool:
    import time

    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if predicate(worker):  # type: ignore[operator]
            return True
        if not worker.alive():
            raise RuntimeError(f"{worker.name} exited:\n{worker.log()[-5000:]}")
        time.sleep(0.3)
    return False


def committed_offsets(bootstrap: str, group: str, topics: list[str]) -> dict[str, int]:
    """Sum of the group's committed offsets per topic (0 where nothing is committed)."""
    from aiokafka.admin import AIOKafkaAdminClient

    async def fetch() -> dict[str, int]:
        admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap)
        await admin.start()
        try:
            offsets = await admin.list_consumer_group_offsets(group)
        finally:
            await admin.close()
        out = dict.fromkeys(topics, 0)
        for tp, meta in offsets.items():
            if tp.topic in out and meta.offset > 0:
                out[tp.topic] += meta.offset
        return out

    return asyncio.run(fetch())
