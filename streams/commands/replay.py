"""``smsguard replay IN.jsonl --out OUT.jsonl``: the detector on a file, on event time."""

from __future__ import annotations

import argparse
import sys


def register(sub: argparse._SubParsersAction) -> None:
    parser = sub.add_parser("replay", help="run detection on a replay file, in-process")
    parser.add_argument("input", help="contract replay file (JSON lines)")
    parser.add_argument("--out", required=True, help="where alerts and commands go")
    parser.add_argument("--deadletter", help="also write rejected records here")
    parser.add_argument("--no-progress", action="store_true", help="no progress bar")
    parser.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    from detector.config import load_config
    from detector.replay import replay_file

    config = load_config(args.config)
    summary = replay_file(args.input, args.out, config, progress=not args.no_progress,
                          deadletter_path=args.deadletter)
    rejected = sum(summary.rejected.values())
    print(
        f"replayed {summary.records_in:,} records in {summary.seconds:.1f} s "
        f"({summary.records_per_s:,.0f}/s): {summary.alerts} alerts, "
        f"{summary.throttles} throttle commands, {rejected} rejected"
        + (f" {dict(summary.rejected)}" if rejected else ""),
        file=sys.stderr,
    )
    return 0
