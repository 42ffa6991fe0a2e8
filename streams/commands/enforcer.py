"""``smsguard enforcer``: apply signed ``sms.throttle`` commands to the Redis throttle store.

Consumes the throttle topic in its own consumer group, verifies each command's
HMAC signature with ``signing.key``, rejects (and counts) unsigned, tampered,
malformed and expired ones, and materialises the rest in Redis where gateways'
admission checks read them. Offsets are committed only after Redis accepted a
command, so the enforcer catches up by itself when Redis comes back.
"""

from __future__ import annotations

import argparse
import sys


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "enforcer", help="apply signed throttle commands from Kafka to Redis", description=__doc__
    )
    parser.add_argument("--bootstrap", help="Kafka bootstrap servers (default: kafka.bootstrap)")
    parser.add_argument("--topic", help="throttle topic (default: kafka.topic_throttle)")
    parser.add_argument("--group", help="consumer group (default: kafka.enforcer_group)")
    parser.add_argument("--redis", help="Redis URL (default: redis.url)")
    parser.add_argument(
        "--metrics-port", type=int,
        help="serve /metrics on this port (default: redis.enforcer_metrics_port; 0 = off)",
    )
    parser.add_argument("--log-level", default="INFO", help="logging level (default INFO)")
    parser.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    import asyncio
    import logging
    import signal

    from detector.config import load_config
    from streams.enforcement.enforcer import Enforcer, run_enforcer
    from streams.enforcement.store import ThrottleStore
    from streams.metrics import METRICS, serve_metrics

    logging.basicConfig(
        level=args.log_level.upper(), format="%(asctime)s %(levelname)s %(name)s: %(message)s"
    )
    config = load_config(args.config)
    store = ThrottleStore(
        args.redis or config.redis.url,
        key_prefix=config.redis.key_prefix,
        timeout_ms=config.redis.enforcer_timeout_ms,
    )
    try:
        enforcer = Enforcer(
            store, config.signing.key, require_signature=config.signing.require, metrics=METRICS
        )
    except ValueError as exc:
        print(f"smsguard enforcer: {exc} (set SMSGUARD_SIGNING__KEY)", file=sys.stderr)
        return 2
    port = config.redis.enforcer_metrics_port if args.metrics_port is None else args.metrics_port
    if port:
        # worker.metrics_addr is every process's /metrics address (0.0.0.0 in containers).
        serve_metrics(port, addr=config.worker.metrics_addr)

    async def main() -> None:
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, stop.set)
        await run_enforcer(
            enforcer,
            bootstrap=args.bootstrap or config.kafka.bootstrap,
            topic=args.topic or config.kafka.topic_throttle,
            group_id=args.group or config.kafka.enforcer_group,
            stop=stop,
        )

    asyncio.run(main())
    print(f"enforcer stopped: {dict(enforcer.outcomes)}", file=sys.stderr)
    return 0
