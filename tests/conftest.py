"""Shared pytest fixtures: real servers on loopback, never mocks."""

from __future__ import annotations

import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

# --import-mode=importlib does not put tests/ on sys.path; the fixture modules live here.
sys.path.insert(0, str(Path(__file__).parent))

from redis_server import RedisServer  # noqa: E402


@pytest.fixture(scope="session")
def redis_process() -> Iterator[RedisServer]:
    """The session's real redis-server on 127.0.0.1 (free port, no persistence).

    Tests may ``stop()`` and ``start()`` it; it comes back on the same port.
    """
    server = RedisServer()
    server.start()
    try:
        yield server
    finally:
        server.close()


@pytest.fixture(scope="session")
def redis_server(redis_process: RedisServer) -> str:
    """URL of the session's redis-server."""
    return redis_process.url


@pytest.fixture
def redis_url(redis_process: RedisServer) -> str:
    """URL of a running, empty redis-server (restarted if an earlier test stopped it)."""
    redis_process.start()
    redis_process.flush()
    return redis_process.url


@pytest.fixture(scope="session")
def kafka_bootstrap() -> Iterator[str]:
    """Bootstrap address of a real Kafka 4.x broker on loopback.

    ``KAFKA_BOOTSTRAP`` from the environment when set (a broker already running);
    otherwise the local broker from ``ops/kafka/local-kafka.sh`` on free ports in a
    temporary directory, stopped at the end of the session.
    """
    import os

    from kafka_broker import LocalKafka

    given = os.environ.get("KAFKA_BOOTSTRAP")
    if given:
        yield given
        return
    broker = LocalKafka()
    try:
        yield broker.start()
    finally:
        broker.stop()
