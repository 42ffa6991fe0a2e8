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
from detector.simulation.numbering import NumberPlan
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


class RecipientPool:
    """An account's recipients: repeat customers plus a stream of new numbers."""

    def __init__(self, plan: NumberPlan, rng: np.random.Generator) -> None:
        self.plan = plan
        self.rng = rng
        self.numbers: list[tuple[str, str]] = []  # (destination, region)
        self._index: set[str] = set()

    def new(self, region: str) -> tuple[str, str]:
        for _ in range(8):
            number = self.plan.random_number(self.rng, region)
            if number not in self._index:
                break
        if len(self.numbers) < _POOL_CAP:
            self.numbers.append((number, region))
            self._index.add(number)
        else:  # forget a random old customer, keep memory bounded
            slot = int(self.rng.integers(len(self.numbers)))
            self._index.discard(self.numbers[slot][0])
            self.numbers[slot] = (number, region)
            self._index.add(number)
        return number, region

    def known(self) -> tuple[str, str]:
        # Recent customers come back more often than old ones.
        n = len(self.numbers)
        back = min(n - 1, int(self.rng.exponential(max(1.0, n / 3))))
        return self.numbers[n - 1 - back]


def account_source(
    world: World, account: Account, rng: np.random.Generator, source_no: int,
    rate_scale: float = 1.0,
) -> Iterator[Record]:
    """One account's normal traffic, with its benign surges, in ts order."""
    em = Emitter(world, rng, source_no)
    pool = RecipientPool(world.plan, rng)
    horizon_s = (world.end_ms - world.start_ms) / 1000.0
    key_p = rng.dirichlet(np.full(len(account.api_keys), 1.5))
    cat_cum = np.cumsum(account.category_p)
    country_cum = np.cumsum(account.country_p)
    key_cum = np.cumsum(key_p)
    campaign = int(rng.integers(1000))
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
        times = np.sort(rng.uniform(t0, t1, n))
        for t in times:
            ts = world.start_ms + int(t * 1000)
            yield from em.drain(ts)
            active = _surge_at(account.surges, t)
            category = _CATEGORIES[int(np.searchsorted(cat_cum, rng.random()))]
            new_p = account.new_recipient_p
            if active is not None and active.new_recipient_p is not None:
                new_p = active.new_recipient_p
            if (
                active is not None and active.known_recipients_only and pool.numbers
                and rng.random() < 1.0 - 1.0 / active.multiplier
            ):
                # The campaign itself: the account's own list, people it already texted.
                destination, region = pool.numbers[int(rng.integers(len(pool.numbers)))]
                category = "marketing"
            elif not pool.numbers or rng.random() < new_p:
                region = account.countries[int(np.searchsorted(country_cum, rng.random()))]
                destination, region = pool.new(region)
            else:
                destination, region = pool.known()
            key_i = min(int(np.searchsorted(key_cum, rng.random())), len(account.api_keys) - 1)
            body = body_for(rng, category, account.brand, campaign)
            record = em.send(
                ts, account.account_id, destination, region, category, body,
                account.api_keys[key_i],
                account.source_ips[key_i % len(account.source_ips)],
                account.sender_id, verify_p=account.conversion,
            )
            if active is not None:
                active.message_ids.append(record[2]["message_id"])
            yield record
        t0 = t1
    yield from em.drain(float("inf"))


_CATEGORIES = ("otp", "transactional", "marketing")


def _surge_at(surges: list[Surge], t_s: float) -> Surge | None:
    for surge in surges:
        if surge.start_s <= t_s < surge.end_s:
            return surge
    return None
