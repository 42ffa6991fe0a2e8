"""Write the analysis notebooks (without outputs) from the cell sources below.

The .ipynb files are committed; edit the cells here and run
``.venv/bin/python notebooks/build_notebooks.py`` to regenerate them, so the
notebooks stay reviewable as plain Python in diffs. They import the package and
never copy its code; every input comes from environment variables (see
``detector.analysis.notebook_inputs``) so the tests can point them at a small file.
"""

from __future__ import annotations

from pathlib import Path

import nbformat
from nbformat.v4 import new_code_cell, new_markdown_cell, new_notebook

HERE = Path(__file__).resolve().parent

EXPLORE = [
    new_markdown_cell("""# 01 · Explore traffic

Volumes, countries, OTP conversion and delivery rates of a recorded traffic file
(the contract's replay format), or of a window of the live input topics.

* `SMSGUARD_NOTEBOOK_INPUT`: replay input file (default: a small simulated file).
* `KAFKA_BOOTSTRAP`: when set, read a window of the input topics from that broker instead
  (`SMSGUARD_NOTEBOOK_KAFKA_RECORDS` caps how many records, default 20 000).

Message bodies never appear: records go through the detector's parser, which keeps
only body features (length, URL, fingerprint)."""),
    new_code_cell("""import os
from collections import Counter

import matplotlib.pyplot as plt

from detector.analysis.notebook_inputs import notebook_inputs
from detector.analysis.traffic import load_traffic, rates_by, sends_per_bin, traffic_from_lines
from detector.config import load_config

config = load_config(os.environ.get("SMSGUARD_CONFIG"))
KAFKA_BOOTSTRAP = os.environ.get("KAFKA_BOOTSTRAP")"""),
    new_markdown_cell("""With `KAFKA_BOOTSTRAP` set, the window is the input topics from their
beginning until `SMSGUARD_NOTEBOOK_KAFKA_RECORDS` records or 3 s without a new
one (no consumer group, nothing committed: reading here never moves the worker's offsets)."""),
    new_code_cell("""async def read_input_window(bootstrap, config, limit, idle_s=3.0):
    from contextlib import aclosing

    from streams.kafka_io import follow

    kafka = config.kafka
    topics = [kafka.topic_send, kafka.topic_dlr, kafka.topic_verify]
    window = []
    async with aclosing(follow(bootstrap, topics, idle_timeout_s=idle_s)) as records:
        async for record in records:
            window.append(record)
            if len(window) >= limit:
                break
    # Partitions interleave: put the window back in event-time order (the producer sets
    # each record's Kafka timestamp to its ts).
    window.sort(key=lambda record: record.timestamp_ms)
    return [{"topic": record.topic, "value": record.raw} for record in window]"""),
    new_code_cell("""if KAFKA_BOOTSTRAP:
    limit = int(os.environ.get("SMSGUARD_NOTEBOOK_KAFKA_RECORDS", "20000"))
    lines = await read_input_window(KAFKA_BOOTSTRAP, config, limit)
    traffic = traffic_from_lines(lines, config)
    source = f"Kafka at {KAFKA_BOOTSTRAP}"
else:
    inputs = notebook_inputs(config=config, need_output=False)
    traffic = load_traffic(inputs.input_path, config)
    source = str(inputs.input_path)
print(f"source: {source}")
print(f"sends {len(traffic.sends):,}  delivery reports {len(traffic.dlrs):,}  "
      f"verifications {len(traffic.verifies):,}  rejected {sum(traffic.rejected.values()):,}")
if traffic.rejected:
    print("rejected by reason:", dict(traffic.rejected))"""),
    new_markdown_cell("## Volume over time, by category"),
    new_code_cell("""categories = sorted({s.category or "unset" for s in traffic.sends})
bin_s, bins, total = sends_per_bin(traffic.sends)
fig, ax = plt.subplots(figsize=(11, 3.5))
for category in categories:
    picked = [s for s in traffic.sends if (s.category or "unset") == category]
    _, _, counts = sends_per_bin(picked, bin_s=bin_s, span=(bins[0], bins[-1]))
    ax.step([b / 3_600_000 - bins[0] / 3_600_000 for b in bins], counts, where="post",
            label=category)
ax.set_xlabel("hours since the first send")
ax.set_ylabel(f"sends per {bin_s} s")
ax.legend()
plt.show()"""),
    new_markdown_cell("## Countries and number types"),
    new_code_cell("""by_country = rates_by(traffic, "country")
top = sorted(by_country.items(), key=lambda kv: -kv[1].sends)[:15]
fig, (ax1, ax2) = plt.subplots(1, 2, figsize=(12, 4))
ax1.barh([c for c, _ in reversed(top)], [r.sends for _, r in reversed(top)])
ax1.set_xlabel("sends")
ax1.set_title("Top destination countries")
types = Counter(s.number_type for s in traffic.sends)
ax2.bar(list(types), list(types.values()))
ax2.set_title("Destination number types")
plt.show()"""),
    new_markdown_cell("""## OTP conversion and delivery rates

Conversion = verified OTP sends / OTP sends; pumping shows up as OTP traffic nobody
verifies. Delivery rate = delivered / delivery reports."""),
    new_code_cell("""rows = [(c, r) for c, r in top if r.otp_sends or r.dlrs]
fig, ax = plt.subplots(figsize=(11, 4))
x = range(len(rows))
ax.bar([i - 0.2 for i in x], [r.conversion or 0 for _, r in rows], width=0.4,
       label="OTP conversion")
ax.bar([i + 0.2 for i in x], [r.delivery_rate or 0 for _, r in rows], width=0.4,
       label="delivery rate")
ax.set_xticks(list(x), [c for c, _ in rows])
ax.set_ylim(0, 1)
ax.legend()
plt.show()
for country, r in rows:
    conv = "–" if r.conversion is None else f"{r.conversion:.1%}"
    deliv = "–" if r.delivery_rate is None else f"{r.delivery_rate:.1%}"
    print(f"{country:4} sends {r.sends:7,}  otp {r.otp_sends:6,}  conversion {conv:>6}  "
          f"delivered {deliv:>6}")"""),
    new_code_cell("""by_route = rates_by(traffic, "route")
routes = sorted(((k, r) for k, r in by_route.items() if r.dlrs), key=lambda kv: -kv[1].dlrs)[:20]
fig, ax = plt.subplots(figsize=(11, 4))
ax.bar([k for k, _ in routes], [r.failure_rate or 0 for _, r in routes])
ax.set_ylabel("failure rate")
ax.set_title("Delivery failures by route")
ax.tick_params(axis="x", rotation=60)
plt.show()"""),
]

