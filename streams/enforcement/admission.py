"""The gateway's admission check: one atomic Redis call before each send.

    client = AdmissionClient("redis://127.0.0.1:6379/0", fail_mode="closed", timeout_ms=50)
    decision = client.check("acct-1", "+23670123456", api_key_id="key-9")
    if not decision.allowed:
        reject_or_queue(retry_after_ms=decision.retry_after_ms)

The work is done by ``admission.lua`` inside Redis (so any language can call
the same script: see the README's key layout). This client only derives the
country, runs the script with EVALSHA (loading it again on NOSCRIPT), bounds
every call by ``timeout_ms`` and turns a Redis outage into the configured
fail-open or fail-closed answer, never a hang.
"""

from __future__ import annotations

import logging
import re
import threading
import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

import redis
from redis.exceptions import NoScriptError

from detector.enrichment import NumberEnricher
from streams.enforcement.store import connect, load_script

log = logging.getLogger("smsguard.admission")

FAIL_MODES = ("open", "closed")
# Answer given with a fail-closed deny: when a gateway should ask again.
FAIL_CLOSED_RETRY_MS = 1000
_E164 = re.compile(r"^\+\d{1,15}$")
# Checks per write when pipelining; the next chunk is sent before this one's replies are read.
SEND_CHUNK = 100
# ARGV of admission.lua, in order (the README's key layout documents them).
ADMISSION_ARGS = ("key_prefix", "account_id", "api_key_id", "destination", "country")


@dataclass(frozen=True, slots=True)
class Decision:
    """Outcome of one admission check.

    ``reason``: ``no_throttle``, ``within_limit``, ``blocked``, ``rate_limited``,
    or ``redis_unavailable`` / ``redis_error`` (Redis unreachable, or the script
    failed there, e.g. out of memory: then ``allowed`` follows the fail mode).
    ``scope``: the canonical scope that decided, or None.
    """

    allowed: bool
    retry_after_ms: int
    reason: str
    scope: str | None

    @property
    def metric_label(self) -> str:
        if self.reason in ("redis_unavailable", "redis_error"):
            return "error"
        if self.allowed:
            return "allow"
        return "retry" if self.reason == "rate_limited" else "deny"


@dataclass(frozen=True, slots=True)
class AdmissionRequest:
    """One send a gateway is about to make (for :meth:`AdmissionClient.check_many`)."""

    account_id: str
    destination: str
    api_key_id: str | None = None
    country: str | None = None


