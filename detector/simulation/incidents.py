"""Injected incidents: the attacks (and their labels) layered over normal traffic.

Each attack is a record source of its own (see ``traffic``), sending in the
name of real accounts of the population, and an ``IncidentLabel`` that says what
happened, when, to whom, which entities an alert may legitimately name, and the
message ids of the attack's sends (filled in as the source runs).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterator
from dataclasses import asdict, dataclass, field

import numpy as np

from detector.simulation.content import otp_body, smishing_body, transactional_body
from detector.simulation.numbering import NumberRange, calling_code
from detector.simulation.population import ATTACKER_IP_BLOCKS, Account, api_key_id, random_ip
from detector.simulation.traffic import Emitter, Record, World

MALICIOUS_KINDS = (
    "sms_pumping", "account_takeover", "spam_burst", "sms_bombing", "delivery_degradation",
)
BENIGN_KINDS = ("benign_campaign", "benign_launch", "benign_new_account")
_STEP_S = 10.0  # rate granularity of attack sources


@dataclass
class IncidentLabel:
    """Ground truth for one incident, as written to the labels file."""

    incident_id: str
    kind: str
    benign: bool
    start_ts: int
    end_ts: int
    account_ids: list[str]
    entities: list[dict]
    description: str
    message_ids: list[str] = field(default_factory=list)

    def to_dict(self) -> dict:
        return asdict(self)


def account_entities(account: Account) -> list[dict]:
    return [{"type": "account", "id": account.account_id}] + [
        {"type": "api_key", "id": key} for key in account.api_keys
    ]


def prefix_entities(rng_range: NumberRange) -> list[dict]:
    """The range's prefixes from calling code + 1 digit down to the full range."""
    cc = calling_code(rng_range.region)
    first = 1 + len(cc) + 1
    return [
        {"type": "prefix", "id": rng_range.prefix[:depth]}
        for depth in range(first, len(rng_range.prefix) + 1)
    ] + [{"type": "country", "id": rng_range.region}]


def _poisson_times(
    rng: np.random.Generator, start_s: float, end_s: float, rate: Callable[[float], float]
) -> Iterator[float]:
    """Event times of an inhomogeneous Poisson process, piecewise constant per 10 s."""
    t0 = start_s
    while t0 < end_s:
        t1 = min(t0 + _STEP_S, end_s)
        n = int(rng.poisson(max(0.0, rate((t0 + t1) / 2)) * (t1 - t0)))
        yield from np.sort(rng.uniform(t0, t1, n))
        t0 = t1


def pumping_source(
    world: World,
    rng: np.random.Generator,
    source_no: int,
    label: IncidentLabel,
    accounts: list[Account],
    target: NumberRange,
    rate: Callable[[float], float],
    start_s: float,
    end_s: float,
) -> Iterator[Record]:
    """OTP requests for sequential numbers of one premium range, never verified.

    The fraudster drives the accounts' own sign-up forms (their key, IP and
    sender id), walks the range number by number, and a complicit terminating
    carrier reports most messages delivered.
    """
    em = Emitter(world, rng, source_no)
    suffix = int(rng.integers(0, 6000))
    delivered_p = float(rng.uniform(0.8, 0.97))
    for t in _poisson_times(rng, start_s, end_s, rate):
        ts = world.start_ms + int(t * 1000)
        yield from em.drain(ts)
        account = accounts[int(rng.integers(len(accounts)))]
        suffix += 1 + int(rng.random() < 0.15)  # mostly consecutive, sometimes skips
        key_i = int(rng.integers(len(account.api_keys)))
        record = em.send(
            ts, account.account_id, target.number(suffix), target.region, "otp",
            otp_body(rng, account.brand), account.api_keys[key_i],
            account.source_ips[key_i % len(account.source_ips)], account.sender_id,
            verify_p=0.004, delivered_p=delivered_p,
        )
        label.message_ids.append(record[2]["message_id"])
        yield record
    yield from em.drain(float("inf"))


