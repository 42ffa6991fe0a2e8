"""A shop's own campaign to its mailing list is no spam burst; the same burst linking
to a site the shop never linked to is.

Both streams are one busy shop: two hours of marketing texts that link to its own
site, sent to its customers. Then ten minutes at fifteen times its level, one text,
to a list of which most numbers it never texted before (a mailing list reaches
people the last few hours did not). Only the link differs.
"""

from __future__ import annotations

import random
from collections.abc import Callable

import pytest
from hand_streams import alerts_of, commands_of

T0 = 1_772_400_000_000
MINUTE = 60_000
SHOP_SITE = "https://shop.example.com/c/{}"
LURE_SITE = "https://parcel-fee-help.top/{}"
# Eight servers in networks the shop never sent from (one /24 each).
OTHER_NETWORKS = [f"91.{n}.7.5" for n in range(200, 208)]


def _marketing(ts: int, mid: str, destination: str, body: str) -> dict:
    return {"topic": "sms.send", "value": {
        "message_id": mid, "ts": ts, "account_id": "shop", "destination": destination,
        "category": "marketing", "body": body, "price": 0.03, "api_key_id": "key_shop",
        "source_ip": "10.0.0.7", "route": "gb-main"}}


def _shop_with_burst(link: str, history_minutes: int = 120) -> tuple[list[dict], int]:
    rng = random.Random(5)
    numbers = [f"+447400{n:06d}" for n in rng.sample(range(1_000_000), 3_000)]
    regulars, mailing_list = numbers[:600], numbers[:]
    rng.shuffle(mailing_list)  # the regulars and 2,400 people not texted lately
    records = []
    for n in range(history_minutes * 20):  # twenty texts a minute, to its regulars
        ts = T0 + n * 3_000 + rng.randrange(3_000)
        records.append(_marketing(ts, f"m{n}", rng.choice(regulars),
                                  f"Spring sale: 20% off at {SHOP_SITE.format(n % 97)}"))
    start = T0 + (history_minutes + 5) * MINUTE
    for n, number in enumerate(mailing_list):  # then ten minutes at 300 a minute
        ts = start + n * 200 + rng.randrange(200)
        records.append(_marketing(ts, f"c{n}", number,
                                  f"Last day: 30% off everything at {link.format(n)}"))
    return records, start


def test_a_shops_campaign_to_its_list_linking_to_its_own_site_is_no_spam() -> None:
    records, _ = _shop_with_burst(SHOP_SITE)
    alerts = alerts_of(records)
    assert not [a for a in alerts if a["kind"] == "spam_burst"]
    assert not [a for a in alerts if a["action"] != "none"]


def test_a_campaign_in_the_detector_s_first_hour_is_no_spam_either() -> None:
    """The shop was texting when the detector started: its age is unknown, and the site
    it has linked to since its first minutes is its own."""
    records, _ = _shop_with_burst(SHOP_SITE, history_minutes=35)
    alerts = alerts_of(records)
    assert not [a for a in alerts if a["kind"] == "spam_burst"]


@pytest.mark.parametrize("history_minutes", [35, 120])
def test_the_same_burst_linking_to_a_site_the_shop_never_used_is_spam(
        history_minutes: int) -> None:
    records, start = _shop_with_burst(LURE_SITE, history_minutes)
    found = [a for a in alerts_of(records) if a["kind"] == "spam_burst"
             and a["account_id"] == "shop" and a["action"] != "none"]
    assert found and min(a["ts"] for a in found) - start <= 2 * MINUTE
    evidence = {e["feature"] for a in found for e in a["evidence"]}
    assert "new_link_host_share" in evidence


@pytest.mark.parametrize("opt_out", [
    " Reply STOP to opt out", " Resp. BAJA para no recibir", " SAIR p/ cancelar",
    " Wypisz sie: wyslij NIE"])
def test_the_same_burst_offering_an_opt_out_is_a_warning_not_a_block(opt_out: str) -> None:
    """A campaign from the shop's own servers, to a site it never linked to, telling its
    readers how to stop the texts as marketing rules require (a lure posing as a bank or
    a courier never does), in whatever language: on-call sees it; the gateway blocks
    nothing."""
    records, start = _shop_with_burst(LURE_SITE + opt_out)
    found = [a for a in alerts_of(records) if a["kind"] == "spam_burst"]
    assert found and min(a["ts"] for a in found) - start <= 2 * MINUTE
    assert {a["severity"] for a in found} == {"warning"}
    assert {a["action"] for a in found} == {"none"}
    assert any(e["feature"] == "opt_out_link_share" and e["value"] > 0.5
               for a in found for e in a["evidence"])
    assert not [c for c in commands_of(records) if c["action"] != "release"]


def test_the_same_burst_with_an_opt_out_from_a_stranger_s_network_is_blocked() -> None:
    records, _ = _shop_with_burst(LURE_SITE + " Reply STOP to opt out")
    for record in records:
        if record["value"]["message_id"].startswith("c"):
            record["value"]["source_ip"] = "203.0.113.9"
    assert [c for c in commands_of(records) if c["action"] == "block"
            and c["scope"].get("account_id") == "shop"]


def _courier(rng: random.Random, minutes: int) -> list[dict]:
    """A busy account that keeps the stream going: a delivery notice a second."""
    records = [_marketing(T0 + n * 1_000, f"bg{n}", f"+447411{rng.randrange(10**6):06d}",
                          f"Order {n} is on its way") for n in range(minutes * 60)]
    for record in records:
        record["value"].update(account_id="courier", api_key_id="key_courier",
                               category="transactional")
    return records


