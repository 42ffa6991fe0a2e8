"""A verification feed that breaks is not pumping; pumping beside a working feed is.

Hand-built streams through the whole in-process pipeline: a busy sign-up form
(twenty codes a minute to Moroccan mobiles, nine in ten entered) whose verification
webhook stops for forty minutes while its traffic doubles, as traffic does in the
morning; and the same form with the same growth made of codes to one range's
numbers nobody owns, while its real users keep verifying.
"""

from __future__ import annotations

import random

from hand_streams import alerts_of

T0 = 1_772_400_000_000
MINUTE = 60_000
OUTAGE_AT, OUTAGE_MINUTES = 240, 40


def _code(rng: random.Random, ts: int, mid: str, verify: bool, range_: str = "+21266"
          ) -> list[dict]:
    number = f"{range_}{rng.randrange(10**7):07d}"
    out = [{"topic": "sms.send", "value": {
        "message_id": mid, "ts": ts, "account_id": "form", "destination": number,
        "category": "otp", "body": f"Your code is {ts % 1_000_000:06d}", "price": 0.05,
        "api_key_id": "key_form", "source_ip": "10.0.0.1"}}]
    if verify:
        out.append({"topic": "sms.verify", "value": {
            "message_id": mid, "ts": ts + rng.randrange(10_000, 40_000),
            "account_id": "form", "destination": number, "verified": True}})
    return out


def _form(rng: random.Random, feed_down: bool, pumped: bool, pumped_per_minute: int = 20,
          pumped_range: str = "+21270") -> list[dict]:
    out: list[dict] = []
    for minute in range(OUTAGE_AT + OUTAGE_MINUTES):
        later = minute >= OUTAGE_AT
        honest = 40 if later and not pumped else 20  # the morning's growth, or not
        for i in range(honest):
            ts = T0 + minute * MINUTE + rng.randrange(MINUTE)
            entered = rng.random() < 0.9 and not (later and feed_down)
            out += _code(rng, ts, f"h{minute}-{i}", entered)
        if later and pumped:
            for i in range(pumped_per_minute):  # codes to numbers nobody owns
                out += _code(rng, T0 + minute * MINUTE + rng.randrange(MINUTE),
                             f"p{minute}-{i}", verify=False, range_=pumped_range)
    return out


def test_a_verification_feed_that_stops_is_no_pumping() -> None:
    alerts = alerts_of(_form(random.Random(4), feed_down=True, pumped=False))
    assert not [a for a in alerts if a["kind"] == "sms_pumping"]


def test_the_same_growth_of_codes_nobody_enters_beside_a_working_feed_is() -> None:
    alerts = alerts_of(_form(random.Random(4), feed_down=False, pumped=True))
    pumping = [a for a in alerts if a["kind"] == "sms_pumping" and a["severity"] != "info"]
    assert pumping and min(a["ts"] for a in pumping) - (T0 + OUTAGE_AT * MINUTE) <= 5 * MINUTE


def test_pumping_at_one_and_a_half_times_the_form_s_pace_among_its_users_is_found() -> None:
    """Thirty codes a minute nobody enters, to the very range the form's real users are
    in: two codes in five are still entered, short of a collapse, but hundreds of them
    a minute make it certain."""
    alerts = alerts_of(_form(random.Random(4), feed_down=False, pumped=True,
                             pumped_per_minute=30, pumped_range="+21266"))
    pumping = [a for a in alerts if a["kind"] == "sms_pumping" and a["severity"] != "info"]
    # Conversion is certain within minutes; the account's volume (two and a half times
    # its pace, against a dispersion learnt from its own steady history) takes longer to
    # clear its half of the bar.
    assert pumping and min(a["ts"] for a in pumping) - (T0 + OUTAGE_AT * MINUTE) <= 12 * MINUTE
