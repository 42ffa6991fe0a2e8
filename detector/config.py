"""One configuration for every smsguard process: TOML file, then environment overrides.

Every value has a documented default (the dataclasses below, and
``smsguard.example.toml`` at the top of the repo), so a missing
file means "run with the defaults". Environment variables override the file:
``SMSGUARD_<SECTION>__<KEY>``, e.g. ``SMSGUARD_KAFKA__BOOTSTRAP=broker:9092`` or
``SMSGUARD_POLICY__DRY_RUN=true``. Values from the environment are parsed as
TOML scalars (so ``true``, ``15`` and ``"text"`` all work; bare words are strings).

>>> cfg = load_config(env={"SMSGUARD_POLICY__DRY_RUN": "true"})
>>> cfg.policy.dry_run
True
>>> cfg.detector.step_s
10
"""

from __future__ import annotations

import os
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, field, fields, is_dataclass
from typing import Any

ENV_PREFIX = "SMSGUARD_"


@dataclass
class KafkaConfig:
    bootstrap: str = "localhost:9092"
    topic_send: str = "sms.send"
    topic_dlr: str = "sms.dlr"
    topic_verify: str = "sms.verify"
    topic_alerts: str = "sms.alerts"
    topic_throttle: str = "sms.throttle"
    topic_deadletter: str = "sms.deadletter"
    partitions: int = 4
    replication: int = 1
    # Consumer group of `smsguard enforcer` (reads topic_throttle, applies to Redis).
    enforcer_group: str = "smsguard-enforcer"


@dataclass
class WorkerConfig:
    app_id: str = "smsguard"
    store: str = "rocksdb://"
    data_dir: str = ".smsguard/worker"
    web_port: int = 6066
    metrics_port: int = 9108
    # Address every process's /metrics binds (worker, enforcer, notify): loopback by
    # default; containers set 0.0.0.0 so that Prometheus can reach them.
    metrics_addr: str = "127.0.0.1"
    checkpoint_interval_s: float = 5.0
    # Close every open step once no input arrived for this long (wall clock) and every
    # origin partition has declared itself idle, as replay does at end of file: a burst
    # that stops just before its step ends is still judged, and no worker closes steps
    # while another still forwards events to it.
    idle_close_s: float = 30.0
    # Event-time alignment: a silent input source is passed once it has said nothing for
    # this long (from the start of the current burst) and has nothing unread in Kafka.
    max_wait_s: float = 5.0
    # Seconds between the worker's progress lines in its log (counters, buffered, state).
    report_interval_s: float = 5.0


@dataclass
class RedisConfig:
    url: str = "redis://localhost:6379/0"
    fail_mode: str = "open"
    timeout_ms: int = 50
    key_prefix: str = "smsguard"
    # The enforcer's bound on each Redis call (it retries with backoff; gateways use timeout_ms).
    enforcer_timeout_ms: int = 1000
    # /metrics port of `smsguard enforcer` (0 = do not serve).
    enforcer_metrics_port: int = 9110


@dataclass
class SigningConfig:
    key: str = ""
    require: bool = True


@dataclass
class WebhookConfig:
    url: str = ""
    format: str = "generic"
    routing_key: str = ""
    min_severity: str = "warning"
    queue_size: int = 1000
    max_retries: int = 5
    timeout_s: float = 5.0
    storm_threshold: int = 5
    storm_window_s: float = 60.0
    # When the queue is full: "drop_oldest" (keep the newest pages) or "reject_new".
    overflow: str = "drop_oldest"
    backoff_base_s: float = 0.5
    backoff_max_s: float = 30.0
    dedup_size: int = 10000  # alert ids remembered to never page one finding twice
    source: str = "smsguard"  # PagerDuty payload.source
    # `smsguard notify`: its consumer group and /metrics port (0 = do not serve).
    group: str = "smsguard-notify"
    metrics_port: int = 9111


@dataclass
class DetectorConfig:
    step_s: int = 10
    lateness_s: int = 5
    # A key's step closes on its own next record once that is lateness_s past the
    # step's end, and at the latest once the stream (other keys' records) is this far
    # past it: a key that goes quiet right after an attack is still judged on time.
    quiet_close_s: int = 10
    # How old an OTP must be before "not verified yet" counts against it. Most codes
    # are entered within a minute; later ones only lower the conversion the scope
    # learns (judged on the same lag), and a launch's onset dip stays inside the
    # conversion baseline's minimum effect. Every second of it is detection delay
    # for pumping to numbers that are not in sequence.
    otp_grace_s: int = 60
    entity_ttl_s: int = 7 * 24 * 3600
    destination_ttl_s: int = 3600
    prefix_depth: int = 5
    max_future_s: int = 24 * 3600
    max_body_bytes: int = 2000
    baseline_half_life_s: int = 6 * 3600
    surprise_threshold: float = 6.0
    # USD a segment above which a destination counts as expensive (what pumping rings
    # are paid from): a young single-country scope's price adds to a fraud trace.
    high_price_usd: float = 0.15
    seed: int = 7


