"""``smsguard notify``: the on-call feed, from the alert and throttle topics to a webhook.

Consumes ``kafka.topic_alerts`` and ``kafka.topic_throttle`` (consumer group
``webhook.group``) and hands every record to :class:`streams.webhooks.WebhookSink`,
which pages alerts (generic JSON, Slack or PagerDuty, see ``[webhook]`` in the
configuration) and resolves pages when their throttle is released. A new group
starts at the end of the topics: on-call wants what happens now, not a replay of
old findings. ``/metrics`` is served on ``webhook.metrics_port``.
"""

from __future__ import annotations

import argparse
import sys
from typing import TYPE_CHECKING

if TYPE_CHECKING:  # only for annotations: the run function imports what it needs
    import asyncio

    from detector.config import Config
    from streams.webhooks import WebhookSink


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "notify", help="page on-call: alerts to a Slack/PagerDuty/generic webhook",
        description=__doc__,
    )
    parser.add_argument("--bootstrap", help="Kafka bootstrap servers (default: kafka.bootstrap)")
    parser.add_argument("--url", help="webhook URL (default: webhook.url)")
    parser.add_argument("--format", choices=("generic", "slack", "pagerduty"),
                        help="payload format (default: webhook.format)")
    parser.add_argument("--from-beginning", action="store_true",
                        help="a new consumer group starts at the oldest record, not the newest")
    parser.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    import asyncio
    import logging
    import signal

    from detector.config import load_config
    from streams.metrics import serve_metrics
    from streams.webhooks import WebhookSink

    config = load_config(args.config)
    if args.url:
        config.webhook.url = args.url
    if args.format:
        config.webhook.format = args.format
    if args.bootstrap:
        config.kafka.bootstrap = args.bootstrap
    if not config.webhook.url:
        print("smsguard notify: no webhook URL (set webhook.url or --url)", file=sys.stderr)
        return 2
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(message)s")
    if config.webhook.metrics_port:
        serve_metrics(config.webhook.metrics_port, config.worker.metrics_addr)

    async def main() -> None:
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, stop.set)
        sink = WebhookSink(config.webhook, signing_key=config.signing.key)
        await sink.start()
        try:
            await consume(sink, config, stop, "earliest" if args.from_beginning else "latest")
        finally:
            await sink.close()

    asyncio.run(main())
    return 0


async def consume(
    sink: WebhookSink, config: Config, stop: asyncio.Event, offset_reset: str = "latest"
) -> None:
    """Feed ``sink`` from the alert and throttle topics until ``stop`` is set."""
    import asyncio

    import orjson
    from aiokafka import AIOKafkaConsumer

    alerts, throttle = config.kafka.topic_alerts, config.kafka.topic_throttle
    consumer = AIOKafkaConsumer(
        alerts, throttle,
        bootstrap_servers=config.kafka.bootstrap,
        group_id=config.webhook.group,
        auto_offset_reset=offset_reset,
        # Pages are deduplicated by alert id, so redelivery after a crash costs nothing;
        # auto-commit keeps this loop thin.
        enable_auto_commit=True,
    )
    await consumer.start()
    try:
        while not stop.is_set():
            batches = await consumer.getmany(timeout_ms=500, max_records=500)
            for tp, records in batches.items():
                for record in records:
                    try:
                        value = orjson.loads(record.value)
                    except orjson.JSONDecodeError:
                        continue  # not ours to dead-letter: the worker wrote it
                    if not isinstance(value, dict):
                        continue
                    if tp.topic == alerts:
                        sink.submit_alert(value)
                    else:
                        sink.submit_command(value)
            await asyncio.sleep(0)
    finally:
        await consumer.stop()
