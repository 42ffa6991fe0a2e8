"""Record streams: each source yields ``(ts, topic, value)`` in ts order.

A source is one account's normal life, or one injected incident. It draws its
sends chunk by chunk and keeps the reports that follow each send (DLR,
verification) in a small local heap, so a source never holds more than a few
minutes of records and the scenario can merge hundreds of sources with
``heapq.merge`` while writing a million records in flat memory.
"""

from __future__ import annotations

import heapq
from collections.abc import Iterator
from dataclasses import dataclass

import numpy as np

from detector.simulation.content import body_for, segments_for
from detector.simulation.delivery import RouteTable, draw_outcome, draw_verification_delay
from detector.simulation.numbering import NumberPlan, mobile_ranges
from detector.simulation.population import Account, Surge

Record = tuple[int, str, dict]
CHUNK_S = 300.0
_POOL_CAP = 20_000


@dataclass
class World:
    """Shared, read-only context every source draws from."""

    start_ms: int
    end_ms: int
    plan: NumberPlan
    routes: RouteTable
    day_offset_s: float = 0.0  # seconds after midnight UTC at start_ms (for daily rhythms)


class Emitter:
    """Turns sends into records and schedules their DLR and verification."""

    def __init__(self, world: World, rng: np.random.Generator, source_no: int) -> None:
        self.world = world
        self.rng = rng
        self._tag = f"SM{source_no:04x}"
        self._count = 0
        self._seq = 0
        self._pending: list[tuple[int, int, str, dict]] = []

    def drain(self, until_ms: float) -> Iterator[Record]:
        pending = self._pending
        while pending and pending[0][0] <= until_ms:
            ts, _, topic, value = heapq.heappop(pending)
            yield ts, topic, value

    def _later(self, ts: int, topic: str, value: dict) -> None:
        self._seq += 1
        heapq.heappush(self._pending, (ts, self._seq, topic, value))

    def pick_route(self, region: str) -> str:
        routes = self.world.routes
        names = routes.routes[region]
        return names[int(np.searchsorted(np.cumsum(routes.weights[region]), self.rng.random()))]

    def send(
        self,
        ts: int,
        account_id: str,
        destination: str,
        region: str,
        category: str,
        body: str,
        api_key_id: str,
        source_ip: str,
        sender_id: str,
        verify_p: float = 0.0,
        delivered_p: float | None = None,
        route: str | None = None,
    ) -> Record:
        """The send record; its DLR (and verification for OTPs) is scheduled for later."""
        self._count += 1
        message_id = f"{self._tag}{self._count:08x}"
        route = route or self.pick_route(region)
        segments = segments_for(body)
        price = self.world.plan.price(
            region, destination, segments, self.world.routes.price_factor[route]
        )
        value = {
            "message_id": message_id,
            "ts": ts,
            "account_id": account_id,
            "destination": destination,
            "api_key_id": api_key_id,
            "source_ip": source_ip,
            "sender_id": sender_id,
            "category": category,
            "body": body,
            "segments": segments,
            "price": price,
            "route": route,
        }
        outcome = draw_outcome(self.rng, self.world.routes, route, ts, delivered_p)
        if outcome is not None:
            dlr = {
                "message_id": message_id,
                "ts": ts + outcome.delay_ms,
                "account_id": account_id,
                "destination": destination,
                "status": outcome.status,
                "route": route,
            }
            if outcome.error_code is not None:
                dlr["error_code"] = outcome.error_code
            self._later(dlr["ts"], "sms.dlr", dlr)
        delivered = outcome is not None and outcome.status == "delivered"
        # A user can only type a code that reached them; an unreported (but
        # delivered) message may still be verified.
        if (
            category == "otp" and verify_p > 0 and (outcome is None or delivered)
            and self.rng.random() < verify_p
        ):
            base = ts + (outcome.delay_ms if outcome else 3000)
            vts = base + draw_verification_delay(self.rng)
            if self.rng.random() < 0.05:  # a typo first
                self._later(vts, "sms.verify", {
                    "ts": vts, "account_id": account_id, "destination": destination,
                    "message_id": message_id, "verified": False,
                })
                vts += int(self.rng.uniform(4000, 20000))
            self._later(vts, "sms.verify", {
                "ts": vts, "account_id": account_id, "destination": destination,
                "message_id": message_id, "verified": True,
            })
        return ts, "sms.send", value


