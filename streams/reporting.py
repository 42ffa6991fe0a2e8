"""Render findings as one self-contained HTML page: matplotlib figures as inline PNGs.

No external assets (no scripts, stylesheets or image files), so the page can
be mailed, attached to a ticket or opened offline. Figures are drawn on
``matplotlib.figure.Figure`` objects with the Agg canvas, never through
``pyplot``'s global state, so rendering works headless and in parallel tests.
Every string from the data is HTML-escaped.
"""

from __future__ import annotations

import base64
import html
import io
import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure

from detector.analysis.findings import Findings
from detector.analysis.incidents import IncidentTimeline
from detector.analysis.timelines import EntityTally, KindSeries, throttle_intervals

SEVERITY_COLOURS = {"info": "#7f8c8d", "warning": "#e67e22", "critical": "#c0392b"}
ACTION_COLOURS = {"limit": "#8e44ad", "block": "#2c3e50", "release": "#27ae60"}

STYLE = """
body{font-family:system-ui,sans-serif;margin:2em auto;max-width:1100px;color:#222}
h1{font-size:1.6em}h2{border-bottom:1px solid #ccc;padding-bottom:.2em;margin-top:1.6em}
table{border-collapse:collapse;margin:.6em 0}td,th{border:1px solid #ddd;padding:.25em .6em;
text-align:left;font-size:.92em}th{background:#f4f4f4}td.num{text-align:right}
img{max-width:100%;display:block;margin:.6em 0}.muted{color:#777}
.benign{color:#27ae60}.missed{color:#c0392b;font-weight:bold}
"""


@dataclass
class ReportData:
    """What one report shows; sections without data are left out."""

    findings: Findings
    over_time: KindSeries
    top: list[EntityTally]
    title: str = "smsguard report"
    sources: dict[str, str] = field(default_factory=dict)
    traffic: tuple[int, list[int], list[int]] | None = None  # (bin_s, bins, sends per bin)
    timelines: list[IncidentTimeline] = field(default_factory=list)
    summary: dict[str, Any] = field(default_factory=dict)


def figure_png_base64(fig: Figure, dpi: int = 90) -> str:
    """The figure as a base64-encoded PNG (ASCII)."""
    FigureCanvasAgg(fig)
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=dpi, bbox_inches="tight")
    return base64.b64encode(buffer.getvalue()).decode("ascii")


def _img(fig: Figure, alt: str) -> str:
    return f'<img alt="{html.escape(alt)}" src="data:image/png;base64,{figure_png_base64(fig)}">'


def _times(bins: Sequence[int]) -> list[datetime]:
    return [datetime.fromtimestamp(b / 1000, tz=UTC) for b in bins]


def _utc(ts: int | None) -> str:
    if ts is None:
        return "–"
    return datetime.fromtimestamp(ts / 1000, tz=UTC).strftime("%Y-%m-%d %H:%M:%S UTC")


def plot_findings_over_time(series: KindSeries) -> Figure:
    """Stacked alert counts per bin by kind, throttle commands per bin below."""
    fig = Figure(figsize=(11, 5))
    ax, ax_cmd = fig.subplots(2, 1, sharex=True, gridspec_kw={"height_ratios": [3, 1]})
    times = _times(series.bins)
    width = series.bin_s / 86400  # bar width in days, matplotlib's date unit
    bottom = [0] * len(times)
    for kind, counts in series.counts.items():
        ax.bar(times, counts, width=width, bottom=bottom, label=kind, align="edge")
        bottom = [b + c for b, c in zip(bottom, counts, strict=True)]
    ax.set_ylabel(f"alerts per {series.bin_s} s")
    ax.set_title("Findings over time by kind")
    if series.counts:
        ax.legend(loc="upper left", fontsize="small", ncol=2)
    for action, counts in series.throttles.items():
        ax_cmd.step(times, counts, where="post", label=action,
                    color=ACTION_COLOURS.get(action))
    ax_cmd.set_ylabel("commands")
    if series.throttles:
        ax_cmd.legend(loc="upper left", fontsize="small", ncol=3)
    ax_cmd.set_xlabel("event time (UTC)")
    fig.autofmt_xdate()
    return fig