def _quiet_shop_first_campaign(link: str, sender: str | None = "Kafyex",
                               in_a_run: bool = False) -> list[dict]:
    """A busy account keeps the stream going; a quiet shop (sender "Kafyex") first
    texts ten minutes in, a welcome every few minutes with no link. Forty minutes in it
    sends its first campaign: 400 a minute for five minutes, to new numbers (one after
    another in a block if ``in_a_run``)."""
    rng = random.Random(9)
    records = _courier(rng, 50)
    block = iter(range(500_000, 600_000))

    def shop(ts: int, mid: str, body: str) -> dict:
        tail = next(block) if in_a_run and mid.startswith("c") else rng.randrange(10**6)
        record = _marketing(ts, mid, f"+447400{tail:06d}", body)
        if sender is not None:
            record["value"]["sender_id"] = sender
        return record
    records += [shop(T0 + (10 + 4 * n) * MINUTE, f"w{n}", "Kafyex: thanks for subscribing!")
                for n in range(7)]
    records += [shop(T0 + 40 * MINUTE + n * 150, f"c{n}",
                     f"Kafyex: 30% off today only {link.format(n)}") for n in range(2_000)]
    return records


def test_a_quiet_shop_s_first_campaign_to_its_own_site_is_no_spam() -> None:
    """Met mid-stream, the shop is young to the detector and every link is new to it;
    links to a site carrying its sender name are still its own."""
    alerts = alerts_of(_quiet_shop_first_campaign("https://kafyex.co/s/{}"))
    assert not [a for a in alerts if a["kind"] == "spam_burst"]


def test_the_same_first_burst_to_a_site_not_its_own_is_spam() -> None:
    alerts = alerts_of(_quiet_shop_first_campaign(LURE_SITE))
    assert [a for a in alerts if a["kind"] == "spam_burst" and a["account_id"] == "shop"]


def test_without_a_sender_id_a_site_the_text_signs_with_is_its_own() -> None:
    """The gateway sends no sender id; the texts begin with the shop's name, and the
    site they link to is registered under that name."""
    alerts = alerts_of(_quiet_shop_first_campaign("https://kafyex.co/s/{}", sender=None))
    assert not [a for a in alerts if a["kind"] == "spam_burst"]


def test_without_a_sender_id_a_look_alike_of_the_name_is_still_a_lure() -> None:
    alerts = alerts_of(_quiet_shop_first_campaign("https://kafyex-refunds.top/{}", sender=None))
    assert [a for a in alerts if a["kind"] == "spam_burst" and a["account_id"] == "shop"]


def test_a_first_campaign_through_a_shortener_with_an_opt_out_is_no_spam() -> None:
    """A shop links through bit.ly (its host names nobody) and, as marketing rules ask,
    tells its readers how to stop the texts."""
    alerts = alerts_of(_quiet_shop_first_campaign(
        "https://bit.ly/k{} Reply STOP to opt out", sender="498229"))
    assert not [a for a in alerts if a["kind"] == "spam_burst"]


def test_the_same_burst_through_a_shortener_without_an_opt_out_is_spam() -> None:
    alerts = alerts_of(_quiet_shop_first_campaign("https://bit.ly/k{}", sender="498229"))
    assert [a for a in alerts if a["kind"] == "spam_burst" and a["account_id"] == "shop"]


def test_the_same_burst_with_an_opt_out_to_numbers_in_a_run_is_spam() -> None:
    """Shortened links and "Reply STOP" again, but to a block of numbers one after
    another: a list somebody generated, not subscribers. Copied opt-out text is no cover."""
    records = _quiet_shop_first_campaign("https://bit.ly/k{} Reply STOP to opt out",
                                         sender="498229", in_a_run=True)
    assert [a for a in alerts_of(records) if a["kind"] == "spam_burst"
            and a["account_id"] == "shop" and a["action"] != "none"]
    assert [c for c in commands_of(records) if c["action"] == "block"]


def _texts_of(account: str, **fields: str) -> Callable[[int, str, str, str], dict]:
    """A maker of ``account``'s texts (ts, message id, number, body), through its own
    key, with ``fields`` set over the shop's."""
    def text(ts: int, mid: str, number: str, body: str) -> dict:
        record = _marketing(ts, mid, number, body)
        record["value"].update({"account_id": account, "api_key_id": f"key_{account}",
                                **fields})
        return record
    return text


def _match_day(goal_link: str) -> list[dict]:
    """A busy account keeps the stream going; a sports app (no sender id) texts its
    followers at kick-off, signing with its name and linking to its site. Two hours
    later the goal alert goes to 1,800 followers of either team, most of them not
    texted at kick-off: one text, linking without the name."""
    rng = random.Random(11)
    records = _courier(rng, 150)
    followers = [f"+447400{n:06d}" for n in rng.sample(range(1_000_000), 3_000)]

    sports = _texts_of("sports", source_ip="10.9.0.7")
    records += [sports(T0 + 20 * MINUTE + n * 200, f"k{n}", number,
                       "Kadri Sports: kick-off! Live updates: https://kadrisports.io/k")
                for n, number in enumerate(followers[:600])]
    rng.shuffle(followers)
    records += [sports(T0 + 140 * MINUTE + n * 60, f"g{n}", number,
                       f"GOAL! 1-0 (14'). Follow live: {goal_link.format(n)}")
                for n, number in enumerate(followers[:1_800])]
    return records


def test_a_link_to_a_site_the_account_signed_before_is_still_its_own() -> None:
    """The goal alert does not name the site, but the account's own texts named it at
    kick-off: not a link to somewhere new, nor a stranger's site."""
    alerts = alerts_of(_match_day("https://kadrisports.io/g{}"))
    assert not [a for a in alerts if a["kind"] == "spam_burst" and a["action"] != "none"]


def test_the_same_goal_alert_linking_to_a_look_alike_is_spam() -> None:
    alerts = alerts_of(_match_day("https://kadrisports-live.top/g{}"))
    assert [a for a in alerts if a["kind"] == "spam_burst" and a["account_id"] == "sports"
            and a["action"] != "none"]


