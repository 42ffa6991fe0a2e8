"""The detector's own throttle commands, through the enforcer, obeyed by the admission check.

Simulated traffic with injected attacks is replayed by the real detector with a
signing key; its ``sms.throttle`` output goes through the enforcer into a real
redis-server. This pins the contract between the two sides: every scope shape the
policy emits is enforceable and every signature verifies.
"""

from __future__ import annotations

import json
from collections.abc import Iterator

import pytest
from throttle_commands import now_ms

from detector.config import load_config
from detector.replay import replay_records
from detector.signing import sign_command
from detector.simulation import simulate
from streams.enforcement.admission import AdmissionClient
from streams.enforcement.enforcer import Enforcer
from streams.enforcement.intake import scope_string
from streams.enforcement.store import ThrottleStore

pytestmark = pytest.mark.redis
KEY = "detector-shared-key"
ACCEPTED = {"applied", "released", "release_noop", "duplicate", "stale"}


@pytest.fixture(scope="module")
def detector_commands(tmp_path_factory) -> list[dict]:
    path = tmp_path_factory.mktemp("sim") / "sim.jsonl"
    simulate(path, seed=3, hours=2, accounts=40)
    config = load_config(env={"SMSGUARD_SIGNING__KEY": KEY})

    def records() -> Iterator[dict]:
        with open(path) as fh:
            for line in fh:
                yield json.loads(line)

    out = [o["value"] for o in replay_records(records(), config) if o["topic"] == "sms.throttle"]
    assert out, "the simulated attacks must make the detector emit throttle commands"
    return out


@pytest.fixture
def enforcer(redis_url: str) -> Iterator[Enforcer]:
    store = ThrottleStore(redis_url)
    yield Enforcer(store, KEY)
    store.close()


def test_detector_commands_verify_and_are_judged_on_their_expiry(detector_commands, enforcer):
    now = now_ms()
    outcomes = [enforcer.handle(json.dumps(cmd).encode()) for cmd in detector_commands]
    expected = ["rejected_expired" if cmd["expires_at"] <= now else "applied-or-more"
                for cmd in detector_commands]
    for got, want in zip(outcomes, expected, strict=True):
        if want == "rejected_expired":
            assert got == "rejected_expired"  # the signature verified; only time failed it
        else:
            assert got in ACCEPTED


def test_detector_commands_shifted_to_now_are_all_enforced(
    detector_commands, enforcer, redis_url
):
    """As if the detector ran live: event time moved to now, signed again by the detector."""
    offset = now_ms() - min(cmd["ts"] for cmd in detector_commands)
    live = []
    for cmd in detector_commands:
        body = {k: v for k, v in cmd.items() if k != "signature"}
        body["ts"] += offset
        body["expires_at"] += offset
        live.append(sign_command(body, KEY))

    outcomes = [enforcer.handle(json.dumps(cmd).encode()) for cmd in live]
    assert set(outcomes) <= ACCEPTED, outcomes
    assert "applied" in outcomes

    # What must be in force: per scope, the newest command, unless it is a release.
    model: dict[str, dict] = {}
    for cmd in live:
        scope = scope_string(cmd["scope"])
        if scope in model and model[scope]["ts"] > cmd["ts"]:
            continue
        model[scope] = cmd
    expected = {s: c["action"] for s, c in model.items() if c["action"] != "release"}
    active = {t.scope: t.action for t in enforcer.store.active()}
    assert active == expected

    client = AdmissionClient(redis_url, timeout_ms=1000)
    for scope, action in expected.items():
        fields = model[scope]["scope"]
        prefix = fields.get("prefix", "+4915112345678")
        destination = prefix + "1" * min(4, 16 - len(prefix))
        d = client.check(fields.get("account_id", "probe-account"), destination,
                         api_key_id=fields.get("api_key_id"), country=fields.get("country"))
        if action == "block":
            assert (d.allowed, d.reason) == (False, "blocked"), (scope, d)
        else:
            assert d.reason in ("within_limit", "rate_limited", "blocked"), (scope, d)
    client.close()
