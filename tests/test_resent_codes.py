"""A number sent code after code: a handset being bombed, or a person asking again.

Hand-built streams through the whole in-process pipeline. A ticket shop sends its
fans login codes, a few a minute, and its verifications reach the detector; most
fans enter their code within a minute. At noon the sale opens: one fan, stuck in the
queue, taps "resend" six times in ten seconds and types the code that finally came.
Against it, a bomber firing the same shop's form at a stranger's handset, a code every
few seconds for ten minutes, none of them entered.
"""

from __future__ import annotations

import random

from hand_streams import outputs_of

T0 = 1_772_400_000_000
MINUTE, SECOND = 60_000, 1_000
SALE_AT = 120
FAN = "+34612345678"


def _code(rng: random.Random, ts: int, mid: str, number: str, entered_after: int | None
          ) -> list[dict]:
    out = [{"topic": "sms.send", "value": {
        "message_id": mid, "ts": ts, "account_id": "tix", "destination": number,
        "category": "otp", "body": f"Your Tix code is {rng.randrange(10**4):04d}",
        "api_key_id": "key_tix", "source_ip": "10.0.0.1", "price": 0.07}}]
    if entered_after is not None:
        out.append({"topic": "sms.verify", "value": {
            "ts": ts + entered_after, "account_id": "tix", "destination": number,
            "verified": True}})
    return out


def _shop(rng: random.Random) -> list[dict]:
    """Two and a half hours of fans logging in, four a minute, most entering the code."""
    out: list[dict] = []
    for n in range(150 * 4):
        ts = T0 + n * 15 * SECOND + rng.randrange(15 * SECOND)
        number = f"+346{rng.randrange(10**8):08d}"
        entered = rng.randrange(10 * SECOND, 50 * SECOND) if rng.random() < 0.8 else None
        out += _code(rng, ts, f"f{n}", number, entered)
    return out


def _fan_in_the_queue(rng: random.Random) -> list[dict]:
    start = T0 + SALE_AT * MINUTE
    out: list[dict] = []
    for n in range(6):
        out += _code(rng, start + n * 1_700, f"q{n}", FAN, 25 * SECOND if n == 5 else None)
    return out


def _bombed(rng: random.Random) -> list[dict]:
    start = T0 + SALE_AT * MINUTE
    return [r for n in range(120) for r in _code(rng, start + n * 5 * SECOND, f"b{n}",
                                                 FAN, None)]


def _throttles_on_fan(records: list[dict]) -> list[dict]:
    return [o.value for o in outputs_of(records) if o.topic == "sms.throttle"
            and o.value["scope"].get("prefix") == FAN]


def test_a_fan_tapping_resend_is_looked_at_not_throttled() -> None:
    rng = random.Random(9)
    records = _shop(rng) + _fan_in_the_queue(rng)
    alerts = [o.value for o in outputs_of(records) if o.topic == "sms.alerts"
              and o.value["entity"]["id"] == FAN]
    assert alerts and all(a["action"] == "none" for a in alerts)
    assert _throttles_on_fan(records) == []


def test_a_bombed_number_is_throttled_once_its_codes_go_unentered() -> None:
    rng = random.Random(9)
    throttles = _throttles_on_fan(_shop(rng) + _bombed(rng))
    assert throttles
    # Raised at once; throttled once the first codes are old enough to have been
    # entered (the conversion window lags a minute) and none was.
    assert min(c["ts"] for c in throttles) - (T0 + SALE_AT * MINUTE) <= 3 * MINUTE
