"""``smsguard produce FILE``: send a replay file to the input topics.

Each line ``{"topic": ..., "value": {...}}`` goes to the configured input topic
(``topic`` may be a configured name or a contract role), keyed by the record's
``account_id``, with the record's ``ts`` as the Kafka timestamp; the value is
sent unchanged, so one file drives both ``smsguard replay`` and the worker.
"""

from __future__ import annotations

import argparse
import sys


def register(subparsers: argparse._SubParsersAction) -> None:
    from streams.commands.worker import add_kafka_options

    parser = subparsers.add_parser(
        "produce", help="send a replay file to the input topics", description=__doc__
    )
    parser.add_argument("file", metavar="FILE.jsonl", help="replay file")
    add_kafka_options(parser)
    parser.add_argument("--rate", type=float, default=None,
                        help="records per second (default: as fast as the broker takes them)")
    parser.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    import asyncio

    from detector.config import load_config
    from streams.commands.worker import apply_kafka_options
    from streams.kafka_io import ensure_topics, produce_records, read_replay_file
    from streams.topics import INPUT_ROLES, TopicLayout

    config = load_config(args.config)
    apply_kafka_options(config, args)
    layout = TopicLayout.from_config(config)
    inputs = {layout.name(role) for role in INPUT_ROLES}

    def records():  # noqa: ANN202 - generator of (topic, value)
        for topic, value in read_replay_file(args.file):
            role = layout.role_of(topic)
            if role not in INPUT_ROLES:
                continue  # an output line in a captured file: not input
            yield layout.name(role), value

    async def main() -> None:
        await ensure_topics(config.kafka.bootstrap, dict.fromkeys(inputs, layout.partitions),
                            layout.replication)
        summary = await produce_records(config.kafka.bootstrap, records(), rate_per_s=args.rate)
        rate = summary.records / summary.seconds if summary.seconds else 0.0
        print(f"produced {summary.records} records in {summary.seconds:.1f}s "
              f"({rate:,.0f}/s): {summary.by_topic}", file=sys.stderr)

    asyncio.run(main())
    return 0
