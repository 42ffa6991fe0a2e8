"""The smsguard Faust application: one app, built from configuration.

Data flow (every arrow is a Kafka topic, so every hop survives a crash)::

    sms.send / sms.dlr / sms.verify  (keyed by account_id)
        │  input agents: parse (bad → sms.deadletter), account-family features
        │  in place (state co-partitioned with the input key), and re-key the
        │  event for every other scope family
        ▼
    <app>-<family>-events-repartition (keyed by prefix / destination / route)
        │  family agents: that family's features, wherever the key lands, so two
        │  accounts pumping one prefix meet in one processor
        ▼
    sms.alerts (key: entity id) · sms.throttle (key: scope account or prefix)

Re-keying is done the way Faust's ``Stream.group_by`` does it (a repartition
topic, here declared ``internal`` so Faust creates it with the app's partition
count), but sent explicitly, because one event fans out to several families.

The detection itself is the core's (``detector.pipeline``): the same
``FamilyProcessor`` code the in-process ``Detector`` runs for ``smsguard replay``,
so the two paths give the same findings. State: see :mod:`streams.state`.
"""

from __future__ import annotations

import logging
import os
import time
import weakref
import zlib
from collections import defaultdict
from dataclasses import dataclass
from typing import Any

import faust
import orjson
from faust.streams import _current_event, current_event

from detector.config import Config
from streams.ordering import EventMerger
from streams.state import CheckpointedState, PartitionScope
from streams.topics import INPUT_ROLES, TopicLayout

log = logging.getLogger("smsguard.worker")

FANOUT = 64  # bound on (family, key) pairs of one event; spaces sequence numbers
MAX_RAW_BYTES = 64 * 1024  # dead letters keep at most this much of the raw record
WATERMARK_EVERY = 500  # released records between watermarks of one origin
WATERMARK_S = 0.2  # ... or seconds
WATERMARK_RESEND_S = 1.0  # an unchanged watermark is repeated (a family partition's new owner)
FORWARD_BATCH = 200  # re-keyed events a repartition message carries at most


@dataclass
class WorkerOptions:
    bootstrap: str
    store: str = "rocksdb://"
    data_dir: str = ".smsguard/worker"
    web_port: int | None = None
    metrics_port: int | None = None
    metrics_addr: str | None = None


def broker_url(bootstrap: str) -> str:
    """``host:port,host:port`` → Faust's ``kafka://host:port;kafka://host:port``."""
    return ";".join(f"kafka://{hp.strip()}" for hp in bootstrap.split(",") if hp.strip())


def deadletter_value(role: str, topic: str, partition: int, offset: int, raw: bytes | None,
                     err: Any) -> dict[str, Any]:
    """The contract's dead letter (the core's format: raw bytes as ``raw_base64``).

    Oversized records keep their first ``MAX_RAW_BYTES`` (``raw_size`` tells the real
    length), so one huge record cannot make an oversized dead letter.
    """
    from detector.pipeline import deadletter_record

    data = raw or b""
    record = deadletter_record(role, data[:MAX_RAW_BYTES], err,
                               {"topic": topic, "partition": partition, "offset": offset})
    record["raw_size"] = len(data)
    return record