def _lender_with_extra_texts(extra: str) -> list[dict]:
    """A lender texts its borrowers a minute, a repayment reminder that links to its
    site (which the text names) or a receipt without a link. Two hours in, one more text
    a minute joins them for an hour, through the same key and server, to numbers it
    never texted: twice its pace, which no window of a bursty sender calls a burst."""
    rng = random.Random(12)
    borrowers = [f"+923001{n:06d}" for n in rng.sample(range(1_000_000), 200)]

    lender = _texts_of("lender", category="transactional")
    records = [lender(T0 + n * MINUTE + rng.randrange(MINUTE), f"r{n}", rng.choice(borrowers),
                      f"Lendo: reminder, Rs {rng.randrange(500, 9_000)} due today. Repay "
                      f"now: https://lendo.io/r/{n}" if n % 2 else
                      f"Lendo: received Rs {rng.randrange(500, 9_000)}, thank you")
               for n in range(180)]
    records += [lender(T0 + (120 + n) * MINUTE + rng.randrange(MINUTE), f"x{n}",
                       f"+923451{rng.randrange(10**6):06d}", extra.format(n))
                for n in range(60)]
    return records


def test_lures_slipped_into_an_account_s_own_traffic_are_a_warning() -> None:
    """Job-scam lures at the account's own pace from its own key and server: no burst,
    no stranger, but links to a site it never linked to, to numbers it never texted."""
    records = _lender_with_extra_texts(
        "Hiring part-time staff, earn Rs 5,000 daily from home: https://jobs-ph22.shop/{}")
    found = [a for a in alerts_of(records) if a["kind"] == "spam_burst"
             and a["account_id"] == "lender"]
    assert found and min(a["ts"] for a in found) - (T0 + 120 * MINUTE) <= 30 * MINUTE
    assert {a["severity"] for a in found} == {"warning"}
    assert not [c for c in commands_of(records) if c["scope"].get("account_id") == "lender"]


def test_the_lender_s_own_offer_to_new_numbers_is_no_spam() -> None:
    records = _lender_with_extra_texts(
        "Lendo: a credit line of Rs 20,000 is ready for you: https://lendo.io/o/{}")
    assert not [a for a in alerts_of(records) if a["kind"] == "spam_burst"]


def _lender_s_key_from_elsewhere(to_borrowers: bool, new_key: bool = False) -> list[dict]:
    """The lender as above, two texts a minute to its borrowers. Two hours in, its key
    (or, ``new_key``, one made in its console) is used from a network it never sent
    from: a loan lure every two minutes for an hour, linking to a site it never linked
    to, to bought numbers (or, the owner's new campaign tool, to its own borrowers).
    Half its pace: no signal moves far."""
    rng = random.Random(13)
    borrowers = [f"+923001{n:06d}" for n in rng.sample(range(1_000_000), 400)]
    lender = _texts_of("lender", category="transactional")
    records = [lender(T0 + n * 30_000 + rng.randrange(30_000), f"r{n}",
                      rng.choice(borrowers), f"Lendo: received Rs {rng.randrange(500, 9_000)}"
                      ", thank you") for n in range(400)]
    elsewhere = _texts_of("lender", category="transactional", source_ip="203.0.113.7",
                          **({"api_key_id": "key_lender_2"} if new_key else {}))
    records += [elsewhere(T0 + 120 * MINUTE + n * 2 * MINUTE + rng.randrange(MINUTE), f"x{n}",
                          rng.choice(borrowers) if to_borrowers
                          else f"+923451{rng.randrange(10**6):06d}",
                          f"Instant loan Rs 50,000 approved, no documents: https://qk-loan{n % 3}"
                          f".top/{n}") for n in range(30)]
    return sorted(records, key=lambda r: r["value"]["ts"])


@pytest.mark.parametrize("new_key", [False, True])
@pytest.mark.parametrize("to_borrowers", [False, True])
def test_a_stolen_key_s_lures_at_the_account_s_pace_are_a_warning(to_borrowers: bool,
                                                                   new_key: bool) -> None:
    """The key the account always used (or one made in its console), a network it never
    sent from, a site it never linked to and the texts do not name, no opt-out, all in
    the same texts: a stranger with the owner's credentials, whatever the pace, once ten
    of them have gone to numbers the account never had. Sent to its own borrowers they
    are the owner's new tool."""
    records = _lender_s_key_from_elsewhere(to_borrowers, new_key)
    found = [a for a in alerts_of(records) if a["kind"] == "account_takeover"
             and a["account_id"] == "lender"]
    if to_borrowers:
        assert not found
        return
    assert found and min(a["ts"] for a in found) - (T0 + 120 * MINUTE) <= 30 * MINUTE
    first = min(found, key=lambda a: a["ts"])
    assert first["severity"] == "warning" and first["action"] == "none"
    assert "stranger_lures_1h" in {e["feature"] for e in first["evidence"]}


def test_a_brand_s_campaign_from_a_platform_met_for_the_first_time_is_no_takeover() -> None:
    """A new key from a network new to the lender: its marketing platform's first
    campaign, to numbers it never texted, a text a minute for an hour. Two in three link
    to its own site; the rest through a shortener without an opt-out, each of which
    carries every mark of a stolen key's lure. A hijacker sends nothing but lures."""
    rng = random.Random(14)
    records = _lender_s_key_from_elsewhere(to_borrowers=False, new_key=True)
    records = [r for r in records if not r["value"]["message_id"].startswith("x")]
    platform = _texts_of("lender", category="marketing", source_ip="198.51.100.9",
                         api_key_id="key_lender_2")
    records += [platform(T0 + (120 + n) * MINUTE + rng.randrange(MINUTE), f"p{n}",
                         f"+923451{rng.randrange(10**6):06d}",
                         f"Lendo: weekend offer, 0% fee on your next loan https://bit.ly/L{n}"
                         if n % 3 == 0 else
                         f"Lendo: weekend offer, 0% fee on your next loan https://lendo.io/w/{n}")
                for n in range(60)]
    assert not [a for a in alerts_of(records) if a["kind"] == "account_takeover"
                and a["account_id"] == "lender"]


