"""Delivery reports and OTP verifications that follow a send.

A send's fate is drawn once, when it is sent: the route's normal failure rate
(or a fault window's, when the route is degraded at that moment), a carrier
latency (a few seconds, with a long tail to minutes), and for OTP sends whether
the user typed the code (and when).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from detector.simulation.numbering import COUNTRIES, route_names

# Carrier error codes for ordinary failures (absent subscriber, unknown number,
# unreachable handset, carrier content filter, unknown error), with their mix.
NORMAL_ERRORS = ("30003", "30005", "30006", "30007", "30008")
_NORMAL_ERROR_P = np.array([0.45, 0.2, 0.15, 0.1, 0.1])
_FAIL_STATUS = ("undelivered", "failed", "expired", "rejected", "unknown")
_FAIL_STATUS_P = np.array([0.55, 0.2, 0.15, 0.05, 0.05])


@dataclass(frozen=True)
class RouteFault:
    """A window during which a route fails ``fail_share`` of its sends with ``error_code``."""

    route: str
    start_ts: int
    end_ts: int
    fail_share: float
    error_code: str
    status: str = "undelivered"


@dataclass
class RouteTable:
    """Routes per country with traffic weights, normal failure rates and fault windows."""

    routes: dict[str, tuple[str, ...]] = field(default_factory=dict)
    weights: dict[str, np.ndarray] = field(default_factory=dict)
    fail_rate: dict[str, float] = field(default_factory=dict)
    price_factor: dict[str, float] = field(default_factory=dict)
    faults: dict[str, list[RouteFault]] = field(default_factory=dict)

    @classmethod
    def build(cls, rng: np.random.Generator) -> RouteTable:
        table = cls()
        for region in COUNTRIES:
            names = route_names(region)
            # The first direct route carries most traffic; the aggregator hub the least.
            raw = rng.dirichlet(np.full(len(names) - 1, 2.0)) * 0.85
            raw = np.append(np.sort(raw)[::-1], 0.15)
            table.routes[region] = names
            table.weights[region] = raw / raw.sum()
            for name in names:
                table.fail_rate[name] = float(rng.uniform(0.015, 0.06))
                table.price_factor[name] = 0.9 if name.endswith("hub-agg") else 1.0
        return table

    def add_fault(self, fault: RouteFault) -> None:
        self.faults.setdefault(fault.route, []).append(fault)

    def fault_at(self, route: str, ts: int) -> RouteFault | None:
        for fault in self.faults.get(route, ()):
            if fault.start_ts <= ts < fault.end_ts:
                return fault
        return None


@dataclass(frozen=True)
class DeliveryOutcome:
    delay_ms: int
    status: str
    error_code: str | None


def draw_outcome(
    rng: np.random.Generator,
    table: RouteTable,
    route: str,
    ts: int,
    delivered_p: float | None = None,
) -> DeliveryOutcome | None:
    """The DLR of a send on ``route`` at ``ts``; None when the carrier never reports.

    ``delivered_p`` overrides the route's normal rate (e.g. a complicit pumping
    carrier that reports almost everything delivered).
    """
    u = rng.random(4)
    if u[0] < 0.004:  # some carriers never send a report back
        return None
    fault = table.fault_at(route, ts)
    if fault is not None and u[1] < fault.fail_share:
        if fault.status == "expired":
            delay = int(rng.uniform(600_000, 1_800_000))
        else:
            delay = int(1000 * (1.0 + rng.lognormal(1.5, 0.8)))
        return DeliveryOutcome(delay, fault.status, fault.error_code)
    fail_p = table.fail_rate[route] if delivered_p is None else 1.0 - delivered_p
    if u[2] < fail_p:
        status = _FAIL_STATUS[int(np.searchsorted(np.cumsum(_FAIL_STATUS_P), u[3]))]
        code = NORMAL_ERRORS[int(rng.choice(len(NORMAL_ERRORS), p=_NORMAL_ERROR_P))]
        if status == "expired":
            delay = int(rng.uniform(600_000, 3_600_000))
        else:
            delay = int(1000 * (0.5 + rng.lognormal(1.2, 0.9)))
        return DeliveryOutcome(delay, status, None if status == "unknown" else code)
    # Delivered: median ~4 s, tail of a few minutes for handsets that were off.
    delay = int(1000 * (0.8 + rng.lognormal(1.1, 0.9)))
    if u[3] < 0.02:
        delay += int(rng.uniform(60_000, 600_000))
    return DeliveryOutcome(delay, "delivered", None)


def draw_verification_delay(rng: np.random.Generator) -> int:
    """Milliseconds between an OTP's delivery and the user typing it (5-90 s)."""
    return int(1000 * min(90.0, 5.0 + rng.gamma(2.0, 9.0)))