class SmsguardWorker:
    """The Faust app plus everything its agents share (topics, tables, state, metrics)."""

    def __init__(self, config: Config, options: WorkerOptions) -> None:
        from detector import pipeline  # the core; imported here so the CLI starts fast
        from detector.records import RecordParser, Rejected
        from streams.offset_commits import dedupe_acks_before_commit

        dedupe_acks_before_commit()

        self.config = config
        self.options = options
        self.layout = TopicLayout.from_config(config)
        self.pipeline = pipeline
        self.Rejected = Rejected
        self.parser = RecordParser(
            max_future_ms=config.detector.max_future_s * 1000,
            max_body_bytes=config.detector.max_body_bytes,
        )
        self.families = tuple(pipeline.SCOPE_FAMILIES)
        self.prefix_depth = config.detector.prefix_depth
        self.last_event = time.monotonic()
        self.idle_close_s = config.worker.idle_close_s
        self.remote_families = tuple(f for f in self.families if f != "account")
        n = self.layout.partitions
        self.app = faust.App(
            self.layout.app_id,
            broker=broker_url(options.bootstrap),
            store=options.store,
            datadir=options.data_dir,
            topic_partitions=n,
            topic_replication_factor=self.layout.replication,
            key_serializer="raw",
            value_serializer="raw",
            consumer_auto_offset_reset="earliest",
            web_enabled=options.web_port is not None,
            web_port=options.web_port or 6066,
            web_bind="127.0.0.1",
            # The worker is an always-on service; Faust's defaults wait 60 s+ for slow
            # commits and rebalances, which only matters on an overloaded broker.
            broker_commit_every=2000,
            # Batch the many small sends (re-keyed events, outputs): without linger every
            # send is its own produce request.
            producer_linger_ms=5,
            producer_max_batch_size=512 * 1024,
            stream_wait_empty=False,
            # A worker that died (kill -9, OOM) holds its partitions until its session
            # times out: 10 s instead of Faust's 60 s lets a replacement take over sooner.
            broker_session_timeout=10.0,
            broker_heartbeat_interval=2.0,
        )
        raw = {"key_serializer": "raw", "value_serializer": "raw"}
        self.input_topics = {
            role: self.app.topic(self.layout.name(role), partitions=n, **raw)
            for role in INPUT_ROLES
        }
        self.output_topics = {
            role: self.app.topic(self.layout.name(role), partitions=n, **raw)
            for role in ("sms.alerts", "sms.throttle", "sms.deadletter")
        }
        self.repartition_topics = {
            family: self.app.topic(self.layout.repartition_topic(family), partitions=n,
                                   internal=True, **raw)
            for family in self.remote_families
        }
        self.tables = {family: self._state_table(family, n) for family in self.families}
        self.state = CheckpointedState(
            lambda family: pipeline.FamilyProcessor(family, config),
            self.tables,
            interval_s=config.worker.checkpoint_interval_s,
        )
        # Records applied but not acked yet, by (topic, partition): acked after the
        # checkpoint that covers them (see streams.state).
        self.pending: dict[tuple[str, int], list[tuple[Any, Any]]] = defaultdict(list)
        self.repartition_names = {f: t.get_topic_name()
                                  for f, t in self.repartition_topics.items()}
        self.output_names = {r: t.get_topic_name() for r, t in self.output_topics.items()}
        self.family_of_topic = {t.get_topic_name(): "account"
                                for t in self.input_topics.values()}
        self.family_of_topic.update({t.get_topic_name(): f
                                     for f, t in self.repartition_topics.items()})
        self.counters: dict[str, int] = defaultdict(int)
        self._metrics: Any = None
        # Event-time alignment (streams.ordering): per input partition, and per
        # (family, repartition partition); origins are input partitions.
        self.max_wait_s = config.worker.max_wait_s
        self.origins = [str(p) for p in range(n)]
        self.input_mergers: dict[int, EventMerger] = {}
        self.family_mergers: dict[tuple[str, int], EventMerger] = {}
        self.last_offset: dict[tuple[str, int], int] = {}
        self.last_ts: dict[tuple[str, int], int] = {}
        self.watermark_sent: dict[int, Any] = {}
        self.released_ts: dict[int, int] = {}
        self.forward_buffers: dict[tuple[int, str, int], list[dict[str, Any]]] = \
            defaultdict(list)
        self.next_report = 0.0
        self.watermark_due: dict[int, float] = {}
        self.watermark_at: dict[int, float] = {}
        self.released_since_mark: dict[int, int] = defaultdict(int)
        self.app.on_partitions_revoked.connect(self._on_revoked)

        from streams.agents import register_agents

        register_agents(self)

    def _state_table(self, family: str, partitions: int) -> Any:
        """Changelog-backed table of ``family``'s checkpoints: str keys, opaque bytes.

        Faust picks a table's codec from its key/value *types* (json by default);
        the checkpoints are compressed binary, so everything is set to ``raw``.
        """
        table = self.app.Table(f"{family}-state", partitions=partitions)
        table.key_serializer = "raw"
        table.value_serializer = "raw"
        # The changelog topic already exists (built with json while the table was
        # made): recovery decodes with *its* codec, and json fails on these bytes,
        # silently, leaving recovery waiting forever. So set raw there too.
        table.changelog_topic.key_serializer = "raw"
        table.changelog_topic.value_serializer = "raw"
        return table

    # -- metrics -----------------------------------------------------------
    def start_metrics(self) -> None:
        from streams.metrics import METRICS, serve_metrics

        self._metrics = METRICS
        port = self.options.metrics_port
        if port is not None and port >= 0:
            serve_metrics(port, self.options.metrics_addr)

    def _count(self, name: str, n: int = 1) -> None:
        self.counters[name] += n

    # -- rebalancing ---------------------------------------------------------
    async def _on_revoked(self, app: Any, revoked: Any, **_: Any) -> None:
        for tp in revoked:
            family = self.family_of_topic.get(tp.topic)
            if family is not None:
                self.state.drop_one(family, tp.partition)
                if family == "account":
                    self.input_mergers.pop(tp.partition, None)
                    self.watermark_sent.pop(tp.partition, None)
                    self.released_ts.pop(tp.partition, None)
                else:
                    self.family_mergers.pop((family, tp.partition), None)
            self.pending.pop((tp.topic, tp.partition), None)

    async def send_outputs(self, outputs: list[Any]) -> None:
        for out in outputs:
            await self.produce(self.output_names[out.topic], str(out.key).encode(),
                               orjson.dumps(out.value))
        if outputs:
            self._count("outputs", len(outputs))
            if self._metrics is not None:
                self._metrics.observe_outputs(outputs)

    async def produce(self, topic: str, key: bytes | None, value: bytes,
                      partition: int | None = None) -> None:
        """Hand one record to the producer without Faust's per-send channel machinery.

        ``Topic.send`` cost ~0.7 ms a record here (10x the rest of the work); the
        producer's own ``send`` only appends to a batch. Everything sent is awaited by
        ``producer.flush()`` before each checkpoint, so nothing a marker covers is lost.
        """
        await self.app.producer.send(topic, key, value, partition, None, None)

    def topics_of(self, family: str) -> list[str]:
        """Source topics whose records feed ``family``'s processors."""
        if family == "account":
            return [t.get_topic_name() for t in self.input_topics.values()]
        return [self.repartition_topics[family].get_topic_name()]

    # -- input side ------------------------------------------------------------
    def _caught_up(self, partition: int) -> Any:
        """For the input merger: has this source no record in flight right now?"""
        from faust.types import TP

        def caught_up(topic: str) -> bool:
            try:
                high = self.app.consumer.highwater(TP(topic, partition))
            except Exception:  # noqa: BLE001 - not assigned (yet): unknown
                return False
            if high is None:
                return False
            last = self.last_offset.get((topic, partition))
            if last is None:
                scope = self.state.scopes.get(("account", partition))
                last = scope.applied.get(f"{topic}:{partition}", -1) if scope else -1
            return last + 1 >= high

        return caught_up

    def input_merger(self, partition: int) -> EventMerger:
        """The merge of one input partition's send/DLR/verify partitions.

        A source with nothing buffered is waited for until it has been silent for
        ``max_wait_s`` *and* has nothing unread (``_caught_up``); being caught up
        alone is no evidence, see :mod:`streams.ordering`.
        """
        merger = self.input_mergers.get(partition)
        if merger is None:
            merger = self.input_mergers[partition] = EventMerger(
                self.topics_of("account"), self.max_wait_s, self._caught_up(partition))
        return merger

    def assigned_input_partitions(self) -> list[int]:
        """Input partitions this worker owns now (the three input topics are co-partitioned).

        Their owner speaks for them on the family side, records or not: an origin
        nobody speaks for holds every family partition back.
        """
        send_topic = self.input_topics["sms.send"].get_topic_name()
        try:
            assigned = self.app.consumer.assignment()
        except Exception:  # noqa: BLE001 - consumer not started yet
            return []
        return sorted(tp.partition for tp in assigned if tp.topic == send_topic)

    async def handle_input(self, role: str, stream: Any, event: Any) -> None:
        """One input record: parse, align by event time, then apply what is ready."""
        msg = event.message
        self.last_event = time.monotonic()
        scope = self.state.scope("account", msg.partition)
        # The lock keeps "apply + send + mark applied" atomic with respect to a
        # checkpoint started by another agent (or the timer) of the same partition.
        async with scope.lock:
            tp = (msg.topic, msg.partition)
            self.last_offset[tp] = msg.offset
            if scope.already_applied(f"{msg.topic}:{msg.partition}", msg.offset):
                await stream.ack(event)  # in the restored state already: seen before a crash
                return
            try:
                parsed: Any = self.parser.parse(role, msg.value)
                ts = parsed.ts
            except self.Rejected as bad:
                parsed = bad
                ts = self.last_ts.get(tp, 0)  # keeps its place in its source's order
            self.last_ts[tp] = max(ts, self.last_ts.get(tp, 0))
            merger = self.input_merger(msg.partition)
            merger.push(msg.topic, ts, (role, stream, event, parsed))
            await self._release_input(scope, merger)

    async def _release_input(self, scope: PartitionScope, merger: EventMerger) -> None:
        partition = scope.partition
        released = merger.pop_ready()
        last_ts = None
        for role, stream, event, parsed in released:
            msg = event.message
            origin = f"{msg.topic}:{msg.partition}"
            if isinstance(parsed, self.Rejected):
                await self.send_deadletter(msg, parsed)
            else:
                await self._apply_input(role, scope, origin, msg.offset, parsed)
                last_ts = parsed.ts
            scope.applied_now(origin, msg.offset)
            self.pending[(msg.topic, msg.partition)].append((stream, event))
        if last_ts is not None:
            self.released_ts[partition] = last_ts
            self.released_since_mark[partition] += len(released)
            await self._maybe_watermark(partition, last_ts)
        if self.state.due(scope):
            await self.checkpoint(scope)

    async def _maybe_watermark(self, partition: int, ts: int | None,
                               now: float | None = None) -> None:
        """Tell every family partition how far this origin's event time has gone.

        ``ts=None`` says "idle": nothing buffered and every source idle (see
        :meth:`EventMerger.idle`). Sent every ``WATERMARK_EVERY`` released records
        or ``WATERMARK_S`` seconds, and repeated every ``WATERMARK_RESEND_S`` even
        when unchanged, so a family partition that changed owner hears it too.
        """
        now = time.monotonic() if now is None else now
        if ts is not None and (
            self.released_since_mark[partition] < WATERMARK_EVERY
            and now < self.watermark_due.get(partition, 0.0)
        ):
            return
        if (self.watermark_sent.get(partition, -1) == ts
                and now < self.watermark_at.get(partition, 0.0) + WATERMARK_RESEND_S):
            return
        await self.flush_forwards(partition)  # data before the watermark that covers it
        self.watermark_sent[partition] = ts
        self.watermark_at[partition] = now
        self.watermark_due[partition] = now + WATERMARK_S
        self.released_since_mark[partition] = 0
        value = orjson.dumps({"o": str(partition), "w": ts})
        for topic in self.repartition_names.values():
            for q in range(self.layout.partitions):
                await self.produce(topic, None, value, partition=q)

    async def _apply_input(self, role: str, scope: PartitionScope, origin: str, offset: int,
                           parsed: Any) -> None:
        self._count(f"accepted:{role}")
        if self._metrics is not None:
            self._metrics.observe_accepted(role, parsed.ts)
        # The account family first, as replay does: it completes the event (a report's
        # route, an OTP's verifiability) before the other families' keys are taken.
        outputs: list[Any] = scope.apply(parsed, origin, offset)
        data = None
        routes = self.pipeline.family_keys(parsed, self.prefix_depth)
        for index, (family, key) in enumerate(routes):
            if family == "account":
                continue
            if data is None:
                data = parsed.to_dict()
            # Sequence number per source partition: offset and fan-out index, so a
            # family partition can drop what a restarted input agent forwards again.
            q = zlib.crc32(key.encode()) % self.layout.partitions
            batch = self.forward_buffers[(scope.partition, family, q)]
            batch.append({"s": origin, "n": offset * FANOUT + index, "k": key, "e": data})
            if len(batch) >= FORWARD_BATCH:
                await self.flush_forwards(scope.partition, family, q)
        await self.send_outputs(outputs)

    async def flush_forwards(self, partition: int, family: str | None = None,
                             q: int | None = None) -> None:
        """Send the re-keyed events buffered for ``partition`` (one message per batch).

        Batches because every Kafka message costs the family agent Faust's per-event
        overhead (~0.2 ms); one message of many events pays it once. The family
        partition is chosen from the key (crc32), so a key always lands in one place.
        """
        for (p, fam, part), batch in list(self.forward_buffers.items()):
            if p != partition or not batch or (family is not None and (fam, part) != (family, q)):
                continue
            value = orjson.dumps({"o": str(p), "b": batch})
            batch.clear()
            await self.produce(self.repartition_names[fam], None, value, partition=part)

    # -- family side -------------------------------------------------------------
    def family_merger(self, family: str, partition: int) -> EventMerger:
        merger = self.family_mergers.get((family, partition))
        if merger is None:
            # No silence rule here: an origin is passed only on its owner's word
            # (a watermark). A silent origin is a busy or dead owner, and a dead
            # owner's partitions get a new owner that speaks for them.
            merger = self.family_mergers[(family, partition)] = EventMerger(
                self.origins, self.max_wait_s, silence_idles=False)
        return merger

    async def handle_family(self, family: str, stream: Any, event: Any) -> None:
        """One re-keyed event (or an origin's watermark) for ``family``."""
        msg = event.message
        scope = self.state.scope(family, msg.partition)
        data = orjson.loads(msg.value)
        async with scope.lock:
            merger = self.family_merger(family, msg.partition)
            if "b" in data:
                self.last_event = time.monotonic()
                # The Faust event is acked once, after the last of its events is applied.
                left = [len(data["b"])]
                for item in data["b"]:
                    merger.push(data["o"], item["e"]["ts"], (stream, event, item, left))
            else:
                merger.set_watermark(data["o"], data.get("w"))
                self.pending[(msg.topic, msg.partition)].append((stream, event))
            await self._release_family(scope, merger)

    async def _release_family(self, scope: PartitionScope, merger: EventMerger) -> None:
        for stream, event, item, left in merger.pop_ready():
            # Dedup on the input record it came from: a restarted input agent may
            # forward again what reached this topic before the crash. Sequence
            # numbers of one source partition only grow: one number per source.
            source = item["s"]
            if not scope.already_applied(source, item["n"]):
                parsed = self.pipeline_event(item["e"])
                await self.send_outputs(scope.apply(parsed, source, item["n"]))
                scope.applied_now(source, item["n"])
                self.counters[f"applied:{scope.family}"] += 1
            left[0] -= 1
            if not left[0]:
                msg = event.message
                self.pending[(msg.topic, msg.partition)].append((stream, event))
        if self.state.due(scope):
            await self.checkpoint(scope)

    def report(self) -> None:
        """One log line of progress (also what the tests read to see the worker work)."""
        forced = sum(m.forced for m in self.input_mergers.values()) + sum(
            m.forced for m in self.family_mergers.values())
        buffered = sum(m.size for m in self.input_mergers.values()) + sum(
            m.size for m in self.family_mergers.values())
        counters = dict(self.counters)
        for (family, _), scope in self.state.scopes.items():
            # Records that reached a key after it closed their step: 0 when every
            # key sees its events in event-time order (what the merges are for).
            late = getattr(scope.processor, "counters", {}).get("late_records", 0)
            if late:
                counters[f"late:{family}"] = counters.get(f"late:{family}", 0) + late
        log.info("smsguard progress %s forced=%d buffered=%d entities=%s",
                 dict(sorted(counters.items())), forced, buffered,
                 self.state.entities_by_family())

    # -- clock -------------------------------------------------------------------
    async def on_timer(self) -> None:
        """Several times a second: release what waited, send watermarks, checkpoint,
        and close open steps once the input has ended.

        Idle close: once no record arrived for ``worker.idle_close_s`` seconds *and*
        every origin has said it is idle (its owner, on whichever worker, has nothing
        buffered and its sources are quiet), every processor closes its open steps
        (what ``replay`` does at end of file), so an attack that stops right before
        its step ends is still reported. The second condition keeps a worker from
        closing steps while another worker still forwards events to it: the close
        follows the data, not this worker's clock alone.
        """
        if self.app.rebalancing:
            return
        now = time.monotonic()
        if now >= self.next_report:
            self.next_report = now + self.config.worker.report_interval_s
            self.report()
        quiet = now - self.last_event >= self.idle_close_s
        for partition in self.assigned_input_partitions():
            merger = self.input_merger(partition)
            scope = self.state.scopes.get(("account", partition))
            if scope is None:  # no record yet: nothing to release, but speak for it
                if merger.idle(now):
                    await self._maybe_watermark(partition, None, now)
                continue
            async with scope.lock:
                await self._release_input(scope, merger)
                await self.flush_forwards(partition)
                if merger.idle(now):
                    await self._maybe_watermark(partition, None, now)
                elif partition in self.released_ts:
                    await self._maybe_watermark(partition, self.released_ts[partition], now)
        for (family, partition), merger in list(self.family_mergers.items()):
            scope = self.state.scopes.get((family, partition))
            if scope is None:
                continue
            async with scope.lock:
                await self._release_family(scope, merger)
        ended = quiet and all(m.idle(now) for m in self.input_mergers.values()) and all(
            m.idle(now) for m in self.family_mergers.values())
        for scope in list(self.state.scopes.values()):
            async with scope.lock:
                if ended and not scope.finished:
                    open_keys = {k for k, e in scope.processor.entities.items()
                                 if any(sc.open for sc in e.scopes.values())}
                    outputs = scope.processor.finish()
                    scope.touched |= open_keys
                    scope.finished = True
                    await self.send_outputs(outputs)
                # A record waiting only for its ack (an origin's watermark changes no
                # state) gets a checkpoint too: nothing else would ever commit it.
                if self.state.due(scope) or (quiet and (
                        scope.unflushed or scope.touched
                        or self._newest_waiting(scope) is not None)):
                    await self.checkpoint(scope)

    def _newest_waiting(self, scope: PartitionScope) -> Any:
        """The newest record of ``scope``'s partition waiting for a checkpoint's ack."""
        newest = None
        for topic in self.topics_of(scope.family):
            waiting = self.pending.get((topic, scope.partition))
            if waiting:
                newest = waiting[-1][1]
        return newest

    def pipeline_event(self, data: dict[str, Any]) -> Any:
        from detector.records import event_from_dict

        return event_from_dict(data)

    async def send_deadletter(self, msg: Any, err: Any) -> None:
        reason = err.reason
        role = self.layout.role_of(msg.topic)
        record = deadletter_value(role, msg.topic, msg.partition, msg.offset, msg.value, err)
        await self.produce(self.output_names["sms.deadletter"],
                           msg.key if isinstance(msg.key, bytes) else None, orjson.dumps(record))
        self._count(f"rejected:{reason}")
        if self._metrics is not None:
            self._metrics.records.labels(topic=role, outcome="rejected").inc()
            self._metrics.deadletters.labels(topic=role, reason=reason).inc()

    async def checkpoint(self, scope: PartitionScope) -> None:
        """Flush outputs, write state + marker, then ack the records the marker covers.

        Table writes go to the changelog partition of Faust's *current event*; when
        there is none (the timer) or it belongs elsewhere, the last pending record of
        the scope's partition stands in for it.
        """
        topics = self.topics_of(scope.family)
        anchor = current_event()
        if anchor is None or anchor.message.partition != scope.partition \
                or anchor.message.topic not in topics:
            anchor = self._newest_waiting(scope)
            if anchor is None:
                return  # nothing to anchor the writes to; the next record will
        if scope.family == "account":
            await self.flush_forwards(scope.partition)
        await self.app.producer.flush()
        token = _current_event.set(weakref.ref(anchor))
        try:
            self.state.checkpoint(scope)
        finally:
            _current_event.reset(token)
        self._count("checkpoints")
        for topic in topics:
            for stream, event in self.pending.pop((topic, scope.partition), []):
                await stream.ack(event)
        if self._metrics is not None:
            for family, n in self.state.entities_by_family().items():
                self._metrics.entities.labels(family=family).set(n)


