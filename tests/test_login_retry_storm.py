"""A login service that rejects good codes is no pumping, and its users no bombing.

A hand-built stream through the whole in-process pipeline: a bank's log-in form
texts its customers twenty codes a minute and nine in ten are entered. Then its
back end turns every code down for twenty minutes: each customer types the code,
fails, asks again a minute later and fails again, two to four times, until the fix.
Codes entered collapse and resends soar, as under pumping or bombing, but every code
is typed by the person it reached. Codes to numbers nobody owns are still pumping,
even when the service reports each of them not entered once its ten minutes ran out.
"""

from __future__ import annotations

import random
from collections.abc import Callable

import pytest
from hand_streams import alerts_of, commands_of

T0 = 1_772_400_000_000
MINUTE = 60_000
OUTAGE_AT, OUTAGE_MINUTES = 240, 20
CODE_LIFETIME_MS = 600_000


def _customer(rng: random.Random) -> str:
    return f"+1312{rng.randrange(2_000_000, 10_000_000):07d}"


def _code(ts: int, mid: str, number: str) -> dict:
    return {"topic": "sms.send", "value": {
        "message_id": mid, "ts": ts, "account_id": "bank", "destination": number,
        "category": "otp", "body": f"Your Bank code is {ts % 1_000_000:06d}",
        "price": 0.0105, "api_key_id": "key_login", "source_ip": "10.0.0.1"}}


def _verify(ts: int, mid: str, number: str, verified: bool) -> dict:
    return {"topic": "sms.verify", "value": {
        "message_id": mid, "ts": ts, "account_id": "bank", "destination": number,
        "verified": verified}}


def _login_form(rng: random.Random, minutes: int, extra: Callable[..., list[dict]]
                ) -> list[dict]:
    """The form's customers logging in for ``minutes``; ``extra(rng, minute, ts, mid,
    number)`` returns the records of one log-in from ``OUTAGE_AT`` on instead."""
    customers = [_customer(rng) for _ in range(4_000)]
    out: list[dict] = []
    for minute in range(minutes):
        for i in range(20):
            ts = T0 + minute * MINUTE + rng.randrange(MINUTE)
            number, mid = rng.choice(customers), f"c{minute}-{i}"
            if minute >= OUTAGE_AT:
                out += extra(rng, minute, ts, mid, number)
                continue
            out.append(_code(ts, mid, number))
            if rng.random() < 0.9:
                out.append(_verify(ts + rng.randrange(10_000, 40_000), mid, number, True))
    return sorted(out, key=lambda r: r["value"]["ts"])


def _turned_down(rng: random.Random, minute: int, ts: int, mid: str, number: str
                 ) -> list[dict]:
    """During the outage: the first code and two to four resends, each typed and
    rejected; after it, a code entered."""
    if minute >= OUTAGE_AT + OUTAGE_MINUTES:
        return [_code(ts, mid, number), _verify(ts + 20_000, mid, number, True)]
    out = []
    for attempt in range(rng.randint(3, 5)):
        sent = ts + attempt * rng.randrange(50_000, 90_000)
        out += [_code(sent, f"{mid}-{attempt}", number),
                _verify(sent + rng.randrange(10_000, 40_000), f"{mid}-{attempt}", number,
                        False)]
    return out


def test_users_typing_codes_a_login_service_turns_down_are_not_throttled() -> None:
    records = _login_form(random.Random(7), OUTAGE_AT + OUTAGE_MINUTES + 30, _turned_down)
    assert commands_of(records) == []
    alerts = alerts_of(records)
    assert not [a for a in alerts if a["kind"] == "sms_pumping" and a["severity"] != "info"]


@pytest.mark.parametrize("expiry_reported", [False, True])
def test_codes_to_numbers_nobody_owns_are_stopped_while_they_last(expiry_reported: bool
                                                                  ) -> None:
    """The form works on, and twice as many codes again go to fresh numbers nobody owns
    for an hour; the service may report each of those not entered when it expires."""
    def pumped(rng: random.Random, minute: int, ts: int, mid: str, number: str
               ) -> list[dict]:
        out = [_code(ts, mid, number), _verify(ts + 20_000, mid, number, True)]
        for extra in range(2 if minute < OUTAGE_AT + 60 else 0):
            fresh, pumped_mid = _customer(rng), f"p{mid}-{extra}"
            out.append(_code(ts + 1 + extra, pumped_mid, fresh))
            if expiry_reported:
                out.append(_verify(ts + CODE_LIFETIME_MS, pumped_mid, fresh, False))
        return out

    commands = [c for c in commands_of(_login_form(random.Random(7), OUTAGE_AT + 90, pumped))
                if c["scope"].get("account_id") == "bank"]
    assert [c for c in commands if c["action"] in ("block", "limit")]
    pumping_end = T0 + (OUTAGE_AT + 60) * MINUTE
    assert not [c for c in commands if c["action"] == "release" and c["ts"] < pumping_end]
