"""A detector that starts on a running platform knows nobody's normal yet.

A busy account met in the detector's first minutes sends far more than the
population prior: its first hour raises bare anomalies (shown, never acted on).
Those windows must still teach the scope its own level, or its normal stays
"anomalous" against the prior for good and every later window is judged against
a rate it never had. And a shop's links and repeated bodies, sent at a steady
pace, are not a smishing burst just because nobody's recipients are known yet.
"""

from __future__ import annotations

import random
from collections.abc import Callable

from hand_streams import alerts_of

from detector.pipeline import Detector

T0 = 1_772_400_000_000
MINUTE = 60_000
PER_MINUTE = 25


def _shop(rng: random.Random, minutes: int, destination: Callable[[int], str],
          category: str, body: Callable[[int], str], account: str = "shop",
          start: int = T0) -> list[dict]:
    """A shop sending ``PER_MINUTE`` messages a minute from ``start``, each delivered
    three seconds later."""
    out = []
    for n in range(minutes * PER_MINUTE):
        ts = start + n * MINUTE // PER_MINUTE + rng.randrange(MINUTE // PER_MINUTE)
        number = destination(n)
        mid = f"{account}-{n}"
        out.append({"topic": "sms.send", "value": {
            "message_id": mid, "ts": ts, "account_id": account, "destination": number,
            "category": category, "body": body(n), "price": 0.04,
            "api_key_id": f"key_{account}", "source_ip": "10.0.0.9", "route": "gb-main"}})
        out.append({"topic": "sms.dlr", "value": {
            "message_id": mid, "ts": ts + 3_000, "account_id": account,
            "destination": number, "status": "delivered", "route": "gb-main"}})
    return out


def _confirmations(rng: random.Random, minutes: int) -> list[dict]:
    """Order confirmations to scattered UK mobiles."""
    return _shop(rng, minutes, lambda n: f"+447400{rng.randrange(1_000_000):06d}",
                 "transactional", lambda n: f"Order {n} confirmed")


def test_a_busy_account_met_at_start_learns_its_own_level() -> None:
    det = Detector()
    for rec in sorted(_confirmations(random.Random(3), 120), key=lambda r: r["value"]["ts"]):
        det.process(rec["topic"], rec["value"])
    assert det.counters["accepted:sms.send"] == 120 * PER_MINUTE  # every record was judged
    scope = det.families["account"].entities["shop"].scopes["account:shop"]
    per_minute = scope.rate.expected(T0 + 120 * MINUTE, scope.steps_per_min)
    # The population prior is 2 a minute; the shop's own level is 25.
    assert per_minute > PER_MINUTE / 2


BODY = "Spring sale: 20% off everything today only https://shop.example/s/"


def _campaigns(rng: random.Random, minutes: int) -> list[dict]:
    """A shop texting its 3,000 subscribers all day: links, one campaign body, steady pace."""
    subscribers = [f"+447400{n:06d}" for n in rng.sample(range(1_000_000), 3_000)]
    return _shop(rng, minutes, lambda n: subscribers[n % len(subscribers)],
                 "marketing", lambda n: BODY + f"{n % 7}")


def test_a_steady_marketing_account_met_at_start_is_not_taken_for_spam() -> None:
    """Links and repeated bodies are a shop's normal; with no recipient history yet, only
    a burst against the scope's own pace says "lures". In its first minutes the scope has
    no pace of its own, and met as the detector starts it is not known to be new."""
    alerts = alerts_of(_campaigns(random.Random(5), 150))
    assert [a for a in alerts if a["kind"] == "spam_burst"] == []


def test_a_busy_account_met_at_start_is_no_anomaly_but_one_that_appears_later_is() -> None:
    """Busier than the population is news about an account that appears mid-stream; about
    one already sending when the detector started it only says the detector is new."""
    rng = random.Random(11)
    records = _confirmations(rng, 40)
    records += _shop(rng, 10, lambda n: f"+447400{rng.randrange(1_000_000):06d}",
                     "transactional", lambda n: f"Order {n} confirmed", account="newcomer",
                     start=T0 + 30 * MINUTE)
    anomalous = {a["entity"]["id"] for a in alerts_of(records) if a["kind"] == "anomaly"}
    assert "shop" not in anomalous and "newcomer" in anomalous


def test_lures_from_an_account_that_appears_mid_stream_are_spam_at_once() -> None:
    """An account first seen half an hour after the detector started is new: its first
    minute of links and one body to numbers nobody texted is judged as a burst."""
    rng = random.Random(7)
    records = _confirmations(rng, 40)
    start = T0 + 30 * MINUTE
    records += _shop(rng, 5, lambda n: f"+447400{rng.randrange(1_000_000):06d}", "marketing",
                     lambda n: f"Your parcel is held, pay the fee: https://bit.ly/p{n % 3}",
                     account="lures", start=start)
    found = [a for a in alerts_of(records) if a["kind"] == "spam_burst"
             and a.get("account_id") == "lures"]
    assert found and min(a["ts"] for a in found) - start <= 2 * MINUTE


def _tiny_account_hijacked(rng: random.Random, new_key: bool) -> tuple[list[dict], int]:
    """A shop keeps the stream busy; a tiny account texts a UK customer every ten
    minutes from its own key. Forty minutes in, a hundred texts a minute to India
    and the Philippines, from a key and an address it never used (or its own)."""
    records = _confirmations(rng, 60)
    for n in range(4):
        ts = T0 + (2 + 10 * n) * MINUTE + rng.randrange(MINUTE)
        records.append({"topic": "sms.send", "value": {
            "message_id": f"tiny-{n}", "ts": ts, "account_id": "tiny",
            "destination": f"+447400{rng.randrange(1_000_000):06d}", "category": "marketing",
            "body": "Your table is booked", "price": 0.04, "api_key_id": "key_tiny",
            "source_ip": "10.0.0.5", "route": "gb-main"}})
    start = T0 + 40 * MINUTE
    for n in range(1_000):
        ts = start + n * 600 + rng.randrange(600)
        number = (f"+9198{rng.randrange(10**8):08d}" if n % 2
                  else f"+63917{rng.randrange(10**7):07d}")
        records.append({"topic": "sms.send", "value": {
            "message_id": f"hijack-{n}", "ts": ts, "account_id": "tiny",
            "destination": number, "category": "marketing", "body": "Claim your prize now",
            "price": 0.01, "api_key_id": "key_stolen" if new_key else "key_tiny",
            "source_ip": "45.0.0.9" if new_key else "10.0.0.5", "route": "intl"}})
    return records, start


def test_a_small_account_hijacked_in_its_first_hour_is_a_takeover() -> None:
    """Everything is new to a scope in its first hour, but not a key first used
    half an hour into it: the account had a credential of its own by then."""
    records, start = _tiny_account_hijacked(random.Random(4), new_key=True)
    found = [a for a in alerts_of(records) if a["kind"] == "account_takeover"
             and a["account_id"] == "tiny"]
    assert found and min(a["ts"] for a in found) - start <= 2 * MINUTE
    assert found[0]["throttle_scope"] == {"account_id": "tiny", "api_key_id": "key_stolen"}


def test_the_same_burst_from_the_account_s_own_key_is_no_takeover() -> None:
    records, _ = _tiny_account_hijacked(random.Random(4), new_key=False)
    assert not [a for a in alerts_of(records) if a["kind"] == "account_takeover"]