def build_worker(config: Config, options: WorkerOptions) -> SmsguardWorker:
    """The configured app (topics, tables, agents); run it with :func:`run_worker`."""
    return SmsguardWorker(config, options)


def run_worker(worker: SmsguardWorker, loglevel: str = "warning") -> int:
    """Create missing topics, then run the Faust worker until SIGTERM/SIGINT."""
    import asyncio

    from streams.kafka_io import ensure_topics, wait_for_broker

    layout = worker.layout
    topics = layout.external_topics()
    topics.update({layout.repartition_topic(f): layout.partitions
                   for f in worker.remote_families})
    # The tables' changelog topics too, compacted like Faust makes them: when two
    # workers start together, one of them could otherwise join the group while the
    # other is still creating a changelog topic, snapshot it with 0 partitions and
    # crash on its first table write (PartitionsMismatch).
    changelogs = {t.changelog_topic.get_topic_name(): layout.partitions
                  for t in worker.tables.values()}
    topics.update(changelogs)
    compact = {name: {"cleanup.policy": "compact"} for name in changelogs}

    async def prepare() -> None:
        await wait_for_broker(worker.options.bootstrap, timeout_s=60)
        await ensure_topics(worker.options.bootstrap, topics, layout.replication, compact)

    asyncio.run(prepare())
    os.makedirs(worker.options.data_dir, exist_ok=True)  # Faust expects it to exist
    worker.start_metrics()
    faust_worker = faust.Worker(worker.app, loglevel=loglevel, quiet=True)
    faust_worker.execute_from_commandline()
    return 0