INVESTIGATE = [
    new_markdown_cell("""# 02 · Investigate an alert

Given an alert id (`SMSGUARD_NOTEBOOK_ALERT_ID`; default: the first alert of the
replay output), show its evidence against the entity's history and the shape of the
messages around it: counts, countries, number types, lengths. Never bodies.

* `SMSGUARD_NOTEBOOK_INPUT`: replay input (default: a small simulated file).
* `SMSGUARD_NOTEBOOK_OUTPUT`: replay output (default: replay the input)."""),
    new_code_cell("""import os

import matplotlib.pyplot as plt

from detector.analysis.findings import load_findings
from detector.analysis.notebook_inputs import notebook_inputs
from detector.analysis.score_trace import trace_findings
from detector.analysis.timelines import throttle_intervals
from detector.analysis.traffic import entity_sends, load_traffic, message_shape, sends_per_bin
from detector.config import load_config

config = load_config(os.environ.get("SMSGUARD_CONFIG"))
inputs = notebook_inputs(config=config)
findings = load_findings(inputs.output_path)
traffic = load_traffic(inputs.input_path, config)
print(f"{len(findings.alerts)} alerts, {len(findings.throttles)} throttle commands")"""),
    new_code_cell("""ALERT_ID = os.environ.get("SMSGUARD_NOTEBOOK_ALERT_ID")
assert ALERT_ID or findings.alerts, f"{inputs.output_path} holds no alert to investigate"
alert = findings.alert(ALERT_ID) if ALERT_ID else findings.alerts[0]
entity_type, entity_id = alert["entity"]["type"], alert["entity"]["id"]
print(f"alert {alert['alert_id']}: {alert['kind']} ({alert['severity']}), "
      f"score {alert['score']:.2f}, action {alert['action']}")
print(f"entity {entity_type}:{entity_id}, account {alert.get('account_id', '–')}")
print()
print(f"{'feature':32} {'observed':>12} {'baseline':>12}")
for item in alert["evidence"]:
    print(f"{item['feature']:32} {item['value']!s:>12} {item['baseline']!s:>12}")"""),
    new_markdown_cell("## Evidence: observed against the entity's baseline"),
    new_code_cell("""numeric = [
    e for e in alert["evidence"]
    if isinstance(e.get("value"), int | float) and isinstance(e.get("baseline"), int | float)
]
if numeric:
    fig, ax = plt.subplots(figsize=(11, 0.5 * len(numeric) + 1.5))
    y = range(len(numeric))
    ax.barh([i + 0.2 for i in y], [e["value"] for e in numeric], height=0.4, label="observed")
    ax.barh([i - 0.2 for i in y], [e["baseline"] for e in numeric], height=0.4, label="baseline")
    ax.set_yticks(list(y), [e["feature"] for e in numeric])
    ax.set_xscale("symlog")
    ax.legend()
    plt.show()"""),
    new_markdown_cell("""## The entity's history

Its sends per bin over the hours before the alert, with this alert, the entity's other
alerts and the throttle commands that named it."""),
    new_code_cell("""HISTORY_MS = 6 * 3_600_000
AFTER_MS = 30 * 60_000
start, end = alert["ts"] - HISTORY_MS, alert["ts"] + AFTER_MS
history = entity_sends(traffic, entity_type, entity_id, start, end)
span = (max(start, traffic.span[0]), min(end, traffic.span[1]))
bin_s, bins, counts = sends_per_bin(history, span=span)
hours = [(b - alert["ts"]) / 3_600_000 for b in bins]
fig, ax = plt.subplots(figsize=(11, 4))
ax.step(hours, counts, where="post", label=f"sends of {entity_type}:{entity_id}")
others = [a for a in findings.alerts if a["entity"] == alert["entity"] and a is not alert]
for n, other in enumerate(others):
    ax.axvline((other["ts"] - alert["ts"]) / 3_600_000, color="orange", linewidth=1,
               label="other alerts" if n == 0 else None)
commands = [c for c in findings.throttles if c.get("alert_id") in
            {a["alert_id"] for a in others + [alert]}]
for n, (t0, t1, _action) in enumerate(throttle_intervals(commands)):
    ax.axvspan((t0 - alert["ts"]) / 3_600_000, (t1 - alert["ts"]) / 3_600_000, color="purple",
               alpha=0.12, label="throttled (limit/block in force)" if n == 0 else None)
ax.axvline(0, color="red", linewidth=2, label="this alert")
ax.set_xlim(hours[0], hours[-1] + bin_s / 3600)
ax.set_xlabel("hours relative to the alert")
ax.set_ylabel(f"sends per {bin_s} s")
ax.legend()
plt.show()"""),
    new_markdown_cell("""## The entity's scores over time

Every finding the detector judged for this entity (one replay, observed step by step),
not only the ones it alerted on, against the policy's thresholds."""),
    new_code_cell("""trace = [f for f in trace_findings(inputs.input_path, config)
         if f["entity"] == alert["entity"] and start <= f["ts"] <= end]
fig, ax = plt.subplots(figsize=(11, 3.5))
for kind in sorted({f["kind"] for f in trace}):
    points = [f for f in trace if f["kind"] == kind]
    ax.scatter([(f["ts"] - alert["ts"]) / 3_600_000 for f in points],
               [f["score"] for f in points], s=10, label=kind)
ax.axhline(config.policy.warning_score, color="orange", linestyle="--", label="warning")
ax.axhline(config.policy.critical_score, color="red", linestyle=":", label="critical")
ax.axvline(0, color="red", linewidth=2)
ax.set_xlim(hours[0], hours[-1] + bin_s / 3600)
if trace and max(f["score"] for f in trace) > 4 * config.policy.critical_score:
    ax.set_yscale("symlog", linthresh=config.policy.critical_score)
ax.set_xlabel("hours relative to the alert")
ax.set_ylabel("finding score")
ax.legend(fontsize="small", ncol=3)
plt.show()
print(f"{len(trace)} findings for {entity_type}:{entity_id} in the window")"""),
    new_markdown_cell("""## The messages' shape: the alert's window against the entity's normal

Counts, destinations, countries, number types and lengths; the text is never loaded."""),
    new_code_cell("""WINDOW_MS = 10 * 60_000
ts = alert["ts"]
recent = message_shape(entity_sends(traffic, entity_type, entity_id, ts - WINDOW_MS, ts))
before = message_shape(
    entity_sends(traffic, entity_type, entity_id, ts - HISTORY_MS, ts - WINDOW_MS - 1)
)
for name, shape in (("alert window", recent), ("before", before)):
    url = "–" if shape.url_share is None else f"{shape.url_share:.0%}"
    print(f"{name:13} sends {shape.count:6,}  "
          f"distinct destinations {shape.distinct_destinations:6,}  "
          f"templates {shape.distinct_fingerprints:4}  URL share {url:>4}  "
          f"price ${shape.price_total:,.2f}")
    print(f"{'':13} countries {dict(shape.countries.most_common(6))}")
    print(f"{'':13} number types {dict(shape.number_types)}")
    print(f"{'':13} categories {dict(shape.categories)}")"""),
    new_code_cell("""COLOURS = {"before": "#7f8c8d", "alert window": "#c0392b"}
fig, (ax1, ax2, ax3) = plt.subplots(1, 3, figsize=(13, 3.5))
for shape, name in ((before, "before"), (recent, "alert window")):
    if shape.count:
        ax1.hist(shape.lengths, bins=30, alpha=0.5, density=True, label=name,
                 color=COLOURS[name])
ax1.set_title("message length (characters)")
ax1.legend()
countries = sorted(set(recent.countries) | set(before.countries),
                   key=lambda c: -(recent.countries[c] + before.countries[c]))[:10]
types = sorted(set(recent.number_types) | set(before.number_types))
x = range(len(countries))
for offset, shape, name in ((-0.2, before, "before"), (0.2, recent, "alert window")):
    total = shape.count or 1
    ax2.bar([i + offset for i in x], [shape.countries[c] / total for c in countries], width=0.4,
            label=name, color=COLOURS[name])
    ax3.bar([i + offset for i in range(len(types))],
            [shape.number_types[t] / total for t in types], width=0.4, label=name,
            color=COLOURS[name])
ax2.legend()
ax2.set_xticks(list(x), countries)
ax2.set_title("share by country")
ax3.set_xticks(list(range(len(types))), types)
ax3.set_title("share by number type")
plt.show()"""),
]


