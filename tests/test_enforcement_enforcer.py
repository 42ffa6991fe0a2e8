"""The enforcer's per-record path and fail-safe behaviour, against a real redis-server.

Signed commands are applied; unsigned, tampered, foreign-key and expired ones are
rejected and counted; an attacker writing to the topic can neither lift a block nor
throttle a legitimate account. Redis going away never hangs a gateway and never
loses a command the enforcer was given.
"""

from __future__ import annotations

import json
import socket
import threading
import time

import pytest
import redis
from throttle_commands import now_ms, throttle_command

from detector.signing import sign_command
from streams.enforcement.admission import AdmissionClient
from streams.enforcement.enforcer import Enforcer, EnforcerStopped
from streams.enforcement.store import OffsetMark, ThrottleStore
from streams.metrics import Metrics

pytestmark = pytest.mark.redis

KEY = "test-shared-key"


def command(command_id: str, action: str, scope: dict, **extra) -> dict:
    """Enforcer tests link every command to an alert and limit to 2/s by default."""
    extra.setdefault("rate_per_s", 2.0)
    return throttle_command(command_id, action, scope, alert_id=f"alert-{command_id}", **extra)


def signed(cmd: dict, key: str = KEY) -> bytes:
    """What the detector writes to the topic: signed, JSON bytes."""
    return json.dumps(sign_command(cmd, key)).encode()


@pytest.fixture
def metrics() -> Metrics:
    return Metrics()


@pytest.fixture
def enforcer(redis_url: str, metrics: Metrics) -> Enforcer:
    store = ThrottleStore(redis_url, timeout_ms=200)
    e = Enforcer(store, KEY, require_signature=True, metrics=metrics, first_backoff_s=0.02,
                 max_backoff_s=0.2)
    yield e
    store.close()


@pytest.fixture
def client(redis_url: str) -> AdmissionClient:
    c = AdmissionClient(redis_url, timeout_ms=200, down_backoff_ms=0)
    yield c
    c.close()


def counted(metrics: Metrics, outcome: str) -> float:
    value = metrics.registry.get_sample_value(
        "smsguard_enforcer_commands_total", {"outcome": outcome}
    )
    return value or 0.0


def test_signed_commands_are_applied_and_counted(enforcer, client, metrics):
    assert enforcer.handle(signed(command("s1", "block", {"account_id": "A"}))) == "applied"
    assert enforcer.handle(signed(command("s1", "block", {"account_id": "A"}))) == "duplicate"
    assert client.check("A", "+4915112345678").reason == "blocked"
    assert enforcer.handle(signed(command("s2", "release", {"account_id": "A"}))) == "released"
    assert client.check("A", "+4915112345678").allowed
    assert counted(metrics, "applied") == 1
    assert counted(metrics, "duplicate") == 1
    assert counted(metrics, "released") == 1


def test_unsigned_tampered_foreign_and_expired_commands_are_rejected(enforcer, client, metrics):
    unsigned = json.dumps(command("u1", "block", {"account_id": "A"})).encode()
    assert enforcer.handle(unsigned) == "rejected_unsigned"

    tampered = sign_command(command("t1", "limit", {"account_id": "A"}, rate_per_s=1.0), KEY)
    tampered["rate_per_s"] = 1_000_000.0
    assert enforcer.handle(json.dumps(tampered).encode()) == "rejected_bad_signature"

    foreign = signed(command("f1", "block", {"account_id": "A"}), key="attacker-key")
    assert enforcer.handle(foreign) == "rejected_bad_signature"

    expired = signed(command("x1", "block", {"account_id": "A"}, expires_at=now_ms() - 1000))
    assert enforcer.handle(expired) == "rejected_expired"

    assert enforcer.handle(b"\x00not json") == "rejected_not_json"
    assert enforcer.handle(signed({"command_id": "i1", "action": "block"})) == "rejected_invalid"

    assert client.check("A", "+4915112345678").reason == "no_throttle"
    for outcome in ("unsigned", "bad_signature", "expired", "not_json", "invalid"):
        assert counted(metrics, f"rejected_{outcome}") >= 1, outcome
    assert counted(metrics, "rejected_bad_signature") == 2
    assert counted(metrics, "applied") == 0


