"""The admission script against a real redis-server: blocks, token buckets, scope matching."""

from __future__ import annotations

import time

import pytest
import redis
from throttle_commands import now_ms

from streams.enforcement.admission import AdmissionClient, AdmissionRequest
from streams.enforcement.store import ThrottleStore

pytestmark = pytest.mark.redis


def apply(store: ThrottleStore, command_id: str, action: str, scope: dict, **extra) -> None:
    now = now_ms()
    cmd = {
        "command_id": command_id,
        "ts": now,
        "action": action,
        "scope": scope,
        "expires_at": now + extra.pop("ttl_ms", 60_000),
        "reason": "test",
        **extra,
    }
    assert store.apply(cmd).status == "applied"


@pytest.fixture
def store(redis_url: str) -> ThrottleStore:
    s = ThrottleStore(redis_url)
    yield s
    s.close()


@pytest.fixture
def client(redis_url: str) -> AdmissionClient:
    c = AdmissionClient(redis_url, timeout_ms=1000)
    yield c
    c.close()


def test_nothing_throttled_allows(client):
    d = client.check("A", "+23670123456", api_key_id="k1")
    assert (d.allowed, d.retry_after_ms, d.reason, d.scope) == (True, 0, "no_throttle", None)


def test_block_denies_until_it_expires(store, client):
    apply(store, "b1", "block", {"account_id": "A"}, ttl_ms=30_000)
    d = client.check("A", "+23670123456")
    assert not d.allowed
    assert d.reason == "blocked"
    assert d.scope == "account_id=A"
    assert 0 < d.retry_after_ms <= 30_000
    assert client.check("B", "+23670123456").allowed


def test_limit_admits_at_the_rate_within_ten_percent(store, client):
    """Count admitted calls over ~3 s of continuous calls against 50/s (bucket correctness)."""
    rate = 50.0
    apply(store, "l1", "limit", {"account_id": "A", "prefix": "+2367"}, rate_per_s=rate)
    allowed = denied = 0
    start = time.monotonic()
    while time.monotonic() - start < 3.0:
        d = client.check("A", "+23670123456")
        if d.allowed:
            allowed += 1
            assert d.reason == "within_limit"
        else:
            denied += 1
            assert d.reason == "rate_limited"
            assert 0 < d.retry_after_ms <= 1000 / rate + 1
    elapsed = time.monotonic() - start
    expected = rate * elapsed + max(1.0, rate)  # refill over the run plus the initial burst
    assert denied > allowed  # the caller really did call faster than the rate
    assert abs(allowed - expected) <= 0.10 * expected, (allowed, expected)


def test_pipelined_checks_share_one_bucket(store, client):
    apply(store, "l2", "limit", {"api_key_id": "k1"}, rate_per_s=10.0)
    decisions = client.check_many([AdmissionRequest("A", "+4915112345678", "k1")] * 40)
    allowed = [d.allowed for d in decisions]
    # The burst of 10, then denials (a token refills every 100 ms while the pipeline
    # runs, which on a busy machine may let one or two more through).
    assert allowed[:10] == [True] * 10
    assert sum(allowed[10:]) <= 5
    assert [d.reason for d in decisions if not d.allowed] == ["rate_limited"] * allowed.count(False)


def test_zero_rate_denies_for_the_life_of_the_command(store, client):
    apply(store, "l0", "limit", {"account_id": "A"}, rate_per_s=0.0, ttl_ms=20_000)
    assert client.check("A", "+4915112345678").allowed  # the burst floor of one
    d = client.check("A", "+4915112345678")
    assert not d.allowed and d.reason == "rate_limited"
    assert 0 < d.retry_after_ms <= 20_000


def test_account_prefix_scope_only_hits_that_prefix(store, client):
    apply(store, "ap", "block", {"account_id": "A", "prefix": "+2367"})
    assert client.check("A", "+23670123456").reason == "blocked"
    assert client.check("A", "+2367").reason == "blocked"  # the full number is a prefix too
    assert client.check("A", "+23680123456").allowed
    assert client.check("A", "+236").allowed
    assert client.check("B", "+23670123456").allowed