def _staff_notice(link: str) -> list[dict]:
    """An enterprise texts shift notices to its 400 staff, a few a minute, from three
    app servers. Then an urgent notice to every one of them, with a link, sent by five
    servers it never used, in a network block it never used (an emergency scales the
    fleet out to another provider)."""
    rng = random.Random(21)
    staff = [f"+447400{n:06d}" for n in rng.sample(range(1_000_000), 400)]

    def notice(ts: int, mid: str, number: str, body: str, server: str) -> dict:
        record = _marketing(ts, mid, number, body)
        record["value"].update(account_id="kadri", api_key_id="key_kadri",
                               category="transactional", source_ip=server)
        return record
    records = [notice(T0 + n * 20_000 + rng.randrange(20_000), f"s{n}", rng.choice(staff),
                      "Kadri ops: shift change confirmed", f"10.0.0.{n % 3}")
               for n in range(360)]
    start = T0 + 125 * MINUTE
    records += [notice(start + n * 50, f"u{n}", number,
                       f"URGENT Kadri: all sites closed today. Updates: {link}",
                       f"172.16.1.{n % 5}") for n, number in enumerate(staff)]
    return records


def test_an_urgent_notice_from_new_servers_linking_to_its_own_site_is_no_takeover() -> None:
    alerts = alerts_of(_staff_notice("https://status.kadri.io"))
    assert not [a for a in alerts if a["action"] != "none"]


def test_the_same_notice_from_new_servers_linking_elsewhere_is_a_takeover() -> None:
    alerts = alerts_of(_staff_notice("https://kadri-staff-login.top/x"))
    assert [a for a in alerts if a["kind"] == "account_takeover" and a["action"] != "none"]


def _new_agency_drip(in_a_run: bool) -> list[dict]:
    """A busy account keeps the stream going; twenty minutes in a new account starts a
    drip of prize texts through a shortener with a copied opt-out, six a minute for half
    an hour, to numbers one after another in a block (``in_a_run``) or scattered."""
    rng = random.Random(17)
    records = _courier(rng, 60)
    for n in range(180):
        tail = 300_000 + n if in_a_run else rng.randrange(10**6)
        record = _marketing(T0 + 20 * MINUTE + n * 10_000 + rng.randrange(2_000), f"a{n}",
                            f"+447400{tail:06d}", f"Congrats! You were selected for a "
                            f"reward. Claim: https://t.ly/{n:x}q Reply STOP to opt out")
        record["value"].update(account_id="agency", api_key_id="key_agency",
                               source_ip="165.22.97.64")
        records.append(record)
    return records


def test_a_new_account_s_slow_drip_of_lures_to_numbers_in_a_run_is_blocked() -> None:
    """Six a minute is no burst for a new account, and every recipient is new to it;
    numbers one after another are a generated list all the same."""
    records = _new_agency_drip(in_a_run=True)
    found = [a for a in alerts_of(records) if a["kind"] == "spam_burst"
             and a["account_id"] == "agency" and a["action"] != "none"]
    assert found and min(a["ts"] for a in found) - (T0 + 20 * MINUTE) <= 10 * MINUTE
    assert any(e["feature"] == "sequential_number_share" for e in found[0]["evidence"])
    assert [c for c in commands_of(records) if c["action"] == "block"]


def test_the_same_drip_to_scattered_numbers_is_not_blocked() -> None:
    """A new marketer's first texts to its list look the same, less the run."""
    assert not [c for c in commands_of(_new_agency_drip(in_a_run=False))
                if c["action"] != "release"]


def _order_updates(rng: random.Random, regulars: int, count: int, gap_ms: int,
                   **fields: str) -> list[dict]:
    """The shop's usual traffic from T0: ``count`` order updates to its ``regulars``
    customers, one every ``gap_ms`` or so, linking to its own site (``fields`` override
    the records' values)."""
    numbers = [f"+447400{rng.randrange(10**6):06d}" for _ in range(regulars)]
    records = []
    for n in range(count):
        record = _marketing(T0 + n * gap_ms + rng.randrange(gap_ms), f"r{n}",
                            rng.choice(numbers), f"Order {n}: on its way {SHOP_SITE.format(n)}")
        record["value"].update(fields)
        records.append(record)
    return records


def _fleet_scales_out(servers: list[str], campaign_site: str = SHOP_SITE,
                      sender: str | None = None, key: str = "key_shop") -> list[dict]:
    """A shop texts its regulars from one app server for two hours, then sends a
    campaign to its list (300 numbers it never texted) from ``servers`` with ``key``,
    linking to ``campaign_site`` under the sender name ``sender``."""
    rng = random.Random(33)
    records = _order_updates(rng, 200, 240, 30_000, source_ip="143.235.120.173")
    start = T0 + 125 * MINUTE
    for n in range(300):
        record = _marketing(start + n * 2_000, f"c{n}", f"+447411{rng.randrange(10**6):06d}",
                            f"Weekend sale at {campaign_site.format(n)}")
        record["value"].update(source_ip=servers[n % len(servers)], api_key_id=key)
        if sender is not None:
            record["value"]["sender_id"] = sender
        records.append(record)
    return records


def test_new_servers_in_the_account_s_own_network_are_no_takeover() -> None:
    """Autoscaling hands the shop new addresses in the network it already sends from."""
    alerts = alerts_of(_fleet_scales_out([f"143.235.120.{n}" for n in range(10, 18)]))
    assert not [a for a in alerts if a["kind"] == "account_takeover"]


# Networks in the provider's block (143.235.0.0/16) the shop's server lives in.
SIBLING_NETWORKS = [f"143.235.{n}.9" for n in (64, 97, 201)]


@pytest.mark.parametrize("bodies", [True, False], ids=["with_bodies", "bodiless"])
def test_a_campaign_from_new_networks_in_the_shop_s_own_block_is_no_takeover(
        bodies: bool) -> None:
    """The shop's campaign platform runs with the same hosting provider, in networks
    of the block its app server sends from: hijackers' machines seldom sit there."""
    records = _fleet_scales_out(SIBLING_NETWORKS, "all our stores, today only")
    if not bodies:
        for record in records:
            del record["value"]["body"]
    alerts = alerts_of(records)
    assert not [a for a in alerts if a["kind"] == "account_takeover"]


def test_a_new_key_used_from_the_account_s_own_server_is_no_takeover() -> None:
    """The shop rotated its key and deploys from the server it always used: a stolen or
    planted key is used from the hijacker's machines, not the victim's."""
    alerts = alerts_of(_fleet_scales_out(["143.235.120.173"], key="key_shop_2"))
    assert not [a for a in alerts if a["kind"] == "account_takeover"]


