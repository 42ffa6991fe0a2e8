"""A takeover is throttled on the key the hijacker holds, not on the account's busiest.

A hand-built stream through the whole in-process pipeline: a payments app sends ten
texts a minute through its production key from its servers, and its staff send a
text now and then through a console key from the office. A hijacker who took the
console login sends look-alike "unusual sign-in" lures through that console key
from a home line, a few lures a minute beside the production traffic, which carries most
of every step. Blocking the production key would stop the app and not the hijacker.
"""

from __future__ import annotations

import random

from hand_streams import commands_of

T0 = 1_772_400_000_000
MINUTE = 60_000
HIJACK_AT, HIJACK_MINUTES = 180, 60
LURES_A_MINUTE = 3


def _send(ts: int, mid: str, key: str, ip: str, body: str, number: str) -> dict:
    return {"topic": "sms.send", "value": {
        "message_id": mid, "ts": ts, "account_id": "pay", "destination": number,
        "category": "transactional", "body": body, "price": 0.0105, "sender_id": "Paywell",
        "api_key_id": key, "source_ip": ip}}


def _stream(rng: random.Random, console_used_at: int) -> list[dict]:
    customers = [f"+1415{rng.randrange(2_000_000, 10_000_000):07d}" for _ in range(3_000)]
    out: list[dict] = []
    for minute in range(HIJACK_AT + HIJACK_MINUTES):
        for i in range(10):
            ts = T0 + minute * MINUTE + rng.randrange(MINUTE)
            out.append(_send(ts, f"p{minute}-{i}", "key_prod", "52.20.1.7",
                             f"Paywell: ${rng.randrange(5, 900)}.00 received. Details: "
                             f"https://paywell.com/t/{rng.randrange(10**6)}",
                             rng.choice(customers)))
        if minute == console_used_at or (minute < HIJACK_AT and minute % 45 == 7):
            out.append(_send(T0 + minute * MINUTE, f"s{minute}", "key_console", "63.101.48.44",
                             "Hi, this is Dana with Paywell: your documents are in.",
                             rng.choice(customers)))
        if minute >= HIJACK_AT:
            for i in range(LURES_A_MINUTE):
                ts = T0 + minute * MINUTE + rng.randrange(MINUTE)
                number = f"+1312{rng.randrange(2_000_000, 10_000_000):07d}"
                out.append(_send(ts, f"h{minute}-{i}", "key_console", "99.215.232.252",
                                 "Paywell: unusual sign-in on your account. Verify now: "
                                 f"https://paywell-secure-login.top/{rng.randrange(10**6)}",
                                 number))
    return out


def _blocked_keys(records: list[dict]) -> set[str | None]:
    return {c["scope"].get("api_key_id") for c in commands_of(records)
            if c["action"] in ("block", "limit")}


def test_the_hijacker_s_console_key_is_blocked_not_the_production_one() -> None:
    # Staff used the console an hour before: the key is not new, the home line is.
    keys = _blocked_keys(_stream(random.Random(3), console_used_at=HIJACK_AT - 50))
    assert keys == {"key_console"}