@dataclass
class PolicyConfig:
    dry_run: bool = False
    cooldown_s: int = 900
    throttle_ttl_s: int = 900
    max_throttle_ttl_s: int = 6 * 3600
    release_after_s: int = 600
    warning_score: float = 6.0
    critical_score: float = 12.0
    clear_ratio: float = 0.5
    # The most a `limit` allows (sends a second); below it, the judged scope's normal pace.
    throttle_rate_per_s: float = 1.0


@dataclass
class AllowlistConfig:
    accounts: list[str] = field(default_factory=list)
    prefixes: list[str] = field(default_factory=list)
    numbers: list[str] = field(default_factory=list)


@dataclass
class Config:
    kafka: KafkaConfig = field(default_factory=KafkaConfig)
    worker: WorkerConfig = field(default_factory=WorkerConfig)
    redis: RedisConfig = field(default_factory=RedisConfig)
    signing: SigningConfig = field(default_factory=SigningConfig)
    webhook: WebhookConfig = field(default_factory=WebhookConfig)
    detector: DetectorConfig = field(default_factory=DetectorConfig)
    policy: PolicyConfig = field(default_factory=PolicyConfig)
    allowlist: AllowlistConfig = field(default_factory=AllowlistConfig)
    # Per-account sensitivity multiplier: >1 alerts earlier, <1 later.
    sensitivity: dict[str, float] = field(default_factory=dict)

    def sensitivity_of(self, account_id: str | None) -> float:
        if account_id is None:
            return 1.0
        return float(self.sensitivity.get(account_id, 1.0))


class ConfigError(ValueError):
    """A configuration file or override names an unknown key or a wrong type."""


def load_config(
    path: str | os.PathLike[str] | None = None,
    env: Mapping[str, str] | None = None,
) -> Config:
    """Defaults, then the TOML file at ``path`` (if any), then ``SMSGUARD_*`` variables."""
    cfg = Config()
    if path is not None:
        with open(path, "rb") as fh:
            _apply(cfg, tomllib.load(fh), source=str(path))
    _apply(cfg, _env_overrides(os.environ if env is None else env), source="environment")
    return cfg


EXAMPLE_HEADER = """\
# smsguard configuration: every key with its default. Copy, keep what you change.
# Environment variables override the file: SMSGUARD_<SECTION>__<KEY>=value,
# e.g. SMSGUARD_KAFKA__BOOTSTRAP=broker:9092 or SMSGUARD_POLICY__DRY_RUN=true.
# Regenerate after adding a key: python -m detector.config > smsguard.example.toml
"""


def example_toml() -> str:
    """Every key with its default, as TOML: the content of ``smsguard.example.toml``."""
    lines = [EXAMPLE_HEADER]
    defaults = Config()
    for section in fields(defaults):
        values = getattr(defaults, section.name)
        if not is_dataclass(values):
            continue
        lines.append(f"[{section.name}]")
        lines += [f"{key.name} = {_toml_value(getattr(values, key.name))}"
                  for key in fields(values)]
        lines.append("")
    lines += ["# Per-account sensitivity: >1 alerts earlier, <1 later (multiplies every surprise).",
              "[sensitivity]", '# "acct_0042" = 0.5', ""]
    return "\n".join(lines)


def _toml_value(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str):
        return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'
    if isinstance(value, list):
        return "[" + ", ".join(_toml_value(v) for v in value) + "]"
    return repr(value)


def _env_overrides(env: Mapping[str, str]) -> dict[str, dict[str, Any]]:
    out: dict[str, dict[str, Any]] = {}
    for name, raw in env.items():
        if not name.startswith(ENV_PREFIX) or "__" not in name:
            continue
        section, _, key = name[len(ENV_PREFIX) :].partition("__")
        out.setdefault(section.lower(), {})[key.lower()] = _parse_scalar(raw)
    return out


def _parse_scalar(raw: str) -> Any:
    try:
        return tomllib.loads(f"v = {raw}")["v"]
    except tomllib.TOMLDecodeError:
        return raw


def _apply(cfg: Config, data: Mapping[str, Any], source: str) -> None:
    for section, values in data.items():
        if section == "sensitivity":
            cfg.sensitivity.update({str(k): float(v) for k, v in values.items()})
            continue
        target = getattr(cfg, section, None)
        if not is_dataclass(target) or not isinstance(values, Mapping):
            raise ConfigError(f"{source}: unknown section [{section}]")
        known = {f.name: f for f in fields(target)}
        for key, value in values.items():
            if key not in known:
                raise ConfigError(f"{source}: unknown key {section}.{key}")
            setattr(target, key, _coerce(getattr(target, key), value, f"{section}.{key}", source))


def _coerce(current: Any, value: Any, name: str, source: str) -> Any:
    if isinstance(current, bool):
        if isinstance(value, bool):
            return value
    elif isinstance(current, int) and isinstance(value, int) and not isinstance(value, bool):
        return value
    elif isinstance(current, float) and isinstance(value, int | float):
        return float(value)
    elif isinstance(current, str):
        return str(value)
    elif isinstance(current, list):
        if isinstance(value, list):
            return [str(v) for v in value]
        if isinstance(value, str):
            return [v.strip() for v in value.split(",") if v.strip()]
    raise ConfigError(f"{source}: {name} expects {type(current).__name__}, got {value!r}")


if __name__ == "__main__":
    print(example_toml(), end="")
