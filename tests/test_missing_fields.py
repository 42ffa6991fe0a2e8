"""Optional contract fields a gateway may not send, and what detection falls back on.

A threat's signature is read from the evidence the records carry. When a gateway
leaves out the field a signal comes from (no API key or source address, no body),
that signal cannot show, and the rule falls back on what the threat still changes.
Each fallback must also leave alone the benign traffic that looks closest to it.
"""

from __future__ import annotations

import random
from collections.abc import Callable

import pytest
from hand_streams import alerts_of, commands_of

T0 = 1_772_400_000_000
MINUTE = 60_000
HOURS = 2


def _sends(account: str, start: int, minutes: float, per_minute: float,
           destination: Callable[[int], str], fields: Callable[[int], dict],
           rng: random.Random, tag: str) -> list[dict]:
    """``per_minute`` sends a minute for ``minutes`` from ``start``, each delivered."""
    out = []
    count = int(minutes * per_minute)
    gap = MINUTE / per_minute
    for n in range(count):
        ts = start + int(n * gap) + rng.randrange(max(1, int(gap)))
        number, mid = destination(n), f"{account}-{tag}-{n}"
        out.append({"topic": "sms.send", "value": {
            "message_id": mid, "ts": ts, "account_id": account, "destination": number,
            "price": 0.04, "route": "main", **fields(n)}})
        out.append({"topic": "sms.dlr", "value": {
            "message_id": mid, "ts": ts + 3_000, "account_id": account,
            "destination": number, "status": "delivered", "route": "main"}})
    return out


def _clinic(rng: random.Random, fields: Callable[[int], dict]) -> list[dict]:
    """Two hours of appointment reminders to 300 patients in the UK, 3 a minute."""
    patients = [f"+447400{n:06d}" for n in rng.sample(range(1_000_000), 300)]
    return _sends("clinic", T0, HOURS * 60, 3, lambda n: rng.choice(patients), fields,
                  rng, "usual")


def _abroad(rng: random.Random) -> Callable[[int], str]:
    """Scattered mobiles in three countries the clinic never texted."""
    prefixes = ("+49151", "+62812", "+61412")
    tails = (8, 8, 6)

    def number(n: int) -> str:
        i = n % 3
        return prefixes[i] + f"{rng.randrange(10 ** tails[i]):0{tails[i]}d}"
    return number


REMINDER = {"category": "transactional", "body": "Reminder: your appointment is tomorrow"}


def test_a_hijacked_account_whose_gateway_sends_no_keys_is_a_takeover() -> None:
    """No key, no address on any record: a hijacked account still shows as a burst to
    countries it never texted, and is throttled as a takeover, not left an anomaly."""
    rng = random.Random(1)
    start = T0 + HOURS * 60 * MINUTE - 10 * MINUTE
    records = _clinic(rng, lambda n: REMINDER)
    records += _sends("clinic", start, 5, 120, _abroad(rng), lambda n: REMINDER, rng, "hijack")
    found = [a for a in alerts_of(records)
             if a["kind"] == "account_takeover" and a["entity"]["id"] == "clinic"]
    assert found and found[0]["action"] != "none"
    assert min(a["ts"] for a in found) - start <= MINUTE
    features = {e["feature"] for e in found[0]["evidence"]}
    assert "new_country_share" in features


def test_a_burst_abroad_from_the_accounts_usual_key_is_no_takeover() -> None:
    """Where keys and addresses are reported, the takeover signature still asks for a
    credential or address the account never used: the fallback is for absent fields."""
    rng = random.Random(1)
    start = T0 + HOURS * 60 * MINUTE - 10 * MINUTE
    usual = {**REMINDER, "api_key_id": "key_clinic", "source_ip": "10.1.1.1"}
    records = _clinic(rng, lambda n: usual)
    records += _sends("clinic", start, 5, 120, _abroad(rng), lambda n: usual, rng, "abroad")
    assert not [a for a in alerts_of(records) if a["kind"] == "account_takeover"]


def _new_uk_numbers(rng: random.Random) -> Callable[[int], str]:
    return lambda n: f"+447400{rng.randrange(1_000_000):06d}"


def test_a_lure_burst_whose_gateway_sends_no_bodies_is_spam() -> None:
    """No bodies: links and a repeated text cannot show. A burst far above the account's
    level to numbers it never had is what is left of a lure campaign."""
    rng = random.Random(2)
    start = T0 + HOURS * 60 * MINUTE - 10 * MINUTE
    bodiless = {"category": "marketing"}
    records = _clinic(rng, lambda n: bodiless)
    records += _sends("clinic", start, 4, 240, _new_uk_numbers(rng), lambda n: bodiless,
                      rng, "lures")
    found = [a for a in alerts_of(records)
             if a["kind"] == "spam_burst" and a["entity"]["id"] == "clinic"]
    assert found and min(a["ts"] for a in found) - start <= MINUTE