def test_an_attacker_on_the_topic_cannot_lift_a_block(enforcer, client):
    t = now_ms()
    old_release = signed(command("old-rel", "release", {"account_id": "A"}, ts=t - 60_000,
                                 expires_at=t + 60_000))
    assert enforcer.handle(signed(command("real-block", "block", {"account_id": "A"}, ts=t))) \
        == "applied"
    # Forged releases: unsigned, signed with a guessed key, or a signed block edited into one.
    forged = command("evil-1", "release", {"account_id": "A"}, ts=t + 1)
    assert enforcer.handle(json.dumps(forged).encode()) == "rejected_unsigned"
    assert enforcer.handle(signed(forged, key="guess")) == "rejected_bad_signature"
    edited = json.loads(signed(command("evil-2", "block", {"account_id": "A"}, ts=t + 1)))
    edited["action"] = "release"
    assert enforcer.handle(json.dumps(edited).encode()) == "rejected_bad_signature"
    # A genuine release from an earlier episode, replayed: older than the block, so stale.
    assert enforcer.handle(old_release) == "stale"
    # Replaying the genuine block's own id cannot re-order anything either.
    assert enforcer.handle(signed(command("real-block", "block", {"account_id": "A"}, ts=t))) \
        == "duplicate"
    assert client.check("A", "+4915112345678").reason == "blocked"


def test_an_attacker_on_the_topic_cannot_throttle_a_legit_account(enforcer, client):
    evil_block = command("evil-3", "block", {"account_id": "LEGIT"})
    assert enforcer.handle(json.dumps(evil_block).encode()) == "rejected_unsigned"
    evil_limit = command("evil-4", "limit", {"prefix": "+49"}, rate_per_s=0.0)
    assert enforcer.handle(signed(evil_limit, key="")) == "rejected_bad_signature"
    assert all(client.check("LEGIT", "+4915112345678").allowed for _ in range(50))


def test_signature_not_required_still_rejects_a_bad_one(redis_url):
    store = ThrottleStore(redis_url)
    lax = Enforcer(store, KEY, require_signature=False)
    assert lax.handle(json.dumps(command("n1", "block", {"account_id": "A"})).encode()) == "applied"
    bad = json.loads(signed(command("n2", "release", {"account_id": "A"})))
    bad["scope"] = {"account_id": "B"}
    assert lax.handle(json.dumps(bad).encode()) == "rejected_bad_signature"
    store.close()


def test_enforcer_refuses_to_run_without_a_key_when_signatures_are_required(redis_url):
    store = ThrottleStore(redis_url)
    with pytest.raises(ValueError):
        Enforcer(store, "", require_signature=True)
    store.close()


# Fail-safe ---------------------------------------------------------------------------


@pytest.mark.timeout(60)
def test_clients_fail_open_or_closed_while_redis_is_stopped(redis_process, redis_url, enforcer):
    enforcer.handle(signed(command("fb", "block", {"account_id": "A"})))
    opened = AdmissionClient(redis_url, fail_mode="open", timeout_ms=100, down_backoff_ms=0)
    closed = AdmissionClient(redis_url, fail_mode="closed", timeout_ms=100, down_backoff_ms=0)
    assert not opened.check("A", "+4915112345678").allowed
    redis_process.stop()
    try:
        for _ in range(20):
            d = opened.check("A", "+4915112345678")
            assert (d.allowed, d.reason) == (True, "redis_unavailable")
            d = closed.check("B", "+4915112345678")
            assert (d.allowed, d.reason) == (False, "redis_unavailable")
            assert d.retry_after_ms > 0
        many = closed.check_many([("A", "+4915112345678")] * 5)
        assert [d.reason for d in many] == ["redis_unavailable"] * 5
        with pytest.raises(redis.ConnectionError):
            enforcer.handle(signed(command("fb2", "block", {"account_id": "C"})))
    finally:
        redis_process.start()
    # Back (empty: the test server keeps nothing on disk); the same clients recover.
    assert opened.check("A", "+4915112345678").reason == "no_throttle"
    assert closed.check("B", "+4915112345678").allowed