def test_a_new_key_used_from_other_networks_is_a_takeover() -> None:
    alerts = alerts_of(_fleet_scales_out(["185.220.101.4", "185.220.101.9"],
                                         key="key_shop_2"))
    assert [a for a in alerts if a["kind"] == "account_takeover" and a["action"] != "none"]


def test_the_same_campaign_from_other_networks_is_a_takeover() -> None:
    alerts = alerts_of(_fleet_scales_out(OTHER_NETWORKS))
    assert [a for a in alerts if a["kind"] == "account_takeover" and a["action"] != "none"]


def test_a_hijacker_s_lures_are_a_takeover_and_a_smishing_burst_both() -> None:
    """From networks the shop never used, to a site it never linked to: someone else's
    hands on the account (rotate its keys) sending lures (warn the people texted). The
    second alert adds no throttle of its own."""
    records = _fleet_scales_out(OTHER_NETWORKS, LURE_SITE)
    shop = {"type": "account", "id": "shop"}
    alerts = [a for a in alerts_of(records) if a["entity"] == shop]
    assert [a for a in alerts if a["kind"] == "account_takeover" and a["action"] != "none"]
    lures = [a for a in alerts if a["kind"] == "spam_burst"]
    assert lures and {a["action"] for a in lures} == {"none"}
    assert {e["feature"] for a in lures for e in a["evidence"]} >= {"foreign_link_share"}


def test_the_same_campaign_from_other_networks_without_a_link_is_a_warning() -> None:
    """The shop's campaign platform, met for the first time, texts its list: new
    networks, new numbers, and texts carrying nothing a hijacker is paid by (no link,
    no number to call, no dear country). On-call sees it; the gateway blocks nothing."""
    alerts = alerts_of(_fleet_scales_out(OTHER_NETWORKS,
                                         "all our stores, today only"))
    found = [a for a in alerts if a["kind"] == "account_takeover"]
    assert found and {a["severity"] for a in found} == {"warning"}
    assert not [a for a in alerts if a["action"] != "none"]


def test_the_same_campaign_without_bodies_is_still_a_takeover() -> None:
    """Without bodies nothing shows what the texts carry: new networks and new numbers
    are a hijack's traces as before."""
    records = _fleet_scales_out(OTHER_NETWORKS,
                                "all our stores, today only")
    for record in records:
        del record["value"]["body"]
    alerts = alerts_of(records)
    assert [a for a in alerts if a["kind"] == "account_takeover" and a["action"] != "none"]


def test_the_same_campaign_from_other_networks_linking_to_the_shop_s_site_is_no_takeover(
) -> None:
    """New servers, numbers it never texted, ten times its level: every trace of a
    hijack but what the texts link to. A hijacker has no use for the shop's own site."""
    alerts = alerts_of(_fleet_scales_out(OTHER_NETWORKS,
                                         "https://shopwise.io/s/{}", sender="Shopwise"))
    assert not [a for a in alerts if a["kind"] == "account_takeover"]
    assert not [a for a in alerts if a["action"] != "none"]
    lures = alerts_of(_fleet_scales_out(OTHER_NETWORKS,
                                        "https://shopwise-login.top/s/{}", sender="Shopwise"))
    assert [a for a in lures if a["kind"] == "account_takeover" and a["action"] != "none"]


def test_the_same_campaign_from_other_networks_through_a_shortener_is_a_takeover() -> None:
    """A shortened link offered with an opt-out names no site: a hijacker copies
    "Reply STOP" as easily as the shop writes it."""
    alerts = alerts_of(_fleet_scales_out(OTHER_NETWORKS,
                                         "https://bit.ly/s{} Reply STOP to opt out",
                                         sender="Shopwise"))
    assert [a for a in alerts if a["kind"] == "account_takeover" and a["action"] != "none"]


def test_a_new_account_s_steady_lure_flood_is_held_while_it_lasts() -> None:
    """An account the detector never saw appears mid-stream and sends one lure a
    second for forty minutes, steadily. Against its own short life a steady flood soon
    stops being a burst; the episode must not read that as the account calming down."""
    rng = random.Random(11)
    records = _courier(rng, 90)
    start, end = T0 + 30 * MINUTE, T0 + 70 * MINUTE
    for n, ts in enumerate(range(start, end, 1_000)):
        record = _marketing(ts, f"l{n}", f"+447400{rng.randrange(10**6):06d}",
                            f"Your parcel is held: pay the fee at {LURE_SITE.format(n)}")
        record["value"].update(account_id="fresh", api_key_id="key_fresh")
        records.append(record)
    det_commands = [c for c in commands_of(records)
                    if c["scope"].get("account_id") == "fresh"]
    blocks = [c for c in det_commands if c["action"] != "release"]
    assert blocks and blocks[0]["ts"] - start <= 2 * MINUTE
    released = [c["ts"] for c in det_commands if c["action"] == "release"]
    assert not released or min(released) >= end, "released while the flood went on"



def test_a_hijacker_rotating_the_account_s_keys_gets_the_whole_account_blocked() -> None:
    """A shop texts its regulars through three keys (most through the first) from its
    own server for two hours. Then a hijacker sends lures twice a second from six home
    lines elsewhere: with the first key for half a minute, then rotating all three.
    Blocking only the key the first steps showed would let two thirds through."""
    rng = random.Random(21)
    keys = ("key_a", "key_b", "key_c")
    records = []
    for n in range(240):
        record = _marketing(T0 + n * 30_000 + rng.randrange(30_000), f"r{n}",
                            f"+447400{rng.randrange(10**6):06d}",
                            f"Order {n}: on its way {SHOP_SITE.format(n)}")
        record["value"]["api_key_id"] = keys[0] if n % 5 else rng.choice(keys[1:])
        records.append(record)
    start = T0 + 125 * MINUTE
    for n in range(1_200):
        record = _marketing(start + n * 500, f"h{n}", f"+447411{rng.randrange(10**6):06d}",
                            f"Claim your airdrop at {LURE_SITE.format(n)}")
        key = keys[0] if n < 60 else keys[n % 3]
        record["value"].update(api_key_id=key, source_ip=f"91.{200 + n % 6}.7.5")
        records.append(record)
    whole = [c for c in commands_of(records)
             if c["scope"] == {"account_id": "shop"} and c["action"] == "block"]
    assert whole and whole[0]["ts"] - start <= 3 * MINUTE


