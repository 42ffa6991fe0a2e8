"""Slow attacks must be found within minutes, honest look-alikes must not be.

Hand-built streams through the whole in-process pipeline: an established
account whose sign-up form starts pumping a premium-priced range abroad one
send every minute or two (a slow ramp), next to an honest account that serves
the same expensive country; and a quiet route that starts failing part of its
traffic under an error code it never returned, next to one whose failures stay
ordinary.
"""

from __future__ import annotations

import random

import pytest
from hand_streams import alerts_of, commands_of, outputs_of

T0 = 1_772_400_000_000  # event time of the streams' start (ms)
MINUTE = 60_000
HOME_PRICE, KG_PRICE = 0.04, 0.45  # USD a segment: a home market, an expensive one


def _send(ts: int, mid: str, account: str, destination: str, price: float,
          route: str = "gb-main", category: str = "otp", body: str | None = None) -> dict:
    return {"topic": "sms.send", "value": {
        "message_id": mid, "ts": ts, "account_id": account, "destination": destination,
        "category": category, "body": body or f"Your code is {ts % 1_000_000:06d}",
        "price": price, "api_key_id": f"key_{account}", "source_ip": "10.0.0.1",
        "route": route}}


def _dlr(ts: int, mid: str, account: str, destination: str, status: str = "delivered",
         code: str | None = None, route: str = "gb-main") -> dict:
    value = {"message_id": mid, "ts": ts, "account_id": account, "destination": destination,
             "status": status, "route": route}
    if code is not None:
        value["error_code"] = code
    return {"topic": "sms.dlr", "value": value}


def _verify(ts: int, mid: str, account: str, destination: str) -> dict:
    return {"topic": "sms.verify", "value": {
        "message_id": mid, "ts": ts, "account_id": account, "destination": destination,
        "verified": True}}


def _honest_otp(rng: random.Random, ts: int, n: int, account: str, prefix: str, price: float,
                route: str) -> list[dict]:
    """One OTP to a random number of ``prefix``, delivered and verified."""
    number = f"{prefix}{rng.randrange(10_000):04d}"
    mid = f"{account}-{n}"
    return [_send(ts, mid, account, number, price, route),
            _dlr(ts + 4_000, mid, account, number, route=route),
            _verify(ts + 30_000, mid, account, number)]


def _home_traffic(rng: random.Random, account: str, minutes: int) -> list[dict]:
    """An established account: about one verified OTP a minute to UK mobiles."""
    out: list[dict] = []
    for n in range(minutes):
        ts = T0 + n * MINUTE + rng.randrange(MINUTE)
        out += _honest_otp(rng, ts, n, account, "+44740012", HOME_PRICE, "gb-main")
    return out


# A slow ramp: one send every 2.5 minutes at first, the gaps halving as it grows.
RAMP_GAPS_S = (150, 80, 40, 20, 10, 10, 5, 5, 5, 5, 5, 5)
ATTACK_START = T0 + 90 * MINUTE


def test_slow_ramp_pumping_is_found_within_five_minutes() -> None:
    rng = random.Random(7)
    records = _home_traffic(rng, "acct_ramp", 100)
    ts, suffix = ATTACK_START, 1096
    for i, gap in enumerate((0, *RAMP_GAPS_S)):
        ts += gap * 1000
        suffix += 1 + (i % 4 == 3)  # walks the range, now and then skipping one
        number = f"+99670005{suffix:04d}"
        mid = f"pump-{i}"
        # Never verified; the complicit carrier reports them delivered.
        records += [_send(ts, mid, "acct_ramp", number, KG_PRICE, "kg-direct"),
                    _dlr(ts + 3_000, mid, "acct_ramp", number, route="kg-direct")]
    pumping = [a for a in alerts_of(records)
               if a["kind"] == "sms_pumping" and a["ts"] >= ATTACK_START]
    assert pumping, "the slow ramp was never found"
    first = min(pumping, key=lambda a: a["ts"])
    assert first["ts"] - ATTACK_START <= 5 * MINUTE
    assert first["account_id"] == "acct_ramp"
    features = {e["feature"] for e in first["evidence"]}
    assert "sequential_number_share" in features


def test_honest_traffic_to_an_expensive_country_is_not_pumping() -> None:
    # The same account's first hour in Kyrgyzstan at the same price and pace, but
    # to random numbers whose users enter their codes.
    rng = random.Random(8)
    records = _home_traffic(rng, "acct_kg", 100)
    ts = ATTACK_START
    for i, gap in enumerate((0, *RAMP_GAPS_S, *(5,) * 40)):
        ts += gap * 1000
        records += _honest_otp(rng, ts, 1000 + i, "acct_kg", "+99670005", KG_PRICE, "kg-direct")
    alerts = alerts_of(records)
    assert not [a for a in alerts if a["kind"] == "sms_pumping"]


# Mobile ranges of three expensive countries: (range, national digits after it).
DEAR_RANGES = (("+9936", 7), ("+99890", 7), ("+23276", 6))
DEAR_PRICE = 0.27


def _opening_countries(rng: random.Random, account: str, ranges: tuple, verified: bool,
                       minutes: int = 20) -> list[dict]:
    """From ATTACK_START, a code every five seconds to random numbers of each range."""
    out: list[dict] = []
    for head, free in ranges:
        out += _scattered_codes(rng, account, head, free, minutes * 12, 5_000, 5_000,
                                DEAR_PRICE, "intl", verified)
    return out


def _without_feed(records: list[dict]) -> list[dict]:
    return [r for r in records if r["topic"] != "sms.verify"]


def _pumping_acted_on(records: list[dict], account: str) -> list[dict]:
    """The ``sms_pumping`` alerts on ``account`` that came with a throttle."""
    return [a for a in alerts_of(records) if a["kind"] == "sms_pumping"
            and a["account_id"] == account and a["action"] != "none"]


def test_pumping_spread_over_several_dear_countries_without_a_feed_is_found() -> None:
    """No verifications reach the detector and the numbers are scattered: what is left
    is an established account opening three expensive countries at once."""
    rng = random.Random(23)
    records = _without_feed(_home_traffic(rng, "acct_ir", 90))
    records += _opening_countries(rng, "acct_ir", DEAR_RANGES, verified=False)
    found = _pumping_acted_on(records, "acct_ir")
    assert found and min(a["ts"] for a in found) - ATTACK_START <= 5 * MINUTE
    assert "new_high_price_countries" in {e["feature"] for a in found for e in a["evidence"]}


def test_a_quiet_account_opening_three_dear_countries_at_once_is_pumping() -> None:
    """An account that had texted a dozen numbers has no countries of its own to be new
    against; three expensive ones at once are still what a ring does."""
    rng = random.Random(31)
    records = _without_feed(_home_traffic(rng, "acct_q", 12))
    records += _opening_countries(rng, "acct_q", DEAR_RANGES, verified=False)
    found = _pumping_acted_on(records, "acct_q")
    assert found and min(a["ts"] for a in found) - ATTACK_START <= 5 * MINUTE


def test_one_dear_country_opened_without_a_feed_is_only_a_warning() -> None:
    """A launch opens one market at a time: nothing to act on, but worth a look."""
    rng = random.Random(23)
    records = _without_feed(_home_traffic(rng, "acct_ir", 90))
    records += _opening_countries(rng, "acct_ir", DEAR_RANGES[:1], verified=False)
    found = [a for a in alerts_of(records) if a["kind"] == "sms_pumping"]
    assert found and all(a["severity"] == "warning" and a["action"] == "none" for a in found)
    assert not commands_of(records)


def test_a_second_dear_country_opened_after_a_pause_is_blocked() -> None:
    """Stop and go: twenty minutes into one dear country, then forty minutes of quiet,
    then twenty minutes into another (through another of a reseller's keys). The first
    is only a warning; the second is no launch, and is blocked."""
    rng = random.Random(23)
    records = _without_feed(_home_traffic(rng, "acct_ir", 200))
    records += _opening_countries(rng, "acct_ir", DEAR_RANGES[:1], verified=False)
    later = [dict(r, value=dict(r["value"], ts=r["value"]["ts"] + 60 * MINUTE))
             for r in _opening_countries(rng, "acct_ir", DEAR_RANGES[1:2], verified=False)]
    for r in later:
        r["value"]["message_id"] = "again-" + r["value"]["message_id"]
    commands = commands_of(records + later)
    blocked = [c for c in commands if c["action"] == "block"]
    assert blocked and min(c["ts"] for c in blocked) - ATTACK_START >= 60 * MINUTE
    assert all(c["scope"].get("prefix", "").startswith("+9989")
               or c["scope"].get("country") == "UZ" for c in blocked)


def test_a_busy_account_met_as_the_detector_starts_has_no_new_countries_yet() -> None:
    """A whale already texting three expensive countries when the detector starts is met
    in them a few minutes in, after fifty other numbers: nothing says they are new to
    it. (The same three countries opened an hour and a half in are pumping: above.)"""
    rng = random.Random(23)
    records = []
    for n in range(600):  # ten verified codes a minute to UK mobiles, from the start
        records += _honest_otp(rng, T0 + n * 6_000, n, "acct_w", "+44740012", HOME_PRICE,
                               "gb-main")
    shift = ATTACK_START - (T0 + 5 * MINUTE)
    for r in _opening_countries(rng, "acct_w", DEAR_RANGES, verified=False):
        r["value"]["ts"] -= shift
        records.append(r)
    assert not _pumping_acted_on(_without_feed(records), "acct_w")


def test_several_dear_countries_whose_users_verify_are_no_pumping() -> None:
    rng = random.Random(23)
    records = _home_traffic(rng, "acct_ir", 90)
    records += _opening_countries(rng, "acct_ir", DEAR_RANGES, verified=True)
    assert not [a for a in alerts_of(records) if a["kind"] == "sms_pumping"]


BY_PRICE = 0.22


def _typing_delay_s(rng: random.Random) -> float:
    """How long a user takes to enter a code: median 25 s, one in ten after a minute,
    a tail to five minutes."""
    return min(300.0, 5.0 + rng.lognormvariate(3.0, 0.8))


def _burst_abroad(rng: random.Random, account: str, verified: bool, head: str) -> list[dict]:
    """From ATTACK_START, an OTP every two seconds for five minutes to numbers scattered
    over the Belarusian mobile range ``head`` (nine national digits in all), delivered;
    four in five verified after a user's typing delay, or none ever."""
    return _scattered_codes(rng, account, head, 13 - len(head), 150, 2_000, 1_000, BY_PRICE,
                            "by-direct", verified)


def _scattered_codes(rng: random.Random, account: str, head: str, free: int, count: int,
                     gap_ms: int, jitter_ms: int, price: float, route: str,
                     verified: bool) -> list[dict]:
    """From ATTACK_START, ``count`` codes ``gap_ms`` apart to random numbers of the range
    ``head`` (``free`` more digits), delivered; four in five verified after a user's
    typing delay, or none ever."""
    out: list[dict] = []
    for i in range(count):
        ts = ATTACK_START + i * gap_ms + rng.randrange(jitter_ms)
        number = f"{head}{rng.randrange(10 ** free):0{free}d}"
        mid = f"{account}-{head}-{i}"
        out += [_send(ts, mid, account, number, price, route),
                _dlr(ts + 3_000, mid, account, number, route=route)]
        if verified and rng.random() < 0.8:
            out.append(_verify(ts + int(1_000 * _typing_delay_s(rng)), mid, account, number))
    return out


def test_pumping_to_scattered_numbers_is_found_on_conversion_within_two_minutes() -> None:
    """Numbers not in sequence leave unverified codes as the one behavioural trace. They
    count once old enough to have been verified (``detector.otp_grace_s``): that wait is
    most of the delay."""
    rng = random.Random(10)
    records = _home_traffic(rng, "acct_by", 100) + _burst_abroad(rng, "acct_by", False, "+37529441")
    pumping = [a for a in alerts_of(records)
               if a["kind"] == "sms_pumping" and a["ts"] >= ATTACK_START]
    assert pumping and min(a["ts"] for a in pumping) - ATTACK_START <= 2 * MINUTE
    first = min(pumping, key=lambda a: a["ts"])
    assert "otp_conversion_rate" in {e["feature"] for e in first["evidence"]}


def test_low_and_slow_pumping_into_a_new_dear_country_is_found_within_the_hour() -> None:
    """Four codes every ten minutes to a dear country the account never texted, none
    entered: no ten minutes clear the bar on their own, the scope's first hour does."""
    rng = random.Random(31)
    records = _home_traffic(rng, "acct_slow", 150) + _scattered_codes(
        rng, "acct_slow", "+99670", 7, 24, 150_000, 5_000, KG_PRICE, "kg-direct", False)
    pumping = [a for a in alerts_of(records)
               if a["kind"] == "sms_pumping" and a["ts"] >= ATTACK_START]
    assert pumping and min(a["ts"] for a in pumping) - ATTACK_START <= 45 * MINUTE


def test_slow_pumping_into_a_country_new_to_the_account_is_blocked_not_limited() -> None:
    """The account never texted the country: a limit at its pace there (none, so the
    floor) would pass a code every two and a half minutes whole."""
    rng = random.Random(31)
    records = _home_traffic(rng, "acct_slow", 150) + _scattered_codes(
        rng, "acct_slow", "+99670", 7, 24, 150_000, 5_000, KG_PRICE, "kg-direct", False)
    held = [c for c in commands_of(records)
            if c["scope"].get("account_id") == "acct_slow" and c["action"] != "release"]
    assert held and {c["action"] for c in held} == {"block"}
    assert all(c["scope"].get("prefix", "").startswith("+996")
               or c["scope"].get("country") == "KG" for c in held)


