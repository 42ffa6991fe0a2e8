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
from detector.analysis.traffic import entity_sends, load_traffic, message_shape, sends_per_bin
from detector.config import load_config

config = load_config(os.environ.get("SMSGUARD_CONFIG"))
inputs = notebook_inputs(config=config)
findings = load_findings(inputs.output_path)
traffic = load_traffic(inputs.input_path, config)
print(f"{len(findings.alerts)} alerts, {len(findings.throttles)} throttle commands")"""),
    new_code_cell("""ALERT_ID = os.environ.get("SMSGUARD_NOTEBOOK_ALERT_ID")
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
for n, command in enumerate(commands):
    ax.axvline((command["ts"] - alert["ts"]) / 3_600_000, color="purple", linestyle="--",
               label="throttle commands" if n == 0 else None)
ax.axvline(0, color="red", linewidth=2, label="this alert")
ax.set_xlabel("hours relative to the alert")
ax.set_ylabel(f"sends per {bin_s} s")
ax.legend()
plt.show()"""),
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
    new_code_cell("""fig, (ax1, ax2, ax3) = plt.subplots(1, 3, figsize=(13, 3.5))
for shape, name in ((before, "before"), (recent, "alert window")):
    if shape.count:
        ax1.hist(shape.lengths, bins=30, alpha=0.5, density=True, label=name)
ax1.set_title("message length (characters)")
ax1.legend()
countries = sorted(set(recent.countries) | set(before.countries),
                   key=lambda c: -(recent.countries[c] + before.countries[c]))[:10]
x = range(len(countries))
for offset, shape, name in ((-0.2, before, "before"), (0.2, recent, "alert window")):
    total = shape.count or 1
    ax2.bar([i + offset for i in x], [shape.countries[c] / total for c in countries], width=0.4,
            label=name)
    types = sorted(set(recent.number_types) | set(before.number_types))
    ax3.bar([i + offset for i in range(len(types))],
            [shape.number_types[t] / total for t in types], width=0.4, label=name)
ax2.set_xticks(list(x), countries)
ax2.set_title("share by country")
ax3.set_xticks(list(range(len(types))), types)
ax3.set_title("share by number type")
plt.show()"""),
]

NOTEBOOKS = {
    "01_explore_traffic.ipynb": EXPLORE,
    "02_investigate_alert.ipynb": INVESTIGATE,
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
