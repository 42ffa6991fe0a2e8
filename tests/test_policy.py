"""Alert and throttle policy: cooldown, escalation, expiry, release, dry run, allowlists, ids."""

from __future__ import annotations

from detector.config import Config
from detector.findings import Finding
from detector.policy import Policy, PolicyState
from detector.signing import verify_command

STEP_S = 10


def _finding(score: float, kind: str = "sms_pumping", step: int = 0,
             entity: str = "acct_1") -> Finding:
    return Finding(kind=kind, scope_kind="account", scope_id=entity, entity_type="account",
                   entity_id=entity, account_id=entity, score=score, step=step,
                   evidence=[{"feature": "sends_in_window", "value": 90.0, "baseline": 3.0}],
                   throttle_scope={"account_id": entity, "prefix": "+23670"})


def _run(config: Config, scores: dict[int, float], until: int, kind: str = "sms_pumping"
         ) -> list:
    policy, state, out = Policy(config), PolicyState(), []
    for step in range(until):
        findings = [_finding(scores[step], kind, step)] if step in scores else []
        out += policy.step(state, findings, step)
    return out


def _alerts(out: list) -> list[dict]:
    return [o.value for o in out if o.topic == "sms.alerts"]


def _commands(out: list) -> list[dict]:
    return [o.value for o in out if o.topic == "sms.throttle"]