_MASK64 = (1 << 64) - 1
# Size of an account's customer base, in days of its own traffic: an auth service
# texts each user rarely, a retailer texts the same subscriber list again and again.
_CUSTOMER_DAYS = {"auth": 2.0, "commerce": 1.0, "retail": 0.25}


def _mix64(x: int) -> int:
    """splitmix64 finaliser: a stable pseudo-random 64-bit image of ``x``."""
    x = (x + 0x9E3779B97F4A7C15) & _MASK64
    x = ((x ^ (x >> 30)) * 0xBF58476D1CE4E5B9) & _MASK64
    x = ((x ^ (x >> 27)) * 0x94D049BB133111EB) & _MASK64
    return x ^ (x >> 31)


class CustomerBase:
    """An account's customers: customer ``i`` always has the same number.

    Numbers are derived from (salt, index) by hashing, so a base of a million
    customers costs no memory; only accounts that send campaigns to "people we
    texted before" remember the numbers they used (bounded).
    """

    def __init__(self, account: Account, rng: np.random.Generator, size: int,
                 remember: bool = False) -> None:
        self.account = account
        self.rng = rng
        self.size = max(30, size)
        self.salt = int(rng.integers(1 << 62))
        self._fresh = 0
        self._cum = np.cumsum(account.country_p)
        self.seen: list[tuple[str, str]] | None = [] if remember else None
        self._seen_set: set[str] = set()
        self._campaign: list[tuple[str, str]] = []

    def number(self, index: int) -> tuple[str, str]:
        h = _mix64(self.salt ^ (index * 0x9E3779B97F4A7C15 & _MASK64))
        countries = self.account.countries
        region = countries[min(int(np.searchsorted(self._cum, (h & 0xFFFF) / 65536.0)),
                               len(countries) - 1)]
        ranges = mobile_ranges(region)
        return ranges[(h >> 16) % len(ranges)].number(h >> 40), region

    def _remember(self, pick: tuple[str, str]) -> tuple[str, str]:
        if self.seen is not None and pick[0] not in self._seen_set and len(self.seen) < _POOL_CAP:
            self.seen.append(pick)
            self._seen_set.add(pick[0])
        return pick

    def existing(self) -> tuple[str, str]:
        return self._remember(self.number(int(self.rng.integers(self.size))))

    def fresh(self) -> tuple[str, str]:
        """A customer who just signed up (outside the existing base)."""
        self._fresh += 1
        return self._remember(self.number(self.size + self._fresh))

    def campaign_recipient(self) -> tuple[str, str] | None:
        """Each subscriber texted before, once, in random order; None when all got it."""
        if not self._campaign and self.seen:
            order = self.rng.permutation(len(self.seen))
            self._campaign = [self.seen[int(i)] for i in order]
            self.seen = None  # the list is consumed once per campaign
        return self._campaign.pop() if self._campaign else None


