"""``smsguard worker``: the Faust stream processor on Kafka.

Reads the input topics, writes alerts, throttle commands and dead letters. Every
option defaults to the configuration file (``--config``) and its
``SMSGUARD_*`` environment overrides; command-line options win.
"""

from __future__ import annotations

import argparse

TOPIC_OPTIONS = {
    "topic_send": "--topic-send",
    "topic_dlr": "--topic-dlr",
    "topic_verify": "--topic-verify",
    "topic_alerts": "--topic-alerts",
    "topic_throttle": "--topic-throttle",
    "topic_deadletter": "--topic-deadletter",
}


def add_kafka_options(parser: argparse.ArgumentParser) -> None:
    """Broker, topic names and partition count (shared with produce/tail/bench-stream)."""
    parser.add_argument("--bootstrap", help="Kafka bootstrap servers host:port[,host:port]")
    for attr, flag in TOPIC_OPTIONS.items():
        parser.add_argument(flag, dest=attr, metavar="NAME", help=f"name of the {attr[6:]} topic")
    parser.add_argument("--partitions", type=int, help="partitions of topics it creates")


def apply_kafka_options(config: object, args: argparse.Namespace) -> None:
    kafka = config.kafka  # type: ignore[attr-defined]
    if args.bootstrap:
        kafka.bootstrap = args.bootstrap
    for attr in TOPIC_OPTIONS:
        value = getattr(args, attr, None)
        if value:
            setattr(kafka, attr, value)
    if getattr(args, "partitions", None):
        kafka.partitions = args.partitions


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "worker", help="run the stream processor (Faust worker) on Kafka", description=__doc__
    )
    add_kafka_options(parser)
    parser.add_argument("--app-id", help="Faust app id = consumer group (default: worker.app_id)")
    parser.add_argument("--store", help="table store: rocksdb:// (default) or memory://")
    parser.add_argument("--data-dir", help="directory of the RocksDB tables")
    parser.add_argument("--web-port", type=int, help="Faust's web server port (default: off)")
    parser.add_argument("--metrics-port", type=int,
                        help="Prometheus /metrics port (default: worker.metrics_port; -1: off)")
    parser.add_argument("--checkpoint-interval", type=float, metavar="S",
                        help="seconds between state checkpoints (default: worker config)")
    parser.add_argument("--idle-close", type=float, metavar="S",
                        help="close open steps after S seconds without input (default: worker"
                        " config)")
    parser.add_argument("--loglevel", default="warning", help="Faust log level")
    parser.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    from detector.config import load_config
    from streams.app import WorkerOptions, build_worker, run_worker

    config = load_config(args.config)
    apply_kafka_options(config, args)
    if args.app_id:
        config.worker.app_id = args.app_id
    if args.store:
        config.worker.store = args.store
    if args.data_dir:
        config.worker.data_dir = args.data_dir
    if args.checkpoint_interval is not None:
        config.worker.checkpoint_interval_s = args.checkpoint_interval
    if args.idle_close is not None:
        config.worker.idle_close_s = args.idle_close
    metrics_port = config.worker.metrics_port if args.metrics_port is None else args.metrics_port
    options = WorkerOptions(
        bootstrap=config.kafka.bootstrap,
        store=config.worker.store,
        data_dir=config.worker.data_dir,
        web_port=args.web_port,
        metrics_port=metrics_port,
        metrics_addr=getattr(config.worker, "metrics_addr", None),
    )
    return run_worker(build_worker(config, options), loglevel=args.loglevel)
