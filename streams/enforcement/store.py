"""Materialise throttle commands in Redis: one key per scope, applied exactly once.

:class:`ThrottleStore` knows nothing about Kafka: ``apply(command)`` runs
``apply.lua`` (one atomic call) and reports what happened, so it is tested
against a real ``redis-server`` directly, and the enforcer's Kafka loop stays thin.
The key layout is documented in ``admission.lua``, ``apply.lua`` and the README.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from importlib import resources
from typing import Any

import redis
from redis.backoff import NoBackoff
from redis.retry import Retry

from streams.enforcement.intake import ThrottleCommand, parse_command, scope_string

# How long a command id stays remembered after its command expired: a redelivery
# later than that would be rejected as expired by the enforcer anyway.
DEFAULT_MARKER_RETENTION_MS = 24 * 3600 * 1000

# Watermarks only move forward: a redelivered older record must not pull them back.
_MARK_SCRIPT = """
local stored = redis.call('HGET', KEYS[1], ARGV[1])
if ARGV[3] ~= '' and (not stored or tonumber(stored) < tonumber(ARGV[3])) then
  return 'lost'
end
if tonumber(ARGV[2]) > tonumber(stored or '-1') then
  redis.call('HSET', KEYS[1], ARGV[1], ARGV[2])
end
return 'ok'
"""

APPLY_STATUSES = (
    "applied", "released", "release_noop", "duplicate", "stale", "expired", "lost"
)


def load_script(name: str) -> str:
    """Source of one of the package's Lua scripts (``admission.lua``, ``apply.lua``)."""
    return resources.files("streams.enforcement").joinpath(name).read_text(encoding="utf-8")


def connect(url: str, timeout_ms: int) -> redis.Redis:
    """A client whose every call is bounded by ``timeout_ms`` and never retried silently.

    redis-py retries failed calls with backoff by default; a gateway in front of
    a dead Redis must get an answer within its budget instead, so retries are off
    and the callers decide (fail open/closed, or the enforcer's own backoff).
    """
    timeout_s = max(timeout_ms, 1) / 1000.0
    return redis.Redis.from_url(
        url,
        socket_timeout=timeout_s,
        socket_connect_timeout=timeout_s,
        retry=Retry(NoBackoff(), 0),
        retry_on_timeout=False,
        health_check_interval=0,
    )


@dataclass(frozen=True, slots=True)
class ApplyResult:
    """What applying one command did; ``status`` is one of :data:`APPLY_STATUSES`."""

    status: str
    command_id: str
    scope: str
    detail: str = ""

    @property
    def changed(self) -> bool:
        return self.status in ("applied", "released")


@dataclass(frozen=True, slots=True)
class OffsetMark:
    """Where a command came from, for the partition's watermark in Redis.

    After applying it, Redis holds ``topic``/``partition`` up to (not including)
    ``next_offset``. ``expected`` is the watermark the enforcer last saw (None: do
    not check); a Redis whose watermark is missing or behind it lost data.
    """

    topic: str
    partition: int
    next_offset: int
    expected: int | None = None

    @property
    def field(self) -> str:
        return f"{self.topic}:{self.partition}"


@dataclass(frozen=True, slots=True)
class ActiveThrottle:
    """One throttle in force, as stored in its scope's hash."""

    scope: str
    action: str
    rate_per_s: float
    expires_at: int
    command_id: str
    reason: str


