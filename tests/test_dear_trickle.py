"""Codes trickling into dear countries new to an account, none entered, are stopped there.

A hand-built stream through the whole in-process pipeline: a sign-up form texts
twenty codes a minute to US numbers and most are entered. After three hours a pumper
adds a code every few minutes into each of three dear countries the account never
served (the British Virgin Islands and Turks and Caicos, which share +1, and Samoa):
no country, and no ten minutes, holds enough codes to say anything alone. Together,
none entered beside the US users entering theirs, they do. The same trickle of real
users, who enter their codes, is left alone.
"""

from __future__ import annotations

import random

import phonenumbers
from hand_streams import alerts_of, commands_of

T0 = 1_772_400_000_000
MINUTE = 60_000
TRICKLE_AT, TRICKLE_MINUTES = 180, 120
# A mobile range of each dear country, the digits that follow it, and its price.
DEAR = {"VG": ("+1284300", 4, 0.27), "TC": ("+1649231", 4, 0.32), "WS": ("+68572", 5, 0.29)}


def _send(ts: int, mid: str, number: str, price: float) -> dict:
    return {"topic": "sms.send", "value": {
        "message_id": mid, "ts": ts, "account_id": "app", "destination": number,
        "category": "otp", "body": f"Your Forkly code is {ts % 1_000_000:06d}",
        "price": price, "api_key_id": "key_app", "source_ip": "10.0.0.1"}}


def _entered(ts: int, mid: str, number: str) -> dict:
    return {"topic": "sms.verify", "value": {
        "message_id": mid, "ts": ts + 25_000, "account_id": "app", "destination": number,
        "verified": True}}


def _number(rng: random.Random, head: str, digits: int) -> str:
    number = head + "".join(str(rng.randrange(10)) for _ in range(digits))
    assert phonenumbers.is_valid_number(phonenumbers.parse(number)), number
    return number


def _form(rng: random.Random, trickle_entered: float) -> list[dict]:
    out: list[dict] = []
    for minute in range(TRICKLE_AT + TRICKLE_MINUTES):
        for i in range(20):
            ts, mid = T0 + minute * MINUTE + rng.randrange(MINUTE), f"u{minute}-{i}"
            number = f"+1312{rng.randrange(2_000_000, 10_000_000):07d}"
            out.append(_send(ts, mid, number, 0.0105))
            if rng.random() < 0.85:
                out.append(_entered(ts, mid, number))
        if minute >= TRICKLE_AT and minute % 3 == 0:
            for country, (head, digits, price) in DEAR.items():
                ts, mid = T0 + minute * MINUTE + rng.randrange(MINUTE), f"{country}{minute}"
                number = _number(rng, head, digits)
                out.append(_send(ts, mid, number, price))
                if rng.random() < trickle_entered:
                    out.append(_entered(ts, mid, number))
    return out


def _stops(scope: dict, number: str) -> bool:
    """Would a throttle on ``scope`` stop the app's text to a US ``number``?"""
    return (scope.get("country", "US") == "US"
            and number.startswith(scope.get("prefix", "")))


def test_a_trickle_of_codes_nobody_enters_into_new_dear_countries_is_blocked_there() -> None:
    commands = commands_of(_form(random.Random(11), trickle_entered=0.0))
    blocked = {c["scope"].get("country") for c in commands if c["action"] == "block"}
    assert len(blocked & set(DEAR)) >= 2
    # Only there: the account's users at home go on.
    assert not [c for c in commands if c["action"] in ("block", "limit")
                and _stops(c["scope"], "+13125550123")]
    first = min(c["ts"] for c in commands if c["action"] == "block")
    assert first - (T0 + TRICKLE_AT * MINUTE) <= 60 * MINUTE


def test_the_same_trickle_of_users_entering_their_codes_is_left_alone() -> None:
    records = _form(random.Random(11), trickle_entered=0.85)
    assert commands_of(records) == []
    assert not [a for a in alerts_of(records) if a["kind"] == "sms_pumping"]
