"""The on-call webhook sink: a bounded queue of pages delivered over HTTP with retries.

Feed it alerts (``submit_alert``) and throttle commands (``submit_command``); it
decides what to page and posts it to ``config.webhook.url`` in the configured
format (see :mod:`streams.webhooks.formats`).

What it guarantees, and why:

- **No duplicate page for one finding.** Alert ids already paged are remembered in
  a bounded LRU (``dedup_size``); the core re-emits the same ``alert_id`` for the
  same finding (after a restart, or a redelivered Kafka record), so that is enough.
- **Storm guard.** The first ``storm_threshold`` alerts of one kind within
  ``storm_window_s`` are paged one by one; from the next one on, alerts of that kind
  are collected and paged as ONE page listing them when the window that the storm
  started ends. A storm that goes on gives one page a window, not hundreds.
- **Resolve on release.** A ``release`` throttle command whose ``alert_id`` (or,
  without one, whose scope matches an earlier ``limit``/``block`` command's) names a
  paged alert sends a resolve with that page's dedup key; a storm page resolves once
  every alert in it is released.
- **Bounded queue.** When full, ``overflow="drop_oldest"`` drops the oldest queued
  page (on-call sees the newest situation), ``"reject_new"`` refuses the new one;
  both are counted (``outcome="dropped"``).
- **Retries.** 5xx, 429 and connection errors/timeouts are retried up to
  ``max_retries`` times with exponential backoff and full jitter, honouring
  ``Retry-After``; any other 4xx is a bad request that a retry cannot fix.
- **Order.** One delivery task, so a resolve never overtakes its trigger.

The storm window runs on an injectable ``clock`` and the retry waits on an
injectable ``sleep``, so tests are deterministic.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
import time
from collections import OrderedDict, deque
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from email.utils import parsedate_to_datetime
from typing import Any

from detector.config import WebhookConfig
from detector.signing import verify_command
from streams.metrics import METRICS, Metrics
from streams.webhooks.formats import FORMATS, SEVERITY_RANK, STORM_LIST_MAX, Page, render

log = logging.getLogger(__name__)

RETRY_STATUSES = frozenset({429}) | frozenset(range(500, 600))
# A server asking for an hour's pause must not park the only delivery task that long.
MAX_RETRY_AFTER_S = 600.0


@dataclass
class Storm:
    """Alerts of one kind collected since ``started`` (clock seconds)."""

    started: float
    alerts: list[dict[str, Any]] = field(default_factory=list)  # the first STORM_LIST_MAX
    ids: list[str] = field(default_factory=list)  # every alert id of the storm


class BoundedLru(OrderedDict):
    """An ordered dict that forgets its least recently set keys beyond ``maxsize``."""

    def __init__(self, maxsize: int) -> None:
        super().__init__()
        self.maxsize = max(1, maxsize)

    def __setitem__(self, key: Any, value: Any) -> None:
        super().__setitem__(key, value)
        self.move_to_end(key)
        while len(self) > self.maxsize:
            self.popitem(last=False)


class WebhookSink:
    """Decides what to page and delivers it; ``await start()`` before, ``await close()`` after."""

    def __init__(
        self,
        config: WebhookConfig,
        *,
        metrics: Metrics = METRICS,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], Awaitable[Any]] = asyncio.sleep,
        rng: random.Random | None = None,
        signing_key: str = "",
    ) -> None:
        if config.format not in FORMATS:
            raise ValueError(f"webhook.format must be one of {FORMATS}, got {config.format!r}")
        if config.overflow not in ("drop_oldest", "reject_new"):
            raise ValueError(f"webhook.overflow is drop_oldest or reject_new: {config.overflow!r}")
        self.config = config
        self.metrics = metrics
        self.clock = clock
        self.sleep = sleep
        self.rng = rng or random.Random()
        # With a key, only commands signed by the detector may resolve pages: whoever can
        # write to the throttle topic must not be able to silence on-call.
        self.signing_key = signing_key
        self.queue: asyncio.Queue[Page] = asyncio.Queue(maxsize=max(1, config.queue_size))
        self.seen: BoundedLru = BoundedLru(config.dedup_size)  # alert_id -> dedup key
        self.open_pages: BoundedLru = BoundedLru(config.dedup_size)  # dedup key -> Page
        self.unreleased: dict[str, set[str]] = {}  # dedup key -> alert ids not yet released
        self.scopes: BoundedLru = BoundedLru(config.dedup_size)  # scope key -> alert ids
        self.recent: dict[str, deque[float]] = {}  # kind -> clock times of its alerts
        self.storms: dict[str, Storm] = {}
        self.delivered: list[Page] = []  # pages the endpoint accepted, newest last (bounded)
        self._session: Any = None
        self._task: asyncio.Task | None = None
        self._ticker: asyncio.Task | None = None

    # ------------------------------------------------------------------ lifecycle
    async def start(self, tick_s: float = 1.0) -> None:
        """Open the HTTP session and the delivery task; ``tick_s`` polls storm windows."""
        import aiohttp

        if self._session is None:
            timeout = aiohttp.ClientTimeout(total=self.config.timeout_s)
            self._session = aiohttp.ClientSession(timeout=timeout)
        if self._task is None or self._task.done():
            self._task = asyncio.create_task(self._deliver_forever(), name="webhook-delivery")
        if tick_s > 0 and (self._ticker is None or self._ticker.done()):
            self._ticker = asyncio.create_task(self._tick_forever(tick_s), name="webhook-storms")

    async def drain(self) -> None:
        """Wait until every queued page has been delivered or given up on."""
        await self.queue.join()

    async def close(self) -> None:
        """Page every open storm, deliver what is queued, and stop."""
        if self._ticker is not None:
            self._ticker.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._ticker
        self.flush_storms(force=True)
        if self._task is not None:
            await self.drain()
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
        if self._session is not None:
            await self._session.close()

    # ------------------------------------------------------------------ inputs
    def submit_alert(self, alert: Mapping[str, Any]) -> str:
        """Take one contract alert; returns what happened to it.

        ``queued`` (paged alone), ``grouped`` (held for a storm page), ``duplicate``,
        ``filtered`` (below ``min_severity``) or ``dropped`` (queue full).
        """
        alert = dict(alert)
        alert_id = str(alert.get("alert_id", ""))
        kind = str(alert.get("kind", "anomaly"))
        floor = SEVERITY_RANK.get(self.config.min_severity, 0)
        if SEVERITY_RANK.get(str(alert.get("severity")), 1) < floor:
            return self._count("filtered")
        if alert_id in self.seen:
            return self._count("duplicate")
        self.flush_storms()
        now = self.clock()
        # The newest threshold+1 times are all it takes to tell "more than threshold".
        recent = self.recent.setdefault(kind, deque(maxlen=self.config.storm_threshold + 1))
        while recent and recent[0] <= now - self.config.storm_window_s:
            recent.popleft()
        recent.append(now)
        storm = self.storms.get(kind)
        if storm is None and len(recent) > self.config.storm_threshold:
            storm = self.storms[kind] = Storm(started=now)
        if storm is not None:
            if len(storm.alerts) < STORM_LIST_MAX:
                storm.alerts.append(alert)
            storm.ids.append(alert_id)
            self.seen[alert_id] = ""  # its page's dedup key is known when the storm closes
            return self._count("grouped")
        page = Page(dedup_key=alert_id, kind=kind, alerts=[alert])
        self.seen[alert_id] = page.dedup_key
        outcome = self._enqueue(page)
        if outcome == "queued":
            self._open(page)
        else:
            # Not paged, so a re-emission of the same finding may try again.
            self.seen.pop(alert_id, None)
        return outcome

    def submit_command(self, command: Mapping[str, Any]) -> str:
        """Take one throttle command: remember which scope an alert throttled, resolve on release.

        Returns ``resolved`` when a resolve was queued, ``noted`` for limit/block,
        ``rejected_command`` (bad or missing signature while a signing key is set), else
        ``ignored``.
        """
        if self.signing_key and not verify_command(command, self.signing_key):
            return self._count("rejected_command")
        action = command.get("action")
        alert_id = command.get("alert_id")
        scope = _scope_key(command.get("scope"))
        if action in ("limit", "block"):
            if alert_id and scope:
                self.scopes.setdefault(scope, set()).add(str(alert_id))
                self.scopes[scope] = self.scopes[scope]  # refresh LRU position
            return "noted"
        if action != "release":
            return "ignored"
        ids = {str(alert_id)} if alert_id else set(self.scopes.pop(scope, set()))
        resolved = False
        for aid in ids:
            resolved |= self._release(aid, str(command.get("reason", "")))
        return "resolved" if resolved else "ignored"

    def flush_storms(self, force: bool = False) -> int:
        """Queue one page per storm whose window has ended (every storm with ``force``)."""
        now = self.clock()
        flushed = 0
        for kind, storm in list(self.storms.items()):
            if not force and now < storm.started + self.config.storm_window_s:
                continue
            del self.storms[kind]
            if not storm.ids:
                continue
            page = Page(
                dedup_key=f"storm:{kind}:{storm.ids[0]}", kind=kind, alerts=storm.alerts,
                alert_ids=storm.ids,
            )
            if self._enqueue(page) == "queued":
                for aid in page.alert_ids:
                    self.seen[aid] = page.dedup_key
                self._open(page)
                flushed += 1
            else:
                for aid in page.alert_ids:
                    self.seen.pop(aid, None)
        return flushed

    # ------------------------------------------------------------------ bookkeeping
    def _count(self, outcome: str) -> str:
        self.metrics.webhook_deliveries.labels(format=self.config.format, outcome=outcome).inc()
        return outcome

    def _open(self, page: Page) -> None:
        self.open_pages[page.dedup_key] = page
        self.unreleased[page.dedup_key] = set(page.alert_ids)

    def _close(self, dedup_key: str) -> None:
        self.open_pages.pop(dedup_key, None)
        self.unreleased.pop(dedup_key, None)

    def _release(self, alert_id: str, reason: str) -> bool:
        # Still waiting in a storm: it is no longer actionable, so leave it out of the page.
        for storm in self.storms.values():
            if alert_id in storm.ids:
                storm.ids.remove(alert_id)
                storm.alerts = [a for a in storm.alerts if str(a.get("alert_id", "")) != alert_id]
                self.seen.pop(alert_id, None)
                return False
        key = self.seen.get(alert_id)
        if not key or key not in self.open_pages:
            return False
        pending = self.unreleased.get(key, set())
        pending.discard(alert_id)
        if pending:
            return False
        page = self.open_pages[key]
        self._close(key)
        resolve = Page(
            dedup_key=key, kind=page.kind, alerts=[], resolve=True, reason=reason,
            alert_ids=page.alert_ids,
        )
        return self._enqueue(resolve) == "queued"

    def _enqueue(self, page: Page) -> str:
        if self.queue.full():
            if self.config.overflow == "reject_new":
                return self._count("dropped")
            old = self.queue.get_nowait()
            self.queue.task_done()
            self._count("dropped")
            if not old.resolve:
                self._close(old.dedup_key)
        self.queue.put_nowait(page)
        self.metrics.webhook_queue.set(self.queue.qsize())
        return "queued"

    # ------------------------------------------------------------------ delivery
    async def _tick_forever(self, tick_s: float) -> None:
        # Real time on purpose: this only polls; the storm decision reads self.clock.
        while True:
            await asyncio.sleep(tick_s)
            self.flush_storms()

    async def _deliver_forever(self) -> None:
        while True:
            page = await self.queue.get()
            try:
                ok = await self.deliver(page)
                if ok:
                    self.delivered.append(page)
                    del self.delivered[: -self.config.queue_size]
                elif not page.resolve:
                    # Never reached on-call: forget it so that nothing resolves a ghost.
                    self._close(page.dedup_key)
                    for aid in page.alert_ids:
                        self.seen.pop(aid, None)
            except Exception:  # a bug in one page must not stop the feed
                log.exception("webhook delivery of %s crashed", page.dedup_key)
            finally:
                self.queue.task_done()
                self.metrics.webhook_queue.set(self.queue.qsize())

    async def deliver(self, page: Page) -> bool:
        """POST one page, retrying what a retry can fix; True when the endpoint took it."""
        import aiohttp

        cfg = self.config
        body = render(page, cfg.format, routing_key=cfg.routing_key, source=cfg.source)
        for attempt in range(cfg.max_retries + 1):
            retry_after: float | None = None
            try:
                async with self._session.post(cfg.url, json=body) as resp:
                    await resp.read()
                    if 200 <= resp.status < 300:
                        self._count("delivered")
                        return True
                    if resp.status not in RETRY_STATUSES:
                        log.warning("webhook %s refused %s: HTTP %s", cfg.url, page.dedup_key,
                                    resp.status)
                        self._count("failed")
                        return False
                    retry_after = parse_retry_after(resp.headers.get("Retry-After"))
            except (aiohttp.ClientError, TimeoutError) as exc:
                log.warning("webhook %s unreachable: %r", cfg.url, exc)
            if attempt == cfg.max_retries:
                break
            self._count("retried")
            await self.sleep(self.backoff(attempt, retry_after))
        self._count("failed")
        return False

    def backoff(self, attempt: int, retry_after: float | None = None) -> float:
        """Seconds to wait before retry ``attempt + 1``: the server's word, else full jitter."""
        if retry_after is not None:
            return min(max(0.0, retry_after), MAX_RETRY_AFTER_S)
        ceiling = min(self.config.backoff_max_s, self.config.backoff_base_s * (2**attempt))
        return self.rng.uniform(0.0, ceiling)


def parse_retry_after(value: str | None) -> float | None:
    """``Retry-After`` as seconds: either delta-seconds or an HTTP date."""
    if not value:
        return None
    value = value.strip()
    try:
        return float(value)
    except ValueError:
        pass
    try:
        return parsedate_to_datetime(value).timestamp() - time.time()
    except (TypeError, ValueError):
        return None


def _scope_key(scope: Any) -> str:
    if not isinstance(scope, Mapping):
        return ""
    return "|".join(f"{k}={scope[k]}" for k in sorted(scope))