def plot_top_entities(top: Sequence[EntityTally]) -> Figure:
    """Horizontal bars: alerts and throttle commands of the most-flagged entities."""
    fig = Figure(figsize=(11, max(2.5, 0.45 * len(top) + 1)))
    ax = fig.subplots()
    labels = [t.label for t in reversed(top)]
    positions = list(range(len(labels)))
    ax.barh([p + 0.2 for p in positions], [t.alerts for t in reversed(top)], height=0.4,
            label="alerts", color="#e67e22")
    ax.barh([p - 0.2 for p in positions], [t.throttles for t in reversed(top)], height=0.4,
            label="throttle commands", color="#8e44ad")
    ax.set_yticks(positions, labels, fontsize="small")
    ax.set_xlabel("count")
    ax.set_title("Top entities")
    ax.legend(loc="lower right", fontsize="small")
    return fig


def plot_traffic(bin_s: int, bins: Sequence[int], sends: Sequence[int]) -> Figure:
    """Input sends per bin: the backdrop findings should be read against."""
    fig = Figure(figsize=(11, 2.8))
    ax = fig.subplots()
    ax.fill_between(_times(bins), sends, step="post", alpha=0.4, color="#2980b9")
    ax.set_ylabel(f"sends per {bin_s} s")
    ax.set_title("Input traffic")
    fig.autofmt_xdate()
    return fig


def plot_incident(timeline: IncidentTimeline) -> Figure:
    """Volume (scope and attack) with score, thresholds, alerts and throttles on one axis."""
    incident = timeline.incident
    fig = Figure(figsize=(11, 4))
    ax = fig.subplots()
    times = _times(timeline.bins)
    ax.step(times, timeline.scope_volume, where="post", color="#2980b9", label="scope sends")
    ax.fill_between(times, timeline.attack_volume, step="post", color="#c0392b", alpha=0.35,
                    label="attack sends" if not incident.get("benign") else "surge sends")
    if timeline.failed_dlrs is not None:
        ax.step(times, timeline.failed_dlrs, where="post", color="#c0392b", linestyle="--",
                label="failed delivery reports")
    ax.set_ylabel(f"records per {timeline.bin_s} s")
    ax.axvspan(*_times([incident["start_ts"], incident["end_ts"]]), color="#f1c40f", alpha=0.12,
               label="labelled span")
    score_ax = ax.twinx()
    if timeline.traced:
        score_ax.scatter(_times([f["ts"] for f in timeline.traced]),
                         [f["score"] for f in timeline.traced], s=6, color="#7f8c8d", alpha=0.6,
                         label="finding score (every judged step)")
    points = timeline.score_points
    if points:
        score_ax.scatter(_times([p[0] for p in points]), [p[1] for p in points], zorder=5,
                         color=[SEVERITY_COLOURS.get(a.get("severity"), "#333")
                                for a in timeline.alerts], label="alert score")
    for level, name, style in ((timeline.warning_score, "warning threshold", "--"),
                               (timeline.critical_score, "critical threshold", ":")):
        if level is not None:
            score_ax.axhline(level, color="#555", linestyle=style, linewidth=1, label=name)
    score_ax.set_ylabel("score")
    score_ax.set_ylim(bottom=0)
    scores = [p[1] for p in points] + [f["score"] for f in timeline.traced or []]
    top_level = timeline.critical_score or timeline.warning_score
    if top_level and scores and max(scores) > 4 * top_level:
        # Pumping scores run into the thousands; keep the thresholds readable.
        score_ax.set_yscale("symlog", linthresh=top_level)
        score_ax.set_ylabel("score (log above the critical threshold)")
    for n, alert in enumerate(timeline.alerts):
        ax.axvline(_times([alert["ts"]])[0], color=SEVERITY_COLOURS.get(alert.get("severity"),
                   "#333"), linewidth=1, label="alert" if n == 0 else None)
    # A throttle is re-issued while it lasts: draw when each one fired and how long it held.
    seen: set[str] = set()
    for start, end, action in throttle_intervals(timeline.throttles):
        first = action not in seen
        seen.add(action)
        colour = ACTION_COLOURS.get(action, "#333")
        ax.axvline(_times([start])[0], color=colour, linestyle="--", linewidth=1.5,
                   label=f"{action} fired" if first else None)
        ax.axvspan(*_times([start, min(end, timeline.bins[-1] + timeline.bin_s * 1000)]),
                   color=colour, alpha=0.08, label=f"{action} in force" if first else None)
    handles, labels = ax.get_legend_handles_labels()
    more_h, more_l = score_ax.get_legend_handles_labels()
    # Below the plot, so it never hides the curves.
    ax.legend(handles + more_h, labels + more_l, loc="upper center", fontsize="small", ncol=5,
              bbox_to_anchor=(0.5, -0.28), frameon=False)
    kind = incident.get("kind", "?")
    benign = " (benign)" if incident.get("benign") else ""
    ax.set_title(f"{timeline.incident_id}: {kind}{benign}")
    fig.autofmt_xdate()
    return fig


