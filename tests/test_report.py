"""The HTML report: self-contained, with its images, and never a message body."""

from __future__ import annotations

import base64
import json
from html.parser import HTMLParser
from pathlib import Path

import pytest

from detector.analysis.findings import load_findings
from detector.analysis.timelines import findings_over_time, top_entities
from streams.cli import main

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
DATA_PNG = "data:image/png;base64,"
T0 = 1_767_225_600_000  # 2026-01-01T00:00:00Z
BODY_MARKER = "Zqxv-body-text-that-must-never-leak"


class PageScan(HTMLParser):
    """Collects image sources, table rows and every reference to something outside the page."""

    def __init__(self) -> None:
        super().__init__()
        self.images: list[str] = []
        self.external: list[str] = []
        self.tags: set[str] = set()
        self.rows: list[list[str]] = []
        self._cell: list[str] | None = None

    def handle_data(self, data: str) -> None:
        if self._cell is not None:
            self._cell.append(data)

    def handle_endtag(self, tag: str) -> None:
        if tag in ("td", "th") and self._cell is not None:
            self.rows[-1].append("".join(self._cell))
            self._cell = None

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.add(tag)
        if tag == "tr":
            self.rows.append([])
        elif tag in ("td", "th"):
            self._cell = []
        for name, value in attrs:
            if tag == "img" and name == "src":
                self.images.append(value or "")
            elif name in ("src", "href") and value and not value.startswith("data:"):
                self.external.append(value)


def scan(path: Path) -> PageScan:
    page = PageScan()
    page.feed(path.read_text(encoding="utf-8"))
    return page


def alert(n: int, ts: int, kind: str, entity: tuple[str, str], score: float,
          severity: str = "warning", account: str | None = "acct-1") -> dict:
    value = {
        "alert_id": f"al-{n}", "ts": ts, "kind": kind, "severity": severity,
        "entity": {"type": entity[0], "id": entity[1]}, "score": score,
        "evidence": [{"feature": "sends_1m", "value": 40 + n, "baseline": 3.5}],
        "action": "throttle",
    }
    if account:
        value["account_id"] = account
    return {"topic": "sms.alerts", "value": value}


def throttle(n: int, ts: int, scope: dict, alert_id: str | None, action: str = "limit") -> dict:
    value = {"command_id": f"cmd-{n}", "ts": ts, "action": action, "scope": scope,
             "expires_at": ts + 900_000, "reason": f"alert {alert_id}"}
    if action == "limit":
        value["rate_per_s"] = 1.0
    if alert_id:
        value["alert_id"] = alert_id
    return {"topic": "sms.throttle", "value": value}


def sample_output() -> list[dict]:
    """Three kinds over two hours, several entities, throttles tied to alerts and not."""
    lines = []
    kinds = ["sms_pumping", "account_takeover", "spam_burst"]
    for n in range(30):
        kind = kinds[n % 3]
        entity = ("account", f"acct-{n % 4}") if n % 5 else ("prefix", "+2376")
        lines.append(alert(n, T0 + n * 240_000, kind, entity, 6.0 + n % 7,
                           "critical" if n % 6 == 0 else "warning", f"acct-{n % 4}"))
        if n % 4 == 0:
            lines.append(throttle(n, T0 + n * 240_000 + 1000, {"account_id": f"acct-{n % 4}"},
                                  f"al-{n}"))
    lines.append(throttle(99, T0 + 7_000_000, {"prefix": "+2376"}, None, "release"))
    lines.sort(key=lambda line: line["value"]["ts"])
    return lines


def write_jsonl(path: Path, lines: list[dict]) -> Path:
    path.write_text("".join(json.dumps(line) + "\n" for line in lines), encoding="utf-8")
    return path


def test_findings_load_and_tally(tmp_path: Path) -> None:
    lines = sample_output()
    # A captured dump may hold other topics and configured topic names.
    lines.append({"topic": "sms.deadletter", "value": {"reason": "not_json"}})
    lines[0] = {"topic": "prod.alerts", "value": lines[0]["value"]}
    found = load_findings(write_jsonl(tmp_path / "out.jsonl", lines))
    alerts = [ln["value"] for ln in lines if "alert_id" in ln["value"] and "kind" in ln["value"]]
    commands = [ln["value"] for ln in lines if "command_id" in ln["value"]]
    assert len(found.alerts) == len(alerts) and len(found.throttles) == len(commands)
    assert found.skipped["sms.deadletter"] == 1

    series = findings_over_time(found)
    for kind in {a["kind"] for a in alerts}:
        assert sum(series.counts[kind]) == sum(a["kind"] == kind for a in alerts)
    assert sum(map(sum, series.throttles.values())) == len(commands)
    assert len(series.bins) <= 61

    top = top_entities(found, n=3)
    per_entity: dict[str, int] = {}
    for a in alerts:
        label = f"{a['entity']['type']}:{a['entity']['id']}"
        per_entity[label] = per_entity.get(label, 0) + 1
    assert [t.alerts for t in top] == sorted(per_entity.values(), reverse=True)[:3]
    assert top[0].alerts >= top[-1].alerts
    # Throttles naming an alert count for that alert's entity.
    by_label = {t.label: t for t in top_entities(found, n=100)}
    throttled = [c for c in commands if c.get("alert_id")]
    assert sum(t.throttles for t in by_label.values()) == len(throttled) + 1  # + the release