def test_a_range_one_account_pumps_is_never_softened_to_a_limit() -> None:
    """The account's family and the range's both find the pumping and both throttle the
    account in the range. A gateway keeps one command a scope, the newer: a limit from
    one would replace the other's block."""
    rng = random.Random(10)
    records = _home_traffic(rng, "acct_slow", 150) + _scattered_codes(
        rng, "acct_slow", "+99670", 7, 120, 10_000, 5_000, KG_PRICE, "kg-direct", False)
    records.sort(key=lambda r: r["value"]["ts"])
    held = [c for c in commands_of(records)
            if c["scope"] == {"account_id": "acct_slow", "prefix": "+99670"}]
    assert {"sms_pumping on prefix", "sms_pumping on account"} <= {
        c["reason"].split(" +")[0].split(" acct")[0] for c in held}
    assert "limit" not in {c["action"] for c in held}


def _ring_of_new_accounts(rng: random.Random, accounts: int, head: str, price: float,
                          start: int) -> list[dict]:
    """From ``start``, ``accounts`` accounts never seen before (no verification feed)
    each send a code every eight to twelve minutes to numbers of the block ``head``
    (six more digits), for an hour and a half."""
    out: list[dict] = []
    for a in range(accounts):
        ts = start + rng.randrange(10 * MINUTE)
        while ts < start + 90 * MINUTE:
            number, mid = f"{head}{rng.randrange(10 ** 6):06d}", f"ring{a}-{ts}"
            out += [_send(ts, mid, f"signup_{a}", number, price, "intl-lcr"),
                    _dlr(ts + 3_000, mid, f"signup_{a}", number, route="intl-lcr")]
            ts += rng.randrange(8 * MINUTE, 12 * MINUTE)
    return out


def test_a_ring_of_new_accounts_pumping_a_dear_block_slowly_is_blocked() -> None:
    """Eight sign-ups, each a code every ten minutes into one block of a dear range:
    under a send a minute for the range, and nothing per account to stand out. Found
    on the ring itself, and the block is stopped for every sender."""
    rng = random.Random(41)
    start = T0 + 120 * MINUTE
    records = _home_traffic(rng, "acct_home", 240) + _ring_of_new_accounts(
        rng, 8, "+996701", KG_PRICE, start)
    records.sort(key=lambda r: r["value"]["ts"])
    found = [a for a in alerts_of(records)
             if a["kind"] == "sms_pumping" and a["entity"]["type"] == "prefix"]
    assert found and min(a["ts"] for a in found) - start <= 30 * MINUTE
    assert "fresh_accounts_sending_codes_1h" in {e["feature"] for e in found[0]["evidence"]}
    blocks = [c for c in commands_of(records) if c["action"] == "block"
              and c["scope"].get("prefix", "").startswith("+99670")]
    assert blocks and "account_id" not in blocks[0]["scope"]


@pytest.mark.parametrize("price", [HOME_PRICE])
def test_new_accounts_sending_codes_into_a_cheap_range_are_no_ring(price: float) -> None:
    """New tenants signing up the same afternoon send their own users' codes into a
    home range at a home price: nothing pays a ring there."""
    rng = random.Random(41)
    records = _home_traffic(rng, "acct_home", 240) + _ring_of_new_accounts(
        rng, 8, "+447400", price, T0 + 120 * MINUTE)
    records.sort(key=lambda r: r["value"]["ts"])
    assert not [a for a in alerts_of(records) if a["kind"] == "sms_pumping"]


# KG TJ TM AZ MD GN SL CU, each with the digits its mobile numbers have after it.
WIDE_RANGES = (("+99670", 7), ("+99292", 7), ("+99365", 6), ("+99450", 7), ("+37368", 6),
               ("+22462", 7), ("+23276", 6), ("+5355", 6))


def _low_and_wide(rng: random.Random, price: float, ranges: tuple[str, ...]) -> list[dict]:
    """An established account without a verification feed; from ATTACK_START, a code
    every minute and a half or so into one of ``ranges`` in turn, for two hours."""
    records = [r for r in _home_traffic(rng, "acct_wide", 240) if r["topic"] != "sms.verify"]
    ts, n = ATTACK_START, 0
    while ts < ATTACK_START + 120 * MINUTE:
        head, free = ranges[n % len(ranges)]
        number, mid = f"{head}{rng.randrange(10**free):0{free}d}", f"wide-{n}"
        records += [_send(ts, mid, "acct_wide", number, price, "intl-lcr"),
                    _dlr(ts + 3_000, mid, "acct_wide", number, route="intl-lcr")]
        ts += rng.randrange(60_000, 120_000)
        n += 1
    records.sort(key=lambda r: r["value"]["ts"])
    return records


def test_codes_low_and_wide_into_many_dear_countries_are_a_warning_within_the_hour() -> None:
    """Eight dear countries, a code every twelve minutes each: no country opens or ramps,
    but together they are a third of what the account sends."""
    records = _low_and_wide(random.Random(43), KG_PRICE, WIDE_RANGES)
    found = [a for a in alerts_of(records) if a["kind"] == "sms_pumping"]
    assert found and min(a["ts"] for a in found) - ATTACK_START <= 60 * MINUTE
    assert "new_high_price_countries_taken_up_4h" in {e["feature"] for e in found[0]["evidence"]}


