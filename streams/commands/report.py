"""``smsguard report OUT.jsonl --html report.html``: one self-contained HTML page of findings.

OUT.jsonl is a replay output or a captured dump of the alert/throttle topics
(same line format). With ``--input`` the page adds the traffic backdrop; with
``--labels`` (and ``--input``) it adds one timeline per incident and the
evaluation's detection delay and stopped share.
"""

from __future__ import annotations

import argparse
import sys


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "report", help="render alerts and throttles (and labelled incidents) as an HTML page",
        description=__doc__,
    )
    parser.add_argument("output", metavar="OUT.jsonl", help="replay output or output-topic dump")
    parser.add_argument("--input", metavar="IN.jsonl", help="the replay input it came from")
    parser.add_argument("--labels", metavar="L.jsonl", help="simulator labels for the input")
    parser.add_argument("--html", required=True, metavar="report.html", help="page to write")
    parser.add_argument("--top", type=int, default=10, help="entities to list (default 10)")
    parser.add_argument("--bin-s", type=int, default=None,
                        help="seconds per bin in time plots (default: chosen from the span)")
    parser.add_argument("--title", default="smsguard report")
    parser.add_argument("--trace-scores", action="store_true",
                        help="replay --input once more to draw every finding's score on the "
                        "incident timelines, not only the alerts' (costs one replay)")
    parser.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    # matplotlib and the analysis code load only when this command runs.
    from detector.analysis.findings import load_findings, topic_roles_of
    from detector.analysis.incidents import load_labels
    from detector.analysis.traffic import load_traffic
    from detector.config import load_config
    from streams.reporting import build_report, write_report

    config = load_config(args.config)
    for option, given in (("--labels", args.labels), ("--trace-scores", args.trace_scores)):
        if given and not args.input:
            print(f"smsguard report: {option} needs --input (the replay input)",
                  file=sys.stderr)
            return 2
    findings = load_findings(args.output, topic_roles_of(config))
    traffic = load_traffic(args.input, config) if args.input else None
    labels = load_labels(args.labels) if args.labels else []
    outcomes, summary = {}, {}
    if labels:
        from detector.analysis.outcomes import evaluate_outcomes

        outcomes, summary = evaluate_outcomes(args.input, args.labels, args.output)
    trace = None
    if args.trace_scores:
        from detector.analysis.score_trace import trace_findings

        trace = trace_findings(args.input, config)
    sources = {"output": args.output}
    if args.input:
        sources["input"] = args.input
    if args.labels:
        sources["labels"] = args.labels
    data = build_report(findings, traffic=traffic, labels=labels, config=config,
                        outcomes=outcomes, top_n=args.top, bin_s=args.bin_s, title=args.title,
                        sources=sources, summary=summary, score_trace=trace)
    write_report(data, args.html)
    print(f"wrote {args.html}: {len(findings.alerts)} alerts, {len(findings.throttles)} "
          f"throttle commands, {len(data.timelines)} incidents")
    return 0
