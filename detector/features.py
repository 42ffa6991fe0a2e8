"""What one window step of one entity holds, and the features read off it.

A step's aggregate is a flat list of floats indexed by the constants below, so
windows can sum steps with plain list arithmetic. Features that need history
(is this destination new to the account? is this number next to one sent a
moment ago?) are decided when the step *closes*, from the whole step at once,
so the order of records inside the lateness allowance cannot change them.
"""

from __future__ import annotations

import bisect

from detector.records import FAILED_STATUSES, DlrEvent, SendEvent, VerifyEvent

# A code turned down this soon after it was sent was typed by someone, wrong or into a
# service that rejects good codes; a failure reported later is the code running out
# unentered (codes live five minutes or more, and a person types within a minute or two).
TYPED_WITHIN_MS = 120_000

# Aggregate vector layout.
SENDS, SEGMENTS, MONEY, OTP, PREMIUM, URL, DUP_BODY, NEW_DEST, NEW_COUNTRY = range(9)
SEQUENTIAL, NEW_KEY, NEW_IP, DLRS, DELIVERED, FAILED, VERIFIED, TYPED = range(9, 17)
# TYPED: verifications that show a person typing a code: entered, or turned down soon
# after the code was sent (see TYPED_WITHIN_MS).
# OTP numbers (not sends) and verified numbers not already counted in the last
# ten minutes: conversion as "share of people who entered their code", so that
# retries, and a bombed handset, do not look like pumping.
OTP_NUMBERS, VERIFIED_NUMBERS = 17, 18
# Every OTP send, verification feed or not: a code is not a lure (OTP counts only the
# OTPs whose account reports verifications, the ones conversion can judge).
CODES = 19
# Sends that say or show what they are: a category, or a text to read. "Not codes"
# means something only then.
DESCRIBED = 20
# Sends whose links go to hosts the scope had not linked to before the last hour: a
# lure points somewhere new, a shop's own campaign to the shop's site.
NEW_LINK = 21
# Sends with links to a site that does not carry the sender's name (all links, when the
# gateway sends no sender id): the URL share that a brand's own campaign cannot raise.
FOREIGN_URL = 22
# Sends asking the reader to phone a number, in a text the scope had not sent before the
# last hour: the lure of a callback scam, which carries no link.
NEW_CALLBACK = 23
# Codes to a number that had one in the ten minutes before and has not entered any:
# a user asking again, or a handset being bombed (see scopes.RESEND_SHARE).
REPEATS = 24
# Sends not categorised as OTPs whose text still carries a code (a password reset sent
# as "transactional", a code sent with no category): what the category, or its absence,
# would not call a code.
CODED_OTHER = 25
# Sends with links that tell the reader how to stop the texts (see detector.body).
OPT_OUT_URL = 26
# Sends whose links go to a site the sender or the text names (see detector.body).
OWN_SITE_URL = 27
# Sends through one of the account's keys, from a network new to it,
# with links to a site it never linked to that neither the text nor the sender names,
# and no way to stop the texts (see ScopeState._close_stranger_links): STRANGER_LINKS;
# those of them to numbers the account never texted: STRANGER_LURES.
STRANGER_LINKS, STRANGER_LURES = 28, 29
# Sends of LONG_SEGMENTS segments or more: a text that long is a letter, not a notice;
# an account whose notices grow that long at once has a template gone wrong (a terms
# block pasted in, an emoji turning every text to UCS-2), paying several times over.
LONG = 30
# Code texts through one of the account's keys, from a network new to it, to a country
# new to it (see ScopeState._close_stranger_codes).
STRANGER_CODES = 31
# All the sends of the networks that sent those marked links (STRANGER_LINK_PEERS) or
# codes (STRANGER_CODE_PEERS) in the same step: a hijacker's networks send little else.
STRANGER_LINK_PEERS, STRANGER_CODE_PEERS = 32, 33
WIDTH = 34
LONG_SEGMENTS = 4

# How close two numbers must be to count as "sequential" (one block of a range).
SEQUENTIAL_DISTANCE = 10
BLOCK = 10_000  # one block of a numbering range: its last four digits


