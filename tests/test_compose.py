"""docker-compose.yml, Prometheus and Grafana files against what the code reads.

There is no Docker engine here, so the stack cannot run in CI; instead these tests
check that the files parse and agree with the code: every SMSGUARD_* variable is a
real configuration field of the right type, each smsguard service runs a real
sub-command, Prometheus scrapes the ports the processes serve /metrics on, and every
metric the dashboard queries is one that streams/metrics.py exports.
"""

from __future__ import annotations

import json
import re
from dataclasses import fields, is_dataclass
from pathlib import Path
from typing import Any

import pytest
import yaml

from detector.config import ENV_PREFIX, Config, load_config
from streams.cli import build_parser
from streams.metrics import Metrics

ROOT = Path(__file__).resolve().parent.parent
COMPOSE = ROOT / "docker-compose.yml"
PROMETHEUS = ROOT / "deploy" / "prometheus" / "prometheus.yml"
DASHBOARD = ROOT / "deploy" / "grafana" / "dashboards" / "smsguard.json"
PROVISIONING = ROOT / "deploy" / "grafana" / "provisioning"

EXPECTED = {"kafka", "redis", "worker", "enforcer", "prometheus", "grafana"}
# Which variable sets the /metrics port, by smsguard sub-command.
METRICS_PORT_VAR = {
    "worker": "SMSGUARD_WORKER__METRICS_PORT",
    "enforcer": "SMSGUARD_REDIS__ENFORCER_METRICS_PORT",
    "notify": "SMSGUARD_WEBHOOK__METRICS_PORT",
}
PROMQL_WORDS = {"by", "without", "on", "ignoring", "group_left", "group_right", "bool",
                "offset", "and", "or", "unless"}


@pytest.fixture(scope="module")
def compose() -> dict[str, Any]:
    return yaml.safe_load(COMPOSE.read_text())


@pytest.fixture(scope="module")
def services(compose) -> dict[str, dict[str, Any]]:
    return compose["services"]


def smsguard_services(services) -> dict[str, dict[str, Any]]:
    return {n: s for n, s in services.items() if "build" in s or "smsguard" in s.get("image", "")}


def interpolate(value: Any) -> str:
    """Compose ``${VAR:-default}`` -> default, ``${VAR:?err}`` / ``${VAR}`` -> a stand-in."""
    def sub(m: re.Match) -> str:
        op, arg = m.group(2), m.group(3) or ""
        return arg if op in (":-", "-") else "stand-in"

    return re.sub(r"\$\{(\w+)(?:(:?[-?])([^}]*))?\}", sub, str(value))


def environment(service: dict[str, Any]) -> dict[str, str]:
    env = service.get("environment") or {}
    if isinstance(env, list):
        env = dict(item.split("=", 1) for item in env)
    return {k: interpolate(v) for k, v in env.items()}


def dockerfile_env() -> dict[str, str]:
    text = (ROOT / "Dockerfile").read_text().replace("\\\n", " ")
    env: dict[str, str] = {}
    for line in text.splitlines():
        if line.startswith("ENV "):
            env.update(dict(re.findall(r"(\w+)=(\S+)", line)))
    return env


def test_compose_parses_and_has_every_service(services):
    assert set(services) >= EXPECTED, EXPECTED - set(services)


def test_every_service_has_a_healthcheck(services):
    for name, service in services.items():
        check = service.get("healthcheck")
        assert check and check.get("test"), f"{name} has no healthcheck"
        assert not check.get("disable"), name


def test_dependencies_wait_for_healthy_services(services):
    for name, service in services.items():
        deps = service.get("depends_on") or {}
        for dep, how in (deps.items() if isinstance(deps, dict) else []):
            assert dep in services, f"{name} depends on unknown {dep}"
            assert how.get("condition") == "service_healthy", (name, dep)
    for name in smsguard_services(services):
        assert {"kafka", "redis"} <= set(services[name]["depends_on"]), name


def test_kafka_is_the_official_image_in_kraft_mode(services):
    kafka = services["kafka"]
    assert re.fullmatch(r"apache/kafka:4\.\d+\.\d+", kafka["image"]), kafka["image"]
    env = environment(kafka)
    assert set(env["KAFKA_PROCESS_ROLES"].split(",")) == {"broker", "controller"}
    assert "CONTROLLER" in env["KAFKA_CONTROLLER_LISTENER_NAMES"]
    # The advertised in-network listener is what the smsguard services bootstrap from.
    for name, service in smsguard_services(services).items():
        bootstrap = environment(service)["SMSGUARD_KAFKA__BOOTSTRAP"]
        assert f"PLAINTEXT://{bootstrap}" in env["KAFKA_ADVERTISED_LISTENERS"], name


def test_every_smsguard_variable_is_a_config_field(services):
    sections = {f.name: f for f in fields(Config)}
    seen = 0
    sources = {name: environment(s) for name, s in smsguard_services(services).items()}
    sources["Dockerfile"] = dockerfile_env()
    for source, env in sources.items():
        ours = {k: v for k, v in env.items() if k.startswith(ENV_PREFIX)}
        for var in ours:
            section, sep, key = var[len(ENV_PREFIX):].partition("__")
            assert sep, f"{source}: {var} is not SMSGUARD_<SECTION>__<KEY>"
            assert section.lower() in sections, f"{source}: {var}: no section {section.lower()}"
            target = getattr(Config(), section.lower())
            assert is_dataclass(target), f"{source}: {var}"
            assert key.lower() in {f.name for f in fields(target)}, f"{source}: {var}: no key"
            seen += 1
        # And the values have the types the fields want (load_config raises otherwise).
        load_config(env=ours)
    assert seen >= 10