def _hijack_at_the_account_s_pace(server: str, link: str, abroad: bool,
                                  per_minute: int = 1) -> list[dict]:
    """A shop texts its regulars in the UK a text every 40 s for three hours, from its
    app server. From the second hour someone sends ``per_minute`` more texts a minute
    through the shop's own key, from ``server``, to Indonesia (``abroad``) or to the UK,
    linking to ``link``: the account's pace hardly moves (at one a minute)."""
    rng = random.Random(41)
    records = _order_updates(rng, 300, 270, 40_000, category="transactional")
    gap = MINUTE // per_minute
    for n in range(80 * per_minute):
        number = (f"+62812{rng.randrange(10**7):07d}" if abroad
                  else f"+447411{rng.randrange(10**6):06d}")
        record = _marketing(T0 + 95 * MINUTE + n * gap + rng.randrange(gap), f"h{n}",
                            number, f"Shop: your order could not be delivered. {link}")
        record["value"].update(category="transactional", source_ip=server, price=0.33)
        records.append(record)
    return records


def test_a_hijacker_keeping_to_the_account_s_pace_is_a_takeover_held_to_his_country() -> None:
    """New network, new country, a link the shop never used: together, someone else's
    traffic, though the volume hardly rises. Held to that country, not the shop's key."""
    records = _hijack_at_the_account_s_pace("185.220.101.4", "https://shop-parcel.live/x", True)
    found = [a for a in alerts_of(records) if a["kind"] == "account_takeover"]
    assert found and min(a["ts"] for a in found) - (T0 + 95 * MINUTE) <= 15 * MINUTE
    scopes = {tuple(sorted(c["scope"].items())) for c in commands_of(records)}
    assert scopes == {(("account_id", "shop"), ("country", "ID"))}


@pytest.mark.parametrize(("server", "link", "abroad", "warned"), [
    ("10.0.0.7", "https://shop-parcel.live/x", True, False),  # own server: a new market
    # No new country, but the shop's own key from a new network, linking to a site it
    # never linked to, to numbers it never texted: a stolen key's lures (a warning).
    ("185.220.101.4", "https://shop-parcel.live/x", False, True),
    ("185.220.101.4", SHOP_SITE.format("x"), True, False),  # own site: new servers abroad
])
def test_two_of_those_three_changes_are_no_takeover_to_act_on(
        server: str, link: str, abroad: bool, warned: bool) -> None:
    records = _hijack_at_the_account_s_pace(server, link, abroad)
    found = [a for a in alerts_of(records) if a["kind"] == "account_takeover"]
    assert bool(found) is warned
    assert all(a["severity"] == "warning" and a["action"] == "none" for a in found)


@pytest.mark.parametrize(("server", "abroad", "warned"), [
    ("185.220.101.4", True, True),  # a network and a country both new: look at it
    ("10.0.0.7", True, False),  # its own server: a new market
    ("185.220.101.4", False, False),  # a new network alone, at home
], ids=["new_network_abroad", "own_server_abroad", "new_network_at_home"])
def test_without_bodies_a_new_network_and_a_new_country_are_a_warning(
        server: str, abroad: bool, warned: bool) -> None:
    """The hijacker, two texts a minute beside the shop's one and a half, through a
    gateway that sends no bodies: the link cannot show, so the two changes that can,
    each a full surprise, are raised first as a warning (which, as any open episode
    does, lowers the bar for what follows)."""
    records = _hijack_at_the_account_s_pace(server, "https://shop-parcel.live/x", abroad,
                                            per_minute=2)
    for record in records:
        del record["value"]["body"]
    found = sorted((a for a in alerts_of(records) if a["kind"] == "account_takeover"),
                   key=lambda a: a["ts"])
    assert bool(found) is warned
    if warned:
        assert found[0]["severity"] == "warning"
        assert found[0]["ts"] - (T0 + 95 * MINUTE) <= 15 * MINUTE


_HOOKS = ("You won a gift card!", "Earn $300/day from home.", "Exclusive offer inside.",
          "Your loan is approved.", "Last chance: claim your reward.")
_SHORTENERS = ("https://bit.ly/{}", "https://cutt.ly/{}", "https://rb.gy/{}",
               "https://{}.click/c")


def _spun_lures(rng: random.Random, start: int, count: int) -> list[dict]:
    """Lures that share no text: a greeting, a hook and a link drawn at random, with a
    random token, through rotating shorteners and throwaway hosts."""
    records = []
    for n in range(count):
        token = "".join(rng.choice("abcdefghjkmnpqrstuvwxyz23456789") for _ in range(7))
        body = (f"{rng.choice(('Hi', 'Hello', 'Dear customer,', 'Attention'))} "
                f"{rng.choice(_HOOKS)} {rng.choice(_SHORTENERS).format(token)}")
        record = _marketing(start + n * 600, f"s{n}", f"+447411{rng.randrange(10**6):06d}",
                            body)
        records.append(record)
    return records


def test_an_app_s_burst_of_spun_lures_is_spam() -> None:
    """An app that sends its users codes for two hours, no links, then 1,000 lures in
    ten minutes, each worded differently, from its own key and server: nothing repeats,
    but the share of texts with links leaps from none to all."""
    rng = random.Random(23)
    records = _order_updates(rng, 400, 240, 30_000, category="otp")
    for record in records:
        record["value"]["body"] = f"Your Shop code is {rng.randrange(10**6):06d}"
    start = T0 + 125 * MINUTE
    records += _spun_lures(rng, start, 1_000)
    found = [a for a in alerts_of(records) if a["kind"] == "spam_burst"
             and a["account_id"] == "shop" and a["action"] != "none"]
    assert found and min(a["ts"] for a in found) - start <= 2 * MINUTE
    assert any(e["feature"] == "url_share" for a in found for e in a["evidence"])