def _table(header: Sequence[str], rows: Sequence[Sequence[Any]]) -> str:
    def cell(value: Any) -> str:
        numeric = isinstance(value, int | float) and not isinstance(value, bool)
        text = f"{value:.3g}" if isinstance(value, float) else str(value)
        return f'<td class="num">{html.escape(text)}</td>' if numeric else \
            f"<td>{html.escape(text)}</td>"

    head = "".join(f"<th>{html.escape(h)}</th>" for h in header)
    body = "".join("<tr>" + "".join(cell(v) for v in row) + "</tr>" for row in rows)
    return f"<table><tr>{head}</tr>{body}</table>"


def _outcome_cells(outcome: Mapping[str, Any], benign: bool) -> list[Any]:
    detected = outcome.get("detected")
    delay = outcome.get("delay_s")
    stopped = outcome.get("stopped_share")
    throttled = outcome.get("throttled")
    return [
        "–" if detected is None else ("yes" if detected else "no"),
        "–" if delay is None else float(delay),
        "–" if stopped is None or benign else f"{100 * float(stopped):.1f} %",
        "–" if throttled is None else ("yes" if throttled else "no"),
        "–" if outcome.get("money_usd") is None else f"{float(outcome['money_usd']):,.2f}",
        ", ".join(outcome.get("wrong_kinds") or []),
    ]


def render_report(data: ReportData) -> str:
    """The whole page as a string."""
    f = data.findings
    parts = [
        "<!DOCTYPE html><html><head><meta charset='utf-8'>",
        f"<title>{html.escape(data.title)}</title><style>{STYLE}</style></head><body>",
        f"<h1>{html.escape(data.title)}</h1>",
    ]
    span = f.span
    facts = [("alerts", len(f.alerts)), ("throttle commands", len(f.throttles)),
             ("first finding", _utc(span[0] if span else None)),
             ("last finding", _utc(span[1] if span else None))]
    facts += [(name, path) for name, path in data.sources.items()]
    facts += [(k, v) for k, v in data.summary.items() if not isinstance(v, Mapping | list)]
    parts.append(_table(["", ""], facts))
    if data.traffic is not None:
        parts.append("<h2>Input traffic</h2>")
        parts.append(_img(plot_traffic(*data.traffic), "input sends over time"))
    parts.append("<h2>Findings over time</h2>")
    if f.alerts or f.throttles:
        parts.append(_img(plot_findings_over_time(data.over_time), "findings over time by kind"))
    else:
        parts.append("<p class='muted'>No alerts or throttle commands.</p>")
    parts.append("<h2>Top entities</h2>")
    if data.top:
        parts.append(_img(plot_top_entities(data.top), "top entities"))
        parts.append(_table(
            ["entity", "alerts", "kinds", "max score", "worst severity", "throttles",
             "first", "last"],
            [[t.label, t.alerts, ", ".join(f"{k}×{n}" for k, n in t.kinds.most_common()),
              t.max_score, t.worst_severity, t.throttles, _utc(t.first_ts), _utc(t.last_ts)]
             for t in data.top],
        ))
    else:
        parts.append("<p class='muted'>No entity was flagged.</p>")
    if data.timelines:
        parts.append("<h2>Incidents</h2>")
        parts.append(_table(
            ["incident", "kind", "benign", "detected", "delay (s)", "stopped share",
             "throttled", "saved $ (benign: lost)", "also alerted as", "alerts", "commands"],
            [[t.incident_id, t.incident.get("kind", "?"), "yes" if t.incident.get("benign")
              else "no", *_outcome_cells(t.outcome, bool(t.incident.get("benign"))),
              len(t.alerts), len(t.throttles)] for t in data.timelines],
        ))
        false_groups = data.summary.get("false alert groups")
        if false_groups:
            parts.append("<h3>False alerts (no labelled attack behind them)</h3>")
            parts.append(_table(
                ["entity", "kind", "alerts", "first", "worst severity"],
                [[g["entity"], g["kind"], g["alerts"], _utc(g["first_ts"]), g["max_severity"]]
                 for g in false_groups[:20]],
            ))
        for t in data.timelines:
            parts.append(f"<h3>{html.escape(t.incident_id)}</h3>")
            description = t.incident.get("description")
            if description:
                parts.append(f"<p>{html.escape(str(description))}</p>")
            parts.append(_img(plot_incident(t), f"timeline of {t.incident_id}"))
    parts.append("</body></html>")
    return "\n".join(parts)