def test_one_alert_per_cooldown_while_the_finding_persists() -> None:
    config = Config()
    cooldown_steps = config.policy.cooldown_s // STEP_S
    out = _run(config, {s: 8.0 for s in range(cooldown_steps + 5)}, cooldown_steps + 5)
    alerts = _alerts(out)
    assert [a["ts"] // 10_000 for a in alerts] == [0, cooldown_steps]
    assert all(a["severity"] == "warning" for a in alerts)


def test_a_warning_only_episode_is_repeated_ever_less_often() -> None:
    """A warning for a person to look at that holds all day (a monitor's test handset)
    is repeated after the cooldown, then after twice, four, eight and sixteen times it:
    six alerts in eight hours, not thirty-two. A finding that may be acted on keeps the
    plain cooldown."""
    config = Config()
    cooldown_steps = config.policy.cooldown_s // STEP_S
    until = 32 * cooldown_steps
    policy, state, out = Policy(config), PolicyState(), []
    for step in range(until):
        finding = _finding(8.0, "sms_bombing", step)
        finding.warn_only()
        out += policy.step(state, [finding], step)
    steps = [a["ts"] // 10_000 for a in _alerts(out)]
    assert steps == [n * cooldown_steps for n in (0, 1, 3, 7, 15, 31)]
    assert len(_alerts(_run(config, {s: 8.0 for s in range(until)}, until))) == 32


def test_escalation_re_alerts_and_hardens_the_throttle() -> None:
    out = _run(Config(), {0: 8.0, 1: 8.0, 2: 30.0, 3: 30.0}, 4)
    assert [a["severity"] for a in _alerts(out)] == ["warning", "critical"]
    assert [c["action"] for c in _commands(out)] == ["limit", "block"]
    limit = _commands(out)[0]
    assert limit["rate_per_s"] > 0 and limit["scope"] == {"account_id": "acct_1",
                                                          "prefix": "+23670"}


def test_a_limit_holds_the_scope_to_its_normal_pace() -> None:
    """Twenty pumped sends a minute never reach one a second: a fixed limit would stop
    none of them. The limit is the judged scope's baseline, capped by the config."""
    policy, state = Policy(Config()), PolicyState()
    slow = _finding(8.0)
    slow.normal_rate_per_s = 1.5 / 60  # one and a half sends a minute
    (limit,) = _commands(policy.step(state, [slow], 0))
    assert limit["action"] == "limit" and limit["rate_per_s"] == 0.025
    busy = _finding(8.0, entity="acct_2")
    busy.normal_rate_per_s = 40.0
    (capped,) = _commands(policy.step(state, [busy], 1))
    assert capped["rate_per_s"] == Config().policy.throttle_rate_per_s


def test_a_scope_another_threat_still_throttles_is_not_released() -> None:
    """A hijacked key's lures (spam on the key) and the takeover itself (on the
    account) block the same account x key. The lures stopping must not lift the block
    the takeover still holds: a gateway keeps one command per scope."""
    config = Config()
    policy, state, out = Policy(config), PolicyState(), []
    scope = {"account_id": "acct_1", "api_key_id": "k_new"}
    release_steps = config.policy.release_after_s // STEP_S
    for step in range(2 * release_steps):
        spam = _finding(30.0, "spam_burst", step, entity="k_new")
        takeover = _finding(30.0, "account_takeover", step)
        spam.entity_type, spam.throttle_scope = "api_key", dict(scope)
        takeover.throttle_scope = dict(scope)
        findings = [takeover] + ([spam] if step < 3 else [])
        out += policy.step(state, findings, step)
    commands = _commands(out)
    assert commands and all(c["scope"] == scope for c in commands)
    assert not [c for c in commands if c["action"] == "release"]
    # Once the takeover calms too, the block goes: released, or run out by itself
    # (two threats' throttles on one scope are two offences: the calm asked doubles).
    out = [o for step in range(2 * release_steps, 6 * release_steps)
           for o in policy.step(state, [], step)]
    assert not state.episodes
    released = [c for c in _commands(out) if c["action"] == "release"]
    assert released or commands[-1]["expires_at"] <= 6 * release_steps * STEP_S * 1000


def _in_country(score: float, step: int, country: str) -> Finding:
    found = _finding(score, "sms_pumping", step)
    found.scope_kind, found.scope_id = "account_country", f"acct_1|{country}"
    found.throttle_scope = {"account_id": "acct_1", "country": country}
    return found


def test_an_account_pumping_several_countries_is_throttled_in_each() -> None:
    """One account pumping four dear countries raises a finding in each. The episode's
    throttle holds the first; each other country gets its own throttle (no second
    alert), a prefix inside a throttled country gets none, nor does a prefix an
    account-wide finding proposes, and the episode's calm releases them all."""
    config = Config()
    policy, state, out = Policy(config), PolicyState(), []
    countries = ("TM", "SL", "SO", "UZ")
    for step in range(6):
        findings = [_in_country(30.0 - i, step, c) for i, c in enumerate(countries)]
        inside = _in_country(30.0, step, "TM")
        inside.throttle_scope = {"account_id": "acct_1", "prefix": "+99369"}  # in TM
        # The account-wide finding reads its prefix off the last step's numbers: an
        # honest Nigerian one here. Not a scope of its own.
        noisy = _finding(30.0, "sms_pumping", step)
        noisy.throttle_scope = {"account_id": "acct_1", "prefix": "+23480"}
        out += policy.step(state, findings + [inside, noisy], step)
    assert len(_alerts(out)) == 1
    scopes = [c["scope"] for c in _commands(out)]
    assert sorted(s["country"] for s in scopes) == sorted(countries)
    assert all(c["alert_id"] == _alerts(out)[0]["alert_id"] for c in _commands(out))
    release_steps = config.policy.release_after_s // STEP_S
    calm = [o for step in range(6, 6 + release_steps + 1) for o in policy.step(state, [], step)]
    released = [c["scope"]["country"] for c in _commands(calm) if c["action"] == "release"]
    assert sorted(released) == sorted(countries)


def test_a_country_below_the_alert_bar_gets_no_throttle_of_its_own() -> None:
    policy, state = Policy(Config()), PolicyState()
    weak = Config().policy.warning_score - 1
    out = policy.step(state, [_in_country(30.0, 0, "TM"), _in_country(weak, 0, "SL")], 0)
    assert [c["scope"].get("country") for c in _commands(out)] == ["TM"]


def test_a_bombed_number_is_throttled_for_every_sender_once_none_dominates() -> None:
    """The first minute showed one site's forms; then the bomber's other sites joined.
    The number is throttled for every sender, and the one-account throttle released."""
    policy, state = Policy(Config()), PolicyState()
    number = "+917971947312"
    first = _finding(8.0, "sms_bombing", 0, entity=number)
    first.entity_type, first.throttle_scope = "destination", {"account_id": "site_a",
                                                              "prefix": number}
    later = _finding(8.0, "sms_bombing", 6, entity=number)
    later.entity_type, later.throttle_scope = "destination", {"prefix": number}
    out = policy.step(state, [first], 0) + policy.step(state, [later], 6)
    assert [(c["action"], c["scope"]) for c in _commands(out)] == [
        ("limit", {"account_id": "site_a", "prefix": number}),
        ("limit", {"prefix": number}),
        ("release", {"account_id": "site_a", "prefix": number})]
    again = _finding(8.0, "sms_bombing", 12, entity=number)
    again.entity_type, again.throttle_scope = "destination", {"account_id": "site_b",
                                                              "prefix": number}
    assert not _commands(policy.step(state, [again], 12))  # no narrowing back


def test_a_hijacker_holding_several_keys_gets_the_whole_account_blocked() -> None:
    """The takeover's first step showed one of the account's keys; a later one shows
    none dominating and only strangers' addresses (the hijacker rotates all three).
    The account is blocked, then the key's block lifted. Without that second fact (the
    account's own traffic mixed in) the key's block stays."""
    for widens, expected in ((True, [("block", {"account_id": "acct_1", "api_key_id": "k1"}),
                                     ("block", {"account_id": "acct_1"}),
                                     ("release", {"account_id": "acct_1",
                                                  "api_key_id": "k1"})]),
                             (False, [("block", {"account_id": "acct_1",
                                                 "api_key_id": "k1"})])):
        policy, state = Policy(Config()), PolicyState()
        first = _finding(30.0, "account_takeover", 0)
        first.throttle_scope = {"account_id": "acct_1", "api_key_id": "k1"}
        later = _finding(30.0, "account_takeover", 1)
        later.throttle_scope, later.widens = {"account_id": "acct_1"}, widens
        out = policy.step(state, [first], 0) + policy.step(state, [later], 1)
        assert [(c["action"], c["scope"]) for c in _commands(out)] == expected


def test_commands_expire_by_themselves_and_are_released_when_calm() -> None:
    config = Config()
    release_steps = config.policy.release_after_s // STEP_S
    out = _run(config, {0: 30.0, 1: 30.0}, 2 + release_steps + 1)
    first, last = _commands(out)[0], _commands(out)[-1]
    assert first["expires_at"] - first["ts"] == config.policy.throttle_ttl_s * 1000
    assert last["action"] == "release" and last["scope"] == first["scope"]
    assert last["alert_id"] == first["alert_id"]


def test_a_long_episode_extends_its_throttle_before_it_expires() -> None:
    config = Config()
    ttl_steps = config.policy.throttle_ttl_s // STEP_S
    out = _run(config, {s: 30.0 for s in range(ttl_steps + 5)}, ttl_steps + 5)
    blocks = [c for c in _commands(out) if c["action"] == "block"]
    assert len(blocks) == 2
    assert blocks[1]["ts"] < blocks[0]["expires_at"] < blocks[1]["expires_at"]


def test_repeat_offences_escalate_live_longer_and_need_a_longer_calm() -> None:
    """Each repeat offence on a scope doubles its throttle's time to live and the calm
    its episode needs to close: pumping resumed after every pause would otherwise be
    released in each pause and let through at the start of each burst."""
    config = Config()
    policy, state = Policy(config), PolicyState()
    release_steps = config.policy.release_after_s // STEP_S
    commands, calms, step = [], [], 0
    for _ in range(3):
        out = policy.step(state, [_finding(8.0, step=step)], step)
        commands += _commands(out)
        opened = step
        while state.episodes and step < opened + 20 * release_steps:
            step += 1
            policy.step(state, [], step)
        calms.append(step - opened)
        step += 1
    assert [c["action"] for c in commands] == ["limit", "limit", "block"]
    ttls = [c["expires_at"] - c["ts"] for c in commands]
    assert ttls[0] < ttls[1] < ttls[2]
    assert calms == [release_steps, 2 * release_steps, 4 * release_steps]


def test_below_warning_opens_nothing_but_hysteresis_holds_an_open_episode() -> None:
    config = Config()
    assert _run(config, {0: 4.0, 1: 4.0}, 2) == []
    out = _run(config, {0: 8.0, **{s: 4.0 for s in range(1, 100)}}, 100)
    assert not any(c["action"] == "release" for c in _commands(out))


def test_dry_run_alerts_but_sends_no_commands() -> None:
    config = Config()
    config.policy.dry_run = True
    out = _run(config, {0: 30.0, 1: 30.0}, 2)
    assert len(_alerts(out)) == 1 and _alerts(out)[0]["action"] == "none"
    assert _commands(out) == []


def test_allowlisted_accounts_and_prefixes_are_never_throttled() -> None:
    config = Config()
    config.allowlist.accounts = ["acct_1"]
    assert _run(config, {0: 30.0}, 1) == []
    config = Config()
    config.allowlist.prefixes = ["+236"]
    out = _run(config, {0: 30.0}, 1)
    assert _commands(out) == [] and _alerts(out)[0]["action"] == "none"


def test_anomalies_are_shown_not_acted_on() -> None:
    out = _run(Config(), {0: 50.0}, 1, kind="anomaly")
    assert _alerts(out)[0]["severity"] == "info" and _commands(out) == []


def test_ids_are_stable_across_runs_and_commands_are_signed() -> None:
    config = Config()
    config.signing.key = "s3cret"
    scores = {0: 8.0, 3: 30.0}
    first, second = _run(config, scores, 5), _run(config, scores, 5)
    assert [o.value for o in first] == [o.value for o in second]
    assert all(verify_command(c, "s3cret") for c in _commands(first))
    ids = [a["alert_id"] for a in _alerts(first)]
    assert len(set(ids)) == len(ids)


def _prefix_finding(score: float, step: int, scope: dict[str, str]) -> Finding:
    return Finding(kind="sms_pumping", scope_kind="prefix", scope_id="+37529",
                   entity_type="prefix", entity_id="+37529", account_id=None, score=score,
                   step=step, evidence=[], throttle_scope=scope)


def test_a_prefix_block_narrows_to_the_account_once_the_evidence_names_it() -> None:
    policy, state = Policy(Config()), PolicyState()
    wide, narrow = {"prefix": "+37529"}, {"account_id": "acct_7", "prefix": "+37529"}
    first = _commands(policy.step(state, [_prefix_finding(30.0, 0, wide)], 0))
    assert [(c["action"], c["scope"]) for c in first] == [("block", wide)]
    # A warning-level step names the account: the block moves there (never softened to a
    # limit), and only then is the prefix-wide block released.
    second = _commands(policy.step(state, [_prefix_finding(8.0, 1, narrow)], 1))
    assert [(c["action"], c["scope"]) for c in second] == [("block", narrow), ("release", wide)]
    assert {c["alert_id"] for c in first + second} == {first[0]["alert_id"]}
    # Others join the pumping and no account dominates the range any more: every
    # sender is blocked again, once; a later step naming one account keeps it so, and
    # the calm releases it.
    third = _commands(policy.step(state, [_prefix_finding(30.0, 2, wide)], 2))
    assert [(c["action"], c["scope"]) for c in third] == [("block", wide), ("release", narrow)]
    out = []
    for step in range(3, 3 + 2 * Config().policy.release_after_s // STEP_S + 2):
        found = [_prefix_finding(30.0, step, narrow)] if step == 3 else []
        out += policy.step(state, found, step)
    assert [(c["action"], c["scope"]) for c in _commands(out)] == [("release", wide)]


def test_a_warning_throttled_later_alerts_again_to_say_so() -> None:
    """An episode that opens as a warning for a person to look at (a number's first
    codes, too young to say whether they are entered) and is throttled a step later at
    the same severity, once they are not: on-call is told by a second alert that names
    the throttle, and the command answers that alert. Further steps add no alert."""
    policy, state = Policy(Config()), PolicyState()
    first = _finding(8.0, "sms_bombing", 0)
    first.warn_only()
    (warning,) = _alerts(policy.step(state, [first], 0))
    assert warning["action"] == "none" and "throttle_scope" not in warning
    out = policy.step(state, [_finding(8.5, "sms_bombing", 1)], 1)
    (acting,) = _alerts(out)
    assert acting["action"] == "throttle" and acting["severity"] == warning["severity"]
    assert acting["throttle_scope"] == {"account_id": "acct_1", "prefix": "+23670"}
    assert acting["alert_id"] != warning["alert_id"]
    (command,) = _commands(out)
    assert command["alert_id"] == acting["alert_id"]
    assert acting["alert_id"] in command["reason"]
    later = policy.step(state, [_finding(8.5, "sms_bombing", 2)], 2)
    assert _alerts(later) == []


def test_hysteresis_keeps_a_throttle_going_but_does_not_start_one() -> None:
    """A warning for a person to look at stays open on weaker findings, as any episode
    does; a weaker finding proposing a throttle does not get one through it. A finding
    at the alert bar does, and from then on the weaker ones keep it going."""
    policy, state = Policy(Config()), PolicyState()
    first = _finding(8.0, "sms_pumping", 0)
    first.warn_only()
    (warning,) = _alerts(policy.step(state, [first], 0))
    assert warning["action"] == "none"
    weak = policy.step(state, [_finding(4.0, "sms_pumping", 1)], 1)
    assert weak == []
    strong = policy.step(state, [_finding(7.0, "sms_pumping", 2)], 2)
    (acting,) = _alerts(strong)
    assert acting["action"] == "throttle"
    assert [c["action"] for c in _commands(strong)] == ["limit"]
    held = policy.step(state, [_finding(4.0, "sms_pumping", 3)], 3)
    assert _alerts(held) == [] and _commands(held) == []  # the limit still runs
    assert ("account", "acct_1", "sms_pumping") in state.episodes