def _notices_growing_long(grown_from: int | None, segments: int = 1) -> list[dict]:
    """A courier's delivery notices, three a minute, ``segments`` long; from minute
    ``grown_from`` its template carries a terms block and an emoji: six segments each."""
    rng = random.Random(17)
    courier = _texts_of("courier", category="transactional")
    records = []
    for n in range(150 * 3):
        minute = n // 3
        record = courier(T0 + n * 20_000 + rng.randrange(20_000), f"n{n}",
                         f"+447400{rng.randrange(10**6):06d}",
                         f"Your parcel {n} arrives today 10:00-12:00")
        long = grown_from is not None and minute >= grown_from
        record["value"]["segments"] = 6 if long else segments
        records.append(record)
    return records


@pytest.mark.parametrize("grown_from", [40, 120])
def test_texts_grown_several_times_longer_are_an_anomaly(grown_from: int) -> None:
    """The same notices at the same pace, each now paid six times: for a person to look
    at, in minutes, with what the texts cost; in the account's first hour too (the
    detector met it already sending)."""
    found = [a for a in alerts_of(_notices_growing_long(grown_from))
             if a["kind"] == "anomaly" and a["account_id"] == "courier"]
    assert found and min(a["ts"] for a in found) - (T0 + grown_from * MINUTE) <= 5 * MINUTE
    first = min(found, key=lambda a: a["ts"])
    evidence = {e["feature"]: e["value"] for e in first["evidence"]}
    assert evidence["long_text_share"] >= 0.3 and evidence["segments_per_send_1m"] > 3
    assert first["action"] == "none"


def test_an_account_whose_texts_are_always_long_is_no_anomaly() -> None:
    assert not [a for a in alerts_of(_notices_growing_long(None, segments=5))
                if a["kind"] == "anomaly"]


def _codes_from_elsewhere(networks: int, bare: bool = False) -> list[dict]:
    """A wallet texts its users' codes into Pakistan, one a minute, from its own
    server. Two hours in, for ninety minutes, codes also go to numbers in Tajikistan and
    Kyrgyzstan, a country the wallet never served, from ``networks`` networks it never
    sent from, one every two or three minutes: a thief pumping with a stolen key through
    rented proxies (several networks), or the wallet opening two markets from a server it
    deployed for them (one). ``bare``: a gateway that sends neither text nor category."""
    rng = random.Random(15)
    wallet = _texts_of("wallet", category="otp")
    records = [wallet(T0 + n * MINUTE + rng.randrange(MINUTE), f"w{n}",
                      f"+923001{rng.randrange(10**6):06d}",
                      f"Your Walleto code is {rng.randrange(10**6):06d}") for n in range(210)]
    for n in range(36):
        text = _texts_of("wallet", category="otp", api_key_id="key_wallet_2",
                         source_ip=f"{100 + n % networks}.{20 + n % networks}.7.9")
        head = "+99290" if n % 2 else "+99655"
        records.append(text(T0 + 120 * MINUTE + n * 150_000 + rng.randrange(60_000), f"t{n}",
                            f"{head}{rng.randrange(10**7):07d}",
                            f"Your Walleto code is {rng.randrange(10**6):06d}"))
    if bare:
        for record in records:
            del record["value"]["body"], record["value"]["category"]
    return sorted(records, key=lambda r: r["value"]["ts"])


@pytest.mark.parametrize("bare", [False, True])
def test_a_stolen_key_s_codes_into_new_countries_from_proxies_are_a_warning(bare: bool
                                                                             ) -> None:
    """Each code carries both marks (a network and a country new to the wallet), at
    under half its pace: no share moves far. Ten in an hour from several networks is a
    takeover warning; from the one network of a server of its own, a market opening.
    Bare sends may be codes as well."""
    found = [a for a in alerts_of(_codes_from_elsewhere(networks=5, bare=bare))
             if a["kind"] == "account_takeover" and a["account_id"] == "wallet"]
    assert found and min(a["ts"] for a in found) - (T0 + 120 * MINUTE) <= 40 * MINUTE
    first = min(found, key=lambda a: a["ts"])
    assert first["severity"] == "warning" and first["action"] == "none"
    assert "stranger_codes_1h" in {e["feature"] for e in first["evidence"]}
    assert not [a for a in alerts_of(_codes_from_elsewhere(networks=1, bare=bare))
                if a["kind"] == "account_takeover"]


def _codes_from_one_server(entered: bool) -> list[dict]:
    """The wallet again, quieter (a code every four minutes, most entered), and from two
    hours in, a code a minute into Tajikistan and Kyrgyzstan from ONE network it never
    sent from: a thief behind a single proxy (``entered`` False), or the wallet opening
    two markets from the server it deployed for them, whose new users enter their codes
    like its old ones."""
    rng = random.Random(16)
    wallet = _texts_of("wallet", category="otp", source_ip="10.1.0.7")
    thief = _texts_of("wallet", category="otp", source_ip="185.22.7.9")
    records = []

    def code(text: Callable[[int, str, str, str], dict], ts: int, mid: str, number: str,
             enter: bool) -> None:
        records.append(text(ts, mid, number, f"Your Walleto code is {rng.randrange(10**6):06d}"))
        if enter:
            records.append({"topic": "sms.verify", "value": {
                "ts": ts + rng.randrange(10_000, 60_000), "account_id": "wallet",
                "destination": number, "verified": True}})

    for n in range(60):
        code(wallet, T0 + n * 4 * MINUTE + rng.randrange(MINUTE), f"w{n}",
             f"+923001{rng.randrange(10**6):06d}", rng.random() < 0.85)
    for n in range(60):
        head = "+99290" if n % 2 else "+99655"
        code(thief, T0 + 120 * MINUTE + n * MINUTE + rng.randrange(30_000), f"t{n}",
             f"{head}{rng.randrange(10**7):07d}", entered and rng.random() < 0.8)
    return sorted(records, key=lambda r: r["value"]["ts"])


