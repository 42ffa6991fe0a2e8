"""The Redis throttle store against a real redis-server: apply, expire, release, replay."""

from __future__ import annotations

import time

import pytest
import redis
from throttle_commands import now_ms
from throttle_commands import throttle_command as command

from streams.enforcement.admission import AdmissionClient
from streams.enforcement.intake import CommandRejected, scope_string
from streams.enforcement.store import OffsetMark, ThrottleStore

pytestmark = pytest.mark.redis


@pytest.fixture
def store(redis_url: str) -> ThrottleStore:
    s = ThrottleStore(redis_url)
    yield s
    s.close()


@pytest.fixture
def raw(redis_url: str) -> redis.Redis:
    client = redis.Redis.from_url(redis_url)
    yield client
    client.close()


def test_apply_stores_the_command_under_its_canonical_scope_until_expires_at(store, raw):
    cmd = command("c-1", "limit", {"prefix": "+2367", "account_id": "A"}, rate_per_s=7.5)
    result = store.apply(cmd)
    assert result.status == "applied"
    assert result.scope == "account_id=A|prefix=+2367"
    stored = store.get({"account_id": "A", "prefix": "+2367"})
    assert stored["action"] == "limit"
    assert float(stored["rate_per_s"]) == 7.5
    assert stored["command_id"] == "c-1"
    assert int(stored["expires_at"]) == cmd["expires_at"]
    key = "smsguard:throttle:account_id=A|prefix=+2367"
    assert raw.pexpiretime(key) == cmd["expires_at"]
    # The idempotency marker outlives the command by the retention period.
    assert raw.pexpiretime("smsguard:applied:c-1") == cmd["expires_at"] + store.marker_retention_ms
    assert [t.scope for t in store.active()] == ["account_id=A|prefix=+2367"]


def test_a_command_with_short_expiry_disappears_by_itself(store, redis_url):
    cmd = command("c-short", "block", {"account_id": "A"}, ttl_ms=300)
    assert store.apply(cmd).status == "applied"
    client = AdmissionClient(redis_url)
    assert client.check("A", "+23670123456").reason == "blocked"
    deadline = time.monotonic() + 10
    while store.get({"account_id": "A"}) is not None and time.monotonic() < deadline:
        time.sleep(0.05)
    assert store.get({"account_id": "A"}) is None
    assert client.check("A", "+23670123456").reason == "no_throttle"
    assert store.active() == []


def test_an_already_expired_command_is_not_stored(store):
    cmd = command("c-old", "block", {"account_id": "A"}, expires_at=now_ms() - 1)
    assert store.apply(cmd).status == "expired"
    assert store.get({"account_id": "A"}) is None


def test_release_deletes_the_scope_key(store, raw):
    store.apply(command("c-block", "block", {"account_id": "A", "prefix": "+44"}))
    released = store.apply(command("c-release", "release", {"prefix": "+44", "account_id": "A"}))
    assert released.status == "released"
    assert released.detail == "c-block"
    assert store.get({"account_id": "A", "prefix": "+44"}) is None
    assert raw.zcard(store.index_key) == 0
    again = store.apply(command("c-release-2", "release", {"account_id": "A", "prefix": "+44"}))
    assert again.status == "release_noop"


def test_replaying_a_command_twice_applies_it_once(store):
    first = command("c-dup", "block", {"account_id": "A"})
    assert store.apply(first).status == "applied"
    assert store.apply(first).status == "duplicate"
    # Even after a release, a redelivered old block must not come back.
    store.apply(command("c-rel", "release", {"account_id": "A"}))
    assert store.apply(first).status == "duplicate"
    assert store.get({"account_id": "A"}) is None


def test_an_older_command_never_overrides_a_newer_one(store):
    t = now_ms()
    store.apply(command("c-new", "block", {"account_id": "A"}, ts=t))
    stale_release = command("c-old-release", "release", {"account_id": "A"}, ts=t - 60_000)
    assert store.apply(stale_release).status == "stale"
    stale_limit = command("c-old-limit", "limit", {"account_id": "A"}, ts=t - 1)
    assert store.apply(stale_limit).status == "stale"
    assert store.get({"account_id": "A"})["command_id"] == "c-new"


