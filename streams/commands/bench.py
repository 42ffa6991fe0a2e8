"""``smsguard bench``: the figures issue 2 asks for, measured the same way every time.

(a) Detection on the simulator's default scenario: every incident detected?
median and max delay, benign surges throttled, share of pumping traffic the
throttles stopped after detection. (b) Replay throughput and peak memory for
each requested size: the replay runs in a fresh child process on a generated
file, and the child reports its own wall time and peak RSS, so one size's
memory never leaks into another's figure.

Run as a module (``python -m streams.commands.bench replay-child IN OUT``) it is
that child.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import time
from pathlib import Path

GOALS = {
    "median_delay_s": 60.0,
    "max_delay_s": 300.0,
    "pumping_stopped_share": 0.90,
    "records_per_s": 50_000.0,
}


# Traffic density of the throughput files: about the default scenario's (300
# accounts, ~44k records an hour), so 100k records are ~2.3 h and 1M ~23 h.
RECORDS_PER_HOUR = 44_000


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "bench",
        help="measure detection quality and replay throughput/memory",
        description="Detection figures on the default simulated scenario, then replay "
        "throughput (records/s) and peak RSS for each size, each replay in a fresh process.",
    )
    parser.add_argument("--sizes", default="100000,1000000",
                        help="comma-separated input record counts for the throughput runs")
    parser.add_argument("--quick", action="store_true",
                        help="smaller runs: a 4 h / 150-account detection scenario, sizes 50k,200k")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--workdir", default="out/bench", help="where generated files go")
    parser.add_argument("--json", metavar="PATH", help="also write the figures as JSON here")
    parser.add_argument("--skip-detection", action="store_true")
    parser.add_argument("--skip-throughput", action="store_true")
    parser.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    from detector.config import load_config

    config = load_config(args.config)
    workdir = Path(args.workdir)
    workdir.mkdir(parents=True, exist_ok=True)
    sizes = [50_000, 200_000] if args.quick and args.sizes == "100000,1000000" else [
        int(s) for s in args.sizes.split(",") if s.strip()
    ]
    figures: dict = {
        "command": "smsguard " + " ".join(sys.argv[1:]) if sys.argv[1:] else "smsguard bench",
        "machine": {"python": platform.python_version(), "cpus": os.cpu_count(),
                    "platform": platform.platform()},
        "goals": GOALS,
    }
    if not args.skip_detection:
        figures["detection"] = detection_figures(args, config, workdir)
        _print_detection(figures["detection"])
    if not args.skip_throughput:
        figures["throughput"] = [
            throughput_figures(size, args.seed, workdir, args.config) for size in sizes
        ]
        _print_throughput(figures["throughput"])
    if args.json:
        Path(args.json).parent.mkdir(parents=True, exist_ok=True)
        Path(args.json).write_text(json.dumps(figures, indent=2) + "\n")
        print(f"\nfigures written to {args.json}")
    return 0


def detection_figures(args: argparse.Namespace, config, workdir: Path) -> dict:
    from detector.evaluation import evaluate, write_report_json
    from detector.replay import replay_file
    from detector.simulation import simulate

    hours, accounts = (4.0, 150) if args.quick else (None, None)
    sim_path = workdir / "detection.jsonl"
    out_path = workdir / "detection.out.jsonl"
    print(f"simulating the default scenario (seed {args.seed}) ...", flush=True)
    summary = simulate(sim_path, seed=args.seed, scenario="default", hours=hours,
                       accounts=accounts)
    print(f"replaying {summary.records} records ...", flush=True)
    replay = replay_file(sim_path, out_path, config=config, progress=True)
    report = evaluate(sim_path, summary.labels_path, out_path)
    write_report_json(report, workdir / "detection.report.json")
    print(report.format_table())
    med, mx = report.median_delay_s, report.max_delay_s
    pump = report.stopped_share("sms_pumping")
    return {
        "scenario": {"seed": args.seed, "records": summary.records,
                     "hours": hours or 8.0, "accounts": accounts or 300},
        "incidents": len(report.malicious),
        "detected": sum(r.detected for r in report.malicious),
        "all_detected": report.all_detected,
        "missed": [r.incident_id for r in report.malicious if not r.detected],
        "median_delay_s": med,
        "max_delay_s": mx,
        # The goal counts from each label's start; this counts from its first attack
        # message, which is as early as any detector can see it.
        "max_delay_from_first_s": max(report.delays_from_first, default=None),
        "benign_throttled": report.benign_throttled,
        "pumping_stopped_share": pump,
        "false_alert_groups": len(report.false_alerts),
        "false_throttles": len(report.false_throttles),
        "money_saved_usd": round(report.money_saved, 2),
        "money_cost_usd": round(report.money_cost, 2),
        "replay_records_per_s": round(replay.records_per_s),
        "goals_met": {
            "every_incident_detected": report.all_detected,
            "median_delay": med is not None and med <= GOALS["median_delay_s"],
            "max_delay": mx is not None and mx <= GOALS["max_delay_s"],
            "no_benign_throttled": not report.benign_throttled,
            "pumping_stopped": pump is not None and pump >= GOALS["pumping_stopped_share"],
        },
    }


def throughput_figures(size: int, seed: int, workdir: Path, config_path: str | None) -> dict:
    from detector.simulation import simulate

    sim_path = workdir / f"throughput-{size}.jsonl"
    out_path = workdir / f"throughput-{size}.out.jsonl"
    # More records means more event time at the same traffic density, as a stream
    # that runs longer: flat memory means state bounded by the traffic's breadth,
    # not by how long it has run.
    hours = size / RECORDS_PER_HOUR
    print(f"\nsimulating ~{size} records ({hours:.1f} h of event time) for the throughput "
          "run ...", flush=True)
    started = time.perf_counter()
    summary = simulate(sim_path, seed=seed, scenario="bench", hours=hours, target_records=size)
    print(f"  {summary.records} records in {time.perf_counter() - started:.0f}s; "
          "replaying in a fresh process ...", flush=True)
    cmd = [sys.executable, "-m", "streams.commands.bench", "replay-child",
           str(sim_path), str(out_path)]
    if config_path:
        cmd += ["--config", config_path]
    child = subprocess.run(cmd, capture_output=True, text=True)
    if child.returncode != 0:
        sys.stderr.write(child.stderr)
        raise SystemExit(f"replay child failed with exit code {child.returncode}")
    result = json.loads(child.stdout.strip().splitlines()[-1])
    result["target_records"] = size
    result["event_hours"] = round(hours, 2)
    result["file_mib"] = round(sim_path.stat().st_size / 2**20, 1)
    return result


def _replay_child(argv: list[str]) -> int:
    """Child process: replay one file, print one JSON line of figures."""
    parser = argparse.ArgumentParser(prog="bench replay-child")
    parser.add_argument("input")
    parser.add_argument("output")
    parser.add_argument("--config")
    args = parser.parse_args(argv)
    from detector.config import load_config
    from detector.replay import parse_only, replay_file

    config = load_config(args.config)
    before = _memory_kib("VmRSS")
    summary = replay_file(args.input, args.output, config=config)
    peak = _memory_kib("VmHWM")
    # The same file only read and validated, in the same process right after: what
    # taking the input in costs, so the detector's own cost is a ratio of one run.
    intake = parse_only(args.input, config=config)
    print(json.dumps({
        "records": summary.records_in,
        "seconds": round(summary.seconds, 2),
        "records_per_s": round(summary.records_per_s),
        "parse_only_records_per_s": round(intake.records_per_s),
        "replay_to_parse_only": round(summary.seconds / intake.seconds, 1),
        "alerts": summary.alerts,
        "throttles": summary.throttles,
        "rss_before_mib": round(before / 1024, 1),
        "peak_rss_mib": round(peak / 1024, 1),
    }))
    return 0


def _memory_kib(field: str) -> int:
    """This process's RSS (``VmRSS``) or peak RSS (``VmHWM``) in KiB.

    /proc is read rather than ``ru_maxrss`` because Linux carries the parent's
    high-water mark over fork/exec into the child's ``ru_maxrss``: a child started
    by a big parent would report the parent's peak.
    """
    try:
        with open("/proc/self/status") as fh:
            for line in fh:
                if line.startswith(field + ":"):
                    return int(line.split()[1])
    except OSError:
        pass
    import resource

    return int(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss)


def _print_detection(d: dict) -> None:
    def fmt(v, unit="s"):
        return "-" if v is None else f"{v:.0f}{unit}"

    g = d["goals_met"]
    print("\n== detection (default scenario) ==")
    print(f"every incident detected: {d['detected']}/{d['incidents']}"
          + ("" if d["all_detected"] else f" (missed: {', '.join(d['missed'])})"))
    print(f"detection delay: median {fmt(d['median_delay_s'])} (goal <= 60s: "
          f"{'met' if g['median_delay'] else 'NOT met'}), max {fmt(d['max_delay_s'])} "
          f"(goal <= 300s: {'met' if g['max_delay'] else 'NOT met'}); max from each "
          f"incident's first attack message {fmt(d.get('max_delay_from_first_s'))}")
    print("benign surges throttled: "
          + (", ".join(d["benign_throttled"]) if d["benign_throttled"] else "none"))
    share = d["pumping_stopped_share"]
    print("pumping traffic stopped after detection: "
          + ("-" if share is None else f"{share:.1%}")
          + f" (goal >= 90%: {'met' if g['pumping_stopped'] else 'NOT met'})")


def _print_throughput(rows: list[dict]) -> None:
    print("\n== replay throughput (one fresh process per size) ==")
    print(f"{'records':>10} {'event h':>8} {'seconds':>9} {'records/s':>10} "
          f"{'peak RSS MiB':>13} {'RSS at start':>13} {'parse-only/s':>13} {'x parse':>8}")
    for r in rows:
        print(f"{r['records']:>10} {r['event_hours']:>8.1f} {r['seconds']:>9.1f} "
              f"{r['records_per_s']:>10} {r['peak_rss_mib']:>13.1f} {r['rss_before_mib']:>13.1f}"
              f" {r['parse_only_records_per_s']:>13} {r['replay_to_parse_only']:>8}")


if __name__ == "__main__":
    if len(sys.argv) > 1 and sys.argv[1] == "replay-child":
        sys.exit(_replay_child(sys.argv[2:]))
    sys.exit("usage: python -m streams.commands.bench replay-child IN OUT [--config F]")