class StepBuffer:
    """One open step of one scope: counters plus what the close-time features need.

    A plain class with slots: one is built per scope and step, on the hot path.
    """

    __slots__ = ("values", "destinations", "fingerprints", "links", "callbacks", "keys", "ips",
                 "countries", "accounts", "otp_numbers", "verified_numbers", "error_codes",
                 "failed_accounts", "code_accounts", "entered_accounts", "code_senders",
                 "answerable_codes", "feedless_codes", "signed_links", "keyed_links",
                 "operator_reports", "keyed_codes", "report_waits", "fresh_codes",
                 "network_keys")

    def __init__(self) -> None:
        self.values = [0.0] * WIDTH
        self.destinations: dict[str, int] = {}
        self.fingerprints: dict[int, int] = {}
        self.links: dict[int, int] = {}  # fingerprints of bodies with links (their hosts)
        self.callbacks: dict[int, int] = {}  # fingerprints of bodies asking for a call
        self.keys: dict[str, int] = {}
        self.ips: dict[str, int] = {}  # by network (see source_network), not address
        self.network_keys: dict[str, str] = {}  # network -> the last key it sent with
        self.countries: dict[str, int] = {}
        self.accounts: dict[str, int] = {}
        self.otp_numbers: dict[str, int] = {}
        self.verified_numbers: dict[str, int] = {}
        self.error_codes: dict[str, int] = {}
        self.failed_accounts: dict[str, int] = {}
        # Conversion trials and verifications by account, for the scopes that ask whose
        # codes go unentered (a route's; see ScopeState.buffer): None elsewhere.
        self.code_accounts: dict[str, int] | None = None
        self.entered_accounts: dict[str, int] | None = None
        # Sends, reports and delivered reports by operator ([sends, reports,
        # delivered]), for a route's scope (see detector.operators): None elsewhere.
        self.operator_reports: dict[str, list[int]] | None = None
        # (account, milliseconds from the send to its report) of each report, for a
        # route's scope (see detector.report_delay): None elsewhere.
        self.report_waits: list[tuple[str, int]] | None = None
        # (network, country) of the sends with a key and an address that carry a code
        # and no link, or may (bare sends: no text, no category): None until one is.
        self.keyed_codes: list[tuple[str, str]] | None = None
        # Texts that may be codes, by sending account, for a number's own scope (see
        # ScopeState.buffer): None elsewhere.
        self.code_senders: dict[str, int] | None = None
        # Of those, the ones whose account's verifications reach the detector: codes
        # that would show as entered if they were asked for.
        self.answerable_codes = 0
        # And the ones whose account's verifications do not: nobody can say whether
        # they were entered.
        self.feedless_codes = 0
        # Fingerprints of bodies whose links the text signs as the sender's own site
        # (see ScopeState.own_sites): None until one is sent, as in most steps.
        self.signed_links: dict[int, int] | None = None
        # Sends with a key, an address and a link that is not the sender's own nor
        # offers an opt-out: (network, key, body fingerprint, number), for the scopes
        # that track origin (see ScopeState._close_stranger_links); None until one is
        # sent, as in most steps.
        self.keyed_links: list[tuple[str, str, int, str]] | None = None
        # Texts that may be codes, from fresh accounts without a verification feed, as
        # (account, number), for a range's scope (see ScopeState.fresh_ring): None
        # elsewhere.
        self.fresh_codes: list[tuple[str, str]] | None = None

    def __getstate__(self) -> dict:
        return {name: getattr(self, name) for name in self.__slots__}

    def __setstate__(self, state: dict) -> None:
        for name, value in state.items():
            setattr(self, name, value)

    def add_send(self, ev: SendEvent, track_origin: bool) -> None:
        # The counting is written out (no _bump calls): this runs for every send in
        # up to four scopes, and a call costs more than the dict update it wraps.
        v = self.values
        v[SENDS] += 1
        v[SEGMENTS] += ev.segments
        if ev.segments >= LONG_SEGMENTS:
            v[LONG] += 1
        if self.operator_reports is not None and ev.operator:
            self._operator_tally(ev.operator)[0] += 1
        v[MONEY] += ev.price
        destination = ev.destination
        category = ev.category
        if category is not None or ev.body_fingerprint:
            v[DESCRIBED] += 1
        if category == "otp":
            v[CODES] += 1
        elif ev.code_like and ev.body_fingerprint:
            v[CODED_OTHER] += 1
        if self.code_senders is not None and (
                category == "otp" or (category != "marketing" and ev.code_like)):
            _bump(self.code_senders, ev.account_id)
            if category == "otp" or ev.body_fingerprint:
                # A code: an OTP, or a text that carries one (a bare uncategorised send
                # could be anything). Would its account report it entered?
                if ev.feed_live:
                    self.answerable_codes += 1
                else:
                    self.feedless_codes += 1
        if ev.account_fresh and self.fresh_codes is not None and not ev.feed_live and (
                category == "otp" or (category != "marketing" and ev.code_like)):
            self.fresh_codes.append((ev.account_id, destination))
        # A conversion trial: a code (an OTP, or an uncategorised send from an account
        # that sends codes, see families._codes_uncategorised) whose account's
        # verifications reach the detector.
        if ev.verifiable and (category == "otp" or category is None):
            v[OTP] += 1
            otp = self.otp_numbers
            otp[destination] = otp.get(destination, 0) + 1
            if self.code_accounts is not None:
                _bump(self.code_accounts, ev.account_id)
        if ev.number_type == "premium":
            v[PREMIUM] += 1
        if ev.has_url:
            v[URL] += 1
            if ev.opt_out_link:
                v[OPT_OUT_URL] += 1
            if ev.site_named:
                v[OWN_SITE_URL] += 1
                signed = self.signed_links
                if signed is None:
                    signed = self.signed_links = {}
                signed[ev.body_fingerprint] = signed.get(ev.body_fingerprint, 0) + 1
            if not ev.own_link:  # a brand linking to its own site is no lure
                v[FOREIGN_URL] += 1
                links = self.links  # keyed by the body's fingerprint: its link hosts
                links[ev.body_fingerprint] = links.get(ev.body_fingerprint, 0) + 1
        elif ev.callback:  # keyed by the text (digits folded): one scam, many numbers
            calls = self.callbacks
            calls[ev.body_fingerprint] = calls.get(ev.body_fingerprint, 0) + 1
        destinations, accounts = self.destinations, self.accounts
        destinations[destination] = destinations.get(destination, 0) + 1
        accounts[ev.account_id] = accounts.get(ev.account_id, 0) + 1
        fingerprint = ev.body_fingerprint
        if fingerprint:
            prints = self.fingerprints
            prints[fingerprint] = prints.get(fingerprint, 0) + 1
        if track_origin:
            _bump(self.countries, ev.country)
            if ev.api_key_id:
                _bump(self.keys, ev.api_key_id)
            if ev.source_ip:
                network = source_network(ev.source_ip)
                _bump(self.ips, network)
                if ev.api_key_id:
                    self.network_keys[network] = ev.api_key_id
                if (ev.api_key_id and ev.has_url and not ev.own_link
                        and not ev.opt_out_link):
                    if self.keyed_links is None:
                        self.keyed_links = []
                    self.keyed_links.append((network, ev.api_key_id, fingerprint,
                                             destination))
                elif ev.api_key_id and not ev.has_url and (
                        category == "otp" or (ev.code_like if fingerprint
                                              else category is None)):
                    if self.keyed_codes is None:
                        self.keyed_codes = []
                    self.keyed_codes.append((network, ev.country))

    def add_dlr(self, ev: DlrEvent) -> None:
        if ev.status == "expired":
            # A message that outlived its validity period (hours, on many networks):
            # a verdict on a send that old, not on the route or its sender now. Counted
            # here, a route that carried a burst an hour ago and little since would
            # read as failing on nothing but late expiries.
            return
        v = self.values
        v[DLRS] += 1
        if ev.status == "delivered":
            v[DELIVERED] += 1
        elif ev.status in FAILED_STATUSES:
            v[FAILED] += 1
            _bump(self.error_codes, ev.error_code or ev.status)
            _bump(self.failed_accounts, ev.account_id)
        if self.report_waits is not None and ev.wait_ms is not None:
            self.report_waits.append((ev.account_id, ev.wait_ms))
        if self.operator_reports is not None and ev.operator:
            tally = self._operator_tally(ev.operator)
            tally[1] += 1
            if ev.status == "delivered":
                tally[2] += 1

    def _operator_tally(self, operator: str) -> list[int]:
        tally = self.operator_reports.get(operator)  # type: ignore[union-attr]
        if tally is None:
            tally = self.operator_reports[operator] = [0, 0, 0]  # type: ignore[index]
        return tally

    def add_verify(self, ev: VerifyEvent) -> None:
        if ev.verified:
            self.values[TYPED] += 1
            self.values[VERIFIED] += 1
            _bump(self.verified_numbers, ev.destination)
            if self.entered_accounts is not None:
                _bump(self.entered_accounts, ev.account_id)
        elif ev.code_age_ms is not None and ev.code_age_ms <= TYPED_WITHIN_MS:
            self.values[TYPED] += 1