class ThrottleStore:
    """Applies ``sms.throttle`` commands to Redis and lists the active ones.

    Parameters
    ----------
    url
        Redis URL, e.g. ``redis://127.0.0.1:6379/0``.
    key_prefix
        First part of every key (``config.redis.key_prefix``).
    timeout_ms
        Bound on each Redis call (connect and read).
    marker_retention_ms
        How long after a command's expiry its id is still recognised as applied.
    """

    def __init__(
        self,
        url: str,
        key_prefix: str = "smsguard",
        timeout_ms: int = 1000,
        marker_retention_ms: int = DEFAULT_MARKER_RETENTION_MS,
    ) -> None:
        self.url = url
        self.key_prefix = key_prefix
        self.timeout_ms = timeout_ms
        self.marker_retention_ms = marker_retention_ms
        self._redis = connect(url, timeout_ms)
        self._apply = self._redis.register_script(load_script("apply.lua"))
        self._mark = self._redis.register_script(_MARK_SCRIPT)

    # Key layout -----------------------------------------------------------------
    def throttle_key(self, scope: Mapping[str, str] | str) -> str:
        text = scope if isinstance(scope, str) else scope_string(scope)
        return f"{self.key_prefix}:throttle:{text}"

    def applied_key(self, command_id: str) -> str:
        return f"{self.key_prefix}:applied:{command_id}"

    @property
    def index_key(self) -> str:
        return f"{self.key_prefix}:throttles"

    @property
    def offsets_key(self) -> str:
        return f"{self.key_prefix}:offsets"

    @property
    def depths_key(self) -> str:
        return f"{self.key_prefix}:prefix_depths"

    # Operations -----------------------------------------------------------------
    def apply(
        self, command: ThrottleCommand | Mapping[str, Any], mark: OffsetMark | None = None
    ) -> ApplyResult:
        """Apply one command atomically; raises ``redis.RedisError`` when Redis is unreachable.

        The command should already be authenticated (see ``intake.authenticate``);
        a mapping is validated here too, so a malformed one raises ``CommandRejected``.
        With ``mark``, the partition's offset watermark moves in the same atomic step.
        """
        cmd = command if isinstance(command, ThrottleCommand) else parse_command(command)
        scope = cmd.scope_key
        # Script.__call__ uses EVALSHA and reloads the script on NOSCRIPT (e.g. after a restart).
        status, detail = self._apply(
            keys=[
                self.throttle_key(scope),
                self.applied_key(cmd.command_id),
                self.index_key,
                self.offsets_key,
                self.depths_key,
            ],
            args=[
                cmd.command_id,
                cmd.action,
                repr(cmd.rate_per_s),
                cmd.expires_at,
                cmd.ts,
                cmd.reason,
                cmd.alert_id,
                self.marker_retention_ms,
                scope,
                str(len(cmd.scope["prefix"]) - 1) if "prefix" in cmd.scope else "",
                mark.field if mark else "",
                mark.next_offset if mark else 0,
                "" if mark is None or mark.expected is None else mark.expected,
            ],
        )
        return ApplyResult(
            status=_text(status),
            command_id=cmd.command_id,
            scope=scope,
            detail=_text(detail),
        )

    def mark(self, mark: OffsetMark) -> str:
        """Move a partition's watermark past a record that changed nothing (a rejected one).

        Returns ``"ok"``, or ``"lost"`` when the watermark is behind ``mark.expected``.
        """
        expected = "" if mark.expected is None else mark.expected
        return _text(self._mark(keys=[self.offsets_key],
                                args=[mark.field, mark.next_offset, expected]))

    def offset_marks(self, topic: str) -> dict[int, int]:
        """Partition -> next offset this Redis holds the effect of, for ``topic``."""
        out: dict[int, int] = {}
        for field, value in self._redis.hgetall(self.offsets_key).items():
            name, _, partition = _text(field).rpartition(":")
            if name == topic and partition.isdigit():
                out[int(partition)] = int(value)
        return out

    def get(self, scope: Mapping[str, str] | str) -> dict[str, str] | None:
        """The stored hash of a scope (command fields and bucket), or None."""
        raw = self._redis.hgetall(self.throttle_key(scope))
        return {_text(k): _text(v) for k, v in raw.items()} or None

    def active(self) -> list[ActiveThrottle]:
        """Throttles in force now (from the index; keys that already expired are skipped)."""
        out: list[ActiveThrottle] = []
        for member in self._redis.zrange(self.index_key, 0, -1):
            scope = _text(member)
            fields = self.get(scope)
            if fields is None:
                continue
            out.append(
                ActiveThrottle(
                    scope=scope,
                    action=fields.get("action", ""),
                    rate_per_s=float(fields.get("rate_per_s") or 0.0),
                    expires_at=int(fields.get("expires_at") or 0),
                    command_id=fields.get("command_id", ""),
                    reason=fields.get("reason", ""),
                )
            )
        return out

    def ping(self) -> bool:
        return bool(self._redis.ping())

    def close(self) -> None:
        self._redis.close()


def _text(value: Any) -> str:
    if isinstance(value, bytes):
        return value.decode("utf-8", "replace")
    return "" if value is None else str(value)
