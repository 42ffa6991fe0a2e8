"""``smsguard bench-admission --redis URL``: admission checks per second from one process.

Starts nothing: point it at a running Redis, e.g. a throw-away one with
``redis-server --port 6390 --save '' --appendonly no``. It writes only keys under
its own prefix (``smsguard-bench`` unless told otherwise) and deletes them at
the end. Half the requests hit active throttles (a prefix limit and an account
block), so the script's bucket path is measured, not only the empty fast path.
"""

from __future__ import annotations

import argparse


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "bench-admission", help="measure admission checks/s against a running Redis",
        description=__doc__,
    )
    parser.add_argument("--redis", required=True, help="Redis URL, e.g. redis://127.0.0.1:6390/0")
    parser.add_argument("--seconds", type=float, default=5.0, help="per mode (default 5)")
    parser.add_argument("--pipeline", type=int, default=200,
                        help="checks per pipelined round trip (default 200)")
    parser.add_argument("--key-prefix", default="smsguard-bench",
                        help="key prefix of the bench's own throttles (default smsguard-bench)")
    parser.add_argument("--json", action="store_true", help="print the figures as JSON")
    parser.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    import json
    import random
    import time

    import redis

    from streams.enforcement.admission import AdmissionClient, AdmissionRequest
    from streams.enforcement.store import ThrottleStore

    rng = random.Random(7)
    now_ms = int(time.time() * 1000)
    store = ThrottleStore(args.redis, key_prefix=args.key_prefix)
    # A generous limit keeps most checks on the bucket path without denying them all.
    seed = [
        {"command_id": "bench-limit", "action": "limit", "rate_per_s": 1_000_000.0,
         "scope": {"prefix": "+2367"}},
        {"command_id": "bench-block", "action": "block", "scope": {"account_id": "acct-13"}},
        {"command_id": "bench-slow", "action": "limit", "rate_per_s": 10.0,
         "scope": {"account_id": "acct-7", "prefix": "+44"}},
    ]
    for cmd in seed:
        store.apply({**cmd, "ts": now_ms, "expires_at": now_ms + 3_600_000, "reason": "bench"})
    prefixes = ["+2367", "+2367", "+4477", "+4915", "+1415", "+3361"]
    requests = [
        AdmissionRequest(
            account_id=f"acct-{rng.randrange(50)}",
            destination=rng.choice(prefixes) + "".join(rng.choices("0123456789", k=7)),
            api_key_id=f"key-{rng.randrange(10)}",
        )
        for _ in range(20_000)
    ]
    client = AdmissionClient(args.redis, key_prefix=args.key_prefix, timeout_ms=2000)
    try:
        client.check_many(requests)  # warm the country cache and load the script
        before = _server_stats(args.redis)
        pipelined = _measure(client, requests, args.pipeline, args.seconds)
        after = _server_stats(args.redis)
        figures = {
            "pipelined_checks_per_s": pipelined,
            # Redis's own time per script run (INFO commandstats deltas): the server's share.
            "server_us_per_check": _per_call(before, after),
            "single_checks_per_s": _measure(client, requests, 1, min(args.seconds, 3.0)),
            "pipeline": args.pipeline,
            "decisions": _mix(client.check_many(requests[:2000])),
        }
    except redis.RedisError as exc:
        print(f"smsguard bench-admission: Redis error: {exc}")
        return 1
    finally:
        client.close()
        _cleanup(args.redis, args.key_prefix)
    if args.json:
        print(json.dumps(figures))
    else:
        print(f"admission checks, one client process, {args.redis}")
        print(f"  pipelined ({args.pipeline}/round trip): "
              f"{figures['pipelined_checks_per_s']:,.0f} checks/s")
        print(f"  one call per check:            {figures['single_checks_per_s']:,.0f} checks/s")
        print(f"  Redis time per check:          {figures['server_us_per_check']:.1f} us "
              "(INFO commandstats)")
        print(f"  decision mix of 2,000 checks:  {figures['decisions']}")
    return 0


def _measure(client, requests, batch: int, seconds: float) -> float:  # noqa: ANN001
    import time

    done, i, n = 0, 0, len(requests)
    start = time.perf_counter()
    deadline = start + seconds
    while time.perf_counter() < deadline:
        chunk = requests[i : i + batch] if i + batch <= n else requests[:batch]
        i = (i + batch) % n
        decisions = client.check_many(chunk)
        if decisions and decisions[0].reason == "redis_unavailable":
            import redis

            raise redis.ConnectionError("Redis became unavailable during the benchmark")
        done += len(chunk)
    return done / (time.perf_counter() - start)


def _server_stats(url: str) -> tuple[int, int]:
    """(calls, usec) of EVALSHA so far, from INFO commandstats."""
    import redis

    client = redis.Redis.from_url(url, socket_timeout=5)
    try:
        stats = client.info("commandstats").get("cmdstat_evalsha", {})
    finally:
        client.close()
    return int(stats.get("calls", 0)), int(stats.get("usec", 0))


def _per_call(before: tuple[int, int], after: tuple[int, int]) -> float:
    calls = after[0] - before[0]
    return (after[1] - before[1]) / calls if calls > 0 else float("nan")


def _mix(decisions) -> dict[str, int]:  # noqa: ANN001
    from collections import Counter

    return dict(Counter(d.reason for d in decisions))


def _cleanup(url: str, key_prefix: str) -> None:
    import redis

    client = redis.Redis.from_url(url, socket_timeout=5)
    try:
        keys = list(client.scan_iter(match=f"{key_prefix}:*", count=1000))
        if keys:
            client.delete(*keys)
    finally:
        client.close()