def test_signing_key_is_required_not_defaulted(services):
    raw = services["enforcer"]["environment"]["SMSGUARD_SIGNING__KEY"]
    assert raw.startswith("${") and ":?" in raw, "a default key would let anybody forge commands"


def test_each_smsguard_service_runs_a_real_subcommand(services):
    parser = build_parser()
    for name, service in smsguard_services(services).items():
        command = [str(part) for part in service["command"]]
        try:
            args = parser.parse_args(command)
        except SystemExit as exc:  # argparse exits on an unknown command or option
            raise AssertionError(f"{name}: `smsguard {' '.join(command)}` does not parse") from exc
        assert args.command == command[0] and callable(args.run), name


def test_prometheus_scrapes_the_ports_the_processes_serve(services):
    prom = yaml.safe_load(PROMETHEUS.read_text())
    scraped: dict[str, int] = {}
    for job in prom["scrape_configs"]:
        for sd in job.get("dns_sd_configs", []):
            for host in sd["names"]:
                scraped[host] = int(sd["port"])
        for static in job.get("static_configs", []):
            for target in static["targets"]:
                host, _, port = target.partition(":")
                scraped[host] = int(port)
    base = dockerfile_env()
    for name, service in smsguard_services(services).items():
        command = service["command"][0]
        if command not in METRICS_PORT_VAR:
            continue
        env = {**base, **environment(service)}
        var = METRICS_PORT_VAR[command]
        assert var in env, f"{name}: set {var} explicitly so Prometheus and it agree"
        port = int(env[var])
        assert scraped.get(name) == port, f"Prometheus scrapes {name}:{scraped.get(name)}"
        # The healthcheck probes the same port, and /metrics binds beyond loopback.
        assert f":{port}/metrics" in " ".join(service["healthcheck"]["test"]), name
        assert env["SMSGUARD_WORKER__METRICS_ADDR"] == "0.0.0.0", name
    assert "worker" in scraped and "enforcer" in scraped


def test_grafana_provisioning_points_at_the_dashboard(services):
    grafana = services["grafana"]
    mounts = {}
    for volume in grafana["volumes"]:
        src, dst = volume.split(":")[:2]
        if src.startswith("./"):
            assert (ROOT / src).exists(), src
            mounts[dst] = ROOT / src
    providers = yaml.safe_load((PROVISIONING / "dashboards" / "smsguard.yml").read_text())
    path = providers["providers"][0]["options"]["path"]
    assert mounts[path] == DASHBOARD.parent
    assert mounts["/etc/grafana/provisioning"] == PROVISIONING
    datasources = yaml.safe_load((PROVISIONING / "datasources" / "prometheus.yml").read_text())
    (ds,) = datasources["datasources"]
    assert ds["url"] == "http://prometheus:9090"
    dashboard = json.loads(DASHBOARD.read_text())
    uids = {p["datasource"]["uid"] for p in dashboard["panels"] if p["type"] != "row"}
    assert uids == {ds["uid"]}


def metric_names(expr: str) -> set[str]:
    """Metric names a PromQL expression selects (functions, labels and keywords removed)."""
    expr = re.sub(r'"(?:[^"\\]|\\.)*"', '""', expr)
    expr = re.sub(r"\{[^}]*\}", " ", expr)
    expr = re.sub(r"\[[^\]]*\]", " ", expr)
    expr = re.sub(r"\b(?:by|without|on|ignoring|group_left|group_right)\s*\([^)]*\)", " ", expr)
    names = set()
    for m in re.finditer(r"[A-Za-z_:][A-Za-z0-9_:]*", expr):
        if expr[m.end():].lstrip().startswith("(") or m.group() in PROMQL_WORDS:
            continue
        names.add(m.group())
    return names


def test_promql_name_extraction():
    expr = 'sum by (kind) (rate(smsguard_findings_total{kind="a b"}[5m])) / on(job) up * 60'
    assert metric_names(expr) == {"smsguard_findings_total", "up"}


def test_dashboard_queries_only_exported_metrics_and_shows_them_all():
    dashboard = json.loads(DASHBOARD.read_text())
    exported = Metrics().metric_names()
    used: set[str] = set()
    titles = []
    for panel in dashboard["panels"]:
        if panel["type"] == "row":
            continue
        titles.append(panel["title"])
        assert panel["targets"], panel["title"]
        for target in panel["targets"]:
            names = metric_names(target["expr"])
            assert names, f"{panel['title']}: no metric in {target['expr']}"
            assert names <= exported, f"{panel['title']}: unknown {names - exported}"
            used |= names
    assert used == exported, f"metrics without a panel: {exported - used}"
    assert len(titles) == len(set(titles))
    ids = [p["id"] for p in dashboard["panels"]]
    assert len(ids) == len(set(ids))