def source_network(address: str) -> str:
    """The network an address belongs to: its /24 (IPv4) or /48 (IPv6).

    A platform's app servers scale out to new addresses in the networks they already
    use; a hijacker sends from elsewhere (a VPS, a botnet of home lines). So a sender's
    addresses are new only when their network is.

    >>> source_network("143.235.120.161"), source_network("2001:db8:5:1::7")
    ('143.235.120', '2001:db8:5')
    """
    if ":" in address:
        return ":".join(address.split(":", 3)[:3])
    return address.rpartition(".")[0] or address


def _bump(counts: dict, key: object) -> None:
    counts[key] = counts.get(key, 0) + 1


def sequential_count(current: dict[str, int], recent: list[int]) -> float:
    """Sends of this step whose number sits within a few digits of another recent number,
    beyond what chance puts there.

    ``recent`` is sorted and holds the recent numbers, this step's included. Numbers
    drawn at random inside one block of a range (its last four digits) also land close
    together once the block is busy: with ``k`` other recent numbers in the block, by
    chance with probability ``1 - (1 - 2d / 10**4) ** k``. Each send counts its hit
    minus that chance, so honest traffic packed into a few blocks scores about nothing
    and a walk through a range (x, x+1, x+3) nearly its full count.

    >>> nums = sorted([4477001000, 4477001001, 4477001003, 4477005999])
    >>> round(sequential_count({"+4477001000": 1, "+4477001001": 1, "+4477005999": 2}, nums), 2)
    1.98
    """
    hits = 0.0
    for destination, count in current.items():
        n = int(destination[1:])
        i = bisect.bisect_left(recent, n - SEQUENTIAL_DISTANCE)
        j = bisect.bisect_right(recent, n + SEQUENTIAL_DISTANCE)
        # Itself is in the list once (or more, if repeated): neighbours are the others.
        same = bisect.bisect_right(recent, n) - bisect.bisect_left(recent, n)
        base = n - n % BLOCK
        others = (bisect.bisect_left(recent, base + BLOCK) - bisect.bisect_left(recent, base)
                  - same)
        chance = 1.0 - (1.0 - 2 * SEQUENTIAL_DISTANCE / BLOCK) ** others if others > 0 else 0.0
        hits += count * ((1.0 if j - i - same > 0 else 0.0) - chance)
    return max(0.0, hits)


def share(part: float, whole: float) -> float:
    return part / whole if whole > 0 else 0.0


def own_reports(delivered: float, reports: float, sends: float, sees_sends: bool
                ) -> tuple[float, float]:
    """Delivered reports and reports that a window's own sends account for.

    Reports beyond the window's sends are the slow tail of earlier sends, and the slow
    reports are the bad ones (a campaign's late "unknown"s and failures come minutes
    after its deliveries): counted in full, they make a route that delivers as well as
    ever read as failing once the burst is over. So the excess is taken out of the
    undelivered reports first. A scope that does not see its sends (a gateway whose
    sends do not name the route, or name it for some accounts only) keeps them all.

    >>> own_reports(40, 100, 60, True), own_reports(40, 100, 60, False)
    ((40, 60), (40, 100))
    """
    if not sees_sends or reports <= sends:
        return delivered, reports
    return min(delivered, sends), sends
