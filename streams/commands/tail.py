"""``smsguard tail alerts|throttle|deadletter``: follow an output topic, readably.

One line per record for a person on call: the event time, then for alerts the
severity, kind, entity, score, action and the top evidence (what was observed
against what is normal); for throttle commands the action, scope, rate and
expiry; for dead letters where the record was and why it was refused.
``--json`` prints the records unchanged (one JSON object a line).
"""

from __future__ import annotations

import argparse
import sys
from datetime import UTC, datetime
from typing import Any

WHICH = {"alerts": "sms.alerts", "throttle": "sms.throttle", "deadletter": "sms.deadletter"}


def register(subparsers: argparse._SubParsersAction) -> None:
    from streams.commands.worker import add_kafka_options

    parser = subparsers.add_parser(
        "tail", help="follow the alert, throttle or dead-letter topic", description=__doc__
    )
    parser.add_argument("which", choices=sorted(WHICH), help="output topic to follow")
    add_kafka_options(parser)
    parser.add_argument("--from-beginning", action="store_true",
                        help="start at the oldest record (default: only new ones)")
    parser.add_argument("--idle-exit", type=float, default=None, metavar="S",
                        help="exit after S seconds without a new record (default: follow)")
    parser.add_argument("--json", action="store_true", help="print raw JSON records")
    parser.set_defaults(run=run)


def when(ts: Any) -> str:
    """Epoch ms as an ISO-8601 UTC time to the second (``?`` when absent)."""
    if not isinstance(ts, int | float):
        return "?"
    return datetime.fromtimestamp(ts / 1000, tz=UTC).strftime("%Y-%m-%d %H:%M:%SZ")


def _num(value: Any) -> str:
    if isinstance(value, float):
        return f"{value:.3g}"
    return str(value)


def format_alert(v: dict[str, Any], evidence: int = 3) -> str:
    entity = v.get("entity") or {}
    ev = "; ".join(
        f"{e.get('feature')}={_num(e.get('value'))} (normal {_num(e.get('baseline'))})"
        for e in (v.get("evidence") or [])[:evidence]
        if isinstance(e, dict)
    )
    account = v.get("account_id")
    who = f"{entity.get('type')}:{entity.get('id')}"
    if account and account != entity.get("id"):
        who += f" (account {account})"
    return (f"{when(v.get('ts'))}  {str(v.get('severity', '?')).upper():8} "
            f"{v.get('kind', '?'):20} {who}  score={_num(v.get('score'))} "
            f"action={v.get('action', '?')}  | {ev}  [{v.get('alert_id')}]")


def format_throttle(v: dict[str, Any]) -> str:
    scope = " ".join(f"{k}={val}" for k, val in sorted((v.get("scope") or {}).items()))
    rate = f" rate={_num(v['rate_per_s'])}/s" if v.get("rate_per_s") is not None else ""
    return (f"{when(v.get('ts'))}  {str(v.get('action', '?')).upper():8} {scope}{rate} "
            f"until {when(v.get('expires_at'))}  | {v.get('reason', '')}  "
            f"[{v.get('command_id')}]")


def format_deadletter(v: dict[str, Any]) -> str:
    return (f"{v.get('topic')}[{v.get('partition')}]@{v.get('offset')}  "
            f"{v.get('reason'):16} {v.get('detail', '')}  ({v.get('raw_size', '?')} bytes)")


FORMATS = {"alerts": format_alert, "throttle": format_throttle, "deadletter": format_deadletter}


def run(args: argparse.Namespace) -> int:
    import asyncio

    import orjson

    from detector.config import load_config
    from streams.commands.worker import apply_kafka_options
    from streams.kafka_io import follow
    from streams.topics import TopicLayout

    config = load_config(args.config)
    apply_kafka_options(config, args)
    topic = TopicLayout.from_config(config).name(WHICH[args.which])
    fmt = FORMATS[args.which]

    async def main() -> None:
        async for rec in follow(config.kafka.bootstrap, [topic], args.from_beginning,
                                args.idle_exit):
            if args.json:
                line = rec.raw.decode(errors="replace")
            else:
                try:
                    line = fmt(orjson.loads(rec.raw))
                except (orjson.JSONDecodeError, AttributeError, TypeError) as err:
                    line = f"(unreadable record at offset {rec.offset}: {err})"
            print(line, flush=True)

    try:
        asyncio.run(main())
    except KeyboardInterrupt:
        pass
    except BrokenPipeError:  # `smsguard tail alerts | head`
        sys.stderr.close()
    return 0