def write_report(data: ReportData, path: str | os.PathLike[str]) -> None:
    """Render and write the page (UTF-8)."""
    with open(path, "w", encoding="utf-8") as fh:
        fh.write(render_report(data))


def build_report(
    findings: Findings,
    traffic: Any = None,
    labels: Sequence[Mapping[str, Any]] = (),
    config: Any = None,
    outcomes: Mapping[str, Mapping[str, Any]] | None = None,
    top_n: int = 10,
    bin_s: int | None = None,
    title: str = "smsguard report",
    sources: Mapping[str, str] | None = None,
    summary: Mapping[str, Any] | None = None,
    score_trace: Sequence[Mapping[str, Any]] | None = None,
) -> ReportData:
    """Shape everything one page shows.

    ``traffic`` is a :class:`detector.analysis.traffic.Traffic` (the replay
    input) or None; ``labels`` the simulator's incidents; ``outcomes`` maps
    incident id to the evaluation's verdict (detected, delay_s,
    stopped_share, throttled); ``score_trace`` every finding of a traced
    replay (:func:`detector.analysis.score_trace.trace_findings`).
    """
    from detector.analysis.incidents import incident_timeline
    from detector.analysis.timelines import findings_over_time, top_entities
    from detector.analysis.traffic import sends_per_bin
    from detector.records import FAILED_STATUSES

    span = traffic.span if traffic is not None else None
    over_time = findings_over_time(findings, bin_s=bin_s, span=span)
    traffic_series = None
    if traffic is not None and traffic.sends:
        traffic_series = sends_per_bin(traffic.sends, bin_s=over_time.bin_s,
                                       span=(over_time.bins[0], over_time.bins[-1]))
    warning = critical = None
    if config is not None:
        warning, critical = config.policy.warning_score, config.policy.critical_score
    sends = traffic.sends if traffic is not None else []
    send_dicts = [
        {"ts": s.ts, "message_id": s.message_id, "account_id": s.account_id,
         "destination": s.destination, "route": s.route, "api_key_id": s.api_key_id}
        for s in sends
    ] if labels else []
    failed = [
        {"ts": d.ts, "route": d.route} for d in (traffic.dlrs if traffic is not None else [])
        if d.status in FAILED_STATUSES
    ] if labels else []
    timelines = [
        incident_timeline(incident, findings, send_dicts, warning_score=warning,
                          critical_score=critical,
                          outcome=(outcomes or {}).get(str(incident.get("incident_id"))),
                          failed_dlrs=failed, trace=score_trace)
        for incident in labels
    ]
    return ReportData(
        findings=findings, over_time=over_time, top=top_entities(findings, top_n), title=title,
        sources=dict(sources or {}), traffic=traffic_series, timelines=timelines,
        summary=dict(summary or {}),
    )
