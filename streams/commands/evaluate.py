"""``smsguard evaluate``: score a replay output against the simulator's labels."""

from __future__ import annotations

import argparse
import sys


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "evaluate",
        help="score alerts and throttle commands against incident labels",
        description="Per incident: detected, delay, share of attack traffic the throttle "
        "commands stopped after detection; false alerts, false throttles, benign surges "
        "throttled, money saved and lost.",
    )
    parser.add_argument("--input", required=True, help="the replay input file (simulated)")
    parser.add_argument("--labels", help="labels file (default: <input minus .jsonl>.labels.jsonl)")
    parser.add_argument("--output", required=True, help="the replay output (alerts, throttles)")
    parser.add_argument("--json", action="store_true", help="print the machine-readable report")
    parser.add_argument("--report", help="also write the JSON report to this file")
    parser.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    import orjson

    from detector.evaluation import evaluate, write_report_json
    from detector.simulation import default_labels_path

    labels = args.labels or default_labels_path(args.input)
    try:
        report = evaluate(args.input, labels, args.output)
    except (OSError, ValueError) as err:
        print(f"smsguard evaluate: {err}", file=sys.stderr)
        return 2
    if args.report:
        write_report_json(report, args.report)
    if args.json:
        sys.stdout.write(orjson.dumps(report.to_dict(), option=orjson.OPT_INDENT_2).decode())
        sys.stdout.write("\n")
    else:
        print(report.format_table())
    return 0
