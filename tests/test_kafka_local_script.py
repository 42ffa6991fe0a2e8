"""ops/kafka/local-kafka.sh: start answers on loopback, status tells, stop ends it."""

from __future__ import annotations

import asyncio
import subprocess
from pathlib import Path

from kafka_broker import SCRIPT, LocalKafka

from streams.kafka_io import ensure_topics, wait_for_broker


def status(workdir: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(["bash", str(SCRIPT), "status", str(workdir)],
                          capture_output=True, text=True)


def test_start_status_stop(tmp_path: Path) -> None:
    broker = LocalKafka(tmp_path / "kafka")
    bootstrap = broker.start()
    try:
        assert bootstrap.startswith("127.0.0.1:")
        running = status(broker.workdir)
        assert running.returncode == 0 and bootstrap in running.stdout
        asyncio.run(ensure_topics(bootstrap, {"t-script": 2}))
        pid = int((broker.workdir / "kafka.pid").read_text())
    finally:
        subprocess.run(["bash", str(SCRIPT), "stop", str(broker.workdir)],
                       capture_output=True, text=True, timeout=120)
    stopped = status(broker.workdir)
    assert stopped.returncode == 3 and "stopped" in stopped.stdout
    assert not Path(f"/proc/{pid}").exists()
    try:
        asyncio.run(wait_for_broker(bootstrap, timeout_s=2))
    except TimeoutError:
        pass
    else:
        raise AssertionError("the broker still answers after stop")
    broker.stop()