def test_report_is_self_contained_with_png_images(tmp_path: Path) -> None:
    out = write_jsonl(tmp_path / "out.jsonl", sample_output())
    html = tmp_path / "report.html"
    assert main(["report", str(out), "--html", str(html)]) == 0
    page = scan(html)
    pngs = [src for src in page.images if src.startswith(DATA_PNG)]
    assert len(pngs) == 2  # findings over time, top entities
    assert len(pngs) == len(page.images)
    for src in pngs:
        assert base64.b64decode(src[len(DATA_PNG):], validate=True).startswith(PNG_SIGNATURE)
    assert page.external == []
    assert not page.tags & {"script", "link", "iframe"}
    text = html.read_text(encoding="utf-8")
    assert "acct-1" in text and "prefix:+2376" in text


def test_bare_records_of_a_tail_dump_load_like_replay_lines(tmp_path: Path) -> None:
    lines = sample_output()
    wrapped = load_findings(write_jsonl(tmp_path / "out.jsonl", lines))
    bare = load_findings(write_jsonl(tmp_path / "dump.jsonl", [ln["value"] for ln in lines]))
    assert bare.alerts == wrapped.alerts and bare.throttles == wrapped.throttles
    assert len(bare.alerts) + len(bare.throttles) == len(lines)


def test_report_of_empty_output_still_renders(tmp_path: Path) -> None:
    out = write_jsonl(tmp_path / "out.jsonl", [])
    html = tmp_path / "report.html"
    assert main(["report", str(out), "--html", str(html)]) == 0
    assert "No alerts or throttle commands" in html.read_text(encoding="utf-8")
    assert scan(html).images == []


def test_report_with_input_shows_traffic_and_never_bodies(tmp_path: Path) -> None:
    sends = []
    for n in range(300):
        sends.append({"topic": "sms.send", "value": {
            "message_id": f"m{n}", "ts": T0 + n * 20_000, "account_id": f"acct-{n % 4}",
            "destination": f"+4915112{n:06d}", "category": "otp",
            "body": f"{BODY_MARKER} {n} https://bit.ly/x{n}",
        }})
    inp = write_jsonl(tmp_path / "in.jsonl", sends)
    out = write_jsonl(tmp_path / "out.jsonl", sample_output())
    html = tmp_path / "report.html"
    assert main(["report", str(out), "--input", str(inp), "--html", str(html)]) == 0
    page = scan(html)
    assert len([src for src in page.images if src.startswith(DATA_PNG)]) == 3
    text = html.read_text(encoding="utf-8")
    assert BODY_MARKER not in text and "bit.ly" not in text