def test_a_stolen_key_s_unentered_codes_from_one_new_network_are_a_takeover() -> None:
    """From one new network, codes into new countries are a takeover warning only when
    they go unentered: a market opened from a new server has users behind its codes."""
    found = [a for a in alerts_of(_codes_from_one_server(entered=False))
             if a["kind"] == "account_takeover" and a["account_id"] == "wallet"]
    assert found and min(a["ts"] for a in found) - (T0 + 120 * MINUTE) <= 30 * MINUTE
    first = min(found, key=lambda a: a["ts"])
    assert first["action"] == "none"
    evidence = {e["feature"]: e["value"] for e in first["evidence"]}
    assert evidence["stranger_code_networks_1h"] == 1
    assert not [a for a in alerts_of(_codes_from_one_server(entered=True))
                if a["kind"] in ("account_takeover", "sms_pumping")]


def test_a_brand_s_greetings_raise_no_alert_for_each_range_they_reach() -> None:
    """At midnight a brand greets its customers all over the country: ten ranges at
    once, each far above what its usual senders bring it. The brand's burst is the
    brand's own scopes' to judge, once, not one anomaly a range."""
    rng = random.Random(9)
    records = []
    for n in range(120 * 12):  # two hours of other senders' codes, spread over the ranges
        ts, account = T0 + n * 5_000 + rng.randrange(5_000), f"app{n % 6}"
        number = f"+4474{rng.randrange(10)}{rng.randrange(10**6):06d}"
        records.append({"topic": "sms.send", "value": {
            "message_id": f"o{n}", "ts": ts, "account_id": account, "destination": number,
            "category": "otp", "body": f"Your code is {rng.randrange(10**6):06d}",
            "price": 0.03, "api_key_id": f"key_{account}", "source_ip": "10.0.1.9"}})
    start = T0 + 125 * MINUTE
    for n in range(3_000):  # ten minutes of greetings to customers in every range
        ts = start + n * 200 + rng.randrange(200)
        number = f"+4474{rng.randrange(10)}{rng.randrange(10**6):06d}"
        records.append(_marketing(ts, f"g{n}", number, "Happy New Year from all of us! "
                                  f"{SHOP_SITE.format(n % 97)} Reply STOP to opt out"))
    records.sort(key=lambda r: r["value"]["ts"])
    assert not [a for a in alerts_of(records) if a["entity"]["type"] == "prefix"]


def _broadcaster_s_vote(body: str, price: float) -> list[dict]:
    """A broadcaster texts a few of its GB viewers an hour for two hours; then its show
    opens a vote abroad, and 1,500 confirmations go out in ten minutes to viewers there
    it never texted, a third of them from a server it never sent from."""
    rng = random.Random(21)
    home = _texts_of("tv", category="transactional", source_ip="10.0.3.1",
                     api_key_id="key_tv")
    records = [home(T0 + n * 6 * MINUTE + rng.randrange(MINUTE), f"h{n}",
                    f"+447400{rng.randrange(10**6):06d}", "Kano: your reminder is set")
               for n in range(20)]
    start = T0 + 125 * MINUTE
    for n in range(1_500):
        send = _texts_of("tv", category="transactional", api_key_id="key_tv",
                         source_ip="10.0.3.1" if n % 3 else "34.222.48.157")
        record = send(start + n * 400 + rng.randrange(400), f"v{n}",
                      f"+39351{rng.randrange(10**7):07d}", body.format(n % 1_000))
        record["value"]["price"] = price
        records.append(record)
    records.sort(key=lambda r: r["value"]["ts"])
    return records


def test_a_broadcaster_s_vote_confirmations_abroad_are_not_blocked_as_a_takeover() -> None:
    """A country new to it, numbers new to it, a third from a new server: but two thirds
    of the same texts go out from its own server (a hijacker does not share his burst
    with the owner's), and they carry no link, no number to call and no code."""
    records = _broadcaster_s_vote("Thanks! Your vote for Jack was received. Msg 1 of 1.",
                                  0.06)
    assert not commands_of(records)


def test_codes_to_a_dear_country_new_to_it_from_a_new_server_are_still_a_takeover() -> None:
    records = _broadcaster_s_vote("Your code is 4{:03d}55", 0.45)
    assert [c for c in commands_of(records) if c["scope"].get("account_id") == "tv"]


def _newcomer(body: str, sender: str = "Parcel") -> list[dict]:
    """Two hours of the shop's campaign texts (the detector's first), then an account
    never seen before sends ``body`` to new numbers, two a minute, for half an hour."""
    records, _ = _shop_with_burst(SHOP_SITE)
    rng = random.Random(8)
    send = _texts_of("newbie", sender_id=sender, source_ip="45.174.229.5")
    start = T0 + 140 * MINUTE
    records += [send(start + n * 30_000 + rng.randrange(30_000), f"nb{n}",
                     f"+447700{rng.randrange(10**6):06d}", body.format(n))
                for n in range(60)]
    records.sort(key=lambda r: r["value"]["ts"])
    return records


def test_a_new_account_s_steady_lures_are_spam_from_its_first_minutes() -> None:
    """Two texts a minute is its pace from the start: nothing bursts. But every text
    links to a site neither it nor its sender names, and offers no way to stop them."""
    records = _newcomer("You've received a New Year e-card! Open it: https://parcel-fee.site/{}")
    found = [a for a in alerts_of(records) if a["kind"] == "spam_burst"
             and a["account_id"] == "newbie" and a["action"] != "none"]
    assert found and min(a["ts"] for a in found) - (T0 + 140 * MINUTE) <= 10 * MINUTE


@pytest.mark.parametrize(("body", "sender"), [
    ("Kafyex: welcome! Your first order ships free https://kafyex.co/w/{}", "Kafyex"),
    ("New here? 10% off your first order https://bit.ly/k{} Reply STOP to opt out", "Kafyex"),
])
def test_a_new_account_s_first_campaign_to_its_own_site_is_no_spam(body: str,
                                                                   sender: str) -> None:
    records = _newcomer(body, sender)
    assert not [a for a in alerts_of(records) if a["kind"] == "spam_burst"
                and a["account_id"] == "newbie"]