def _bodiless_campaign(campaign: dict) -> list[dict]:
    """The clinic's bodiless marketing from its usual key and server, then a burst to
    numbers it never had with ``campaign``'s fields."""
    rng = random.Random(2)
    start = T0 + HOURS * 60 * MINUTE - 10 * MINUTE
    usual = {"category": "marketing", "api_key_id": "key_clinic", "source_ip": "10.1.1.1"}
    records = _clinic(rng, lambda n: usual)
    return records + _sends("clinic", start, 4, 240, _new_uk_numbers(rng),
                            lambda n: {**usual, **campaign}, rng, "campaign")


def test_a_bodiless_campaign_from_the_accounts_own_servers_is_a_warning() -> None:
    """No bodies, and the burst comes with the account's own key from its own server:
    the one trace of a stranger left is absent. A person looks; nothing is blocked."""
    records = _bodiless_campaign({})
    found = [a for a in alerts_of(records)
             if a["kind"] == "spam_burst" and a["entity"]["id"] == "clinic"]
    assert found and {a["severity"] for a in found} == {"warning"}
    assert {a["action"] for a in found} == {"none"}
    assert not commands_of(records)


def test_a_bodiless_burst_from_a_stranger_s_server_is_blocked() -> None:
    """The same burst with a key and from a network the account never used."""
    records = _bodiless_campaign({"api_key_id": "key_new", "source_ip": "203.0.113.9"})
    assert [a for a in alerts_of(records)
            if a["kind"] in ("spam_burst", "account_takeover") and a["action"] != "none"]
    assert [c for c in commands_of(records) if c["action"] == "block"]


@pytest.mark.parametrize("fields", [{"category": "otp"}, {}], ids=["codes", "unlabelled"])
def test_new_users_codes_without_bodies_are_not_spam(fields: dict) -> None:
    """A launch: codes to many new users, who enter them. Not a lure campaign, whether
    the gateway says they are codes or says nothing about what its messages are."""
    rng = random.Random(3)
    start = T0 + HOURS * 60 * MINUTE - 10 * MINUTE
    records = _clinic(rng, lambda n: fields)
    signups = _sends("clinic", start, 4, 240, _new_uk_numbers(rng), lambda n: fields,
                     rng, "launch")
    for rec in signups:
        v = rec["value"]
        if rec["topic"] == "sms.send" and rng.random() < 0.8:
            records.append({"topic": "sms.verify", "value": {
                "ts": v["ts"] + 20_000, "account_id": "clinic",
                "destination": v["destination"], "message_id": v["message_id"],
                "verified": True}})
    records += signups
    assert not [a for a in alerts_of(records) if a["kind"] == "spam_burst"]


def _first_spam(lure: Callable[[random.Random], str]) -> int | None:
    """How long after it starts a lure burst from an established account is spam."""
    rng = random.Random(4)
    start = T0 + HOURS * 60 * MINUTE - 10 * MINUTE
    usual = {**REMINDER, "api_key_id": "key_clinic", "source_ip": "10.1.1.1"}
    records = _clinic(rng, lambda n: usual)
    records += _sends("clinic", start, 4, 240, _new_uk_numbers(rng),
                      lambda n: {**usual, "category": "marketing", "body": lure(rng)},
                      rng, "lures")
    found = [a["ts"] - start for a in alerts_of(records)
             if a["kind"] == "spam_burst" and a["entity"]["id"] == "clinic"]
    return min(found) if found else None


def test_personalised_lures_are_still_one_campaign() -> None:
    """Each lure greets its recipient by name and rewords a line; every one links to
    the same site. The burst is spam as soon as the plain template's would be."""
    names = ("Anna", "John", "Maria", "Wei", "Priya", "Olga", "Ahmed", "Tom")
    words = ("parcel", "package", "shipment")
    opening = ("Hi", "Dear", "Attention")

    def plain(rng: random.Random) -> str:
        return f"Your parcel is held. Pay the fee at https://pkg-help.xyz/{rng.randrange(10**6)}"

    def personal(rng: random.Random) -> str:
        return (f"{rng.choice(opening)} {rng.choice(names)}, your {rng.choice(words)} is "
                f"held. Pay the fee at https://pkg-help.xyz/{rng.randrange(10**6)}")

    template_delay, personal_delay = _first_spam(plain), _first_spam(personal)
    assert template_delay is not None and template_delay <= 2 * MINUTE
    assert personal_delay is not None and personal_delay <= template_delay + 10_000


def test_a_takeover_seen_only_abroad_is_throttled_in_its_one_new_country() -> None:
    """Without a key to narrow it to, a takeover whose traffic all goes to one country
    new to the account is throttled there: the account's own traffic keeps flowing."""
    rng = random.Random(5)
    start = T0 + HOURS * 60 * MINUTE - 10 * MINUTE
    records = _clinic(rng, lambda n: REMINDER)
    records += _sends("clinic", start, 5, 120,
                      lambda n: f"+49151{rng.randrange(10**8):08d}", lambda n: REMINDER,
                      rng, "hijack")
    acted = [a for a in alerts_of(records)
             if a["kind"] == "account_takeover" and a["action"] != "none"]
    assert acted and acted[0]["throttle_scope"] == {"account_id": "clinic", "country": "DE"}
