"""From findings to alerts and throttle commands: when to speak, when to act.

An *episode* is one continuous finding of one kind on one entity. It opens when
a finding reaches ``policy.warning_score`` (any score for ``anomaly``, which is
only ever shown), stays open while the finding keeps coming back at the lower
hysteresis level, and closes after ``policy.release_after_s`` of calm (twice that for
each earlier throttle on its scope: a repeat offender pausing between bursts is not
released in each pause). Within an
episode the policy alerts once, again when the severity escalates, and again
after ``policy.cooldown_s`` if it is still going.

Throttles go to the narrowest scope the finding proposes (and move to the
account x prefix once a prefix-wide throttle's attack is pinned on one account, and
back to every sender, once, when a ring joins that account), expire by themselves
(``expires_at``), are extended while the episode lasts, escalate from ``limit`` to
``block`` on critical scores and on repeat offences (each repeat also doubles the time
to live), and are released when the episode closes.

Ids are hashes of what the finding is (entity, kind, episode start, sequence),
never of wall-clock time or randomness, so a rerun emits the same ids.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from typing import Any

from detector.config import Config
from detector.enrichment import regions_of_prefix
from detector.findings import ANOMALY, BOMBING, PUMPING, TAKEOVER, THROTTLED_KINDS, Finding
from detector.signing import sign_command

SEVERITY_RANK = {"info": 0, "warning": 1, "critical": 2}
# A warning-only episode's reminders come at the cooldown, then twice, four, eight and
# sixteen times it (see Policy._reminder_steps).
MAX_REMINDER_DOUBLINGS = 4
# A repeat offender's episode needs a longer calm to close: twice as long for each
# earlier throttle on its scope, up to sixteen times (see Policy._calm_steps).
MAX_CALM_DOUBLINGS = 4
ALERTS, THROTTLE = "sms.alerts", "sms.throttle"


@dataclass(slots=True)
class Episode:
    kind: str
    entity_type: str
    entity_id: str
    opened_step: int
    severity: str
    last_alert_step: int
    alerts: int = 0
    last_finding_step: int = 0
    # Has a range's throttle on one account moved to every sender (see Policy._narrow)?
    widened: bool = False
    throttle: dict[str, Any] | None = None
    # Throttles on further scopes the same threat reached while ``throttle`` held, each
    # apart from it and from one another (an account pumping several countries at once),
    # by scope key: one scope per episode would let the other countries go on.
    side: dict[str, dict[str, Any]] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class Output:
    """One record for an output topic (by role: sms.alerts, sms.throttle, sms.deadletter)."""

    topic: str
    key: str
    value: dict[str, Any]


@dataclass(slots=True)
class PolicyState:
    """What the policy remembers for one family entity (checkpointed with it)."""

    episodes: dict[tuple[str, str, str], Episode] = field(default_factory=dict)
    strikes: dict[str, int] = field(default_factory=dict)


_NO_KINDS: frozenset[str] = frozenset()
# Findings whose scope may take a side throttle: those judged on one country's traffic,
# whose proposed scope lies in that country. An account-wide finding reads its prefix off
# the last step's numbers, which may be an honest one elsewhere.
SIDE_SCOPE_KINDS = frozenset({"account_country"})


class Policy:
    def __init__(self, config: Config) -> None:
        self.config = config
        self.p = config.policy
        self.step_ms = config.detector.step_s * 1000
        self.cooldown_steps = max(1, config.policy.cooldown_s // config.detector.step_s)
        self.release_steps = max(1, config.policy.release_after_s // config.detector.step_s)
        allow = config.allowlist
        self.allowed_accounts = frozenset(allow.accounts)
        self.allowed_prefixes = tuple(allow.prefixes)
        self.allowed_numbers = frozenset(allow.numbers)

    def open_kinds(self, state: PolicyState, entity_type: str, entity_id: str
                   ) -> frozenset[str]:
        """Kinds with an open episode on this entity."""
        if not state.episodes:  # the usual case: asked at every scope close
            return _NO_KINDS
        return frozenset(k[2] for k in state.episodes
                         if k[0] == entity_type and k[1] == entity_id)

    def step(self, state: PolicyState, findings: list[Finding], step: int,
             ts: int | None = None) -> list[Output]:
        """Apply one closed step's findings (best per entity and kind); calm the rest.

        ``ts`` is the event time at which the step closed: the time the alerts and
        commands are stamped with (the contract's "event time of the event that
        raised it"), never earlier than the detector could have known. Default: the
        step's last millisecond.
        """
        if not findings and not state.episodes:
            return []  # the usual step: nothing found, nothing open to calm
        if ts is None:
            ts = (step + 1) * self.step_ms - 1
        best: dict[tuple[str, str, str], Finding] = {}
        every: dict[tuple[str, str, str], list[Finding]] = {}
        for f in findings:
            if self._allowlisted(f):
                continue
            key = (f.entity_type, f.entity_id, f.kind)
            every.setdefault(key, []).append(f)
            if key not in best or f.score > best[key].score:
                best[key] = f
        out: list[Output] = []
        for key, finding in sorted(best.items()):
            out.extend(self._on_finding(state, key, finding, step, ts))
            if len(every[key]) > 1:
                out.extend(self._on_side_findings(state, key, every[key], step, ts))
        for key in sorted(state.episodes):
            if key not in best:
                out.extend(self._on_calm(state, key, step, ts))
        return out

    # -- findings --------------------------------------------------------
    def _severity(self, finding: Finding) -> str:
        if finding.kind == ANOMALY:
            return "info"
        if finding.score >= self.p.critical_score:
            severity = "critical"
        else:
            severity = "warning" if finding.score >= self.p.warning_score else "info"
        cap = finding.max_severity
        if cap is not None and SEVERITY_RANK[severity] > SEVERITY_RANK[cap]:
            return cap
        return severity

    def _on_finding(self, state: PolicyState, key: tuple[str, str, str], finding: Finding,
                    step: int, ts: int) -> list[Output]:
        severity = self._severity(finding)
        episode = state.episodes.get(key)
        if episode is None:
            if finding.kind != ANOMALY and finding.score < self.p.warning_score:
                return []  # below the opening level: hysteresis only holds open episodes
            episode = Episode(finding.kind, finding.entity_type, finding.entity_id,
                              opened_step=step, severity=severity, last_alert_step=step)
            state.episodes[key] = episode
            alert_due = True
        else:
            escalated = SEVERITY_RANK[severity] > SEVERITY_RANK[episode.severity]
            reminder = (finding.kind != ANOMALY
                        and step - episode.last_alert_step >= self._reminder_steps(
                            finding, episode)
                        and SEVERITY_RANK[severity] >= SEVERITY_RANK[episode.severity])
            alert_due = escalated or reminder
            if escalated:
                episode.severity = severity
        episode.last_finding_step = step
        out: list[Output] = []
        action = self._action(finding, episode)
        # An episode that opened as a warning to look at and is first throttled now
        # alerts again: on-call learns from the alert feed, not from a gateway, that
        # sends are being stopped (an episode's throttle is only ever issued here).
        if alert_due or (action != "none" and episode.throttle is None):
            episode.alerts += 1
            episode.last_alert_step = step
            out.append(Output(ALERTS, finding.entity_id,
                              self._alert(finding, episode, action, ts)))
        if action != "none":
            # Every command names the alert it answers: this step's, or the episode's
            # latest when none was due (a throttle extended or hardened).
            alert_id = _latest_alert_id(episode)
            previous = self._narrow(episode, finding, ts)
            if previous is not None and previous["action"] == "block":
                action = "block"  # narrowing never softens a block
            command = self._throttle(state, finding, episode, action, step, ts, alert_id)
            if command is not None:
                out.append(command)
            narrowed = episode.throttle
            if (previous is not None and narrowed is not None
                    and not _held(state, previous["scope_key"], ts)):
                # After the narrower command, so the attack is never left unthrottled.
                out.append(self._release(
                    previous, step, ts, f"{finding.kind} on {finding.entity_type} "
                    f"{finding.entity_id} moved to {_canonical(narrowed['scope'])}"))
        return out

    def _reminder_steps(self, finding: Finding, episode: Episode) -> int:
        """Steps after an episode's last alert before it is repeated: the cooldown, or
        for a finding that can never be more than a warning (for a person to look at),
        twice as long at each repeat, up to ``MAX_REMINDER_DOUBLINGS`` times. A warning
        that holds for hours (a delivery monitor's test handset sent codes all day) is
        repeated a handful of times, not every quarter hour."""
        if finding.max_severity is None:
            return self.cooldown_steps
        return self.cooldown_steps << min(max(episode.alerts - 1, 0), MAX_REMINDER_DOUBLINGS)

    def _narrow(self, episode: Episode, finding: Finding, ts: int) -> dict[str, Any] | None:
        """Give up a throttle's scope when the finding now proposes a narrower one.

        The first proposal is made on the attack's first minute, when attribution is
        weakest: a range pumped by one account may still look shared with the honest
        senders of that range, so the whole prefix is blocked. Once the evidence names
        the account (account x prefix inside the prefix, see ``_narrower``), a
        prefix-wide block only stops everyone else's traffic. Returns the throttle
        given up (the caller issues the narrower one, then releases this); never
        widens a prefix: a broader proposal keeps the episode's scope. Bombing and a
        hijacker holding several keys are the exceptions, see ``_every_sender`` and
        ``_every_key``.
        """
        current = episode.throttle
        if current is None or current["expires_at"] <= ts:
            return None
        proposed = _clean(finding.throttle_scope)
        if finding.kind == BOMBING:
            # The other way round for a bombed handset: the first minute may show one
            # site's forms, the next ones the bomber's other sites. The number is
            # throttled for every sender once no one sender dominates it.
            change = _every_sender(proposed, current["scope"])
        elif finding.kind == PUMPING and finding.entity_type == "prefix" and (
                episode.widened or _every_sender(proposed, current["scope"])):
            # Likewise a range a ring pumps: its first account dominated the range's
            # first minutes, then ten more joined it. Widened once, it stays so: the
            # top account's share wavering about the bar must not flip the scope.
            change = not episode.widened
            episode.widened = True
        elif finding.kind == TAKEOVER and finding.widens:
            # Likewise a hijacker rotating the account's keys: the first step showed
            # one of them; blocking it alone let two thirds of the attack through.
            change = _every_key(proposed, current["scope"])
        else:
            change = _narrower(proposed, current["scope"])
        if not change:
            return None
        episode.throttle = None
        return current

    def _action(self, finding: Finding, episode: Episode) -> str:
        if (finding.kind not in THROTTLED_KINDS or finding.throttle_scope is None
                or self.p.dry_run or SEVERITY_RANK[episode.severity] < 1
                or self._scope_allowlisted(finding.throttle_scope)):
            return "none"
        if episode.throttle is None and finding.score < self.p.warning_score:
            # Hysteresis keeps a throttle going on weaker findings; it does not start
            # one. An episode opened for a person to look at (a warning that proposed
            # no throttle) is throttled only on a finding at the alert bar.
            return "none"
        return "block" if episode.severity == "critical" else "throttle"

    def _alert(self, finding: Finding, episode: Episode, action: str, ts: int) -> dict[str, Any]:
        alert: dict[str, Any] = {
            "alert_id": _latest_alert_id(episode),
            "ts": ts,
            "kind": finding.kind,
            "severity": episode.severity,
            "entity": {"type": finding.entity_type, "id": finding.entity_id},
            "score": finding.score,
            "evidence": finding.evidence,
            "action": action,
            "scope_kind": finding.scope_kind,
            "episode_start_ts": episode.opened_step * self.step_ms,
        }
        if finding.account_id:
            alert["account_id"] = finding.account_id
        if finding.throttle_scope is not None and action != "none":
            alert["throttle_scope"] = finding.throttle_scope
        return alert

    def _throttle(self, state: PolicyState, finding: Finding, episode: Episode, action: str,
                  step: int, ts: int, alert_id: str) -> Output | None:
        """The command for this step, if one is due; ``alert_id``: the alert it answers."""
        current = episode.throttle
        if current is not None and current["expires_at"] > ts:
            # One scope per episode: the first proposal is the attack's core, and
            # a command per step for each neighbouring prefix would flood gateways.
            # (Scopes apart from it get side throttles: see _on_side_findings.)
            scope = current["scope"]
        else:
            current, scope = None, _clean(finding.throttle_scope)
        issued = self._issue(state, finding, current, scope, action, step, ts, alert_id)
        if issued is None:
            return None
        episode.throttle, command = issued
        return command

    def _issue(self, state: PolicyState, finding: Finding, current: dict[str, Any] | None,
               scope: dict[str, str], action: str, step: int, ts: int, alert_id: str | None
               ) -> tuple[dict[str, Any], Output] | None:
        """A command on ``scope`` and the throttle it puts in force, if one is due:
        always for a scope not in force; for ``current`` (in force there) only to
        harden a limit into a block or to extend one that is running out."""
        scope_key = _canonical(scope)
        strikes = state.strikes.get(scope_key, 1 if current is not None else 0)
        if current is not None:
            strikes -= 1
        # A limit holds a scope to its normal pace: not where the finding says that would
        # hold it to nothing honest (Finding.block_only).
        command_action = ("block" if action == "block" or strikes >= 2 or finding.block_only
                          else "limit")
        if current is not None and current["action"] == "block":
            command_action = "block"  # extending never softens a block
        ttl_ms = min(self.p.throttle_ttl_s * 2**strikes, self.p.max_throttle_ttl_s) * 1000
        if current is not None:
            stronger = command_action == "block" and current["action"] == "limit"
            expiring = current["expires_at"] - ts < ttl_ms // 3
            if not stronger and not expiring:
                return None
        else:
            state.strikes[scope_key] = strikes + 1
        command: dict[str, Any] = {
            "command_id": "cmd-" + _digest(scope_key, command_action, step, alert_id),
            "ts": ts,
            "action": command_action,
            "scope": scope,
            "expires_at": ts + ttl_ms,
            "reason": f"{finding.kind} on {finding.entity_type} {finding.entity_id} "
                      f"(score {finding.score:.1f}, alert {alert_id})",
            "alert_id": alert_id,
        }
        if command_action == "limit":
            command["rate_per_s"] = limit_rate(finding, self.p.throttle_rate_per_s)
        throttle = {"scope_key": scope_key, "scope": scope, "action": command_action,
                    "expires_at": command["expires_at"], "alert_id": alert_id}
        return throttle, self._command_output(command)

    def _on_side_findings(self, state: PolicyState, key: tuple[str, str, str],
                          findings: list[Finding], step: int, ts: int) -> list[Output]:
        """Throttles for the scopes of this step's other findings on the same threat
        that lie apart from the episode's throttle: an account pumping four countries
        raises a finding in each, and one throttle would stop a quarter of it.

        A scope gets its own throttle only on a finding that clears the opening bar
        (an alert's), and only apart from every scope already held (no stacking of a
        prefix inside a throttled country). Each expires by itself, is extended while
        its own findings go on, and is released with the episode.
        """
        episode = state.episodes.get(key)
        main = episode.throttle if episode is not None else None
        if episode is None or main is None or main["expires_at"] <= ts:
            return []
        by_scope: dict[str, tuple[Finding, dict[str, str]]] = {}
        for f in findings:
            scope = _clean(f.throttle_scope)
            if (f.scope_kind not in SIDE_SCOPE_KINDS or not scope
                    or self._action(f, episode) == "none" or not _apart(scope, main["scope"])):
                continue
            scope_key = _canonical(scope)
            if scope_key not in by_scope or f.score > by_scope[scope_key][0].score:
                by_scope[scope_key] = (f, scope)
        out: list[Output] = []
        for scope_key, (f, scope) in sorted(by_scope.items()):
            current = episode.side.get(scope_key)
            if current is not None and current["expires_at"] <= ts:
                current = None
            if current is None and (f.score < self.p.warning_score or any(
                    not _apart(scope, held["scope"]) for held in episode.side.values()
                    if held["expires_at"] > ts)):
                continue
            action = "block" if f.score >= self.p.critical_score else "throttle"
            issued = self._issue(state, f, current, scope, action, step, ts, main["alert_id"])
            if issued is not None:
                episode.side[scope_key], command = issued
                out.append(command)
        return out

    # -- calm --------------------------------------------------------------
    def _on_calm(self, state: PolicyState, key: tuple[str, str, str], step: int, ts: int
                 ) -> list[Output]:
        episode = state.episodes[key]
        if step - episode.last_finding_step < self._calm_steps(state, episode):
            return []
        del state.episodes[key]
        out: list[Output] = []
        why = f"{episode.kind} on {episode.entity_type} {episode.entity_id} is normal again"
        for throttle in (episode.throttle, *episode.side.values()):
            # Not when another threat on this entity throttles the same scope (a hijacked
            # key's lures and its takeover): releasing it would lift that one's block too.
            if (throttle is not None and throttle["expires_at"] > ts
                    and not _held(state, throttle["scope_key"], ts)):
                out.append(self._release(throttle, step, ts, why))
        return out

    def _calm_steps(self, state: PolicyState, episode: Episode) -> int:
        """Steps without a finding before an episode closes: ``policy.release_after_s``,
        doubled for each earlier throttle on its scope, as the throttle's time to live
        is. An attacker pausing between bursts longer than the calm asked (pumping
        resumed every twenty minutes) would otherwise be released in each pause and let
        through at the start of each burst until it is found again."""
        throttle = episode.throttle
        strikes = 1 if throttle is None else state.strikes.get(throttle["scope_key"], 1)
        return self.release_steps << min(max(strikes - 1, 0), MAX_CALM_DOUBLINGS)

    def _release(self, throttle: dict[str, Any], step: int, ts: int, why: str) -> Output:
        command = {
            "command_id": "cmd-" + _digest(throttle["scope_key"], "release", step,
                                           throttle["alert_id"]),
            "ts": ts,
            "action": "release",
            "scope": throttle["scope"],
            "expires_at": throttle["expires_at"],
            "reason": f"{why} (alert {throttle['alert_id']})",
            "alert_id": throttle["alert_id"],
        }
        return self._command_output(command)

    def _command_output(self, command: dict[str, Any]) -> Output:
        if self.config.signing.key:
            command = sign_command(command, self.config.signing.key)
        scope = command["scope"]
        key = scope.get("account_id") or scope.get("prefix") or scope.get("country") or ""
        return Output(THROTTLE, key, command)

    # -- allowlists ------------------------------------------------------
    def _allowlisted(self, finding: Finding) -> bool:
        if finding.account_id in self.allowed_accounts:
            return True
        if finding.entity_type == "destination" and finding.entity_id in self.allowed_numbers:
            return True
        return finding.entity_type in ("prefix", "destination") and finding.entity_id.startswith(
            self.allowed_prefixes or ("\0",))

    def _scope_allowlisted(self, scope: dict[str, str]) -> bool:
        if scope.get("account_id") in self.allowed_accounts:
            return True
        prefix = scope.get("prefix")
        if prefix is None:
            return False
        if prefix in self.allowed_numbers:
            return True
        # A throttle on a range that holds an allowlisted number or prefix would hit it too.
        return any(p.startswith(prefix) or prefix.startswith(p)
                   for p in (*self.allowed_prefixes, *self.allowed_numbers))


def _narrower(proposed: dict[str, str], current: dict[str, str]) -> bool:
    """Does ``proposed`` name the account behind a throttle that named none?

    Only that narrowing is taken: a prefix's or a number's senders are remembered over
    minutes, so once one account dominates them the attribution is sound. An account's
    API key is read off a single step, too noisy to give up the account-wide scope.

    >>> _narrower({"account_id": "a1", "prefix": "+37529"}, {"prefix": "+37529"})
    True
    >>> _narrower({"account_id": "a1", "prefix": "+37530"}, {"prefix": "+37529"})
    False
    >>> _narrower({"account_id": "a1", "api_key_id": "k1"}, {"account_id": "a1"})
    False
    """
    if "account_id" in current or "account_id" not in proposed:
        return False
    return all(proposed.get(key) == value for key, value in current.items())


def _every_sender(proposed: dict[str, str], current: dict[str, str]) -> bool:
    """Does ``proposed`` throttle for every sender the number or range ``current``
    throttles for one account (all of it, or a range holding it)?

    >>> _every_sender({"prefix": "+447400123456"},
    ...               {"account_id": "a1", "prefix": "+447400123456"})
    True
    >>> _every_sender({"account_id": "a2", "prefix": "+447400123456"},
    ...               {"account_id": "a1", "prefix": "+447400123456"})
    False
    >>> _every_sender({"prefix": "+68279"}, {"account_id": "a1", "prefix": "+68279"})
    True
    >>> _every_sender({"prefix": "+6827977"}, {"account_id": "a1", "prefix": "+68279"})
    False
    """
    inside = current.get("prefix", "")
    wide = proposed.get("prefix")
    return ("account_id" not in proposed and "account_id" in current
            and wide is not None and inside.startswith(wide))


def _every_key(proposed: dict[str, str], current: dict[str, str]) -> bool:
    """Does ``proposed`` throttle the whole account ``current`` throttles one key of?

    >>> _every_key({"account_id": "a1"}, {"account_id": "a1", "api_key_id": "k1"})
    True
    >>> _every_key({"account_id": "a1", "api_key_id": "k2"},
    ...            {"account_id": "a1", "api_key_id": "k1"})
    False
    """
    return (set(proposed) == {"account_id"} and "api_key_id" in current
            and proposed["account_id"] == current.get("account_id"))


def _canonical(scope: dict[str, str]) -> str:
    return "|".join(f"{k}={v}" for k, v in sorted(scope.items()))


def _latest_alert_id(episode: Episode) -> str:
    """The id of the episode's latest alert: its count and severity name it (an episode
    escalates only by alerting, so its severity is still that alert's)."""
    return "al-" + _digest(episode.entity_type, episode.entity_id, episode.kind,
                           episode.opened_step, episode.alerts, episode.severity)


def _digest(*parts: object) -> str:
    return hashlib.sha1("|".join(map(str, parts)).encode()).hexdigest()[:20]


def _held(state: PolicyState, scope_key: str, ts: int) -> bool:
    """Does an open episode still throttle ``scope_key``? A gateway keeps one command
    per scope, so a release of it lifts every episode's throttle there."""
    for e in state.episodes.values():
        for throttle in (e.throttle, e.side.get(scope_key)):
            if (throttle is not None and throttle["scope_key"] == scope_key
                    and throttle["expires_at"] > ts):
                return True
    return False


def _clean(scope: dict[str, str] | None) -> dict[str, str]:
    """A proposed scope without its empty parts, in key order (as commands carry it)."""
    return {k: v for k, v in sorted((scope or {}).items()) if v}


def _apart(scope: dict[str, str], other: dict[str, str]) -> bool:
    """Do two throttle scopes of one account stop no send in common?

    Only where both name destinations, and different ones: two countries, two
    prefixes neither inside the other, or a prefix outside a country. A scope that
    names no destination (the account, one of its API keys) overlaps everything.

    >>> _apart({"account_id": "a", "country": "TM"}, {"account_id": "a", "country": "SL"})
    True
    >>> _apart({"account_id": "a", "prefix": "+99369"}, {"account_id": "a", "country": "TM"})
    False
    >>> _apart({"account_id": "a", "prefix": "+23276"}, {"account_id": "a", "country": "TM"})
    True
    >>> _apart({"account_id": "a"}, {"account_id": "a", "country": "TM"})
    False
    """
    if scope.get("account_id") != other.get("account_id"):
        return False  # not one account's: never stacked
    a, b = _destinations(scope), _destinations(other)
    if a is None or b is None:
        return False
    (kind_a, value_a), (kind_b, value_b) = a, b
    if kind_a == kind_b == "prefix":
        return not (value_a.startswith(value_b) or value_b.startswith(value_a))
    if kind_a == kind_b:
        return value_a != value_b
    prefix, country = (value_a, value_b) if kind_a == "prefix" else (value_b, value_a)
    regions = regions_of_prefix(prefix)
    return bool(regions) and country not in regions  # an unknown code: not known apart


def _destinations(scope: dict[str, str]) -> tuple[str, str] | None:
    if "prefix" in scope:
        return "prefix", scope["prefix"]
    if "country" in scope:
        return "country", scope["country"]
    return None


# A limit never goes below one send a minute: slower than that it is a block, which
# only a critical finding or a repeat offence earns. A handset is the exception: a
# person gets a few codes an hour, and a bomber pacing one a minute and a half would
# pass a limit of one a minute whole.
MIN_LIMIT_PER_S = 1 / 60
MIN_NUMBER_LIMIT_PER_S = 1 / 600


def limit_rate(finding: Finding, ceiling: float) -> float:
    """Sends a second a ``limit`` allows: the judged scope's normal pace, at most
    ``ceiling`` (``policy.throttle_rate_per_s``). A fixed rate would let a slow attack
    through whole: pumping at twenty sends a minute never reaches one a second.

    >>> from types import SimpleNamespace as F
    >>> limit_rate(F(normal_rate_per_s=0.05, entity_type="account"), 1.0)
    0.05
    >>> limit_rate(F(normal_rate_per_s=None, entity_type="account"), 1.0)
    1.0
    >>> limit_rate(F(normal_rate_per_s=0.0001, entity_type="account"), 1.0)
    0.0167
    >>> limit_rate(F(normal_rate_per_s=0.0001, entity_type="destination"), 1.0)
    0.0017
    """
    normal = finding.normal_rate_per_s
    if normal is None:
        return ceiling
    floor = MIN_NUMBER_LIMIT_PER_S if finding.entity_type == "destination" else MIN_LIMIT_PER_S
    return round(min(ceiling, max(floor, normal)), 4)
