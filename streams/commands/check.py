"""``smsguard check --account A --destination +N``: ask Redis what a gateway would be told.

Runs the same admission script gateways run (so it consumes a token of a
``limit``, like a real send would). Exit code 0 when the send is allowed,
1 when it is denied (blocked, rate limited, or Redis down with fail-closed).
"""

from __future__ import annotations

import argparse


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "check", help="admission check for one send (exit 0 allow, 1 deny)", description=__doc__
    )
    parser.add_argument("--account", required=True, help="account_id")
    parser.add_argument("--destination", required=True, help="E.164 number, e.g. +23670123456")
    parser.add_argument("--api-key", help="api_key_id")
    parser.add_argument("--country", help="ISO alpha-2 (default: derived from the number)")
    parser.add_argument("--redis", help="Redis URL (default: redis.url)")
    parser.add_argument("--fail-mode", choices=("open", "closed"),
                        help="answer when Redis is down (default: redis.fail_mode)")
    parser.add_argument("--timeout-ms", type=int,
                        help="bound on the call (default: redis.timeout_ms)")
    parser.add_argument("--list", action="store_true",
                        help="also list every throttle in force")
    parser.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    from detector.config import load_config
    from streams.enforcement.admission import AdmissionClient

    config = load_config(args.config)
    url = args.redis or config.redis.url
    client = AdmissionClient(
        url,
        fail_mode=args.fail_mode or config.redis.fail_mode,
        timeout_ms=args.timeout_ms or config.redis.timeout_ms,
        key_prefix=config.redis.key_prefix,
    )
    try:
        decision = client.check(
            args.account, args.destination, api_key_id=args.api_key, country=args.country
        )
    except ValueError as exc:
        print(f"smsguard check: {exc}")
        return 2
    finally:
        client.close()
    verdict = "ALLOW" if decision.allowed else "DENY"
    line = f"{verdict}  reason={decision.reason}"
    if decision.scope:
        line += f"  scope={decision.scope}"
    if not decision.allowed:
        line += f"  retry_after_ms={decision.retry_after_ms}"
    print(line)
    if args.list:
        _print_active(url, config)
    return 0 if decision.allowed else 1


def _print_active(url: str, config) -> None:  # noqa: ANN001 - Config, imported lazily
    import datetime as dt

    import redis

    from streams.enforcement.store import ThrottleStore

    try:
        active = ThrottleStore(url, key_prefix=config.redis.key_prefix).active()
    except redis.RedisError as exc:
        print(f"cannot list throttles: {exc}")
        return
    print(f"{len(active)} throttle(s) in force")
    for t in active:
        until = dt.datetime.fromtimestamp(t.expires_at / 1000, dt.UTC).strftime("%H:%M:%SZ")
        rate = f" {t.rate_per_s:g}/s" if t.action == "limit" else ""
        print(f"  {t.action}{rate}  {t.scope}  until {until}  {t.command_id}  {t.reason}")