def test_pumping_fast_into_many_dear_countries_is_still_blocked() -> None:
    """The low-and-wide warning is for pumping no other rule finds: the same countries
    walked in runs at six codes a minute are pumping to block, also on the account's own
    scope (its warning would otherwise speak for the whole episode), not a warning."""
    rng = random.Random(43)
    records = [r for r in _home_traffic(rng, "acct_wide", 240) if r["topic"] != "sms.verify"]
    for n in range(8 * 40):
        head, free = WIDE_RANGES[(n // 40) % len(WIDE_RANGES)]
        ts, mid = ATTACK_START + n * 10_000, f"fast-{n}"
        number = f"{head}{10 ** (free - 1) + n % 40:0{free}d}"
        records += [_send(ts, mid, "acct_wide", number, KG_PRICE, "intl-lcr"),
                    _dlr(ts + 3_000, mid, "acct_wide", number, route="intl-lcr")]
    records.sort(key=lambda r: r["value"]["ts"])
    assert [a for a in alerts_of(records) if a["kind"] == "sms_pumping"
            and a["scope_kind"] == "account" and a["action"] == "block"
            and a["ts"] >= ATTACK_START + 30 * MINUTE]


@pytest.mark.parametrize(("price", "ranges"), [(HOME_PRICE, WIDE_RANGES),
                                               (KG_PRICE, WIDE_RANGES[:2])])
def test_cheap_or_few_new_countries_are_no_low_and_wide_pumping(price: float,
                                                               ranges: tuple) -> None:
    """The same pace into countries at an ordinary price, or into two dear ones: an
    account taking up markets, one or two at a time."""
    records = _low_and_wide(random.Random(43), price, ranges)
    assert not [a for a in alerts_of(records) if a["kind"] == "sms_pumping"
                and "new_high_price_countries_taken_up_4h" in {e["feature"]
                                                              for e in a["evidence"]}]


def test_the_same_pace_of_codes_that_users_enter_is_no_pumping() -> None:
    rng = random.Random(31)
    records = _home_traffic(rng, "acct_slow", 150) + _scattered_codes(
        rng, "acct_slow", "+99670", 7, 24, 150_000, 5_000, KG_PRICE, "kg-direct", True)
    assert not [a for a in alerts_of(records) if a["kind"] == "sms_pumping"]


def _uncategorised(records: list[dict]) -> list[dict]:
    """The same stream from a gateway that sends no ``category``."""
    for record in records:
        record["value"].pop("category", None)
    return records


def test_an_account_whose_sends_say_nothing_of_codes_is_judged_on_conversion() -> None:
    """A verification service's gateway sends no category, but its users verify most of
    what it sends: its sends are codes, and codes nobody enters are pumping."""
    rng = random.Random(10)
    records = _uncategorised(_home_traffic(rng, "acct_by", 100)
                             + _burst_abroad(rng, "acct_by", False, "+37529441"))
    pumping = [a for a in alerts_of(records)
               if a["kind"] == "sms_pumping" and a["ts"] >= ATTACK_START]
    assert pumping and min(a["ts"] for a in pumping) - ATTACK_START <= 2 * MINUTE
    assert "otp_conversion_rate" in {e["feature"] for e in pumping[0]["evidence"]}


def test_uncategorised_codes_that_users_enter_are_no_pumping() -> None:
    rng = random.Random(2)
    records = _uncategorised(_home_traffic(rng, "acct_by", 100)
                             + _burst_abroad(rng, "acct_by", True, "+37533"))
    assert not [a for a in alerts_of(records) if a["kind"] == "sms_pumping"]


def test_uncategorised_notices_are_no_conversion_trials() -> None:
    """An account that texts notices (nobody verifies a notice) and no codes: its
    uncategorised sends are not codes, and a busy hour of them is not pumping."""
    rng = random.Random(4)
    records = []
    for n in range(2_400):
        ts = T0 + n * 3_000 + rng.randrange(3_000)
        number, mid = f"+447400{rng.randrange(1_000_000):06d}", f"notice-{n}"
        records += [_send(ts, mid, "acct_notices", number, HOME_PRICE, category="otp",
                          body="Your parcel arrives today"),
                    _dlr(ts + 4_000, mid, "acct_notices", number)]
        if n % 40 == 0:  # a few of its users verify something (an app sign-in)
            records.append(_verify(ts + 20_000, mid, "acct_notices", number))
    alerts = alerts_of(_uncategorised(records))
    assert not [a for a in alerts if a["kind"] == "sms_pumping"]


def _promotion_burst(rng: random.Random, account: str, body: str) -> list[dict]:
    """From ATTACK_START, ten minutes of one text every two seconds to the account's
    customers, delivered; nobody enters anything."""
    out: list[dict] = []
    for i in range(300):
        ts = ATTACK_START + i * 2_000 + rng.randrange(1_000)
        number, mid = f"+447400{rng.randrange(1_000_000):06d}", f"promo-{i}"
        out += [_send(ts, mid, account, number, HOME_PRICE, category="marketing",
                      body=body.format(name=rng.choice(("Ana", "Ben", "Sara")), n=i)),
                _dlr(ts + 3_000, mid, account, number)]
    return out


def test_an_uncategorised_promotion_from_an_account_that_sends_codes_is_no_pumping() -> None:
    """Its sends say nothing of what they are, and most are codes its users enter: a
    promotion without a code in it is still no code nobody entered."""
    rng = random.Random(12)
    records = _uncategorised(_home_traffic(rng, "acct_shop", 100) + _promotion_burst(
        rng, "acct_shop", "{name}, we miss you! 20% off this week: https://shop.io/s/{n}"))
    assert not [a for a in alerts_of(records) if a["kind"] == "sms_pumping"]


def test_the_same_burst_carrying_codes_is_pumping() -> None:
    rng = random.Random(12)
    records = _uncategorised(_home_traffic(rng, "acct_shop", 100) + _promotion_burst(
        rng, "acct_shop", "{name}, your code is 4{n:05d}"))
    assert [a for a in alerts_of(records) if a["kind"] == "sms_pumping"]


def _bare(records: list[dict]) -> list[dict]:
    """The same stream from a gateway that sends neither ``category`` nor ``body``."""
    for record in _uncategorised(records):
        record["value"].pop("body", None)
    return records


def _sale_with_confirmations(rng: random.Random, account: str, entered: bool) -> list[dict]:
    """From ATTACK_START, twenty minutes of a ticket sale's queue codes, one every two
    seconds to new buyers, most entered; each buyer who entered one gets an order
    confirmation 10-25 minutes later (nobody enters a confirmation). ``entered=False``:
    the same stream where no code is ever entered (a pumped form)."""
    out: list[dict] = []
    for i in range(600):
        ts = ATTACK_START + i * 2_000 + rng.randrange(1_000)
        number, mid = f"+447411{rng.randrange(1_000_000):06d}", f"queue-{i}"
        out += [_send(ts, mid, account, number, HOME_PRICE),
                _dlr(ts + 3_000, mid, account, number)]
        if rng.random() < 0.88:
            typed = ts + int(1_000 * _typing_delay_s(rng))
            if entered:
                out.append(_verify(typed, mid, account, number))
            later = typed + rng.randrange(10 * MINUTE, 25 * MINUTE)
            out += [_send(later, f"order-{i}", account, number, HOME_PRICE),
                    _dlr(later + 3_000, f"order-{i}", account, number)]
    return out


def test_a_sale_s_confirmations_to_buyers_who_entered_codes_are_no_pumping() -> None:
    """A gateway that says nothing of its sends: a bare confirmation to a number that
    entered one of the account's codes within the hour follows up a code, it is not a
    code nobody enters (RT15 1501: a ticket on-sale blocked on its confirmations)."""
    rng = random.Random(15)
    records = _bare(_home_traffic(rng, "acct_tix", 150)
                    + _sale_with_confirmations(rng, "acct_tix", entered=True))
    assert not [a for a in alerts_of(records) if a["kind"] == "sms_pumping"]


def test_the_same_sale_whose_codes_nobody_enters_is_pumping() -> None:
    rng = random.Random(15)
    records = _bare(_home_traffic(rng, "acct_tix", 150)
                    + _sale_with_confirmations(rng, "acct_tix", entered=False))
    assert [a for a in alerts_of(records) if a["kind"] == "sms_pumping"]


def test_a_burst_of_entered_codes_that_ended_is_not_read_as_never_entered() -> None:
    """Codes are judged a minute after they are sent, their entries over the last ten
    minutes. Ten minutes after a burst of codes ends, the codes left to judge are its
    last ones, whose entries came more than ten minutes ago: while the range keeps
    getting other texts, they must not read as codes nobody entered."""
    rng = random.Random(15)
    records = _home_traffic(rng, "acct_tix", 150)
    for i in range(600):  # a sale's queue codes for twenty minutes, most entered
        ts = ATTACK_START + i * 2_000 + rng.randrange(1_000)
        number, mid = f"+447411{rng.randrange(1_000_000):06d}", f"queue-{i}"
        records += [_send(ts, mid, "acct_tix", number, HOME_PRICE),
                    _dlr(ts + 3_000, mid, "acct_tix", number)]
        if rng.random() < 0.88:
            records.append(_verify(ts + int(1_000 * _typing_delay_s(rng)), mid, "acct_tix",
                                   number))
    for i in range(300):  # then its order notices to the same range, a few a minute
        ts = ATTACK_START + 20 * MINUTE + i * 5_000
        number, mid = f"+447411{rng.randrange(1_000_000):06d}", f"notice-{i}"
        records += [_send(ts, mid, "acct_tix", number, HOME_PRICE, category="transactional",
                          body="Your tickets are in the app"),
                    _dlr(ts + 3_000, mid, "acct_tix", number)]
    assert not [a for a in alerts_of(records) if a["kind"] == "sms_pumping"]


@pytest.mark.parametrize("entered", [False, True])
def test_codes_hidden_in_a_country_the_account_serves_are_a_warning_within_the_hour(
        entered: bool) -> None:
    """An account serves a second country, its users entering a code every five
    minutes, then every fifteen; from ATTACK_START a ring adds a code every two to three
    minutes there, none entered. No ten minutes of them clear the bar, and the
    country's volume barely moves; its hour of codes does: a warning. The same codes
    entered are its users (no alert)."""
    rng = random.Random(28)
    records = _home_traffic(rng, "acct_la", 300)
    for n in range(20):  # its Kyrgyz users over the first 100 minutes, all entering
        ts = T0 + n * 5 * MINUTE + rng.randrange(5 * MINUTE)
        records += _honest_otp(rng, ts, 2000 + n, "acct_la", "+99670005", KG_PRICE,
                               "kg-direct")
    for n in range(12):  # ... and after it, beside the ring's codes
        ts = ATTACK_START + n * 15 * MINUTE + rng.randrange(MINUTE)
        records += _honest_otp(rng, ts, 3000 + n, "acct_la", "+99670005", KG_PRICE,
                               "kg-direct")
    records += _scattered_codes(rng, "acct_la", "+99670007", 4, 60, 150_000, 30_000,
                                KG_PRICE, "kg-direct", entered)
    records.sort(key=lambda r: r["value"]["ts"])
    alerts = [a for a in alerts_of(records) if a["kind"] == "sms_pumping"]
    if entered:
        assert not alerts
        return
    assert alerts and min(a["ts"] for a in alerts) - ATTACK_START <= 75 * MINUTE
    assert "otp_conversion_rate_1h" in {e["feature"] for a in alerts for e in a["evidence"]}


def test_codes_unentered_everywhere_say_nothing_of_one_country() -> None:
    """The same country's codes unentered for an hour, but so are two in three of the
    account's codes at home (its verification feed lost most of its calls): the hour of
    one country stands out against nothing."""
    rng = random.Random(28)
    records = [r for r in _home_traffic(rng, "acct_la", 300)
               if not (r["topic"] == "sms.verify" and r["value"]["ts"] >= ATTACK_START
                       and rng.random() < 2 / 3)]
    for n in range(20):
        ts = T0 + n * 5 * MINUTE + rng.randrange(5 * MINUTE)
        records += _honest_otp(rng, ts, 2000 + n, "acct_la", "+99670005", KG_PRICE,
                               "kg-direct")
    records += _scattered_codes(rng, "acct_la", "+99670007", 4, 60, 150_000, 30_000,
                                KG_PRICE, "kg-direct", False)
    records.sort(key=lambda r: r["value"]["ts"])
    assert "otp_conversion_rate_1h" not in {
        e["feature"] for a in alerts_of(records) for e in a["evidence"]}


def test_codes_unentered_while_the_account_takes_on_a_new_key_say_nothing() -> None:
    """An hour of unentered codes in that country, sent by a client the account
    onboarded at ATTACK_START on a new key from new servers: a new integration whose
    verifications do not reach the detector yet, not codes hidden beside its users."""
    rng = random.Random(28)
    records = _home_traffic(rng, "acct_la", 300)
    for n in range(20):
        ts = T0 + n * 5 * MINUTE + rng.randrange(5 * MINUTE)
        records += _honest_otp(rng, ts, 2000 + n, "acct_la", "+99670005", KG_PRICE,
                               "kg-direct")
    client = _scattered_codes(rng, "acct_la", "+99670007", 4, 24, 150_000, 30_000,
                              KG_PRICE, "kg-direct", False)
    for record in client:
        if record["topic"] == "sms.send":
            record["value"].update(api_key_id="key_client", source_ip="10.9.9.1")
    records = sorted(records + client, key=lambda r: r["value"]["ts"])
    assert "otp_conversion_rate_1h" not in {
        e["feature"] for a in alerts_of(records) for e in a["evidence"]}


@pytest.mark.parametrize("seed", range(4))
def test_users_who_enter_codes_late_are_no_pumping(seed: int) -> None:
    """A launch in the same country: new users all over its mobile numbering, four in
    five entering their code, one in ten of those after the grace has passed."""
    rng = random.Random(seed)
    records = _home_traffic(rng, "acct_by", 100)
    records += _burst_abroad(rng, "acct_by", True, "+37533")
    assert not [a for a in alerts_of(records) if a["kind"] == "sms_pumping"]


def test_otps_without_a_verification_feed_are_no_pumping() -> None:
    """The verification feed is optional. A platform that does not send it (or an
    account that checks codes itself) must not read every OTP as "never verified"."""
    rng = random.Random(9)
    records = []
    for i in range(5):  # five sign-up forms, three OTPs a minute each, for two hours
        account = f"acct_{i}"
        for n in range(360):
            ts = T0 + n * 20_000 + rng.randrange(20_000)
            number, mid = f"+447400{rng.randrange(1_000_000):06d}", f"{account}-{n}"
            records += [_send(ts, mid, account, number, HOME_PRICE),  # and no verification
                        _dlr(ts + 4_000, mid, account, number)]
    alerts = alerts_of(records)
    assert not [a for a in alerts if a["kind"] == "sms_pumping"]


def test_an_account_s_otps_count_only_while_its_verifications_arrive() -> None:
    from detector.config import Config
    from detector.families import VERIFICATION_FEED_MS, FamilyProcessor
    from detector.records import parse_record

    proc = FamilyProcessor("account", Config())

    def otp(ts: int) -> object:
        return parse_record("sms.send", {"message_id": f"m{ts}", "ts": ts, "account_id": "a",
                                         "destination": "+447400123456", "category": "otp"})

    first = otp(T0)
    proc.process(first)
    assert not first.verifiable  # no verification from this account yet
    proc.process(parse_record("sms.verify", {"ts": T0 + 30_000, "account_id": "a",
                                             "destination": "+447400123456",
                                             "verified": True}))
    soon, late = otp(T0 + 60_000), otp(T0 + 30_000 + VERIFICATION_FEED_MS + 1)
    proc.process(soon)
    proc.process(late)
    assert soon.verifiable and not late.verifiable


def _route_traffic(rng: random.Random, minutes: int, fault_from: int | None,
                   fault_code: str) -> list[dict]:
    """A quiet route (about four sends a minute, 3% ordinary failures); from minute
    ``fault_from`` on, 40% of its messages fail under ``fault_code``."""
    out: list[dict] = []
    ordinary = ("30003", "30005", "30006")
    n = 0
    for minute in range(minutes):
        for _ in range(4):
            ts = T0 + minute * MINUTE + rng.randrange(MINUTE)
            account = f"acct_{rng.randrange(6)}"
            number = f"+44740012{rng.randrange(10_000):04d}"
            mid = f"r-{n}"
            n += 1
            out.append(_send(ts, mid, account, number, HOME_PRICE, "gb-quiet",
                             "transactional"))
            u = rng.random()
            if fault_from is not None and minute >= fault_from and u < 0.4:
                out.append(_dlr(ts + 5_000, mid, account, number, "undelivered", fault_code,
                                "gb-quiet"))
            elif u > 0.97:
                out.append(_dlr(ts + 5_000, mid, account, number, "undelivered",
                                rng.choice(ordinary), "gb-quiet"))
            else:
                out.append(_dlr(ts + 4_000, mid, account, number, route="gb-quiet"))
    return out


def test_partial_fault_with_a_new_error_code_on_a_quiet_route_is_found_fast() -> None:
    fault_at = 90
    alerts = alerts_of(_route_traffic(random.Random(3), 110, fault_at, "30410"))
    start = T0 + fault_at * MINUTE
    found = [a for a in alerts if a["kind"] == "delivery_degradation"
             and a["entity"] == {"type": "route", "id": "gb-quiet"} and a["ts"] >= start]
    assert found, "the partial fault was never found"
    assert min(a["ts"] for a in found) - start <= 5 * MINUTE
    assert "new_error_code_failure_share" in {e["feature"] for e in found[0]["evidence"]}


def test_a_route_that_stops_reporting_is_found_though_one_sender_owned_its_failures(
        ) -> None:
    """Most of the route's failures are one sender's refused traffic (its problem, not
    the route's). Then the route stops reporting anything while sends go on: missing
    reports are the route's fault, whoever failed before."""
    rng, silent_from = random.Random(8), 90
    records = [r for r in _route_traffic(rng, 110, None, "30410")
               if r["topic"] == "sms.send" or r["value"]["ts"] < T0 + silent_from * MINUTE]
    for minute in range(silent_from):  # a sender whose texts the carrier refuses
        ts, number = T0 + minute * MINUTE + rng.randrange(MINUTE), f"+4474009{minute:05d}"
        records.append(_send(ts, f"x-{minute}", "acct_refused", number, HOME_PRICE,
                             "gb-quiet", "transactional"))
        status = "undelivered" if rng.random() < 0.9 else "delivered"
        records.append(_dlr(ts + 5_000, f"x-{minute}", "acct_refused", number, status,
                            "30007" if status == "undelivered" else None, "gb-quiet"))
    alerts = alerts_of(records)
    start = T0 + silent_from * MINUTE
    before = [a for a in alerts if a["kind"] == "delivery_degradation" and a["ts"] < start]
    found = [a for a in alerts if a["kind"] == "delivery_degradation" and a["ts"] >= start]
    assert not before, "the refused sender made the route read as failing"
    assert found and min(a["ts"] for a in found) - start <= 5 * MINUTE
    assert "delivery_report_coverage" in {e["feature"] for e in found[0]["evidence"]}


def _route_seeing_a_fraction_of_its_sends(fault_from: int | None) -> list[dict]:
    """The quiet route of :func:`_route_traffic`, through a gateway that names the route
    on one sender's sends only (the contract makes it optional) but on every report;
    the other senders share their traffic with a second route, so their reports never
    prove which route an unnamed send took. From ``fault_from``, one operator's range
    (two in five of the route's numbers) comes back undelivered under a code the route
    has always returned now and then."""
    rng, out = random.Random(21), []
    for r in _route_traffic(rng, 110, None, "30003"):
        value = dict(r["value"])
        faulty = (fault_from is not None and value["ts"] >= T0 + fault_from * MINUTE
                  and int(value["destination"][-1]) < 4)
        if r["topic"] == "sms.send" and value["account_id"] != "acct_0":
            del value["route"]
        elif r["topic"] == "sms.dlr" and faulty:
            value.update(status="undelivered", error_code="30003")
        out.append({"topic": r["topic"], "value": value})
    for n in range(110 * 4):  # the senders' traffic over the second route, delivered
        ts, account = T0 + n * 15_000 + rng.randrange(15_000), f"acct_{1 + n % 5}"
        number, mid = f"+44740013{rng.randrange(10_000):04d}", f"o-{n}"
        send = _send(ts, mid, account, number, HOME_PRICE, "gb-other", "transactional")
        del send["value"]["route"]
        out += [send, _dlr(ts + 4_000, mid, account, number, route="gb-other")]
    return sorted(out, key=lambda r: r["value"]["ts"])


def test_a_route_that_sees_a_fraction_of_its_sends_is_judged_on_all_its_reports() -> None:
    """Its reports outnumber the sends it sees hour after hour: they are not the late
    tail of a burst, and trimmed to those sends, an operator gone dark would vanish."""
    fault_at = 90
    _first_route_alert(_route_seeing_a_fraction_of_its_sends(fault_at), "gb-quiet",
                       T0 + fault_at * MINUTE, within_minutes=5)
    assert not [a for a in alerts_of(_route_seeing_a_fraction_of_its_sends(None))
                if a["kind"] == "delivery_degradation"]


# A route into Germany: each operator's mobile range, its share of the route's
# numbers, and the share of its messages delivered when all is well.
DE_OPERATORS = (("+49151", 0.45, 0.97), ("+49176", 0.35, 0.65), ("+49172", 0.2, 0.97))


def _route_into_germany(dark_from: int | None, minutes: int = 150) -> list[dict]:
    """Six notices a minute through de-main, to T-Mobile, O2 and Vodafone numbers
    (O2's list is old: a third of its numbers are dead); from minute ``dark_from``
    the interconnect to Vodafone breaks, and every message to it comes back
    undelivered under the code the route returns for any dead number."""
    rng, records = random.Random(31), []
    for n in range(minutes * 6):
        ts, mid = T0 + n * 10_000 + rng.randrange(10_000), f"de-{n}"
        head, _, delivers = rng.choices(DE_OPERATORS, [w for _, w, _ in DE_OPERATORS])[0]
        number = f"{head}{rng.randrange(10**7):07d}"
        dark = dark_from is not None and n >= dark_from * 6 and head == "+49172"
        delivered = not dark and rng.random() < delivers
        records += [_send(ts, mid, f"acct_{n % 5}", number, HOME_PRICE, "de-main",
                          "transactional"),
                    _dlr(ts + 5_000, mid, f"acct_{n % 5}", number,
                         "delivered" if delivered else "undelivered",
                         None if delivered else "30003", "de-main")]
    return sorted(records, key=lambda r: r["value"]["ts"])


def test_one_operator_gone_dark_behind_a_route_is_found() -> None:
    """A fifth of the route's traffic failing moves its delivered share from 0.86 to
    0.67: short of a fault the route's own share shows. Vodafone's share, 0.97 to 0,
    shows at once, and the alert names the operator."""
    dark_at = 90
    first = _first_route_alert(_route_into_germany(dark_at), "de-main",
                               T0 + dark_at * MINUTE, within_minutes=10)
    operator = [e for e in first["evidence"] if e["feature"] == "operator_delivered_rate"]
    assert operator and operator[0]["operator"] == "DE Vodafone"
    assert operator[0]["value"] < operator[0]["baseline"] / 2


def test_an_operator_that_always_delivers_less_is_no_fault() -> None:
    """O2's old list delivers two in three, hour after hour: its own usual share."""
    assert not [a for a in alerts_of(_route_into_germany(None))
                if a["kind"] == "delivery_degradation"]


def _codes_on_a_route_whose_reports_stop(entered: bool) -> list[dict]:
    """Four accounts' codes through gb-main, verified; from minute 90 the route's reports
    stop coming (and, unless ``entered``, its codes stop being entered too)."""
    rng, silent_from = random.Random(6), 90
    records = [r for account in ("acct_a", "acct_b", "acct_c", "acct_d")
               for r in _home_traffic(rng, account, 110)]
    silent = T0 + silent_from * MINUTE
    return [r for r in records if r["value"]["ts"] < silent
            or r["topic"] == "sms.send" or (entered and r["topic"] == "sms.verify")]


def test_reports_lost_while_codes_are_entered_are_a_warning_not_a_page() -> None:
    """Its users enter their codes as ever: messages arrive, the reports are what broke.
    The alert says so, and stays a warning however long the reports stay away."""
    found = [a for a in alerts_of(_codes_on_a_route_whose_reports_stop(entered=True))
             if a["kind"] == "delivery_degradation" and a["entity"]["id"] == "gb-main"]
    assert found and {a["severity"] for a in found} == {"warning"}
    features = {e["feature"] for e in found[0]["evidence"]}
    assert {"delivery_report_coverage", "otp_conversion_rate"} <= features
    lost = [a for a in alerts_of(_codes_on_a_route_whose_reports_stop(entered=False))
            if a["kind"] == "delivery_degradation" and a["entity"]["id"] == "gb-main"]
    assert "critical" in {a["severity"] for a in lost}


def _first_route_alert(records: list[dict], route: str, start: int, within_minutes: int
                       ) -> dict:
    """The first delivery alert naming ``route``: none before the fault's ``start``, and
    the first within ``within_minutes`` of it."""
    found = [a for a in alerts_of(records) if a["kind"] == "delivery_degradation"
             and a["entity"]["id"] == route]
    assert found, f"the fault on {route} was never found"
    first = min(found, key=lambda a: a["ts"])
    assert start <= first["ts"] <= start + within_minutes * MINUTE
    return first


def _hub_with_a_quiet_country(late_from: int | None, minutes: int = 240) -> list[dict]:
    """A hub carries notices into GB, four a minute, and into PL, one every three
    minutes or so, each reported within seconds; from minute ``late_from`` the PL
    reports come an hour late (the messages arrive; the way back queues)."""
    rng, records = random.Random(12), []
    for minute in range(minutes):
        for n in range(4):
            ts, mid = T0 + minute * MINUTE + rng.randrange(MINUTE), f"gb-{minute}-{n}"
            number = f"+44740012{rng.randrange(10_000):04d}"
            records += [_send(ts, mid, "acct_gb", number, HOME_PRICE, "hub", "transactional"),
                        _dlr(ts + 4_000, mid, "acct_gb", number, route="hub")]
        if rng.random() < 0.35:
            ts, mid = T0 + minute * MINUTE + rng.randrange(MINUTE), f"pl-{minute}"
            number = f"+4850{rng.randrange(10**7):07d}"
            late = late_from is not None and minute >= late_from
            records += [_send(ts, mid, "acct_pl", number, HOME_PRICE, "hub", "transactional"),
                        _dlr(ts + (60 * MINUTE if late else 6_000), mid, "acct_pl", number,
                             route="hub")]
    return sorted(records, key=lambda r: r["value"]["ts"])


def test_a_quiet_country_s_reports_an_hour_late_are_found_over_the_hour() -> None:
    """Three texts in ten minutes never make ten minutes' coverage speak; over the hour,
    a dozen sends and no report does."""
    late_from = 120
    first = _first_route_alert(_hub_with_a_quiet_country(late_from), "hub",
                               T0 + late_from * MINUTE, within_minutes=60)
    assert "delivery_report_coverage" in {e["feature"] for e in first["evidence"]}
    assert not [a for a in alerts_of(_hub_with_a_quiet_country(None))
                if a["kind"] == "delivery_degradation"]


def test_a_quiet_route_with_ordinary_failures_raises_nothing() -> None:
    alerts = alerts_of(_route_traffic(random.Random(3), 110, None, "30410"))
    assert not [a for a in alerts if a["kind"] == "delivery_degradation"]


def test_late_expiry_reports_after_a_burst_are_no_route_fault() -> None:
    """A route carries a busy hour (85% delivered within seconds), then falls silent.
    The 15% of its messages that outlived their validity come back as ``expired``
    reports 15 to 60 minutes later, into a route with no traffic left: verdicts on
    sends that old say nothing about the route now."""
    rng = random.Random(5)
    records: list[dict] = []
    for n in range(600):  # ten sends a minute for an hour
        ts = T0 + n * 6_000 + rng.randrange(6_000)
        number = f"+37529458{rng.randrange(10_000):04d}"
        mid = f"b-{n}"
        records.append(_send(ts, mid, "acct_by", number, 0.3, "by-a1", "transactional"))
        if rng.random() < 0.85:
            records.append(_dlr(ts + 4_000, mid, "acct_by", number, route="by-a1"))
        else:
            late = rng.randrange(15 * MINUTE, 60 * MINUTE)
            records.append(_dlr(ts + late, mid, "acct_by", number, "expired",
                                rng.choice(("30003", "30005", "30006")), "by-a1"))
    alerts = alerts_of(records)
    assert not [a for a in alerts if a["kind"] == "delivery_degradation"]


def test_a_campaign_s_late_unknown_reports_are_no_route_fault() -> None:
    """A quiet route (a send every 20 s, delivered) carries an eight-minute campaign at
    20 a second, 96% delivered within seconds. Its 4% of ``unknown`` and failed reports
    take one to five minutes: once the campaign is over, they are most of what the route
    reports for a while, on a route that delivers as well as ever."""
    rng = random.Random(37)
    records: list[dict] = []

    def send(ts: int, mid: str, late: bool) -> None:
        number = f"+447400{rng.randrange(10**6):06d}"
        records.append(_send(ts, mid, "shop", number, HOME_PRICE, "gb-b2", "marketing"))
        if late:
            status = rng.choice(("unknown", "undelivered"))
            records.append(_dlr(ts + rng.randrange(MINUTE, 5 * MINUTE), mid, "shop", number,
                                status, None if status == "unknown" else "30005", "gb-b2"))
        else:
            records.append(_dlr(ts + rng.randrange(1_000, 5_000), mid, "shop", number,
                                route="gb-b2"))
    for n in range(6 * 180):  # three hours of the trickle
        send(T0 + n * 20_000 + rng.randrange(20_000), f"t{n}", late=rng.random() < 0.01)
    start = T0 + 120 * MINUTE
    for n in range(8 * 60 * 20):
        send(start + n * 50, f"c{n}", late=rng.random() < 0.04)
    alerts = alerts_of(records)
    assert not [a for a in alerts if a["kind"] == "delivery_degradation"]


def _without_routes(records: list[dict], topic: str) -> list[dict]:
    """The same stream from a gateway whose ``topic`` records (its delivery reports, or
    its sends) do not name the route."""
    return [{"topic": topic, "value": {k: v for k, v in r["value"].items() if k != "route"}}
            if r["topic"] == topic else r for r in records]


def test_reports_without_a_route_are_judged_on_their_send_s_route() -> None:
    """The contract makes a report's route optional: the account remembers the route of
    its recent sends, so a route's health is judged either way, and a healthy route
    whose reports do not say is not a route without reports."""
    fault_at = 90
    faulty = _without_routes(_route_traffic(random.Random(3), 110, fault_at, "30410"),
                             "sms.dlr")
    start = T0 + fault_at * MINUTE
    found = [a for a in alerts_of(faulty) if a["kind"] == "delivery_degradation"
             and a["entity"] == {"type": "route", "id": "gb-quiet"} and a["ts"] >= start]
    assert found and min(a["ts"] for a in found) - start <= 5 * MINUTE
    healthy = _without_routes(_route_traffic(random.Random(3), 110, None, "30410"), "sms.dlr")
    assert not [a for a in alerts_of(healthy) if a["kind"] == "delivery_degradation"]


def _hub_into_poland(late_from: int | None, moved_from: int | None = None,
                     sliver_every: int | None = None, minutes: int = 180) -> list[dict]:
    """Two accounts' notices into PL, three a minute between them, each reported within
    seconds by the hub; from minute ``late_from`` the reports come an hour late; from
    minute ``moved_from`` the accounts' traffic goes over another route instead; one
    send in ``sliver_every`` goes over a third route (and is reported in time)."""
    rng, records = random.Random(14), []
    for minute in range(minutes):
        for n in range(3):
            ts, mid = T0 + minute * MINUTE + rng.randrange(MINUTE), f"pl-{minute}-{n}"
            account, number = f"acct_{n % 2}", f"+4850{rng.randrange(10**7):07d}"
            route = "hub-2" if moved_from is not None and minute >= moved_from else "hub"
            if sliver_every is not None and rng.randrange(sliver_every) == 0:
                route = "hub-3"
            late = late_from is not None and minute >= late_from and route == "hub"
            records += [_send(ts, mid, account, number, HOME_PRICE, route, "transactional"),
                        _dlr(ts + (60 * MINUTE if late else 5_000), mid, account, number,
                             route=route)]
    return _without_routes(sorted(records, key=lambda r: r["value"]["ts"]), "sms.send")


def test_a_route_named_only_by_reports_is_judged_on_the_reports_it_owes() -> None:
    """A gateway that leaves the route out of its sends: the route's reports name it,
    steadily, so the accounts' sends into that country are the route's, and an hour's
    delay in its reports is found in minutes, not when the late reports come in."""
    late_from = 120
    first = _first_route_alert(_hub_into_poland(late_from), "hub", T0 + late_from * MINUTE,
                               within_minutes=15)
    assert "delivery_report_coverage" in {e["feature"] for e in first["evidence"]}
    assert not [a for a in alerts_of(_hub_into_poland(None))
                if a["kind"] == "delivery_degradation"]


def test_accounts_moving_to_another_route_leave_no_reports_owed() -> None:
    """The first report naming the new route ends the old one's claim on the sends:
    the old route is not left owing reports for traffic it no longer carries."""
    assert not [a for a in alerts_of(_hub_into_poland(None, moved_from=120))
                if a["kind"] == "delivery_degradation"]


def test_a_route_carrying_a_sliver_is_not_blamed_for_the_main_route_s_late_reports(
        ) -> None:
    """While the hub's reports are an hour late, the route carrying one send in five
    reports a long run of its own: it never carried the accounts' traffic, and the
    missing reports are not its."""
    alerts = alerts_of(_hub_into_poland(90, sliver_every=5))
    assert not [a for a in alerts if a["kind"] == "delivery_degradation"
                and a["entity"]["id"] == "hub-3"]


def _batching_route(stop_from: int | None, minutes: int = 180) -> list[dict]:
    """A carrier that returns its reports in a batch every five minutes: notices at three
    a minute, and a 300-text campaign in minute 100; from minute ``stop_from`` its
    batches stop coming."""
    rng, records = random.Random(21), []

    def send(ts: int, mid: str) -> None:
        number = f"+234803{rng.randrange(10**7):07d}"
        records.append(_send(ts, mid, "acct_ng", number, 0.02, "ng-batch", "transactional"))
        batch_at = (ts // (5 * MINUTE) + 1) * 5 * MINUTE + rng.randrange(20_000)
        if stop_from is None or batch_at < T0 + stop_from * MINUTE:
            records.append(_dlr(batch_at, mid, "acct_ng", number, route="ng-batch"))
    for minute in range(minutes):
        for n in range(3):
            send(T0 + minute * MINUTE + rng.randrange(MINUTE), f"n-{minute}-{n}")
    for n in range(300):
        send(T0 + 100 * MINUTE + n * 200, f"c-{n}")
    return sorted(records, key=lambda r: r["value"]["ts"])


def test_a_route_that_reports_in_batches_is_no_fault() -> None:
    """Its reports keep it waiting five minutes as a rule: a campaign's texts, not yet
    reported four minutes on, are what it always does."""
    assert not [a for a in alerts_of(_batching_route(None))
                if a["kind"] == "delivery_degradation"]


def test_a_route_that_reports_in_batches_is_still_found_when_they_stop() -> None:
    stop_from = 130
    first = _first_route_alert(_batching_route(stop_from), "ng-batch",
                               T0 + stop_from * MINUTE, within_minutes=20)
    assert "delivery_report_coverage" in {e["feature"] for e in first["evidence"]}


def test_a_run_of_numbers_counts_every_join_in_a_small_pool() -> None:
    # x, x+1, x+3 in three steps: two of the three numbers landed next to an earlier
    # one, and the first could not have; the order-free count says 2 joins of 2.
    from detector.records import parse_record
    from detector.scopes import KINDS, ScopeState

    scope = ScopeState(KINDS["account_country"], "acct|KG", 10_000, 12, seed=1)
    step0 = ATTACK_START // 10_000
    for i, suffix in enumerate((1096, 1097, 1099)):
        step = step0 + 6 * i
        event = parse_record("sms.send", _send(step * 10_000, f"m{i}", "acct",
                                               f"+99670005{suffix:04d}", KG_PRICE)["value"])
        scope.buffer(step).add_send(event, False)
        scope.close(step, None)
        scope.learn(step, flagged=False)  # nothing was found: the baselines may learn
    signals = scope.signals(step0 + 12)
    assert signals["sequential"].value == 1.0
    # Stronger than the per-send share (2 of 3) it replaces, and judged against the
    # population prior: the young scope did not learn its own run as normal.
    share_only = scope.shares["sequential"].score_one({"hits": 2, "trials": 3})
    assert signals["sequential"].surprise > share_only
    assert scope.shares["sequential"].mean == KINDS["account_country"].priors["sequential"]


def _sites(rng: random.Random, sites: int, minutes: int = 100) -> list[dict]:
    """Sign-up forms that check codes themselves (no verification feed): each texts
    an OTP a minute to its real users."""
    records = []
    for site in range(sites):
        for n in range(minutes):
            ts = T0 + n * MINUTE + rng.randrange(MINUTE)
            number, mid = f"+44740012{rng.randrange(10_000):04d}", f"site_{site}-{n}"
            records += [_send(ts, mid, f"site_{site}", number, HOME_PRICE),
                        _dlr(ts + 4_000, mid, f"site_{site}", number)]
    return records


def _codes_through_sites(rng: random.Random, number: str, sites: list[int], gap_ms: int,
                         start: int = ATTACK_START) -> list[dict]:
    """Codes to ``number`` through the given sites' forms in turn, ``gap_ms`` apart."""
    records = []
    for i, site in enumerate(sites):
        ts = start + i * gap_ms + rng.randrange(1_000)
        mid = f"to-{number}-{i}"
        records += [_send(ts, mid, f"site_{site}", number, HOME_PRICE),
                    _dlr(ts + 3_000, mid, f"site_{site}", number)]
    return records


def test_a_handset_bombed_through_five_sites_is_found_within_five_minutes() -> None:
    """A bomber fills in five sites' sign-up forms with one number, a code every 15 s
    in turn (each site sees one a minute and 15 seconds). Volume is the whole evidence,
    and the number, which had never had a message, must not learn the first minutes of
    it as normal."""
    rng = random.Random(12)
    victim = "+447400999111"
    records = _sites(rng, 5) + _codes_through_sites(
        rng, victim, [i % 5 for i in range(120)], 15_000)
    found = [a for a in alerts_of(records) if a["kind"] == "sms_bombing"
             and a["entity"] == {"type": "destination", "id": victim}]
    assert found and min(a["ts"] for a in found) - ATTACK_START <= 5 * MINUTE


def test_a_handset_flooded_slowly_through_six_sites_is_bombing_within_half_an_hour() -> None:
    """A code every two and a half minutes, each of six sites in turn: the number's own
    level learns that pace within minutes, but no person asks six services for a dozen
    codes in an hour. The number is what to protect."""
    rng = random.Random(13)
    victim = "+447400999444"
    records = _sites(rng, 6, minutes=140) + _codes_through_sites(
        rng, victim, [i % 6 for i in range(36)], 150_000)
    found = [a for a in alerts_of(records) if a["kind"] == "sms_bombing"
             and a["entity"] == {"type": "destination", "id": victim}]
    assert found and min(a["ts"] for a in found) - ATTACK_START <= 30 * MINUTE
    assert any(e["feature"] == "services_sending_codes_1h" and e["value"] >= 3
               for a in found for e in a["evidence"])
    assert any(a["action"] != "none" for a in found)


def test_a_person_signing_up_to_four_services_in_an_hour_is_no_bombing() -> None:
    """One code from each, and one asked for again: a busy afternoon, not a flood."""
    rng = random.Random(13)
    person = "+447400999555"
    records = _sites(rng, 6, minutes=140) + _codes_through_sites(
        rng, person, [0, 1, 1, 2, 3], 9 * MINUTE)
    assert not [a for a in alerts_of(records) if a["kind"] == "sms_bombing"]


def _app_with_feed(rng: random.Random, minutes: int) -> list[dict]:
    """An app texting its users a code a minute; four in five enter theirs within a
    minute, and the verifications reach the detector."""
    records = []
    for n in range(minutes):
        ts = T0 + n * MINUTE + rng.randrange(MINUTE)
        number, mid = f"+44740013{rng.randrange(10_000):04d}", f"app-{n}"
        records += [_send(ts, mid, "app", number, HOME_PRICE), _dlr(ts + 4_000, mid, "app",
                                                                     number)]
        if rng.random() < 0.8:
            records.append(_verify(ts + 30_000, mid, "app", number))
    return records


def _codes_asked(rng: random.Random, number: str, times: list[float],
                 entered: set[int] = frozenset(), bare: bool = False) -> list[dict]:
    """Codes from the app to ``number`` at ``times`` (minutes after T0); the ``entered``
    ones are typed in. ``bare``: sends with no category and no body instead."""
    records = []
    for i, minute in enumerate(times):
        ts, mid = T0 + int(minute * MINUTE) + rng.randrange(1_000), f"ask-{number}-{i}"
        send = _send(ts, mid, "app", number, HOME_PRICE)
        if bare:
            del send["value"]["category"], send["value"]["body"]
        records += [send,
                    _dlr(ts + 3_000, mid, "app", number)]
        if i in entered:
            records.append(_verify(ts + 40_000, mid, "app", number))
    return records


def _slow_codes(rng: random.Random, start: float, minutes: float, gaps: tuple[float, float]
                ) -> list[float]:
    """Minutes (from the stream's start) at which codes are asked for: from ``start``
    for ``minutes``, a gap drawn from ``gaps`` between each."""
    times, t = [], start
    while t < start + minutes:
        times.append(t)
        t += rng.uniform(*gaps)
    return times


def test_one_app_s_codes_to_a_handset_for_hours_none_entered_are_bombing() -> None:
    """A code every three to seven minutes through one app's form for two and a half
    hours: never five in ten minutes, so no burst, and the app's own traffic hides it.
    No person asks for a dozen codes an hour two hours running without entering one."""
    rng = random.Random(14)
    victim, start = "+447400999666", 30.0
    times = _slow_codes(rng, start, 150, (3, 7))
    records = _app_with_feed(rng, 200) + _codes_asked(rng, victim, times)
    found = _bombing_warnings(records, victim, "codes_unanswered_hour_before", 6)
    assert min(a["ts"] for a in found) - T0 <= (start + 120) * MINUTE
    # (A delivery monitor's test handset looks the same: a warning, nothing blocked.)
    assert not [c for c in commands_of(records) if victim in str(c["scope"])]


def _bombing_warnings(records: list[dict], victim: str, feature: str, at_least: float
                      ) -> list[dict]:
    """The bombing alerts on ``victim``: some, all warnings, one showing ``feature`` at
    ``at_least`` or more."""
    found = [a for a in alerts_of(records) if a["kind"] == "sms_bombing"
             and a["entity"] == {"type": "destination", "id": victim}]
    assert found and {a["severity"] for a in found} == {"warning"}
    assert any(e["feature"] == feature and e["value"] >= at_least
               for a in found for e in a["evidence"])
    return found


def test_without_a_feed_a_code_every_eighty_seconds_is_bombing_within_the_hour() -> None:
    """One app's form, whose verifications the detector never sees, fired every minute
    and a third: never a burst, and forty-odd codes in an hour is no person's asking,
    entered or not. Found within the hour, not the next; still a warning (a monitor's
    test handset could be set that fast)."""
    rng = random.Random(18)
    victim, start = "+447400999677", 30.0
    records = _app_without_feed(rng, 120) + _codes_asked(
        rng, victim, _slow_codes(rng, start, 60, (1.0, 1.6)))
    found = _bombing_warnings(records, victim, "codes_no_verification_feed_last_hour", 36)
    assert min(a["ts"] for a in found) - T0 <= (start + 55) * MINUTE


def test_a_bank_s_card_notices_crowding_one_number_for_half_an_hour_are_no_bombing() -> None:
    """A bank whose codes' entries reach the detector resends its card notices (each
    quoting the card's last four digits, which read like a code) to one customer every
    minute and a half for half an hour: a buggy job's repeats, packed into a campaign's
    half hour, not a form fired at a handset all through the hour."""
    rng = random.Random(19)
    person, start = "+447400999688", 30.0
    records = _app_with_feed(rng, 150)  # and an hour after the notices stop
    for i, minute in enumerate(_slow_codes(rng, start, 30, (1.2, 1.8))):
        ts, mid = T0 + int(minute * MINUTE), f"card-{i}"
        records += [_send(ts, mid, "app", person, HOME_PRICE, category="transactional",
                          body="App Bank: we blocked your card ending 4821, a new one is "
                               "on its way"),
                    _dlr(ts + 3_000, mid, "app", person)]
    # Three quarters of an hour on, the customer's next log-in code (not entered yet).
    records += _codes_asked(rng, person, [start + 45])
    records.sort(key=lambda r: r["value"]["ts"])
    assert not [a for a in alerts_of(records) if a["kind"] == "sms_bombing"
                and a["entity"] == {"type": "destination", "id": person}]


def test_a_bank_s_card_block_notices_are_no_codes() -> None:
    """A fraud-alert wave after a breach, quoting each card's last four digits
    ("terminada en 3019"), a hundred a minute; a customer with many cards gets a dozen.
    The digits name a card, they are no code to type in, and nobody is bombed."""
    rng = random.Random(23)
    records = _app_with_feed(rng, 90)
    customers = [f"+5731{rng.randrange(10**8):08d}" for _ in range(600)]
    weights = [rng.paretovariate(1.2) for _ in customers]
    for i in range(1_500):
        ts, mid = T0 + 30 * MINUTE + i * 600 + rng.randrange(600), f"card-{i}"
        person = rng.choices(customers, weights)[0]
        records += [_send(ts, mid, "app", person, HOME_PRICE, category="transactional",
                          body=f"App: por seguridad bloqueamos su tarjeta terminada en "
                               f"{rng.randrange(10**4):04d}. Le enviaremos una nueva."),
                    _dlr(ts + 3_000, mid, "app", person)]
    records.sort(key=lambda r: r["value"]["ts"])
    assert not [a for a in alerts_of(records) if a["kind"] == "sms_bombing"]


def _app_without_feed(rng: random.Random, minutes: int) -> list[dict]:
    """The same app, but its verifications never reach the detector."""
    return [r for r in _app_with_feed(rng, minutes) if r["topic"] != "sms.verify"]


def test_without_a_verification_feed_twice_a_resend_limit_s_pace_is_bombing() -> None:
    """A code every two and a half to five and a half minutes for three hours through an
    app whose verifications the detector never sees: any one of them may have been
    entered, but no person asks for fifteen codes an hour, hour after hour."""
    rng = random.Random(17)
    victim, start = "+447400999611", 30.0
    records = _app_without_feed(rng, 220) + _codes_asked(
        rng, victim, _slow_codes(rng, start, 180, (2.5, 5.5)))
    found = _bombing_warnings(records, victim, "codes_no_verification_feed_hour_before", 12)
    assert min(a["ts"] for a in found) - T0 <= (start + 125) * MINUTE
    assert not [c for c in commands_of(records) if victim in str(c["scope"])]


def test_without_a_feed_a_pace_a_person_could_keep_up_is_no_bombing() -> None:
    """Eight codes an hour for three hours: past what a person entering none asks for
    (see the test above with a feed), but without a feed nobody knows none was entered."""
    rng = random.Random(17)
    person = "+447400999622"
    records = _app_without_feed(rng, 220) + _codes_asked(
        rng, person, _slow_codes(rng, 30.0, 180, (6.5, 8.5)))
    assert not [a for a in alerts_of(records) if a["kind"] == "sms_bombing"
                and a["entity"] == {"type": "destination", "id": person}]


def test_bare_notices_to_one_number_for_hours_are_no_bombing() -> None:
    """No category, no body: a notice every four minutes for three hours (a courier's
    tracking updates, say) may be anything, and is not counted as codes unanswered."""
    rng = random.Random(16)
    person = "+447400999888"
    records = _app_with_feed(rng, 220) + _codes_asked(
        rng, person, [30 + 4 * n for n in range(45)], bare=True)
    assert not [a for a in alerts_of(records) if a["kind"] == "sms_bombing"]


@pytest.mark.parametrize("waves", [
    # Four codes in a few minutes, an hour apart, three times: codes that do not arrive.
    [[0, 2, 4, 6]] * 3,
    # Nine codes over each hour, the last one entered: a forgetful user, but a user.
    [[0, 4, 8, 16, 20, 28, 36, 40, 48]] * 3,
], ids=["four_an_hour", "entered_each_hour"])
def test_a_person_asking_again_and_again_is_no_bombing(waves: list[list[int]]) -> None:
    rng = random.Random(15)
    person = "+447400999777"
    times = [30 + 60 * hour + m for hour, wave in enumerate(waves) for m in wave]
    entered = set()
    if len(waves[0]) == 9:
        entered = {9 * hour + 8 for hour in range(len(waves))}
    records = _app_with_feed(rng, 220) + _codes_asked(rng, person, times, entered)
    assert not [a for a in alerts_of(records) if a["kind"] == "sms_bombing"]


def _site_with_resends(rng: random.Random, victim: str, waves: int, per_wave: int
                       ) -> list[dict]:
    """A sign-up form texting its users a code a minute for 100 minutes; from
    ATTACK_START, ``waves`` waves four minutes apart of ``per_wave`` codes to ``victim``
    within ten seconds (a script pressing "resend code")."""
    records = []
    for n in range(100):
        ts = T0 + n * MINUTE + rng.randrange(MINUTE)
        number, mid = f"+44740012{rng.randrange(10_000):04d}", f"site-{n}"
        records += [_send(ts, mid, "site", number, HOME_PRICE), _dlr(ts + 4_000, mid, "site",
                                                                    number)]
    for wave in range(waves):
        for i in range(per_wave):
            ts = ATTACK_START + wave * 4 * MINUTE + i * 1_500 + rng.randrange(500)
            mid = f"resend-{wave}-{i}"
            records += [_send(ts, mid, "site", victim, HOME_PRICE),
                        _dlr(ts + 3_000, mid, "site", victim)]
    return records


def test_waves_of_resent_codes_to_one_handset_are_bombing_from_the_first_wave() -> None:
    """Six codes in ten seconds every four minutes: a handful a wave, a couple a minute
    on average. The first wave is already far beyond a user asking again."""
    victim = "+447400999222"
    found = [a for a in alerts_of(_site_with_resends(random.Random(14), victim, 5, 6))
             if a["kind"] == "sms_bombing" and a["entity"] == {"type": "destination",
                                                                "id": victim}]
    assert found and min(a["ts"] for a in found) - ATTACK_START <= MINUTE


NOTICE = "Important security notice: we will never ask for your PIN. Call us if unsure."


@pytest.mark.parametrize(("category", "body", "bombing"), [
    ("transactional", NOTICE, False),  # a notice resent by a buggy job: no form fired
    ("transactional", None, True),  # a reset code sent as "transactional" is a code
    ("marketing", None, True),  # (_send's default body carries a code)
    (None, NOTICE, False),  # no category, and a text with no code in it
    (None, None, True),  # no category, a text with a code: a form fired
])
def test_a_handset_sent_one_notice_again_and_again_is_no_bombing(
        category: str | None, body: str | None, bombing: bool) -> None:
    """A bank's job resends its notice to one customer in waves: the number is flooded,
    but by texts that say they are no code, or carry none. Bombers fire the forms that
    text codes; the same waves of codes, whatever their category says, are bombing."""
    victim = "+447400999333"
    records = _site_with_resends(random.Random(14), victim, 5, 6)
    for r in records:
        if r["topic"] == "sms.send" and r["value"]["destination"] == victim:
            r["value"]["category"] = category
            if category is None:
                del r["value"]["category"]
            r["value"]["body"] = body or r["value"]["body"]
    found = [a for a in alerts_of(records) if a["kind"] == "sms_bombing"
             and a["entity"] == {"type": "destination", "id": victim}]
    assert bool(found) == bombing


@pytest.mark.parametrize("entering", [True, False])
def test_a_user_asking_for_codes_while_entering_them_is_a_warning(entering: bool) -> None:
    """An app update logs everyone out, and one user, on a flaky line, asks for a code a
    dozen times in eight minutes, entering some as they come: whoever is asking is at
    the keypad. Worth a look, not a block; the same dozen codes with none entered are
    bombing, and blocked."""
    rng = random.Random(16)
    person = "+447400999555"
    times = [60 + 2 * n / 3 for n in range(12)]
    records = _app_with_feed(rng, 120) + _codes_asked(
        rng, person, times, {2, 6, 10} if entering else set())
    outputs = outputs_of(records)
    found = [o.value for o in outputs if o.topic == "sms.alerts"
             and o.value["kind"] == "sms_bombing" and o.value["entity"]["id"] == person]
    blocks = [o.value for o in outputs if o.topic == "sms.throttle"
              and o.value["action"] != "release" and o.value["scope"].get("prefix") == person]
    assert found
    if entering:
        assert {a["severity"] for a in found} == {"warning"} and not blocks
    else:
        assert "critical" in {a["severity"] for a in found} and blocks


def test_a_user_asking_for_a_code_three_times_is_no_bombing() -> None:
    alerts = alerts_of(_site_with_resends(random.Random(14), "+447400999222", 1, 3))
    assert not [a for a in alerts if a["kind"] == "sms_bombing"]


def test_lures_from_an_account_that_always_sends_one_text_are_spam() -> None:
    """Its duplicate share is always near one, so lures cannot raise it. A burst of new
    links to new numbers, nearly all one text, is a repeated text all the same."""
    rng = random.Random(13)
    patients = [f"+447400{n:06d}" for n in rng.sample(range(1_000_000), 300)]
    records = []
    for n in range(360):  # two hours of reminders, three a minute
        ts = T0 + n * 20_000 + rng.randrange(20_000)
        records.append(_send(ts, f"r{n}", "clinic", rng.choice(patients), HOME_PRICE,
                             category="transactional",
                             body="Reminder: your appointment is tomorrow"))
    start = T0 + 110 * MINUTE
    for n in range(200):  # then lures, one every three seconds, to new numbers
        ts = start + n * 3_000 + rng.randrange(3_000)
        records.append(_send(ts, f"l{n}", "clinic", f"+447400{rng.randrange(10**6):06d}",
                             HOME_PRICE, category="transactional",
                             body=f"Your parcel is held: https://pkg-help.xyz/{n}"))
    found = [a["ts"] - start for a in alerts_of(records)
             if a["kind"] == "spam_burst" and a["entity"]["id"] == "clinic"]
    assert found and min(found) <= 2 * MINUTE


def _sparse_account_then(burst_body: str, burst_ip: str) -> tuple[list[dict], int]:
    """A small shop texts an order update every twelve minutes or so for three hours,
    always from one address. Then, for ten minutes, a text every seven seconds to new
    numbers, sent from ``burst_ip``."""
    rng = random.Random(29)
    records = []
    for n in range(15):
        ts = T0 + n * 12 * MINUTE + rng.randrange(6 * MINUTE)
        record = _send(ts, f"o{n}", "shop", f"+447400{rng.randrange(10**6):06d}", HOME_PRICE,
                       category="transactional", body=f"Shop: order {n} has shipped")
        record["value"]["source_ip"] = "10.0.0.1"
        records.append(record)
    start = T0 + 185 * MINUTE
    for n in range(85):
        ts = start + n * 7_000 + rng.randrange(7_000)
        record = _send(ts, f"l{n}", "shop", f"+447411{rng.randrange(10**6):06d}", HOME_PRICE,
                       category="transactional", body=burst_body.format(n))
        record["value"]["source_ip"] = burst_ip
        records.append(record)
    return records, start


def test_lures_from_a_new_address_through_a_small_account_are_spam() -> None:
    """A ring spreads its lures over many small stolen accounts: each one's pace stays
    within what a bursty history allows, but the links and the address are strangers."""
    records, start = _sparse_account_then("USPS: parcel held. Pay at https://usps-fee.top/{}",
                                          "45.202.171.58")
    found = [a for a in alerts_of(records)
             if a["kind"] == "spam_burst" and a["account_id"] == "shop" and a["action"] != "none"]
    assert found and min(a["ts"] for a in found) - start <= 5 * MINUTE


def test_its_own_texts_from_a_new_address_at_that_pace_are_no_spam() -> None:
    """A new server sending the shop's usual texts is no stranger's lure."""
    records, _ = _sparse_account_then("Shop: order {} has shipped", "10.0.0.1")
    assert not [a for a in alerts_of(records) if a["action"] != "none"]


def _card_alerts_then(burst_body: str, burst_to_new_numbers: bool,
                      burst_ip: str = "10.0.0.1") -> tuple[list[dict], int]:
    """A bank's card alerts (each with its support line) to its customers for two hours,
    three a minute; then ten minutes at one every two seconds of ``burst_body``, sent
    from ``burst_ip`` (the bank's own servers' is 10.0.0.1)."""
    rng = random.Random(17)
    customers = [f"+447400{n:06d}" for n in rng.sample(range(1_000_000), 300)]
    alert = "Bank: card ending {} used for GBP {}.50. Not you? Call 0800 048 {}"
    records = []
    for n in range(360):
        ts = T0 + n * 20_000 + rng.randrange(20_000)
        records.append(_send(ts, f"r{n}", "bank", rng.choice(customers), HOME_PRICE,
                             category="transactional",
                             body=alert.format(rng.randrange(10**4), n, rng.randrange(10**4))))
    start = T0 + 110 * MINUTE
    for n in range(300):
        ts = start + n * 2_000 + rng.randrange(2_000)
        number = (f"+447411{rng.randrange(10**6):06d}" if burst_to_new_numbers
                  else rng.choice(customers))
        records.append(_send(ts, f"b{n}", "bank", number, HOME_PRICE,
                             category="transactional", body=burst_body.format(n % 90 + 10)))
        records[-1]["value"]["source_ip"] = burst_ip
    return records, start


@pytest.mark.parametrize("lure", [
    "Your account was charged GBP {}9.99 for an order. Not you? Call +44 20 7946 0123",
    "Alerta: compra de R$ {}9,99 aprovada no seu cartao. Nao foi voce? Ligue +1 (305) 658-1468",
    "Su cuenta fue bloqueada por un cargo de {}9 USD. Si no fue usted, llame al 800 123 4567",
])
def test_a_callback_scam_without_links_is_spam(lure: str) -> None:
    """No link to follow: the lure is a number to phone, in a text the account never
    sent, to numbers it never texted, in whichever language the platform serves, from
    a network the account never used (whoever took it over)."""
    records, start = _card_alerts_then(lure, burst_to_new_numbers=True,
                                       burst_ip="203.0.113.7")
    found = [a for a in alerts_of(records)
             if a["kind"] == "spam_burst" and a["entity"]["id"] == "bank"]
    assert found and min(a["ts"] for a in found) - start <= 2 * MINUTE
    assert "new_callback_text_share" in {e["feature"] for a in found for e in a["evidence"]}
    assert [c for c in commands_of(records) if c["scope"].get("account_id") == "bank"]


def test_a_bank_s_own_card_block_wave_with_its_support_line_is_only_a_warning() -> None:
    """After a merchant's breach, a bank texts customers it seldom texts a new notice
    with its support line, from its own key and servers: to on-call it looks like a
    callback scam, but nothing of it is a stranger's, so nothing is blocked."""
    records, _ = _card_alerts_then(
        "Bank: suspicious use of your card ending 40{}, it is blocked. Call 0800 048 1234",
        burst_to_new_numbers=True)
    assert not commands_of(records)


def test_a_bank_s_busy_hour_of_its_own_card_alerts_is_no_spam() -> None:
    """The same pace of the texts it always sends, support line and all, is no lure."""
    records, _ = _card_alerts_then(
        "Bank: card ending 12{} used for GBP 9.50. Not you? Call 0800 048 1234",
        burst_to_new_numbers=False)
    assert not [a for a in alerts_of(records) if a["kind"] == "spam_burst"]


def test_honest_traffic_packed_into_one_block_of_a_range_is_no_pumping() -> None:
    """A busy account whose users' numbers all share one block of a range (the last
    four digits vary): thirty verified codes a minute put many of them within ten of
    another by chance alone. That is no run through the range."""
    rng = random.Random(3)
    records = []
    for n in range(30 * 130):
        ts = T0 + n * MINUTE // 30 + rng.randrange(MINUTE // 30)
        records += _honest_otp(rng, ts, n, "acct_block", "+44740012", HOME_PRICE, "gb-main")
    assert not [a for a in alerts_of(records) if a["kind"] == "sms_pumping"]


HIDDEN_START = T0 + 65 * MINUTE


def _busy_account_with_a_small_country(rng: random.Random, pumped: bool) -> list[dict]:
    """Three hours of a busy account (about 40 verified codes a minute at home) that
    also serves Uzbekistan a little (about one code a minute, three in five verified).
    From HIDDEN_START, if ``pumped``, codes nobody verifies to random numbers of the same
    Uzbek range, five a minute rising to 23 over half an hour: the account's total
    rises by a fifth at most, and most of what it sends to Uzbekistan is pumped."""
    records: list[dict] = []
    for n in range(180 * 40):
        ts = T0 + n * 1_500 + rng.randrange(1_500)
        records += _honest_otp(rng, ts, n, "big", "+44740012", HOME_PRICE, "gb-main")
    for n in range(180):
        ts = T0 + n * MINUTE + rng.randrange(MINUTE)
        number, mid = f"+99891{rng.randrange(10**7):07d}", f"big-uz-{n}"
        records += [_send(ts, mid, "big", number, 0.26, "uz-direct"),
                    _dlr(ts + 4_000, mid, "big", number, route="uz-direct")]
        if rng.random() < 0.6:
            records.append(_verify(ts + 30_000, mid, "big", number))
    if pumped:
        ts, n = HIDDEN_START, 0
        while ts < HIDDEN_START + 30 * MINUTE:
            minute = (ts - HIDDEN_START) / MINUTE
            ts += int(60_000 / (5 + 0.6 * minute) * (0.5 + rng.random()))  # 5 a minute, rising
            number, mid = f"+99891{rng.randrange(10**7):07d}", f"pump-{n}"
            records += [_send(ts, mid, "big", number, 0.26, "uz-direct"),
                        _dlr(ts + 4_000, mid, "big", number, route="uz-direct")]
            n += 1
    return records


def test_pumping_hidden_in_a_busy_account_s_small_country_is_found() -> None:
    """The account's volume hardly moves, and its Uzbek scope's rises in a minute or
    two, before any code is old enough to count as unverified. Learnt as it came in,
    that rise would be the new normal by the time conversion shows the pumping."""
    rng = random.Random(21)
    found = [a for a in alerts_of(_busy_account_with_a_small_country(rng, pumped=True))
             if a["kind"] == "sms_pumping" and a["account_id"] == "big"
             and a["action"] != "none"]
    # Learning the rise as it came in, this took over ten minutes.
    assert found and min(a["ts"] for a in found) - HIDDEN_START <= 7 * MINUTE
    # Its home traffic goes on: the throttle names the pumped country or range.
    assert all({"country", "prefix"} & set(a["throttle_scope"]) for a in found)


def test_a_busy_account_s_small_country_without_pumping_raises_nothing() -> None:
    rng = random.Random(21)
    alerts = alerts_of(_busy_account_with_a_small_country(rng, pumped=False))
    assert not [a for a in alerts if a["kind"] != "anomaly"]


def test_pumping_mixed_with_a_country_s_honest_numbers_is_throttled_in_that_country() -> None:
    """No range dominates the step (pumped and honest numbers alike): the throttle
    falls back to the account in that one country, never to the whole account."""
    from detector.findings import Context, _pumping_scope
    from detector.scopes import KINDS, ScopeState

    scope = ScopeState(KINDS["account_country"], "big|UZ", 10_000, 12, seed=1)
    scope.last_step_destinations = {"+998918000001": 1, "+998935550123": 1}
    ctx = Context(threshold=6.0, sensitivity=1.0, holding=frozenset(), hold_threshold=3.0,
                  prefix_depth=5, account_id="big", entity_id="big")
    assert _pumping_scope(scope, ctx) == {"account_id": "big", "country": "UZ"}
    scope.last_step_destinations = {"+998918000001": 3, "+998935550123": 1}
    assert _pumping_scope(scope, ctx) == {"account_id": "big", "prefix": "+99891"}


def test_pumping_is_throttled_where_the_unverified_codes_go() -> None:
    """The last step of a busy account may hold more honest numbers than pumped ones:
    the range is read off the last ten minutes' codes that nobody entered."""
    from detector.findings import Context, _pumping_scope
    from detector.scopes import KINDS, ScopeState

    scope = ScopeState(KINDS["account_country"], "big|KG", 10_000, 12, seed=1)
    scope.last_step_destinations = {"+996555000001": 2, "+996222000009": 1}
    scope.recent_otp_numbers = {f"+99622200000{i}": 1 for i in range(5)}
    scope.recent_otp_numbers["+996555000001"] = 1
    scope.recent_verified_numbers = {"+996555000001": 1}
    ctx = Context(threshold=6.0, sensitivity=1.0, holding=frozenset(), hold_threshold=3.0,
                  prefix_depth=5, account_id="big", entity_id="big")
    assert _pumping_scope(scope, ctx) == {"account_id": "big", "prefix": "+99622"}


TJ_PRICE = 0.37


def _range_pumped_by_many_accounts(rng: random.Random, pumped: bool) -> tuple[list[dict], int]:
    """Two hours of honest codes to Tajik mobiles (+99292) from three accounts that
    check codes themselves (no verification feed), in bursts: a batch of five every
    five minutes, as a shop's sign-up rushes come. Eight small accounts text a few
    codes at home, verified. From
    the returned start, if ``pumped``, each of them sends a code every three minutes or
    so into one block of the range, the ring walking it number by number; nobody
    verifies."""
    records: list[dict] = []
    for n in range(24 * 5):
        batch = T0 + (n // 5) * 5 * MINUTE
        ts = batch + rng.randrange(MINUTE)
        account, number, mid = f"tj_{n % 3}", f"+99292{rng.randrange(10**7):07d}", f"tj-{n}"
        records += [_send(ts, mid, account, number, TJ_PRICE, "tj-direct"),
                    _dlr(ts + 4_000, mid, account, number, route="tj-direct")]
    for i in range(8):  # the small accounts' own few codes at home, verified
        for k in range(2):
            ts = T0 + (50 + 20 * k + i) * MINUTE
            records += _honest_otp(rng, ts, 100 * i + k, f"small_{i}", "+44740012",
                                   HOME_PRICE, "gb-main")
    start = T0 + 100 * MINUTE
    if pumped:
        ts, n = start, 0
        while ts < start + 30 * MINUTE:
            ts += 20_000 + rng.randrange(10_000)  # eight accounts, each every ~3 minutes
            number, mid = f"+992921036{100 + n + rng.randrange(3):03d}", f"ring-{n}"
            records += [_send(ts, mid, f"small_{n % 8}", number, TJ_PRICE, "tj-direct"),
                        _dlr(ts + 4_000, mid, f"small_{n % 8}", number, route="tj-direct")]
            n += 1
    return records, start


def test_a_range_pumped_a_little_by_each_of_many_accounts_is_blocked_in_its_block() -> None:
    """No account is busy and the range's volume hardly moves, but its numbers run in
    sequence and nobody enters the codes: two behavioural traces at once. Every
    sender is stopped, in the pumped block only."""
    records, start = _range_pumped_by_many_accounts(random.Random(31), pumped=True)
    found = [a for a in alerts_of(records) if a["kind"] == "sms_pumping"
             and a["entity"] == {"type": "prefix", "id": "+99292"} and a["action"] != "none"]
    assert found and min(a["ts"] for a in found) - start <= 6 * MINUTE
    assert found[0]["throttle_scope"] == {"prefix": "+9929210"}


def test_a_ring_scattering_its_numbers_is_blocked_in_the_tenth_they_fill() -> None:
    """Ten fresh accounts, none with a verification feed, each send a dear code now and
    then, the ring walking five blocks of one tenth of the range at once (no block of a
    hundred holds most of its numbers). The range-wide throttle covers that tenth,
    where every pumped number falls, not the hundredth the first of them fell in."""
    rng = random.Random(33)
    records, start = _range_pumped_by_many_accounts(rng, pumped=False)
    walks = [f"+992921{block}{rng.randrange(10**5):05d}" for block in (0, 2, 4, 6, 8)]
    ts, n = start, 0
    while ts < start + 30 * MINUTE:
        ts += 6_000 + rng.randrange(8_000)
        walk = walks[n % 5]
        number, mid = f"{walk[:-3]}{int(walk[-3:]) + n // 5:03d}", f"ring-{n}"
        records += [_send(ts, mid, f"fresh_{n % 10}", number, TJ_PRICE, "tj-direct"),
                    _dlr(ts + 4_000, mid, f"fresh_{n % 10}", number, route="tj-direct")]
        n += 1
    records.sort(key=lambda r: r["value"]["ts"])
    found = [a for a in alerts_of(records) if a["kind"] == "sms_pumping"
             and a["entity"] == {"type": "prefix", "id": "+99292"} and a["action"] != "none"]
    assert found and min(a["ts"] for a in found) - start <= 10 * MINUTE
    assert found[0]["throttle_scope"] == {"prefix": "+992921"}


def test_the_range_s_honest_senders_alone_raise_no_pumping() -> None:
    records, _ = _range_pumped_by_many_accounts(random.Random(31), pumped=False)
    assert not [a for a in alerts_of(records) if a["kind"] == "sms_pumping"]


def _staff_notice(rng: random.Random, price: float) -> tuple[list[dict], int]:
    """An enterprise texts a few of its staff now and then for two hours, then sends
    one urgent notice to all 2,000 of them: a block of consecutive numbers, in order,
    thirty a second."""
    staff = [f"+1416364{4000 + n:04d}" for n in range(2_000)]
    records: list[dict] = []
    for n in range(120):
        ts = T0 + n * MINUTE + rng.randrange(MINUTE)
        records.append(_send(ts, f"s{n}", "acme", rng.choice(staff[:200]), price,
                             route="ca-main", category="transactional",
                             body="Acme: your shift starts at 9"))
    start = T0 + 125 * MINUTE
    for n, number in enumerate(staff):
        records.append(_send(start + n * 33, f"u{n}", "acme", number, price, route="ca-main",
                             category="transactional",
                             body="Acme URGENT: office closed today, see https://status.acme.com"))
    return records, start


def test_an_enterprise_notice_to_its_staff_number_block_is_no_pumping() -> None:
    """A run of numbers at an ordinary price, with no codes to enter: nothing pays."""
    records, _ = _staff_notice(random.Random(41), price=0.0075)
    alerts = alerts_of(records)
    assert not [a for a in alerts if a["kind"] == "sms_pumping"]


def test_the_same_run_of_numbers_at_a_premium_price_is_pumping() -> None:
    records, _ = _staff_notice(random.Random(41), price=0.30)
    assert [a for a in alerts_of(records) if a["kind"] == "sms_pumping"]


HUB_COUNTRIES = {  # a hub's destinations: prefix of numbers, normal delivered share
    "GB": ("+4474001", 0.97), "DE": ("+49151123", 0.96), "FR": ("+336123", 0.95),
    "ES": ("+346123", 0.96), "IT": ("+3933312", 0.95), "NG": ("+23480312", 0.88),
}


def _hub_traffic(rng: random.Random, minutes: int, fault_from: int | None) -> list[dict]:
    """A hub route into six countries, six sends a minute to each. From minute
    ``fault_from`` on, one Nigerian operator (half of the NG numbers) fails 85% of its
    messages, under the codes every country's failures always carried."""
    out: list[dict] = []
    ordinary = ("30003", "30005", "30006")
    n = 0
    for minute in range(minutes):
        for country, (prefix, delivered) in HUB_COUNTRIES.items():
            for _ in range(6):
                ts = T0 + minute * MINUTE + rng.randrange(MINUTE)
                operator = rng.randrange(2)
                number = f"{prefix}{operator}{rng.randrange(10_000):04d}"
                mid, account = f"h-{n}", f"acct_{rng.randrange(8)}"
                n += 1
                out.append(_send(ts, mid, account, number, HOME_PRICE, "hub-1",
                                 "transactional"))
                down = (country == "NG" and operator == 0 and fault_from is not None
                        and minute >= fault_from)
                if rng.random() < (0.15 if down else delivered):
                    out.append(_dlr(ts + 4_000, mid, account, number, route="hub-1"))
                else:
                    out.append(_dlr(ts + 6_000, mid, account, number, "undelivered",
                                    rng.choice(ordinary), "hub-1"))
    return out


def test_one_operator_down_behind_a_hub_is_found_in_its_country() -> None:
    """A sixth of a twelfth of the hub's traffic failing hardly moves the hub's share;
    the route into Nigeria, judged on its own, drops from 88% to about half."""
    fault_at = 90
    alerts = alerts_of(_hub_traffic(random.Random(11), 110, fault_at))
    start = T0 + fault_at * MINUTE
    found = [a for a in alerts if a["kind"] == "delivery_degradation"
             and a["entity"] == {"type": "route", "id": "hub-1"}]
    assert found and min(a["ts"] for a in found) >= start, "raised before the fault"
    # Three failing messages a minute: the ten-minute window is what makes them sure.
    assert min(a["ts"] for a in found) - start <= 10 * MINUTE
    delivered = next(e for e in found[0]["evidence"] if e["feature"] == "delivered_rate")
    assert delivered["country"] == "NG" and delivered["value"] < delivered["baseline"]


def test_a_hub_whose_countries_deliver_differently_raises_nothing() -> None:
    """Nigeria delivers 88% every hour, the rest 95-97%: each country is judged
    against its own normal."""
    alerts = alerts_of(_hub_traffic(random.Random(11), 110, None))
    assert not [a for a in alerts if a["kind"] == "delivery_degradation"]


def test_a_route_into_one_country_is_judged_whole_only() -> None:
    from detector.config import Config
    from detector.families import FamilyProcessor
    from detector.records import parse_record

    proc = FamilyProcessor("route", Config())
    for i, number in enumerate(("+447400100001", "+447400100002")):
        proc.process(parse_record("sms.send", _send(T0 + i, f"m{i}", "a", number,
                                                    HOME_PRICE)["value"]))
    assert sorted(proc.entities["gb-main"].scopes) == ["route:gb-main"]
    proc.process(parse_record("sms.send", _send(T0 + 5, "m5", "a", "+4915112000001",
                                                HOME_PRICE)["value"]))
    assert sorted(proc.entities["gb-main"].scopes) == [
        "route:gb-main", "route_country:gb-main|DE", "route_country:gb-main|GB"]


def _nl_forms(rng: random.Random, minutes: int) -> list[dict]:
    """Two accounts' sign-up forms, each an honest verified code a minute to Dutch
    mobiles."""
    out: list[dict] = []
    for account in ("form_big", "form_small"):
        for n in range(minutes):
            ts = T0 + n * MINUTE + rng.randrange(MINUTE)
            out += _honest_otp(rng, ts, n, account, "+3162112", HOME_PRICE, "nl-main")
    return out


OFFICE_BLOCK = "+316219413"
ATTACK_MINUTES = 30


def test_an_office_block_bombed_through_two_forms_is_bombing_not_pumping() -> None:
    """Ten numbers of one company's block, each sent a code every minute or two through
    two sign-up forms, none ever entered. Codes nobody enters to numbers in a run look
    like pumping at first; the same handsets coming back again and again are people
    being bombed, and the block is what to stop."""
    rng = random.Random(21)
    records = _nl_forms(rng, 90 + ATTACK_MINUTES + 10)
    victims = [f"{OFFICE_BLOCK}{rng.randrange(100):02d}" for _ in range(10)]
    n = 0
    for number in victims:
        ts = ATTACK_START + rng.randrange(60_000)
        while ts < ATTACK_START + ATTACK_MINUTES * MINUTE:
            account = rng.choice(("form_big", "form_small"))
            records += [_send(ts, f"bomb-{n}", account, number, HOME_PRICE, "nl-main"),
                        _dlr(ts + 3_000, f"bomb-{n}", account, number, route="nl-main")]
            n += 1
            ts += rng.randrange(50_000, 170_000)
    alerts = [a for a in alerts_of(records) if a["ts"] >= ATTACK_START]
    bombing = [a for a in alerts if a["kind"] == "sms_bombing"
               and a["entity"]["type"] != "destination" and a["severity"] != "info"]
    assert bombing, "the block's bombing was only ever seen as pumping, or not at all"
    assert min(a["ts"] for a in bombing) - ATTACK_START <= 10 * MINUTE
    scopes = [a["throttle_scope"] for a in bombing if "throttle_scope" in a]
    assert scopes and all(OFFICE_BLOCK.startswith(s["prefix"]) for s in scopes)
    # An account's finding stops that account's sends only: the range's holds the block
    # for every sender, and neither can release the other's.
    assert all(s.get("account_id") == a["account_id"]
               for a in bombing if a["entity"]["type"] == "account"
               for s in [a.get("throttle_scope", {})] if s)
    repeat = next(e for a in bombing for e in a["evidence"]
                  if e["feature"] == "repeat_code_share")
    assert repeat["value"] >= 0.5 > repeat["baseline"]


def test_the_same_forms_walking_new_numbers_of_the_block_are_pumping() -> None:
    rng = random.Random(21)
    records = _nl_forms(rng, 90 + ATTACK_MINUTES + 10)
    ts, n = ATTACK_START, 0
    while ts < ATTACK_START + ATTACK_MINUTES * MINUTE:
        account = rng.choice(("form_big", "form_small"))
        number = f"{OFFICE_BLOCK[:-1]}{n:03d}"  # every code to a number never texted
        records += [_send(ts, f"pump-{n}", account, number, 0.3, "nl-main"),
                    _dlr(ts + 3_000, f"pump-{n}", account, number, route="nl-main")]
        n += 1
        ts += rng.randrange(5_000, 17_000)
    alerts = [a for a in alerts_of(records) if a["ts"] >= ATTACK_START]
    assert [a for a in alerts if a["kind"] == "sms_pumping"]
    assert not [a for a in alerts if a["kind"] == "sms_bombing"]


def test_a_route_whose_reports_never_reach_the_detector_raises_nothing() -> None:
    """A gateway that does not forward a route's delivery reports: nothing says the
    route ever reported, so nothing says it stopped."""
    records = [r for r in _route_traffic(random.Random(3), 60, None, "30410")
               if r["topic"] == "sms.send"]
    assert not [a for a in alerts_of(records) if a["kind"] == "delivery_degradation"]


def test_a_handset_sent_a_code_every_minute_and_a_half_is_limited_below_that() -> None:
    """One number, a code every 55 to 125 seconds for an hour through a busy form,
    none entered. A limit of one send a minute (the floor for any other scope) would
    let every one of them through."""
    rng = random.Random(14)
    records = _nl_forms(rng, 90 + 70)
    victim, ts, n = "+31621123456", ATTACK_START, 0
    while ts < ATTACK_START + 60 * MINUTE:
        records += [_send(ts, f"slow-{n}", "form_big", victim, HOME_PRICE, "nl-main"),
                    _dlr(ts + 3_000, f"slow-{n}", "form_big", victim, route="nl-main")]
        ts += rng.randrange(55_000, 125_000)
        n += 1
    commands = [c for c in commands_of(records)
                if c["scope"].get("prefix") == victim and c["action"] != "release"]
    assert commands and commands[0]["ts"] - ATTACK_START <= 15 * MINUTE
    assert all(c["action"] == "block" or c["rate_per_s"] <= 1 / 300 for c in commands)



def _unlabelled_traffic(rng: random.Random, account: str, prefix: str,
                        price: float | None, start: int, count: int, gap_ms: int,
                        route: str) -> list[dict]:
    """Sends that say nothing of themselves (no category, no body, and no price where
    ``price`` is None), and no verification feed: what a gateway that forwards bare
    SMPP traffic gives the detector."""
    out: list[dict] = []
    for n in range(count):
        ts = start + n * gap_ms + rng.randrange(gap_ms)
        number, mid = f"{prefix}{rng.randrange(10_000):04d}", f"{account}-{prefix}-{n}"
        send = _send(ts, mid, account, number, price, route)
        del send["value"]["category"], send["value"]["body"]
        if price is None:
            del send["value"]["price"]
        out += [send, _dlr(ts + 4_000, mid, account, number, route=route)]
    return out


@pytest.mark.parametrize(("feed", "gap_ms", "priced", "warned"), [
    (False, 12_000, True, True),  # five a minute: most of the account's traffic at once
    (True, 12_000, True, False),  # its users enter their codes there: a launch
    (False, 120_000, True, False),  # one every two minutes beside its usual traffic
    (False, 12_000, False, True),  # no price said: nothing says the country is cheap
    (False, 120_000, False, False),  # ... and a trickle is still a launch
])
def test_a_dear_country_opened_without_a_feed_or_a_body_is_a_warning(
        feed: bool, gap_ms: int, priced: bool, warned: bool) -> None:
    """An established account that sends bare traffic (no category, no body) starts
    texting an expensive country it never served. With no verification feed nothing can
    say whether people are behind it: when that country takes most of its traffic at
    once, a warning within minutes, never a throttle. A trickle, or codes entered
    there, is a launch and raises nothing. A gateway that does not say the price
    leaves the share alone to speak, and it says the same."""
    rng = random.Random(21)
    if feed:
        records = _home_traffic(rng, "acct_tr", 100)
        for n in range(60):
            ts = ATTACK_START + n * gap_ms + rng.randrange(gap_ms)
            records += _honest_otp(rng, ts, 1000 + n, "acct_tr", "+99670005", KG_PRICE,
                                   "kg-direct")
    else:
        records = _unlabelled_traffic(rng, "acct_tr", "+44740012",
                                      HOME_PRICE if priced else None, T0, 400, 30_000,
                                      "gb-main")
        records += _unlabelled_traffic(rng, "acct_tr", "+99670005",
                                       KG_PRICE if priced else None, ATTACK_START, 60,
                                       gap_ms, "kg-direct")
    alerts = [a for a in alerts_of(records) if a["kind"] == "sms_pumping"]
    assert not commands_of(records)
    if not warned:
        assert not alerts
        return
    assert alerts and {a["severity"] for a in alerts} == {"warning"}
    assert min(a["ts"] for a in alerts) - ATTACK_START <= 5 * MINUTE
    shown = {e["feature"] for a in alerts for e in a["evidence"]}
    assert ("new_high_price_country_traffic_share" if priced
            else "new_country_traffic_share_price_unknown") in shown


def test_a_slow_ramp_into_a_dear_country_without_a_feed_is_a_warning() -> None:
    """A small account (a text every six minutes, bare, no feed) whose dear new country
    starts with one send in half an hour and doubles every half hour: no ten minutes of
    its first hour carry an opening, but by its third hour it carries most of the
    account's last hour."""
    rng = random.Random(26)
    records = _unlabelled_traffic(rng, "acct_ramp", "+44740012", HOME_PRICE, T0, 70,
                                  360_000, "gb-main")
    start = ATTACK_START
    for phase in range(7):  # 1, 2, 4 ... 64 sends in each half hour
        count = 2 ** phase
        records += _unlabelled_traffic(rng, "acct_ramp", "+99670005", KG_PRICE, start,
                                       count, 30 * MINUTE // count, "kg-direct")
        for record in records[-2 * count:]:  # (distinct ids across the phases)
            record["value"]["message_id"] += f"-{phase}"
        start += 30 * MINUTE
    records.sort(key=lambda r: r["value"]["ts"])
    alerts = [a for a in alerts_of(records) if a["kind"] == "sms_pumping"]
    assert alerts and min(a["ts"] for a in alerts) - ATTACK_START <= 3 * 60 * MINUTE
    assert all(a["severity"] == "warning" and a["action"] == "none" for a in alerts)
    assert "new_high_price_country_traffic_share" in {
        e["feature"] for a in alerts for e in a["evidence"]}


def test_a_new_tenant_s_only_country_is_not_a_ramp() -> None:
    """A tenant that appears mid-stream and texts one dear country, bare, no feed, a few
    times an hour for hours: that country is where it sends, not one it opened."""
    rng = random.Random(27)
    records = _unlabelled_traffic(rng, "acct_old", "+44740013", HOME_PRICE, T0, 400,
                                  60_000, "gb-main")
    records += _unlabelled_traffic(rng, "acct_new", "+99670005", KG_PRICE, ATTACK_START,
                                   60, 240_000, "kg-direct")
    records.sort(key=lambda r: r["value"]["ts"])
    assert not [a for a in alerts_of(records) if a["kind"] == "sms_pumping"]


@pytest.mark.parametrize(("ranges", "warned"), [
    (("+99670005",), False),  # one country, a quarter of the traffic: a launch's trickle
    (("+99670005", "+99890123"), True),  # two at once, two fifths: one ring's opening
])
def test_dear_countries_opened_together_count_as_one_opening(ranges: tuple,
                                                             warned: bool) -> None:
    """Bare traffic, no price, no feed: a ring that owns ranges in two countries sends
    each a share under what one country alone would need to stand out, and both at once
    far more of the account's traffic than a launch."""
    rng = random.Random(22)
    records = _unlabelled_traffic(rng, "acct_two", "+44740012", None, T0, 400, 30_000,
                                  "gb-main")
    for prefix in ranges:
        records += _unlabelled_traffic(rng, "acct_two", prefix, None, ATTACK_START, 40,
                                       90_000, "intl")
    alerts = [a for a in alerts_of(sorted(records, key=lambda r: r["value"]["ts"]))
              if a["kind"] == "sms_pumping"]
    assert bool(alerts) is warned
    assert all(a["severity"] == "warning" and a["action"] == "none" for a in alerts)


def test_an_account_that_began_mid_stream_opens_the_countries_of_its_first_hour(
        ) -> None:
    """An account that appears well after the detector started, texts home once, then
    sends nothing but codes to a dear country, no feed: no past the detector missed.
    Once it is an hour old, that country is one it opened, and a warning."""
    rng = random.Random(25)
    records = _unlabelled_traffic(rng, "acct_busy", "+44740013", HOME_PRICE, T0, 400,
                                  30_000, "gb-main")
    records += _unlabelled_traffic(rng, "acct_late", "+44740012", HOME_PRICE, ATTACK_START,
                                   1, 60_000, "gb-main")
    records += _unlabelled_traffic(rng, "acct_late", "+99670005", KG_PRICE,
                                   ATTACK_START + 5 * MINUTE, 450, 12_000, "kg-direct")
    records.sort(key=lambda r: r["value"]["ts"])
    alerts = [a for a in alerts_of(records) if a["kind"] == "sms_pumping"
              and a["account_id"] == "acct_late"]
    assert alerts and min(a["ts"] for a in alerts) - ATTACK_START <= 65 * MINUTE
    assert all(a["severity"] == "warning" and a["action"] == "none" for a in alerts)


def test_countries_an_account_texts_from_its_first_minutes_are_not_opened() -> None:
    """Met as the detector starts, an account texts two dear countries beside its home
    from its first minutes, bare and unpriced: they are where it was already sending,
    not countries it opened, though their scopes are younger than an hour for a few
    minutes after the account's first hour ends."""
    rng = random.Random(24)
    records = _unlabelled_traffic(rng, "acct_wide", "+44740012", None, T0, 400, 30_000,
                                  "gb-main")
    for prefix in ("+99670005", "+99890123"):
        records += _unlabelled_traffic(rng, "acct_wide", prefix, None, T0 + 5 * MINUTE,
                                       150, 40_000, "intl")
    records.sort(key=lambda r: r["value"]["ts"])
    assert not [a for a in alerts_of(records) if a["kind"] == "sms_pumping"]
