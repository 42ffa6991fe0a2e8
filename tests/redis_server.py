"""A real, throw-away ``redis-server`` on 127.0.0.1 for the test suite.

Tests never mock Redis: this starts the Debian ``redis-server`` binary on a
free loopback port in a temporary directory, with persistence switched off
(``--save '' --appendonly no``), so nothing ever touches the system instance
on 6379. ``stop()``/``start()`` let a test take Redis away and bring it back on
the same port, which is how the fail-open/closed and catch-up tests work.
"""

from __future__ import annotations

import shutil
import socket
import subprocess
import tempfile
import time
from pathlib import Path


def free_port() -> int:
    """A TCP port on 127.0.0.1 nobody listens on right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class RedisServer:
    """One ``redis-server`` child process bound to 127.0.0.1:``port``."""

    def __init__(self, port: int | None = None, binary: str = "redis-server") -> None:
        found = shutil.which(binary)
        if found is None:
            raise RuntimeError(
                "redis-server is not installed: run `make test` (it installs the Debian "
                "package) or `apt-get install redis-server`"
            )
        self.binary = found
        self.port = port or free_port()
        self.workdir = Path(tempfile.mkdtemp(prefix="smsguard-redis-"))
        self.process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self, timeout_s: float = 10.0) -> None:
        """Start the server and wait until it answers PING."""
        if self.process is not None and self.process.poll() is None:
            return
        log = open(self.workdir / "redis.log", "ab")  # noqa: SIM115 - handed to the child
        self.process = subprocess.Popen(
            [
                self.binary,
                "--bind", "127.0.0.1",
                "--port", str(self.port),
                "--dir", str(self.workdir),
                "--save", "",
                "--appendonly", "no",
                "--daemonize", "no",
                "--protected-mode", "yes",
            ],
            stdout=log,
            stderr=subprocess.STDOUT,
        )
        log.close()
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"redis-server exited: {self._log_tail()}")
            if self._answers_ping():
                return
            time.sleep(0.02)
        self.stop()
        raise RuntimeError(f"redis-server did not answer within {timeout_s}s: {self._log_tail()}")

    def stop(self) -> None:
        """Stop the server (SIGTERM, then SIGKILL) and wait until the port is closed."""
        if self.process is None:
            return
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(timeout=10)
        self.process = None

    def restart(self) -> None:
        self.stop()
        self.start()

    def close(self) -> None:
        self.stop()
        shutil.rmtree(self.workdir, ignore_errors=True)

    def flush(self) -> None:
        """Empty every database, so tests sharing the server start clean."""
        self._command(b"*1\r\n$8\r\nFLUSHALL\r\n")

    def _answers_ping(self) -> bool:
        try:
            return self._command(b"*1\r\n$4\r\nPING\r\n").startswith(b"+PONG")
        except OSError:
            return False

    def _command(self, raw: bytes) -> bytes:
        # A raw RESP round trip keeps this fixture independent of the client under test.
        with socket.create_connection(("127.0.0.1", self.port), timeout=1.0) as sock:
            sock.sendall(raw)
            return sock.recv(1024)

    def _log_tail(self) -> str:
        try:
            return (self.workdir / "redis.log").read_text(errors="replace")[-2000:]
        except OSError:
            return "(no log)"
