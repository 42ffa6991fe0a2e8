"""A route that queues: every report still comes, and says "delivered", later and later.

Hand-built streams through the whole in-process pipeline: four retailers send order
notices to Philippine mobiles over one route, a few a minute each, and the carrier
reports each within seconds. Then it starts queueing: the wait for a report grows by
a few seconds every minute, while the delivered share stays as it was. Against it,
routes where waits move without a fault: a carrier that always reports in batches
(anything from a second to two minutes), and a campaign that triples the traffic
for ten minutes while the carrier keeps its pace.
"""

from __future__ import annotations

import random
from collections.abc import Callable

from hand_streams import alerts_of

T0 = 1_772_400_000_000
MINUTE, SECOND = 60_000, 1_000
ROUTE = "ph-queue"
FAULT_AT, MINUTES = 120, 160
SHOPS = [f"shop{i}" for i in range(4)]


def _wait_ms(rng: random.Random, minute: int) -> int:
    """A healthy carrier: two to eight seconds."""
    return rng.randrange(2 * SECOND, 8 * SECOND)


def _queueing_ms(rng: random.Random, minute: int) -> int:
    """From FAULT_AT on, the queue ahead of each message grows 3 s a minute."""
    backlog = max(0, minute - FAULT_AT) * 3 * SECOND
    return _wait_ms(rng, minute) + int(backlog * rng.uniform(0.5, 1.0))


def _batching_ms(rng: random.Random, minute: int) -> int:
    return rng.randrange(SECOND, 120 * SECOND)


def _notices(rng: random.Random, wait_ms: Callable[[random.Random, int], int],
             campaign: bool = False) -> list[dict]:
    out: list[dict] = []
    for minute in range(MINUTES):
        busy = campaign and FAULT_AT <= minute < FAULT_AT + 10
        for shop in SHOPS:
            for i in range(9 if busy else 3):
                ts = T0 + minute * MINUTE + rng.randrange(MINUTE)
                mid = f"{shop}-{minute}-{i}"
                number = f"+639{rng.randrange(10**9):09d}"
                out.append({"topic": "sms.send", "value": {
                    "message_id": mid, "ts": ts, "account_id": shop, "destination": number,
                    "category": "transactional", "price": 0.02, "route": ROUTE,
                    "api_key_id": f"key_{shop}", "source_ip": "10.0.0.1",
                    "body": f"{shop}: order {mid} is on its way"}})
                out.append({"topic": "sms.dlr", "value": {
                    "message_id": mid, "ts": ts + wait_ms(rng, minute), "account_id": shop,
                    "destination": number, "status": "delivered", "route": ROUTE}})
    return out


def _route_alerts(records: list[dict]) -> list[dict]:
    return [a for a in alerts_of(records) if a["kind"] == "delivery_degradation"
            and a["entity"]["id"] == ROUTE]


def test_a_route_whose_reports_come_later_and_later_is_degraded() -> None:
    alerts = _route_alerts(_notices(random.Random(3), _queueing_ms))
    assert alerts, "the queueing route went unnoticed"
    # Twice the usual wait (~5 s) and five seconds more: a backlog of ~10-20 s, a few
    # minutes into the fault, judged over ten minutes of reports.
    assert min(a["ts"] for a in alerts) - (T0 + FAULT_AT * MINUTE) <= 15 * MINUTE
    waits = [e for e in alerts[0]["evidence"] if e["feature"] == "delivery_report_wait_s"]
    assert waits and waits[0]["value"] >= 2 * waits[0]["baseline"]


def test_a_carrier_that_reports_in_batches_is_not_degraded() -> None:
    assert _route_alerts(_notices(random.Random(3), _batching_ms)) == []


def test_a_campaign_on_a_healthy_route_is_not_a_queue() -> None:
    assert _route_alerts(_notices(random.Random(3), _wait_ms, campaign=True)) == []


def test_the_stragglers_after_a_campaign_ends_are_not_a_queue() -> None:
    """A campaign of 2,400 notices over ten minutes, then a notice a minute: the reports
    of handsets that were off (one in fifteen, two to ten minutes late) are most of what
    the route hears for a while, every one of them slow."""
    rng = random.Random(5)
    records = _notices(rng, _wait_ms)[: 2 * 4 * 3 * FAULT_AT]  # two hours of notices
    for minute in range(FAULT_AT + 10, MINUTES):
        ts, mid = T0 + minute * MINUTE, f"after-{minute}"
        records.append({"topic": "sms.send", "value": {
            "message_id": mid, "ts": ts, "account_id": "shop1", "destination": "+639171234567",
            "category": "transactional", "price": 0.02, "route": ROUTE,
            "api_key_id": "key_shop1", "source_ip": "10.0.0.1", "body": "shop1: order shipped"}})
        records.append({"topic": "sms.dlr", "value": {
            "message_id": mid, "ts": ts + 3 * SECOND, "account_id": "shop1",
            "destination": "+639171234567", "status": "delivered", "route": ROUTE}})
    for n in range(2_400):
        ts = T0 + FAULT_AT * MINUTE + n * 250
        mid, number = f"blast-{n}", f"+639{rng.randrange(10**9):09d}"
        late = rng.random() < 1 / 15
        wait = rng.randrange(120 * SECOND, 600 * SECOND) if late else _wait_ms(rng, 0)
        records.append({"topic": "sms.send", "value": {
            "message_id": mid, "ts": ts, "account_id": "shop0", "destination": number,
            "category": "marketing", "price": 0.02, "route": ROUTE, "api_key_id": "key_shop0",
            "source_ip": "10.0.0.1", "body": "shop0: our summer sale starts now"}})
        records.append({"topic": "sms.dlr", "value": {
            "message_id": mid, "ts": ts + wait, "account_id": "shop0",
            "destination": number, "status": "delivered", "route": ROUTE}})
    assert _route_alerts(records) == []