@pytest.mark.timeout(30)
def test_a_redis_that_accepts_but_never_answers_cannot_hang_the_gateway():
    """A listening socket that never replies: only the client's own timeouts end the call."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as silent:
        silent.bind(("127.0.0.1", 0))
        silent.listen(16)
        url = f"redis://127.0.0.1:{silent.getsockname()[1]}/0"
        for mode, allowed in (("open", True), ("closed", False)):
            client = AdmissionClient(url, fail_mode=mode, timeout_ms=100)
            d = client.check("A", "+4915112345678")
            assert (d.allowed, d.reason) == (allowed, "redis_unavailable")
            # Within the back-off window it answers without touching the socket at all.
            assert client.check("A", "+4915112345678").reason == "redis_unavailable"
            client.close()
        store = ThrottleStore(url, timeout_ms=100)
        with pytest.raises(redis.TimeoutError):
            store.apply(command("h1", "block", {"account_id": "A"}))
        store.close()


@pytest.mark.timeout(120)
def test_enforcer_waits_for_redis_and_catches_up_after_restart(redis_process, redis_url, enforcer):
    """Commands keep flowing while Redis is stopped: none is lost, none is applied twice."""
    records = [signed(command(f"flow-{i}", "block", {"account_id": f"acct-{i}"}))
               for i in range(10)]
    outcomes: list[str] = []
    stop = threading.Event()

    def consume() -> None:
        for raw in records:
            outcomes.append(enforcer.handle_until_applied(raw, stop))

    for raw in records[:3]:
        outcomes.append(enforcer.handle_until_applied(raw, stop))
    del records[:3]
    redis_process.stop()
    worker = threading.Thread(target=consume)
    worker.start()
    deadline = time.monotonic() + 30
    while enforcer.redis_failures < 3 and time.monotonic() < deadline:
        time.sleep(0.02)
    assert enforcer.redis_failures >= 3
    assert worker.is_alive()  # still holding record 4, not skipping it
    assert len(outcomes) == 3
    redis_process.start()
    worker.join(timeout=60)
    assert not worker.is_alive()
    assert outcomes == ["applied"] * 10
    client = AdmissionClient(redis_url)
    assert [client.check(f"acct-{i}", "+4915112345678").reason for i in range(3, 10)] == \
        ["blocked"] * 7
    client.close()


def test_enforcer_reports_lost_records_instead_of_applying_past_them(redis_url, enforcer,
                                                                      metrics):
    """Redis came back empty: the next record is not applied on top of a hole."""
    raws = [signed(command(f"m-{i}", "block", {"account_id": f"acct-{i}"})) for i in range(3)]
    expected = None
    for offset, raw in enumerate(raws[:2]):
        mark = OffsetMark("sms.throttle", 0, offset + 1, expected=expected)
        assert enforcer.handle(raw, mark) == "applied"
        expected = offset + 1
    flush = redis.Redis.from_url(redis_url)
    flush.flushall()
    flush.close()
    assert enforcer.handle(raws[2], OffsetMark("sms.throttle", 0, 3, expected=2)) == "lost"
    assert enforcer.rewinds == 1
    unsigned = json.dumps(command("m-x", "block", {"account_id": "X"})).encode()
    assert enforcer.handle(unsigned, OffsetMark("sms.throttle", 0, 4, expected=2)) == "lost"
    assert counted(metrics, "redis_lost") == 2
    # Re-read from the beginning (no expectation while rebuilding): all back.
    for offset, raw in enumerate(raws):
        assert enforcer.handle(raw, OffsetMark("sms.throttle", 0, offset + 1)) == "applied"
    assert enforcer.store.offset_marks("sms.throttle") == {0: 3}


@pytest.mark.timeout(60)
def test_a_stop_request_ends_the_wait_without_applying(redis_process, enforcer):
    redis_process.stop()
    stop = threading.Event()
    result: list[BaseException] = []

    def consume() -> None:
        try:
            enforcer.handle_until_applied(signed(command("st", "block", {"account_id": "A"})),
                                          stop)
        except BaseException as exc:  # noqa: BLE001 - handed to the test thread
            result.append(exc)

    worker = threading.Thread(target=consume)
    worker.start()
    while enforcer.redis_failures < 1:
        time.sleep(0.01)
    stop.set()
    worker.join(timeout=30)
    redis_process.start()
    assert len(result) == 1 and isinstance(result[0], EnforcerStopped)
    assert enforcer.outcomes["applied"] == 0


@pytest.mark.timeout(60)
def test_a_client_idle_across_a_redis_restart_answers_from_redis_right_away(
    redis_process, redis_url, enforcer
):
    client = AdmissionClient(redis_url, fail_mode="closed", timeout_ms=200)  # 1 s back-off
    assert client.check("A", "+4915112345678").reason == "no_throttle"  # pooled connection
    redis_process.stop()
    redis_process.start()
    enforcer.handle(signed(command("idle", "block", {"account_id": "A"})))
    # The pooled connection died with the old server; the client notices and reconnects.
    assert client.check("A", "+4915112345678").reason == "blocked"
    client.close()