def test_incident_timelines_from_labels(tmp_path: Path) -> None:
    """Each labelled incident gets a timeline: its attack volume, its alerts and throttles."""
    from detector.analysis.findings import findings_from_lines
    from detector.analysis.incidents import load_labels
    from detector.analysis.traffic import load_traffic
    from detector.config import Config
    from detector.simulation import simulate
    from streams.reporting import build_report, render_report

    inp, lab = tmp_path / "sim.jsonl", tmp_path / "sim.labels.jsonl"
    simulate(inp, lab, seed=5, hours=2.0, accounts=30)
    labels = load_labels(lab)
    traffic = load_traffic(inp)
    lines = []
    for n, incident in enumerate(labels):
        if incident["benign"]:
            continue
        entity = incident["entities"][0]
        lines.append(alert(n, incident["start_ts"] + 30_000, incident["kind"],
                           (entity["type"], entity["id"]), 9.0, "warning",
                           (incident["account_ids"] or [None])[0]))
        lines.append(throttle(n, incident["start_ts"] + 31_000, {"account_id": "x"}, f"al-{n}"))
    findings = findings_from_lines(lines)
    data = build_report(findings, traffic=traffic, labels=labels, config=Config())

    assert [t.incident_id for t in data.timelines] == [i["incident_id"] for i in labels]
    send_ids = {s.message_id for s in traffic.sends}
    for n, timeline in enumerate(data.timelines):
        incident = labels[n]
        own = set(incident["message_ids"]) & send_ids
        assert sum(timeline.attack_volume) == len(own)
        assert sum(timeline.scope_volume) >= sum(timeline.attack_volume)
        if incident["benign"]:
            assert f"al-{n}" not in {a["alert_id"] for a in timeline.alerts}
        else:
            assert f"al-{n}" in {a["alert_id"] for a in timeline.alerts}
            assert f"cmd-{n}" in {c["command_id"] for c in timeline.throttles}
        if any(e["type"] == "route" for e in incident["entities"]):
            assert timeline.failed_dlrs is not None and sum(timeline.failed_dlrs) > 0
        assert timeline.warning_score == Config().policy.warning_score

    html = tmp_path / "report.html"
    html.write_text(render_report(data), encoding="utf-8")
    page = scan(html)
    # input traffic, findings over time, top entities, then one per incident
    assert len([s for s in page.images if s.startswith(DATA_PNG)]) == 3 + len(labels)
    assert not any(b in html.read_text(encoding="utf-8") for b in bodies_of(inp))


def bodies_of(path: Path) -> set[str]:
    with open(path, encoding="utf-8") as fh:
        return {b for line in fh if (b := json.loads(line)["value"].get("body"))}


@pytest.fixture(scope="module")
def replayed(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path, Path]:
    """A small simulated file, its labels and its replay output."""
    from detector.replay import replay_file
    from detector.simulation import simulate

    root = tmp_path_factory.mktemp("replayed")
    inp, lab, out = root / "sim.jsonl", root / "sim.labels.jsonl", root / "out.jsonl"
    simulate(inp, lab, seed=3, hours=2.0, accounts=30)
    replay_file(inp, out)
    return inp, lab, out


def test_score_trace_holds_every_alerted_finding(replayed: tuple[Path, Path, Path]) -> None:
    """Alerts are findings the policy spoke about: each is in the trace with its score."""
    from detector.analysis.score_trace import trace_findings

    inp, _, out = replayed
    alerts = load_findings(out).alerts
    trace = trace_findings(inp)
    assert alerts and len(trace) > len(alerts)
    # Several scopes may judge one entity in a step; the policy alerts on the best.
    traced: dict[tuple, float] = {}
    for f in trace:
        key = (f["ts"], f["kind"], f["entity"]["type"], f["entity"]["id"])
        traced[key] = max(traced.get(key, f["score"]), f["score"])
    for a in alerts:
        key = (a["ts"], a["kind"], a["entity"]["type"], a["entity"]["id"])
        assert traced[key] == pytest.approx(a["score"], abs=1e-3)


def test_report_command_with_replay_and_labels(
    replayed: tuple[Path, Path, Path], tmp_path: Path
) -> None:
    """simulate → replay → report: one timeline per incident, the evaluation's verdicts."""
    from detector.evaluation import evaluate

    inp, lab, out = replayed
    html = tmp_path / "report.html"
    assert main(["report", str(out), "--input", str(inp), "--labels", str(lab),
                 "--trace-scores", "--html", str(html)]) == 0

    page = scan(html)
    labels = [json.loads(line) for line in lab.read_text().splitlines() if line.strip()]
    pngs = [src for src in page.images if src.startswith(DATA_PNG)]
    assert len(pngs) == 3 + len(labels) == len(page.images)
    for src in pngs:
        assert base64.b64decode(src[len(DATA_PNG):]).startswith(PNG_SIGNATURE)
    assert page.external == []

    verdict = evaluate(inp, lab, out)
    rows = {row[0]: row for row in page.rows if row}
    for result in verdict.incidents:
        row = rows[result.incident_id]
        if result.benign:
            assert row[6] == ("yes" if result.throttled else "no")
        else:
            assert row[3] == ("yes" if result.detected else "no")
            assert (row[4] == "–") == (result.delay_s is None)
    for group in sorted(verdict.false_alerts, key=lambda a: (-a.count, a.first_ts))[:20]:
        row = [f"{group.entity_type}:{group.entity_id}", group.kind, str(group.count)]
        assert row in [r[:3] for r in page.rows]
    detected = sum(r.detected for r in verdict.malicious)
    assert rows["malicious incidents detected"][1] == f"{detected}/{len(verdict.malicious)}"
    text = html.read_text(encoding="utf-8")
    assert not any(body in text for body in bodies_of(inp))