def test_a_refreshed_limit_keeps_its_bucket(store, redis_url):
    scope = {"account_id": "A"}
    # One token every 10 s, burst of one: the first check empties the bucket.
    store.apply(command("c-lim-1", "limit", scope, rate_per_s=0.1))
    client = AdmissionClient(redis_url)
    assert client.check("A", "+4915112345678").allowed
    store.apply(command("c-lim-2", "limit", scope, rate_per_s=0.1))
    # A fresh bucket would admit one more at once; the kept one is empty.
    decision = client.check("A", "+4915112345678")
    assert not decision.allowed
    assert decision.reason == "rate_limited"


def test_offset_watermarks_move_with_the_commands_and_only_forward(store):
    mark = OffsetMark("sms.throttle", 2, 11)
    assert store.apply(command("w-1", "block", {"account_id": "A"}), mark).status == "applied"
    assert store.offset_marks("sms.throttle") == {2: 11}
    # A redelivered older record (a duplicate) leaves the watermark where it is.
    old = OffsetMark("sms.throttle", 2, 5, expected=None)
    assert store.apply(command("w-1", "block", {"account_id": "A"}), old).status == "duplicate"
    assert store.mark(OffsetMark("sms.throttle", 2, 7)) == "ok"
    assert store.mark(OffsetMark("sms.throttle", 0, 3)) == "ok"
    assert store.offset_marks("sms.throttle") == {0: 3, 2: 11}
    assert store.offset_marks("other.topic") == {}


def test_a_store_that_lost_records_says_so_and_changes_nothing(store, raw):
    store.apply(command("l-1", "block", {"account_id": "A"}), OffsetMark("t", 0, 10))
    ahead = OffsetMark("t", 0, 11, expected=10)
    assert store.apply(command("l-2", "block", {"account_id": "B"}), ahead).status == "applied"
    raw.flushall()  # what a restart without persistence does
    after = OffsetMark("t", 0, 12, expected=11)
    result = store.apply(command("l-3", "block", {"account_id": "C"}), after)
    assert (result.status, result.detail) == ("lost", "")
    assert store.get({"account_id": "C"}) is None
    assert store.mark(after) == "lost"
    assert store.offset_marks("t") == {}
    # Behind (a lagging replica): the detail says from where to re-read.
    store.apply(command("l-4", "block", {"account_id": "D"}), OffsetMark("t", 0, 4))
    result = store.apply(command("l-5", "block", {"account_id": "E"}), after)
    assert (result.status, result.detail) == ("lost", "4")


def test_scope_strings_escape_separators(store):
    scope = {"account_id": "a|b=c%"}
    assert scope_string(scope) == "account_id=a%7Cb%3Dc%25"
    assert store.apply(command("c-esc", "block", scope)).scope == "account_id=a%7Cb%3Dc%25"


@pytest.mark.parametrize(
    "broken",
    [
        {"action": "pause"},
        {"scope": {}},
        {"scope": {"account_id": "A", "route": "r1"}},
        {"scope": {"prefix": "2367"}},
        {"expires_at": "soon"},
        {"action": "limit", "rate_per_s": -1},
    ],
)
def test_malformed_commands_are_refused_before_redis(store, broken):
    cmd = {**command("c-bad", "block", {"account_id": "A"}), **broken}
    with pytest.raises(CommandRejected):
        store.apply(cmd)
    assert store.get({"account_id": "A"}) is None


def test_a_scope_shape_no_check_probes_is_refused(store):
    cmd = command("c-shape", "block", {"api_key_id": "k", "prefix": "+44"})
    with pytest.raises(CommandRejected) as info:
        store.apply(cmd)
    assert info.value.reason == "unsupported_scope"