def test_prefix_scope_hits_every_account(store, client):
    apply(store, "p", "block", {"prefix": "+88"})
    assert client.check("A", "+881234567").scope == "prefix=+88"
    assert client.check("Z", "+889999").reason == "blocked"
    assert client.check("A", "+880").allowed is False
    assert client.check("A", "+87123456").allowed


def test_country_scopes_use_the_derived_or_given_country(store, client):
    apply(store, "c", "block", {"country": "CF"})
    apply(store, "ac", "block", {"account_id": "A", "country": "DE"})
    # +236 is the Central African Republic: derived with phonenumbers.
    assert client.check("Q", "+23670123456").scope == "country=CF"
    assert client.check("Q", "+4915112345678").allowed
    assert client.check("A", "+4915112345678").scope == "account_id=A|country=DE"
    # A gateway that knows better may pass the country itself.
    assert client.check("Q", "+4915112345678", country="cf").scope == "country=CF"


def test_api_key_scopes(store, client):
    apply(store, "k", "block", {"api_key_id": "stolen"})
    apply(store, "ak", "block", {"account_id": "A", "api_key_id": "k2"})
    assert client.check("A", "+4915112345678", api_key_id="stolen").scope == "api_key_id=stolen"
    assert client.check("A", "+4915112345678", api_key_id="k1").allowed
    assert client.check("A", "+4915112345678").allowed
    d = client.check("A", "+4915112345678", api_key_id="k2")
    assert d.scope == "account_id=A|api_key_id=k2"
    assert client.check("B", "+4915112345678", api_key_id="k2").allowed


def test_any_denying_scope_denies_and_limits_consume_only_on_admission(store, client, redis_url):
    apply(store, "wide", "limit", {"account_id": "A"}, rate_per_s=100.0)
    apply(store, "narrow", "block", {"account_id": "A", "prefix": "+44"})
    d = client.check("A", "+447700900123")
    assert d.reason == "blocked" and d.scope == "account_id=A|prefix=+44"
    raw = redis.Redis.from_url(redis_url)
    for _ in range(20):
        client.check("A", "+447700900123")
    # Denied sends take no token from the account's bucket.
    assert raw.hget("smsguard:throttle:account_id=A", "tokens") is None
    assert client.check("A", "+4915112345678").reason == "within_limit"
    assert float(raw.hget("smsguard:throttle:account_id=A", "tokens")) == pytest.approx(99, abs=1)
    raw.close()


def test_escaped_ids_match_the_stores_scope(store, client):
    apply(store, "e", "block", {"account_id": "acme|eu=1"})
    d = client.check("acme|eu=1", "+4915112345678")
    assert d.reason == "blocked" and d.scope == "account_id=acme%7Ceu%3D1"
    assert client.check("acme", "+4915112345678").allowed


def test_script_is_reloaded_after_script_flush(store, client, redis_url):
    apply(store, "f", "block", {"account_id": "A"})
    assert client.check("A", "+4915112345678").reason == "blocked"
    raw = redis.Redis.from_url(redis_url)
    raw.script_flush()
    assert client.check("A", "+4915112345678").reason == "blocked"
    raw.script_flush()
    assert [d.reason for d in client.check_many([("A", "+4915112345678")] * 3)] == ["blocked"] * 3
    raw.close()


def test_the_script_is_callable_without_the_python_client(store, client, redis_url):
    """A gateway in another language: EVALSHA with the documented arguments."""
    apply(store, "x", "block", {"account_id": "A", "prefix": "+4915"})
    raw = redis.Redis.from_url(redis_url)
    reply = raw.evalsha(client.script_sha(), 0, "smsguard", "A", "", "+4915112345678", "")
    assert reply == [0, reply[1], b"blocked", b"account_id=A|prefix=+4915"]
    with pytest.raises(redis.ResponseError, match="E.164"):
        raw.evalsha(client.script_sha(), 0, "smsguard", "A", "", "4915112345678", "")
    raw.close()


def test_bad_requests_are_refused_by_the_client(client):
    with pytest.raises(ValueError):
        client.check("A", "004915112345678")
    with pytest.raises(ValueError):
        client.check("", "+4915112345678")


