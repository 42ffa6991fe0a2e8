"""The plan of a scenario: the tenant population, who is attacked, when and how hard.

``Planner`` draws everything from one seed up front (accounts, incident
victims, windows, magnitudes, route faults) and returns the record sources
that ``scenario.simulate`` merges. Each source gets its own generator spawned
from the seed, so the output depends on the seed only.
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime

import numpy as np

from detector.simulation.delivery import RouteFault, RouteTable
from detector.simulation.incidents import (
    IncidentLabel,
    account_entities,
    bombing_source,
    doubling_rate,
    new_api_key,
    prefix_entities,
    pumping_source,
    spam_source,
    takeover_source,
)
from detector.simulation.numbering import (
    HIGH_COST_COUNTRIES,
    HOME_COUNTRIES,
    NumberPlan,
)
from detector.simulation.population import (
    CUSTOMER_IP_BLOCKS,
    Account,
    Surge,
    build_population,
    random_ip,
)
from detector.simulation.traffic import Record, World, account_source

# 08:00 UTC: Europe's morning; the Americas wake up during the scenario.
START = datetime(2026, 3, 2, 8, tzinfo=UTC)
# Mean send rate of the default 300-account tenant base, before the daily rhythm.
_SENDS_PER_S_PER_ACCOUNT = 3.2 / 300


@dataclass
class Plan:
    world: World
    accounts: list[Account]
    labels: list[IncidentLabel]
    sources: list[Iterator[Record]]


class Planner:
    """Draws the incident schedule and builds every record source."""

    def __init__(self, seed: int, hours: float, n_accounts: int, target: int | None) -> None:
        self.seq = np.random.SeedSequence(seed)
        self.rng = np.random.default_rng(self.seq.spawn(1)[0])
        self.hours = hours
        self.horizon_s = hours * 3600.0
        # Attacks need a history to stand out from: the first ~40 % is normal life.
        self.warm_s = min(3 * 3600.0, 0.4 * self.horizon_s)
        self.dur_scale = min(1.0, max(0.35, hours / 8.0))
        start_ms = int(START.timestamp() * 1000)
        self.world = World(
            start_ms=start_ms,
            end_ms=start_ms + int(self.horizon_s * 1000),
            plan=NumberPlan(),
            day_offset_s=START.hour * 3600.0,
            routes=RouteTable.build(self.rng),
        )
        self.accounts = build_population(
            self.rng, n_accounts, _SENDS_PER_S_PER_ACCOUNT * n_accounts
        )
        self.rate_scale = 1.0
        self.incident_sends = 0.0  # expected attack sends (to hit a target record count)
        self.target = target
        self.labels: list[IncidentLabel] = []
        self.sources: list[Iterator[Record]] = []
        self.used: set[str] = set()

    # -- helpers -----------------------------------------------------------
    def _spawn(self) -> tuple[np.random.Generator, int]:
        # Attack sources number from 0x8000 so their message ids never meet an account's.
        no = 0x8000 + len(self.sources)
        return np.random.default_rng(self.seq.spawn(1)[0]), no

    def _ms(self, t_s: float) -> int:
        return self.world.start_ms + int(t_s * 1000)

    def _window(self, minutes: float) -> tuple[float, float]:
        dur = minutes * 60.0 * self.dur_scale
        latest = max(self.warm_s, self.horizon_s - dur - 300.0)
        start = float(self.rng.uniform(self.warm_s, latest))
        return start, min(start + dur, self.horizon_s - 60.0)

    def _pick(self, ranked: list[Account], lo: float, hi: float, profile: str | None = None,
              ) -> Account:
        """An unused account between rank quantiles ``lo`` and ``hi`` (0 = largest)."""
        n = len(ranked)
        pool = [a for a in ranked[int(lo * n): max(int(hi * n), int(lo * n) + 1)]
                if a.account_id not in self.used]
        fitting = [a for a in pool if profile is None or a.profile == profile]
        choice = fitting or pool or [a for a in ranked if a.account_id not in self.used]
        account = choice[int(self.rng.integers(len(choice)))]
        if profile is not None and account.profile != profile:
            _convert(account, profile)
        self.used.add(account.account_id)
        return account

    def _label(self, kind: str, start_s: float, end_s: float, accounts: list[Account],
               entities: list[dict], description: str, benign: bool = False) -> IncidentLabel:
        label = IncidentLabel(
            incident_id=f"inc_{len(self.labels) + 1:02d}_{kind}",
            kind=kind, benign=benign, start_ts=self._ms(start_s), end_ts=self._ms(end_s),
            account_ids=[a.account_id for a in accounts], entities=entities,
            description=description,
        )
        self.labels.append(label)
        return label

    def _premium_range(self, exclude: set[str]):
        regions = [c.region for c in HIGH_COST_COUNTRIES if c.region not in exclude] or [
            c.region for c in HIGH_COST_COUNTRIES]
        region = regions[int(self.rng.integers(len(regions)))]
        target = self.world.plan.random_range(self.rng, region)
        self.world.plan.mark_premium(target)
        return target

    # -- the plan ----------------------------------------------------------
    def build(self) -> Plan:
        ranked = sorted(self.accounts, key=lambda a: -a.rate_per_s)
        used_targets: set[str] = set()
        self._pumping(ranked, used_targets)
        self._benign(ranked)
        self._takeover(ranked)
        self._spam(ranked)
        self._bombing(ranked)
        self._degradation()
        if self.target is not None:
            # Sources read rate_scale lazily, when they start drawing records.
            self.rate_scale = self._scale_for(self.target)
        account_sources = []
        for i, account in enumerate(self.accounts):
            rng = np.random.default_rng(self.seq.spawn(1)[0])
            account_sources.append(
                account_source(self.world, account, rng, i + 1, rate_scale=self.rate_scale)
            )
        self.labels.sort(key=lambda lab: (lab.start_ts, lab.incident_id))
        return Plan(self.world, self.accounts, self.labels, account_sources + self.sources)

    def _benign(self, ranked: list[Account]) -> None:
        rng = self.rng
        campaign = self._pick(ranked, 0.0, 0.06, "retail")
        start, end = self._window(float(rng.uniform(20, 40)))
        mult = float(rng.uniform(10, 25))
        label = self._label(
            "benign_campaign", start, end, [campaign], account_entities(campaign),
            f"scheduled marketing campaign of {campaign.account_id}: x{mult:.0f} volume "
            "to its own subscriber list, usual key and address", benign=True,
        )
        campaign.surges.append(Surge(label.incident_id, start, end, mult,
                                     known_recipients_only=True,
                                     message_ids=label.message_ids))
        launch = self._pick(ranked, 0.02, 0.15, "auth")
        start, end = self._window(float(rng.uniform(30, 60)))
        mult = float(rng.uniform(6, 12))
        label = self._label(
            "benign_launch", start, end, [launch], account_entities(launch),
            f"product launch of {launch.account_id}: x{mult:.0f} OTP sign-ups from new users, "
            "normal conversion", benign=True,
        )
        launch.surges.append(Surge(label.incident_id, start, end, mult,
                                   new_recipient_p=0.9, message_ids=label.message_ids))
        # A brand-new tenant: first traffic mid-scenario, doubling until it settles.
        template = ranked[len(ranked) // 4]
        home = HOME_COUNTRIES[int(rng.integers(4))]
        start, _ = self._window(90)
        newcomer = Account(
            account_id=f"acct_{len(self.accounts):04d}",
            rate_per_s=float(rng.uniform(0.15, 0.4)),
            profile="auth",
            category_p=np.array([0.85, 0.15, 0.0]),
            countries=(home.region,),
            country_p=np.array([1.0]),
            utc_offset_h=home.utc_offset_h,
            api_keys=(new_api_key(rng),),
            source_ips=(random_ip(rng, CUSTOMER_IP_BLOCKS),),
            brand=template.brand + "Labs",
            sender_id=(template.brand + "Labs")[:11],
            conversion=float(rng.uniform(0.65, 0.85)),
            new_recipient_p=0.6,
            start_s=start,
            growth_doubling_s=float(rng.uniform(20, 40)) * 60.0 * self.dur_scale,
            growth_cap=1.0,
        )
        newcomer.rate_per_s /= 2.0 ** ((self.horizon_s - start) / newcomer.growth_doubling_s)
        newcomer.growth_cap = 2.0 ** ((self.horizon_s - start) / newcomer.growth_doubling_s)
        self.accounts.append(newcomer)
        self.used.add(newcomer.account_id)
        label = self._label(
            "benign_new_account", start, self.horizon_s, [newcomer], account_entities(newcomer),
            f"new account {newcomer.account_id} ramping up in {home.region}: first traffic, "
            "growing volume, normal conversion", benign=True,
        )
        newcomer.surges.append(Surge(label.incident_id, start, self.horizon_s, 1.0,
                                     message_ids=label.message_ids))

    def _pumping(self, ranked: list[Account], used_targets: set[str]) -> None:
        rng = self.rng
        # 1. A mid-size account's sign-up form pumped to a premium range abroad.
        victim = self._pick(ranked, 0.05, 0.4, "auth")
        target = self._premium_range(used_targets | set(victim.countries))
        used_targets.add(target.region)
        start, end = self._window(float(rng.uniform(15, 40)))
        peak = float(rng.uniform(1.0, 4.0))
        label = self._label(
            "sms_pumping", start, end, [victim], account_entities(victim) + prefix_entities(target),
            f"SMS pumping via {victim.account_id}: ~{peak:.1f} OTP/s to sequential numbers of "
            f"{target.prefix}xxxx ({target.region}), no verifications",
        )
        self._add(pumping_source, label, [victim], target,
                  doubling_rate(start, peak / 4, 30.0, peak), start, end,
                  expected=_integral(doubling_rate(start, peak / 4, 30.0, peak), start, end))
        # 2. Hidden inside the largest OTP account: a small share of its volume.
        auth_ranked = [a for a in ranked if a.profile == "auth" and a.account_id not in self.used]
        big = auth_ranked[0] if auth_ranked else self._pick(ranked, 0.0, 0.03, "auth")
        self.used.add(big.account_id)
        target = self._premium_range(used_targets | set(big.countries))
        used_targets.add(target.region)
        start, end = self._window(float(rng.uniform(40, 70)))
        share = float(rng.uniform(0.08, 0.15))
        level = big.rate_per_s * big.rhythm(self.world.day_offset_s + start)
        # A pumping ring needs volume to be paid: a few messages an hour are not worth
        # running, so the share has a floor in absolute terms (5-9 per minute). In
        # small populations (where the "largest" account is small) that floor rules.
        floor = float(rng.uniform(0.08, 0.15))

        def rate(_t: float, level: float = level) -> float:
            # rate_scale is known only once everything is planned.
            return max(floor, level * self.rate_scale * share)

        label = self._label(
            "sms_pumping", start, end, [big], account_entities(big) + prefix_entities(target),
            f"hidden pumping inside large account {big.account_id}: {share:.0%} of its volume "
            f"(at least {floor * 60:.0f}/min) to {target.prefix}xxxx ({target.region})",
        )
        self._add(pumping_source, label, [big], target, rate, start, end)
        # 3. A slow ramp: a trickle that doubles every few minutes.
        ramp = self._pick(ranked, 0.1, 0.6)
        target = self._premium_range(used_targets | set(ramp.countries))
        used_targets.add(target.region)
        doubling = float(rng.uniform(4, 7)) * 60.0 * self.dur_scale
        cap = float(rng.uniform(2.0, 5.0))
        initial = 1.0 / float(rng.uniform(90, 180))
        dur = doubling * math.log2(cap / initial) + float(rng.uniform(5, 15)) * 60 * self.dur_scale
        start, end = self._window(dur / 60.0 / self.dur_scale)
        label = self._label(
            "sms_pumping", start, end, [ramp], account_entities(ramp) + prefix_entities(target),
            f"slow-ramp pumping via {ramp.account_id}: from 1 per {1 / initial:.0f}s doubling "
            f"every {doubling / 60:.1f} min up to {cap:.1f}/s, to {target.prefix}xxxx",
        )
        self._add(pumping_source, label, [ramp], target,
                  doubling_rate(start, initial, doubling, cap), start, end,
                  expected=_integral(doubling_rate(start, initial, doubling, cap), start, end))
        # 4. One range pumped through many small accounts, each one unremarkable.
        n_small = min(int(rng.integers(15, 31)), max(3, len(ranked) // 4))
        smalls = [self._pick(ranked, 0.5, 1.0) for _ in range(n_small)]
        target = self._premium_range(
            used_targets | {c for a in smalls for c in a.countries})
        used_targets.add(target.region)
        start, end = self._window(float(rng.uniform(25, 50)))
        total = float(rng.uniform(0.8, 2.0))
        label = self._label(
            "sms_pumping", start, end, smalls, prefix_entities(target)
            + [{"type": "account", "id": a.account_id} for a in smalls],
            f"distributed pumping of {target.prefix}xxxx ({target.region}) through {n_small} "
            f"small accounts, {total:.1f}/s together",
        )
        self._add(pumping_source, label, smalls, target, lambda _t, r=total: r, start, end,
                  expected=total * (end - start))

    def _takeover(self, ranked: list[Account]) -> None:
        rng = self.rng
        victim = self._pick(ranked, 0.1, 0.5)
        stolen = new_api_key(rng)
        victim_regions = set(victim.countries)
        # Ordinary markets the account never served (expensive ones would make it pumping).
        regions = [c.region for c in HOME_COUNTRIES if c.region not in victim_regions]
        picked = tuple(str(r) for r in rng.choice(regions, int(rng.integers(2, 4)), replace=False))
        start, end = self._window(float(rng.uniform(15, 35)))
        peak = float(rng.uniform(2.0, 6.0))
        label = self._label(
            "account_takeover", start, end, [victim],
            [{"type": "account", "id": victim.account_id}, {"type": "api_key", "id": stolen}],
            f"stolen API key {stolen} of {victim.account_id} used from a new address: "
            f"~{peak:.1f}/s to new numbers in {', '.join(picked)}",
        )
        self._add(takeover_source, label, victim, stolen, picked, peak, start, end,
                  expected=peak * (end - start))

    def _spam(self, ranked: list[Account]) -> None:
        rng = self.rng
        spammer = self._pick(ranked, 0.3, 0.9)
        start, end = self._window(float(rng.uniform(10, 25)))
        peak = float(rng.uniform(3.0, 8.0))
        label = self._label(
            "spam_burst", start, end, [spammer], account_entities(spammer),
            f"smishing burst from {spammer.account_id}: ~{peak:.1f}/s near-duplicate lures "
            "with links to new numbers",
        )
        self._add(spam_source, label, spammer, peak, start, end, expected=peak * (end - start))

    def _bombing(self, ranked: list[Account]) -> None:
        rng = self.rng
        n = int(rng.integers(1, 4))
        senders = [self._pick(ranked, 0.05, 0.7, "auth") for _ in range(n)]
        region = HOME_COUNTRIES[int(rng.integers(6))].region
        victim = self.world.plan.random_number(rng, region)
        start, end = self._window(float(rng.uniform(8, 20)))
        gap = float(rng.uniform(3.0, 8.0))
        label = self._label(
            "sms_bombing", start, end, senders,
            [{"type": "destination", "id": victim}]
            + [{"type": "account", "id": a.account_id} for a in senders],
            f"OTP bombing of {victim} through {n} account(s): one code every ~{gap:.0f}s",
        )
        self._add(bombing_source, label, senders, victim, region, gap, start, end,
                  expected=(end - start) / gap)

    def _degradation(self) -> None:
        rng = self.rng
        routes = self.world.routes
        # The busiest countries' main routes carry enough traffic to notice a fault.
        busy = ["US", "IN", "GB", "BR", "DE"]
        first, second = (str(r) for r in rng.choice(busy, 2, replace=False))
        dark = routes.routes[first][0]
        start, end = self._window(float(rng.uniform(20, 40)))
        routes.add_fault(RouteFault(dark, self._ms(start), self._ms(end), 1.0, "30008"))
        self._label(
            "delivery_degradation", start, end, [], [{"type": "route", "id": dark}],
            f"route {dark} goes dark: every message undelivered",
        )
        partial = routes.routes[second][0]
        share = float(rng.uniform(0.35, 0.5))
        start, end = self._window(float(rng.uniform(25, 50)))
        routes.add_fault(RouteFault(partial, self._ms(start), self._ms(end), share, "30410"))
        self._label(
            "delivery_degradation", start, end, [], [{"type": "route", "id": partial}],
            f"partial degradation of route {partial}: {share:.0%} of messages fail with new "
            "error 30410",
        )

    def _add(self, factory, label: IncidentLabel, *args, expected: float = 0.0) -> None:
        self.incident_sends += expected
        rng, no = self._spawn()
        self.sources.append(factory(self.world, rng, no, label, *args))

    def _scale_for(self, target: int) -> float:
        """Rate multiplier so normal traffic brings the file to about ``target`` records."""
        expected = 0.0
        grid = np.arange(0.0, self.horizon_s, 300.0) + 150.0
        for account in self.accounts:
            sends = sum(
                account.rate_per_s * account.rhythm(self.world.day_offset_s + t)
                * account.growth(t) * 300.0
                * max([s.multiplier for s in account.surges if s.start_s <= t < s.end_s] + [1])
                for t in grid if t >= account.start_s
            )
            otp = float(account.category_p[0])
            expected += sends * (2.0 + otp * account.conversion * 0.97)
        # Attack sends bring a DLR each (verifications are rare for them).
        incident_records = 2.0 * self.incident_sends
        return max(0.01, (target - incident_records) / max(expected, 1.0))


def _integral(rate, start_s: float, end_s: float) -> float:
    grid = np.arange(start_s, end_s, 10.0)
    return float(sum(rate(t + 5.0) for t in grid) * 10.0)


def _convert(account: Account, profile: str) -> None:
    mix = {"auth": (0.88, 0.12, 0.0), "retail": (0.05, 0.25, 0.7)}.get(profile)
    if mix is not None:
        account.profile = profile
        account.category_p = np.array(mix)
