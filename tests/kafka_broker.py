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
import subprocess
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