def account_source(
    world: World, account: Account, rng: np.random.Generator, source_no: int,
    rate_scale: float = 1.0,
) -> Iterator[Record]:
    """One account's normal traffic, with its benign surges, in ts order.

    Besides the Poisson arrivals, some sends bring follow-ups to the same
    person: an OTP resend half a minute later, a second delivery notice.
    """
    em = Emitter(world, rng, source_no)
    remember = any(s.known_recipients_only for s in account.surges)
    peak = account.rate_per_s * rate_scale * account.growth_cap
    size = int(peak * 86400 * _CUSTOMER_DAYS[account.profile])
    base = CustomerBase(account, rng, size, remember)
    horizon_s = (world.end_ms - world.start_ms) / 1000.0
    key_p = rng.dirichlet(np.full(len(account.api_keys), 1.5))
    cat_cum = np.cumsum(account.category_p)
    key_cum = np.cumsum(key_p)
    campaign = int(rng.integers(1000))
    follow: list[tuple[float, int, str, str, str]] = []  # (t, seq, dest, region, category)
    seq = 0

    def emit(t: float, destination: str, region: str, category: str, active: Surge | None):
        nonlocal seq
        ts = world.start_ms + int(t * 1000)
        key_i = min(int(np.searchsorted(key_cum, rng.random())), len(account.api_keys) - 1)
        body = body_for(rng, category, account.brand, campaign)
        record = em.send(
            ts, account.account_id, destination, region, category, body,
            account.api_keys[key_i], account.source_ips[key_i % len(account.source_ips)],
            account.sender_id, verify_p=account.conversion,
        )
        if active is not None:
            active.message_ids.append(record[2]["message_id"])
        u = rng.random()
        if category == "otp" and u < 0.06:  # "resend code"
            seq += 1
            heapq.heappush(follow, (t + rng.uniform(20, 90), seq, destination, region, "otp"))
        elif category == "transactional" and u < 0.25:  # shipped -> out for delivery
            seq += 1
            heapq.heappush(follow, (t + rng.uniform(600, 5400), seq, destination, region,
                                    "transactional"))
        return record

    # Chunk edges include surge edges, so a surge's rate starts exactly on time.
    edges = sorted({e for s in account.surges for e in (s.start_s, s.end_s)})
    t0 = account.start_s
    while t0 < horizon_s:
        t1 = min(t0 + CHUNK_S, horizon_s, *(e for e in edges if e > t0))
        mid = (t0 + t1) / 2
        surge = _surge_at(account.surges, mid)
        rate = (
            account.rate_per_s * rate_scale * account.rhythm(world.day_offset_s + mid)
            * account.growth(mid)
        )
        if surge is not None:
            rate *= surge.multiplier
        n = int(rng.poisson(rate * (t1 - t0)))
        for t in np.sort(rng.uniform(t0, t1, n)):
            while follow and follow[0][0] <= t:
                ft, _, destination, region, category = heapq.heappop(follow)
                yield from em.drain(world.start_ms + int(ft * 1000))
                yield emit(ft, destination, region, category, _surge_at(account.surges, ft))
            yield from em.drain(world.start_ms + int(t * 1000))
            active = _surge_at(account.surges, t)
            category = _CATEGORIES[int(np.searchsorted(cat_cum, rng.random()))]
            pick = None
            if (
                active is not None and active.known_recipients_only
                and rng.random() < 1.0 - 1.0 / active.multiplier
            ):
                # The campaign itself: the account's own list, people it texted before.
                pick = base.campaign_recipient()
                category = "marketing"
                if pick is None:
                    continue  # everyone on the list got it: the campaign is over
            if pick is None:
                fresh_p = account.new_recipient_p * 0.25
                if active is not None and active.new_recipient_p is not None:
                    fresh_p = active.new_recipient_p
                pick = base.fresh() if rng.random() < fresh_p else base.existing()
            yield emit(float(t), pick[0], pick[1], category, active)
        t0 = t1
    while follow and follow[0][0] < horizon_s:
        ft, _, destination, region, category = heapq.heappop(follow)
        yield from em.drain(world.start_ms + int(ft * 1000))
        yield emit(ft, destination, region, category, _surge_at(account.surges, ft))
    yield from em.drain(float("inf"))


_CATEGORIES = ("otp", "transactional", "marketing")


def _surge_at(surges: list[Surge], t_s: float) -> Surge | None:
    for surge in surges:
        if surge.start_s <= t_s < surge.end_s:
            return surge
    return None
