"""A route that stops reaching handsets while its reports still say "delivered".

Hand-built streams through the whole in-process pipeline: six sign-up forms send
their codes to Polish mobiles over one route, five codes a minute each, and most
are entered within a minute. Then the route turns grey: every report still says
``delivered``, and nobody enters a code any more. Against it, three streams where
codes go unentered on the same route without the route being at fault: pumping
by one account, pumping through all six forms at once, and the busiest form's
code check refusing every code its users type.
"""

from __future__ import annotations

import random

from hand_streams import alerts_of

T0 = 1_772_400_000_000
MINUTE = 60_000
ROUTE = "pl-grey"
FAULT_AT, FAULT_MINUTES = 120, 30
FORMS = [f"form{i}" for i in range(6)]


def _code(rng: random.Random, account: str, ts: int, mid: str, entered: bool,
          range_: str = "+4869", checked: bool = False) -> list[dict]:
    """A code, its report, and its verification if ``entered`` (a failed one if only
    ``checked``: the user typed it, and a broken code check refused it)."""
    number = f"{range_}{rng.randrange(10**7):07d}"
    out = [{"topic": "sms.send", "value": {
        "message_id": mid, "ts": ts, "account_id": account, "destination": number,
        "category": "otp", "body": f"{account} code {ts % 1_000_000:06d}", "price": 0.03,
        "api_key_id": f"key_{account}", "source_ip": "10.0.0.1", "route": ROUTE}},
           {"topic": "sms.dlr", "value": {
        "message_id": mid, "ts": ts + rng.randrange(2_000, 8_000), "account_id": account,
        "destination": number, "status": "delivered", "route": ROUTE}}]
    if entered or checked:
        out.append({"topic": "sms.verify", "value": {
            "ts": ts + rng.randrange(10_000, 50_000), "account_id": account,
            "destination": number, "verified": entered}})
    return out


def _forms(rng: random.Random, grey: bool = False, broken_check: str | None = None,
           busiest: int = 5) -> list[dict]:
    """The six forms, five codes a minute each (the first: ``busiest``)."""
    out: list[dict] = []
    for minute in range(FAULT_AT + FAULT_MINUTES):
        fault = minute >= FAULT_AT
        for account in FORMS:
            for i in range(busiest if account == FORMS[0] else 5):
                ts = T0 + minute * MINUTE + rng.randrange(MINUTE)
                entered = rng.random() < 0.85 and not (fault and grey)
                broken = fault and account == broken_check and entered
                out += _code(rng, account, ts, f"{account}-{minute}-{i}",
                             entered and not broken, checked=broken)
    return out


def _pumped(rng: random.Random, accounts: list[str], per_minute: int) -> list[dict]:
    out: list[dict] = []
    for minute in range(FAULT_AT, FAULT_AT + FAULT_MINUTES):
        for account in accounts:
            for i in range(per_minute):
                ts = T0 + minute * MINUTE + rng.randrange(MINUTE)
                out += _code(rng, account, ts, f"{account}-p{minute}-{i}", entered=False,
                             range_="+4857")
    return out


def _route_alerts(records: list[dict]) -> list[dict]:
    return [a for a in alerts_of(records) if a["kind"] == "delivery_degradation"
            and a["entity"]["id"] == ROUTE and a["severity"] != "info"]


def test_a_route_whose_codes_stop_being_entered_is_degraded() -> None:
    alerts = _route_alerts(_forms(random.Random(7), grey=True))
    assert alerts, "the grey route went unnoticed"
    assert min(a["ts"] for a in alerts) - (T0 + FAULT_AT * MINUTE) <= 5 * MINUTE
    assert any(e["feature"] == "otp_conversion_rate" for e in alerts[0]["evidence"])


def test_one_account_pumping_through_the_route_is_not_the_route_s_fault() -> None:
    rng = random.Random(7)
    assert not _route_alerts(_forms(rng) + _pumped(rng, ["pump"], per_minute=40))


def test_every_form_pumped_at_once_is_not_the_route_s_fault() -> None:
    """Codes nobody enters from every sender at once, each one's share collapsed, but
    the forms' users still enter theirs at the usual pace: pumping added to the route
    (a ring abusing six sign-up forms), not a route that fails."""
    rng = random.Random(7)
    assert not _route_alerts(_forms(rng) + _pumped(rng, FORMS, per_minute=15))


def test_the_busiest_form_s_broken_code_check_is_not_the_route_s_fault() -> None:
    """Codes entered on the route fall to a third, but the other forms' codes are still
    entered: the form that sends most of them refuses every code its users type."""
    assert not _route_alerts(_forms(random.Random(7), broken_check=FORMS[0], busiest=50))