class AdmissionClient:
    """Synchronous admission client for gateways; one instance may serve many threads.

    Parameters
    ----------
    url
        Redis URL.
    fail_mode
        ``"open"`` admits and ``"closed"`` denies while Redis cannot answer.
    timeout_ms
        Bound on connecting and on each call; a call never takes much longer.
    key_prefix
        ``config.redis.key_prefix``; must match the enforcer's.
    down_backoff_ms
        After a failure, answer by the fail mode without trying Redis for this
        long, so a gateway in front of a dead Redis does not pay the timeout on
        every message.
    metrics
        A ``streams.metrics.Metrics`` to count decisions in (None: don't count).
    """

    def __init__(
        self,
        url: str,
        fail_mode: str = "open",
        timeout_ms: int = 50,
        key_prefix: str = "smsguard",
        down_backoff_ms: int = 1000,
        metrics: Any = None,
    ) -> None:
        if fail_mode not in FAIL_MODES:
            raise ValueError(f"fail_mode must be one of {FAIL_MODES}, got {fail_mode!r}")
        self.url = url
        self.fail_mode = fail_mode
        self.timeout_ms = timeout_ms
        self.key_prefix = key_prefix
        self.down_backoff_ms = down_backoff_ms
        self._redis = connect(url, timeout_ms)
        self._source = load_script("admission.lua")
        self._sha: str | None = None
        self._head: tuple[str, bytes] | None = None
        self._down_until = 0.0
        self._enricher = NumberEnricher()
        # The enricher's cache is a plain dict that evicts in bulk; gateways share one
        # client between threads, so lookups take turns (they are cache hits, ~1 us).
        self._enricher_lock = threading.Lock()
        self._counters = (
            {label: metrics.admission.labels(decision=label) for label in
             ("allow", "deny", "retry", "error")}
            if metrics is not None
            else None
        )

    # Public API -------------------------------------------------------------------
    def check(
        self,
        account_id: str,
        destination: str,
        api_key_id: str | None = None,
        country: str | None = None,
    ) -> Decision:
        """Ask whether one send may go now."""
        return self.check_many([AdmissionRequest(account_id, destination, api_key_id, country)])[0]

    def check_many(
        self, requests: Iterable[AdmissionRequest | Sequence[Any]]
    ) -> list[Decision]:
        """Check many sends in one pipelined round trip (each still atomic on its own).

        Items are :class:`AdmissionRequest` or tuples in its field order.
        """
        argvs = [self._argv(_request(item)) for item in requests]
        if not argvs:
            return []
        if time.monotonic() < self._down_until:
            return self._unavailable(len(argvs))
        try:
            try:
                replies = self._run(argvs)
            except redis.ConnectionError:
                # Often a pooled connection that died with a Redis restart: one more try
                # on a fresh connection (bounded by the connect timeout) tells.
                replies = self._run(argvs)
        except (redis.ConnectionError, redis.TimeoutError, OSError):
            self._down_until = time.monotonic() + self.down_backoff_ms / 1000.0
            return self._unavailable(len(argvs))
        decisions = [
            self._failed("redis_error") if isinstance(reply, Exception) else _decision(reply)
            for reply in replies
        ]
        if any(isinstance(reply, Exception) for reply in replies):
            # E.g. Redis out of memory or read-only: answer by the fail mode, never raise.
            log.warning("admission script failed: %s",
                        next(r for r in replies if isinstance(r, Exception)))
        self._count(decisions)
        return decisions

    def script_sha(self) -> str:
        """SHA1 of the admission script (what ``EVALSHA`` takes), loading it if needed."""
        if self._sha is None:
            self._sha = str(self._redis.script_load(self._source))
        return self._sha

    def close(self) -> None:
        self._redis.close()

    # Internals --------------------------------------------------------------------
    def _argv(self, req: AdmissionRequest) -> tuple[str, ...]:
        if not req.account_id:
            raise ValueError("account_id is required")
        if not _E164.match(req.destination):
            raise ValueError(f"destination must be E.164 ('+' and digits): {req.destination!r}")
        country = req.country
        if country is None:
            with self._enricher_lock:
                info = self._enricher.lookup(req.destination)
            # "ZZ" = the plan has no single region: probe no country scope.
            country = info.country if info is not None and info.country != "ZZ" else ""
        return (
            self.key_prefix,
            req.account_id,
            req.api_key_id or "",
            req.destination,
            country.upper(),
        )

    def _run(self, argvs: list[tuple[str, ...]]) -> list[Any]:
        replies = self._pipeline(self.script_sha(), argvs)
        if any(isinstance(r, NoScriptError) for r in replies):
            # Redis restarted (or SCRIPT FLUSH): load the script again and resend once.
            self._sha = None
            replies = self._pipeline(self.script_sha(), argvs)
        return replies

    def _pipeline(self, sha: str, argvs: list[tuple[str, ...]]) -> list[Any]:
        """Send the EVALSHAs in chunks, one chunk ahead of the replies being read.

        The commands are packed here rather than by redis-py's pipeline: all but four
        arguments are the same for every check, and packing was most of the client's
        time per check. Writing chunk k+1 before reading chunk k's replies keeps Redis
        busy while this process parses (see ``smsguard bench-admission``).
        """
        head = self._packed_head(sha)
        chunks = [argvs[i : i + SEND_CHUNK] for i in range(0, len(argvs), SEND_CHUNK)]
        pool = self._redis.connection_pool
        conn = pool.get_connection()
        replies: list[Any] = []
        try:
            conn.send_packed_command([_pack(head, chunks[0])], check_health=False)
            for k, chunk in enumerate(chunks):
                if k + 1 < len(chunks):
                    conn.send_packed_command([_pack(head, chunks[k + 1])], check_health=False)
                for _ in chunk:
                    try:
                        replies.append(conn.read_response())
                    except redis.ResponseError as exc:
                        replies.append(exc)
        except BaseException:
            # A half-read connection must never be reused.
            conn.disconnect()
            raise
        finally:
            pool.release(conn)
        return replies

    def _packed_head(self, sha: str) -> bytes:
        if self._head is None or self._head[0] != sha:
            prefix = self.key_prefix.encode()
            head = b"*%d\r\n$7\r\nEVALSHA\r\n$%d\r\n%s\r\n$1\r\n0\r\n$%d\r\n%s\r\n" % (
                3 + len(ADMISSION_ARGS), len(sha), sha.encode(), len(prefix), prefix
            )
            self._head = (sha, head)
        return self._head[1]

    def _unavailable(self, n: int) -> list[Decision]:
        decisions = [self._failed("redis_unavailable")] * n
        self._count(decisions)
        return decisions

    def _failed(self, reason: str) -> Decision:
        """The configured answer when Redis could not decide."""
        if self.fail_mode == "open":
            return Decision(True, 0, reason, None)
        return Decision(False, FAIL_CLOSED_RETRY_MS, reason, None)

    def _count(self, decisions: list[Decision]) -> None:
        if self._counters is None:
            return
        for d in decisions:
            self._counters[d.metric_label].inc()


def _pack(head: bytes, argvs: list[tuple[str, ...]]) -> bytes:
    parts: list[bytes] = []
    for argv in argvs:
        parts.append(head)
        for arg in argv[1:]:  # argv[0] is the key prefix, already in the head
            raw = arg.encode()
            parts.append(b"$%d\r\n%s\r\n" % (len(raw), raw))
    return b"".join(parts)


def _request(item: AdmissionRequest | Sequence[Any]) -> AdmissionRequest:
    return item if isinstance(item, AdmissionRequest) else AdmissionRequest(*item)


def _decision(reply: Any) -> Decision:
    allowed, retry_after_ms, reason, scope = reply
    reason_text = reason.decode() if isinstance(reason, bytes) else str(reason)
    scope_text = scope.decode() if isinstance(scope, bytes) else str(scope or "")
    return Decision(
        allowed=bool(int(allowed)),
        retry_after_ms=int(retry_after_ms),
        reason=reason_text,
        scope=scope_text or None,
    )