def takeover_source(
    world: World,
    rng: np.random.Generator,
    source_no: int,
    label: IncidentLabel,
    account: Account,
    stolen_key: str,
    regions: tuple[str, ...],
    peak_rate: float,
    start_s: float,
    end_s: float,
) -> Iterator[Record]:
    """A stolen API key used from an unknown address to text new numbers abroad."""
    em = Emitter(world, rng, source_no)
    attacker_ip = random_ip(rng, ATTACKER_IP_BLOCKS)
    ramp_s = float(rng.uniform(30, 120))

    def rate(t: float) -> float:
        return peak_rate * min(1.0, 0.2 + (t - start_s) / ramp_s)

    for t in _poisson_times(rng, start_s, end_s, rate):
        ts = world.start_ms + int(t * 1000)
        yield from em.drain(ts)
        region = regions[int(rng.integers(len(regions)))]
        destination = world.plan.random_number(rng, region)
        record = em.send(
            ts, account.account_id, destination, region, "transactional",
            transactional_body(rng, account.brand), stolen_key, attacker_ip,
            account.sender_id,
        )
        label.message_ids.append(record[2]["message_id"])
        yield record
    yield from em.drain(float("inf"))


def spam_source(
    world: World,
    rng: np.random.Generator,
    source_no: int,
    label: IncidentLabel,
    account: Account,
    peak_rate: float,
    start_s: float,
    end_s: float,
) -> Iterator[Record]:
    """Smishing through an account: near-duplicate lures with links to bought lists."""
    em = Emitter(world, rng, source_no)
    variants = rng.choice(3, size=int(rng.integers(1, 3)), replace=False)
    regions = account.countries[:2]
    for t in _poisson_times(rng, start_s, end_s, lambda _t: peak_rate):
        ts = world.start_ms + int(t * 1000)
        yield from em.drain(ts)
        region = regions[0] if len(regions) == 1 or rng.random() < 0.85 else regions[1]
        body = smishing_body(rng, int(variants[int(rng.integers(len(variants)))]))
        key_i = int(rng.integers(len(account.api_keys)))
        record = em.send(
            ts, account.account_id, world.plan.random_number(rng, region), region, "marketing",
            body, account.api_keys[key_i], account.source_ips[key_i % len(account.source_ips)],
            account.sender_id, delivered_p=float(rng.uniform(0.7, 0.85)),
        )
        label.message_ids.append(record[2]["message_id"])
        yield record
    yield from em.drain(float("inf"))


def bombing_source(
    world: World,
    rng: np.random.Generator,
    source_no: int,
    label: IncidentLabel,
    accounts: list[Account],
    victim: str,
    victim_region: str,
    mean_gap_s: float,
    start_s: float,
    end_s: float,
) -> Iterator[Record]:
    """An OTP flood at one handset through the sign-up forms of a few services."""
    em = Emitter(world, rng, source_no)
    per_account = 1.0 / mean_gap_s / len(accounts)
    for t in _poisson_times(rng, start_s, end_s, lambda _t: per_account * len(accounts)):
        ts = world.start_ms + int(t * 1000)
        yield from em.drain(ts)
        account = accounts[int(rng.integers(len(accounts)))]
        key_i = int(rng.integers(len(account.api_keys)))
        record = em.send(
            ts, account.account_id, victim, victim_region, "otp", otp_body(rng, account.brand),
            account.api_keys[key_i], account.source_ips[key_i % len(account.source_ips)],
            account.sender_id,
        )
        label.message_ids.append(record[2]["message_id"])
        yield record
    yield from em.drain(float("inf"))


def doubling_rate(start_s: float, initial: float, doubling_s: float, cap: float):
    """A trickle that doubles every ``doubling_s`` seconds up to ``cap`` sends/s."""

    def rate(t: float) -> float:
        return min(cap, initial * math.pow(2.0, (t - start_s) / doubling_s))

    return rate


def new_api_key(rng: np.random.Generator) -> str:
    return api_key_id(rng)
