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