TUNE = [
    new_markdown_cell("""# 03 · Backtest and tune

Replay a recorded, labelled file under modified configurations (policy thresholds,
per-account sensitivity), score every run with the detector's own evaluation, compare
them with scikit-learn's metrics, and write the chosen settings as a TOML file that
`smsguard worker --config` (any command's `--config`) reads.

* `SMSGUARD_NOTEBOOK_INPUT` / `SMSGUARD_NOTEBOOK_LABELS`: recorded file and its labels
  (default: a small simulated file).
* `SMSGUARD_NOTEBOOK_WARNING_SCORES`, `SMSGUARD_NOTEBOOK_SENSITIVITIES`: the grid
  (comma-separated; defaults below).
* `SMSGUARD_NOTEBOOK_SETTINGS`: where to write the chosen settings
  (default: `tuned.toml` in the notebook work directory)."""),
    new_code_cell("""import os
from pathlib import Path

import matplotlib.pyplot as plt
from sklearn.metrics import (
    average_precision_score,
    f1_score,
    precision_recall_curve,
    precision_score,
    recall_score,
)

from detector.analysis.backtest import Variant, grid, run_variant, settings_toml, sweep
from detector.analysis.notebook_inputs import notebook_inputs
from detector.analysis.traffic import load_traffic
from detector.config import load_config

base = load_config(os.environ.get("SMSGUARD_CONFIG"))
inputs = notebook_inputs(config=base, need_output=False)
assert inputs.labels_path is not None, "backtesting needs the incident labels of the file"
WARNING_SCORES = [float(x) for x in
                  os.environ.get("SMSGUARD_NOTEBOOK_WARNING_SCORES", "4,6,9,12").split(",")]
SENSITIVITIES = [float(x) for x in
                 os.environ.get("SMSGUARD_NOTEBOOK_SENSITIVITIES", "0.75,1,1.5").split(",")]
SETTINGS = Path(os.environ.get("SMSGUARD_NOTEBOOK_SETTINGS") or inputs.workdir / "tuned.toml")
CRITICAL_RATIO = base.policy.critical_score / base.policy.warning_score
accounts = {s.account_id for s in load_traffic(inputs.input_path, base).sends}
print(f"input {inputs.input_path} ({len(accounts)} accounts), labels {inputs.labels_path}")"""),
    new_markdown_cell("""## The sweep

One full replay per grid point (warning score × a sensitivity set on every account;
critical score keeps the base ratio), spread over the machine's cores."""),
    new_code_cell("""variants = grid(WARNING_SCORES, SENSITIVITIES, accounts, CRITICAL_RATIO)
runs = sweep(variants, inputs.input_path, inputs.labels_path, inputs.workdir / "sweep", base)
print(f"{len(runs)} runs")"""),
    new_markdown_cell("""## Scoring each run with scikit-learn

*Incidents*: every labelled incident (positive when malicious) and every group of false
alerts (a negative the detector flagged) is one unit; precision, recall and F1 come from
`sklearn.metrics` over those units. *Traffic stopped*: every send is a unit, positive when
it belongs to an attack, predicted positive when the emitted throttles would have stopped
it (the evaluation's gate); counts enter as `sample_weight`."""),
    new_code_cell("""def scores(run):
    y_true = [u["truth"] for u in run.units]
    y_pred = [u["flagged"] for u in run.units]
    ev = run.evaluation
    attack = sum(r.attack_sends for r in ev.malicious)
    attack_stopped = sum(r.stopped_total for r in ev.malicious)
    legit = ev.sends - attack
    stop_true, stop_pred = [1, 1, 0, 0], [1, 0, 1, 0]
    weights = [attack_stopped, attack - attack_stopped, ev.legit_sends_stopped,
               legit - ev.legit_sends_stopped]
    summary = ev.to_dict()["summary"]
    return {
        "label": run.variant.label,
        "warning": run.variant.warning_score,
        "sensitivity": dict(run.variant.sensitivity).get(next(iter(accounts)), 1.0),
        "precision": precision_score(y_true, y_pred, zero_division=0),
        "recall": recall_score(y_true, y_pred, zero_division=0),
        "f1": f1_score(y_true, y_pred, zero_division=0),
        "median_delay_s": summary["median_delay_s"],
        "stopped_recall": recall_score(stop_true, stop_pred, sample_weight=weights,
                                       zero_division=0),
        "stopped_precision": precision_score(stop_true, stop_pred, sample_weight=weights,
                                             zero_division=0),
        "false_throttles": summary["false_throttles"],
        "legit_stopped": summary["legit_sends_stopped"],
        "benign_throttled": len(summary["benign_throttled"]),
    }


table = [scores(run) for run in runs]
print(f"{'variant':32} {'prec':>5} {'rec':>5} {'F1':>5} {'delay':>7} {'stopped':>8} "
      f"{'false thr':>9} {'legit stopped':>13}")
print("(stopped: share of all attack sends the throttles stopped, before detection included)")
for row in table:
    delay = "–" if row["median_delay_s"] is None else f"{row['median_delay_s']:.0f}s"
    print(f"{row['label']:32} {row['precision']:5.2f} {row['recall']:5.2f} {row['f1']:5.2f} "
          f"{delay:>7} {row['stopped_recall']:8.1%} {row['false_throttles']:9} "
          f"{row['legit_stopped']:13}")"""),
    new_markdown_cell("## Precision, recall and detection delay against the warning score"),
    new_code_cell("""fig, (ax1, ax2) = plt.subplots(1, 2, figsize=(13, 4))
for n, sensitivity in enumerate(SENSITIVITIES):
    rows = [r for r in table if r["sensitivity"] == sensitivity]
    xs = [r["warning"] for r in rows]
    ax1.plot(xs, [r["precision"] for r in rows], "o-", color=f"C{n}",
             label=f"precision, sens. {sensitivity:g}")
    ax1.plot(xs, [r["recall"] for r in rows], "s--", color=f"C{n}",
             label=f"recall, sens. {sensitivity:g}")
    delays = [r["median_delay_s"] if r["median_delay_s"] is not None else float("nan")
              for r in rows]
    ax2.plot(xs, delays, "o-", color=f"C{n}", label=f"sensitivity {sensitivity:g}")
ax1.set_xlabel("policy.warning_score")
ax1.set_ylim(0, 1.05)
ax1.legend(fontsize="small", ncol=2)
ax1.set_title("incident precision / recall")
ax2.set_xlabel("policy.warning_score")
ax2.set_ylabel("median detection delay (s)")
ax2.legend(fontsize="small")
plt.show()"""),
    new_markdown_cell("## Attack traffic stopped against false throttles"),
    new_code_cell("""fig, ax = plt.subplots(figsize=(9, 5))
ax.scatter([r["false_throttles"] for r in table], [r["stopped_recall"] for r in table],
           c=[r["warning"] for r in table], cmap="viridis", s=60)
for r in table:
    ax.annotate(f"w{r['warning']:g}/s{r['sensitivity']:g}",
                (r["false_throttles"], r["stopped_recall"]), fontsize="x-small",
                xytext=(4, 4), textcoords="offset points")
ax.set_xlabel("false throttle commands (stopped only legitimate sends)")
ax.set_ylabel("share of attack sends stopped (recall_score, weighted)")
plt.show()"""),
    new_markdown_cell("""## Precision–recall curve over alert scores

From the most sensitive run (lowest warning score, highest sensitivity): each unit's highest alert
score, swept as a threshold by `precision_recall_curve`."""),
    new_code_cell("""sensitive, _ = max(zip(runs, table, strict=True),
                   key=lambda pair: (-pair[1]["warning"], pair[1]["sensitivity"]))
y_true = [u["truth"] for u in sensitive.units]
y_score = [u["score"] for u in sensitive.units]
if 0 < sum(y_true) < len(y_true):
    precision, recall, thresholds = precision_recall_curve(y_true, y_score)
    ap = average_precision_score(y_true, y_score)
    fig, ax = plt.subplots(figsize=(7, 5))
    ax.step(recall, precision, where="post")
    ax.set_xlabel("recall")
    ax.set_ylabel("precision")
    ax.set_title(f"{sensitive.variant.label}: average precision {ap:.2f}")
    plt.show()
else:
    print("only one class among the units: no precision-recall curve")"""),
    new_markdown_cell("""## Choosing, then per-account sensitivity

The chosen grid point maximises incident F1, then fewest false throttles, then most attack
traffic stopped, then shortest median delay. Accounts whose legitimate traffic was still
throttled then get a lower sensitivity, kept only if that does not cost F1 and does cut
false throttles."""),
    new_code_cell("""def rank(row):
    delay = row["median_delay_s"] if row["median_delay_s"] is not None else float("inf")
    return (row["f1"], -row["false_throttles"], row["stopped_recall"], -delay)


best_row = max(table, key=rank)
best = runs[table.index(best_row)]
print("chosen:", best.variant.label)
noisy = sorted({t.scope["account_id"] for t in best.evaluation.false_throttles
                if t.scope.get("account_id")})
print(f"accounts with false throttles: {noisy or 'none'}")
chosen = best.variant
if noisy:
    damped = dict(best.variant.sensitivity)
    for account in noisy:
        damped[account] = 0.5 * damped.get(account, 1.0)
    trial = Variant(best.variant.warning_score, best.variant.critical_score,
                    tuple(sorted(damped.items())), label=best.variant.label + ", damped")
    trial_run = run_variant(trial, str(inputs.input_path), str(inputs.labels_path),
                            str(inputs.workdir / "sweep" / "damped.out.jsonl"), base)
    trial_row = scores(trial_run)
    print(f"damped: F1 {trial_row['f1']:.2f} (was {best_row['f1']:.2f}), false throttles "
          f"{trial_row['false_throttles']} (was {best_row['false_throttles']})")
    if (trial_row["f1"] >= best_row["f1"]
            and trial_row["false_throttles"] < best_row["false_throttles"]):
        chosen, best_row = trial, trial_row
print("final:", chosen.label)"""),
    new_markdown_cell("## Writing the settings file, and reading it back"),
    new_code_cell("""text = settings_toml(
    {"warning_score": chosen.warning_score, "critical_score": chosen.critical_score},
    dict(chosen.sensitivity),
    comment=f"Chosen by notebooks/03_backtest_and_tune.ipynb on {inputs.input_path.name}:\\n"
            f"{chosen.label}; incident F1 {best_row['f1']:.2f}, "
            f"false throttles {best_row['false_throttles']}",
)
SETTINGS.parent.mkdir(parents=True, exist_ok=True)
SETTINGS.write_text(text, encoding="utf-8")
loaded = load_config(SETTINGS, env={})
assert loaded.policy.warning_score == chosen.warning_score
assert loaded.policy.critical_score == chosen.critical_score
assert loaded.sensitivity == dict(chosen.sensitivity)
print(f"wrote {SETTINGS} ({len(loaded.sensitivity)} per-account sensitivities)")
print("\\n".join(text.splitlines()[:12]))"""),
]

NOTEBOOKS = {
    "01_explore_traffic.ipynb": EXPLORE,
    "02_investigate_alert.ipynb": INVESTIGATE,
    "03_backtest_and_tune.ipynb": TUNE,
}


def build(cells: list) -> nbformat.NotebookNode:
    notebook = new_notebook(cells=cells)
    notebook.metadata["kernelspec"] = {
        "name": "python3", "display_name": "Python 3 (ipykernel)", "language": "python",
    }
    notebook.metadata["language_info"] = {"name": "python"}
    # Stable cell ids keep regenerated notebooks diff-free.
    for n, cell in enumerate(notebook.cells):
        cell["id"] = f"cell-{n:02d}"
    return notebook


def main() -> None:
    for name, cells in NOTEBOOKS.items():
        notebook = build(cells)
        nbformat.validate(notebook)
        nbformat.write(notebook, HERE / name)
        print(f"wrote {HERE / name}")


if __name__ == "__main__":
    main()
