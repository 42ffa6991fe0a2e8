"""``smsguard simulate``: write labelled synthetic traffic as a replay file."""

from __future__ import annotations

import argparse
import sys
import time


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "simulate",
        help="write realistic labelled SMS traffic (replay file + incident labels)",
        description="Simulate tenants' SMS traffic with injected attacks and benign surges. "
        "Writes a contract replay file and a labels file (one incident a line).",
    )
    parser.add_argument("--out", required=True, help="replay file to write (.jsonl)")
    parser.add_argument("--labels", help="labels file (default: <out minus .jsonl>.labels.jsonl)")
    parser.add_argument("--seed", type=int, default=1, help="random seed (default 1)")
    parser.add_argument("--scenario", choices=("default", "bench"), default="default")
    parser.add_argument("--hours", type=float, help="event-time span (default: scenario's, 8)")
    parser.add_argument("--accounts", type=int, help="number of tenants (default: 300)")
    parser.add_argument(
        "--target-records", type=int, help="scale normal traffic to about this many records"
    )
    parser.add_argument("--quiet", action="store_true", help="do not print the incident list")
    parser.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    from detector.simulation import simulate

    started = time.perf_counter()
    summary = simulate(
        args.out, args.labels, seed=args.seed, scenario=args.scenario, hours=args.hours,
        accounts=args.accounts, target_records=args.target_records,
    )
    elapsed = time.perf_counter() - started
    topics = ", ".join(f"{t} {n}" for t, n in sorted(summary.by_topic.items()))
    print(f"wrote {summary.records} records ({topics}) to {summary.out_path} in {elapsed:.1f}s")
    print(f"wrote {len(summary.incidents)} incident labels to {summary.labels_path}")
    if not args.quiet:
        for label in summary.incidents:
            tag = "benign" if label.benign else "attack"
            minutes = (label.end_ts - label.start_ts) / 60000
            print(f"  [{tag}] {label.kind:<22} {minutes:5.0f} min  {label.description}",
                  file=sys.stdout)
    return 0