def test_every_prefix_depth_in_use_is_probed_deepest_first(store, client, redis_url):
    apply(store, "d2", "limit", {"prefix": "+44"}, rate_per_s=1000.0)
    apply(store, "d6", "block", {"account_id": "A", "prefix": "+447700"})
    apply(store, "d11", "block", {"prefix": "+447700900123"})  # one full number
    assert client.check("A", "+447700900999").scope == "account_id=A|prefix=+447700"
    assert client.check("B", "+447700900123").scope == "prefix=+447700900123"
    assert client.check("B", "+447700900999").reason == "within_limit"
    assert client.check("B", "+447700900999").scope == "prefix=+44"
    raw = redis.Redis.from_url(redis_url)
    assert sorted(int(d) for d in raw.zrange("smsguard:prefix_depths", 0, -1)) == [2, 6, 12]
    raw.close()


def test_large_pipelines_keep_replies_in_request_order(store, client):
    apply(store, "ord", "block", {"account_id": "BAD"})
    requests = [AdmissionRequest("BAD" if i % 3 == 0 else f"ok-{i}", "+4915112345678")
                for i in range(1001)]
    decisions = client.check_many(requests)
    assert len(decisions) == 1001
    assert [d.reason for d in decisions] == [
        "blocked" if i % 3 == 0 else "no_throttle" for i in range(1001)
    ]
    assert client.check_many([]) == []


def test_a_script_error_in_redis_answers_by_the_fail_mode(store, redis_url):
    """Out of memory, the bucket cannot be written: the gateway gets its fail mode, no raise."""
    apply(store, "oom-l", "limit", {"account_id": "A"}, rate_per_s=5.0)
    apply(store, "oom-b", "block", {"account_id": "B"})
    raw = redis.Redis.from_url(redis_url)
    raw.config_set("maxmemory", "1")
    try:
        for mode, allowed in (("open", True), ("closed", False)):
            c = AdmissionClient(redis_url, fail_mode=mode, timeout_ms=1000)
            d = c.check("A", "+4915112345678")
            assert (d.allowed, d.reason) == (allowed, "redis_error")
            # Paths that write nothing still decide normally.
            assert c.check("B", "+4915112345678").reason == "blocked"
            assert c.check("C", "+4915112345678").reason == "no_throttle"
            c.close()
    finally:
        raw.config_set("maxmemory", "0")
        raw.close()


def test_redis_cli_can_run_the_documented_call(store, redis_process):
    """Another client entirely (redis-cli): SCRIPT LOAD the file, EVALSHA per the README."""
    import subprocess
    from importlib import resources

    # Half a token a second: a burst of one, then two seconds to the next.
    apply(store, "cli", "limit", {"account_id": "A", "api_key_id": "k9"}, rate_per_s=0.5)
    source = resources.files("streams.enforcement").joinpath("admission.lua").read_text()
    base = ["redis-cli", "-h", "127.0.0.1", "-p", str(redis_process.port)]
    sha = subprocess.run([*base, "SCRIPT", "LOAD", source], capture_output=True, text=True,
                         check=True).stdout.strip()
    call = [*base, "EVALSHA", sha, "0", "smsguard", "A", "k9", "+4915112345678", "DE"]
    replies = [subprocess.run(call, capture_output=True, text=True, check=True).stdout.split()
               for _ in range(2)]
    assert replies[0] == ["1", "0", "within_limit", "account_id=A|api_key_id=k9"]
    assert replies[1][0] == "0" and replies[1][2:] == ["rate_limited", "account_id=A|api_key_id=k9"]
    assert 0 < int(replies[1][1]) <= 2000


def test_one_client_shared_by_threads_never_spends_a_token_twice(store, client):
    """Eight threads, 400 checks, a bucket holding one token that never refills: one admit."""
    import threading

    apply(store, "t0", "limit", {"prefix": "+4915"}, rate_per_s=0.0)
    results: list[bool] = []
    lock = threading.Lock()

    def gateway(n: int) -> None:
        for i in range(50):
            batch = [AdmissionRequest(f"acct-{n}", f"+49151{n}{i:05d}")] * (1 + i % 3)
            allowed = [d.allowed for d in client.check_many(batch)]
            with lock:
                results.extend(allowed)

    threads = [threading.Thread(target=gateway, args=(n,)) for n in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(results) == 8 * sum(1 + i % 3 for i in range(50))
    assert results.count(True) == 1
