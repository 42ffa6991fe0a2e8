"""One scope of features: an account, an API key, an account in one country, a
destination prefix, a destination number or a route.

A :class:`ScopeState` gathers records into the open step, and when the step
closes it derives the history-dependent counts, slides its windows, and (when
there is enough traffic to judge) turns windows and baselines into *signals*:
named surprises with the observed value and the baseline, ready to be read by
the finding rules and shown to a person as evidence.

Baselines learn lazily, at most once a minute for a quiet scope, and never from
steps that raised a finding: an attack must not become the new normal.
"""

from __future__ import annotations

from bisect import bisect_left, insort
from collections import deque
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from math import log10
from operator import add
from typing import TypeVar

from detector.features import (
    DELIVERED,
    DLRS,
    DUP_BODY,
    FAILED,
    FOREIGN_URL,
    LONG,
    MONEY,
    NEW_CALLBACK,
    NEW_COUNTRY,
    NEW_DEST,
    NEW_IP,
    NEW_KEY,
    NEW_LINK,
    OTP,
    OTP_NUMBERS,
    PREMIUM,
    REPEATS,
    SEGMENTS,
    SENDS,
    SEQUENTIAL,
    SEQUENTIAL_DISTANCE,
    STRANGER_CODE_PEERS,
    STRANGER_CODES,
    STRANGER_LINK_PEERS,
    STRANGER_LINKS,
    STRANGER_LURES,
    TYPED,
    URL,
    VERIFIED,
    VERIFIED_NUMBERS,
    WIDTH,
    StepBuffer,
    own_reports,
    sequential_count,
    share,
)
from detector.operators import OperatorDelivery
from detector.report_delay import ReportDelay
from detector.sketches import DestinationMemory
from detector.windows import SlidingSums
from models.halfspace import SquashedHalfSpaceTrees
from models.proportion import ProportionBaseline
from models.rate import SeasonalRate
from models.surprise import binomial_surprise, poisson_surprise

# A young scope of an account (its first hour, or its first hour in a country) counts its
# codes over the hour too (see signals). Not a range's: many accounts share a range, and
# an hour that held an attack would be held against the honest codes that follow it.
HOURLY_CONVERSION_KINDS = frozenset({"account", "account_country", "api_key"})
# An established account x country scope's hour of codes is judged once it holds this
# many (two every ten minutes): fewer say little about a country's users.
HOUR_CODES = 12
# Conversion at this share of its normal or above: the codes go to people (the
# findings' test of a scope's codes, and of an account's hour beside one of its
# countries: its users elsewhere are entering theirs).
CODES_ENTERED = 0.8
# ... from its usual keys and networks: at most this share of its hour from new ones.
HOUR_NEW_ORIGIN = 0.05
# Window indices (lengths in steps are set from config by ScopeKind.windows()).
W1, W10, W60, WCONV, WDLR, W3, W3DLR, W3CONV, W60CONV, W60DLR, W10LATE = range(11)
MINUTE_MS = 60_000
K = TypeVar("K")  # what a memory of first uses is keyed by: a key id, a text fingerprint


@dataclass(frozen=True)
class ScopeKind:
    """What a kind of scope tracks, its population priors and its gates."""

    name: str
    entity_type: str  # the contract's entity type an alert names
    track_destinations: bool = False
    track_bodies: bool = False
    track_origin: bool = False
    prior_rate_per_min: float = 1.0
    # How many minutes of history the population prior is worth: a young scope is
    # judged against what is typical until it has shown its own normal for this long,
    # so an attack that starts with the scope's life is not learnt as its normal.
    prior_minutes: float = 60.0
    # 10-minute sends before the scope is judged on sends. Only a cost gate: the
    # surprises weigh how many records they rest on.
    min_sends: int = 5
    min_dlrs: int = 8  # DLRs in a window before delivery is judged (the surprise weighs n)
    use_trees: bool = False
    # Learn burstiness only once the scope has this many minutes of its own history
    # (see SeasonalRate.dispersion_after): for numbers, whose tracking begins with the
    # burst that is being judged.
    dispersion_after_minutes: float = 0.0
    attributes_accounts: bool = False  # remembers which accounts send to it (for attribution)
    # Verify records carry no API key; a route's are given the route of their code
    # (see families._complete_from_account).
    sees_verifications: bool = True
    # Judges delivery as a carrier's does: report coverage, error codes new to it.
    carrier: bool = False
    # Counts which services (accounts) sent it codes over the last hour: a number's.
    counts_services: bool = False
    # Population shares a new scope is assumed to have until its own history speaks.
    priors: dict[str, float] = field(default_factory=dict)


DEFAULT_PRIORS = {
    "conversion": 0.75,
    "delivered": 0.92,
    "dlr_coverage": 0.9,
    "url": 0.05,
    "dup_body": 0.5,
    "new_destination": 0.3,
    "new_country": 0.02,
    "sequential": 0.01,
    "premium": 0.02,
    "new_key": 0.01,
    "new_ip": 0.05,
    "new_link": 0.02,
    "foreign_url": 0.05,
    "new_callback": 0.02,
}

KINDS: dict[str, ScopeKind] = {
    k.name: k
    for k in (
        ScopeKind("account", "account", True, True, True, prior_rate_per_min=2.0,
                  use_trees=True, priors=DEFAULT_PRIORS),
        ScopeKind("api_key", "api_key", True, True, False, prior_rate_per_min=2.0,
                  sees_verifications=False, priors=DEFAULT_PRIORS),
        ScopeKind("account_country", "account", True, False, False, prior_rate_per_min=0.5,
                  min_sends=3, priors=DEFAULT_PRIORS),
        ScopeKind("prefix", "prefix", True, False, False, prior_rate_per_min=0.5,
                  min_sends=3, attributes_accounts=True, priors=DEFAULT_PRIORS),
        ScopeKind("destination", "destination", False, False, False,
                  prior_rate_per_min=0.02, min_sends=5, attributes_accounts=True,
                  dispersion_after_minutes=60.0, counts_services=True,
                  priors=DEFAULT_PRIORS),
        ScopeKind("route", "route", False, False, False, prior_rate_per_min=5.0,
                  attributes_accounts=True, carrier=True,
                  priors=DEFAULT_PRIORS),
        # A route into one of the countries it carries: an operator that stops
        # delivering behind a hub hardly moves the whole route's share.
        ScopeKind("route_country", "route", False, False, False, prior_rate_per_min=2.0,
                  attributes_accounts=True, carrier=True,
                  priors=DEFAULT_PRIORS),
    )
}

# Share signals: name -> (numerator field, direction).
SHARE_SIGNALS = {
    "url": (URL, "up"),
    "dup_body": (DUP_BODY, "up"),
    "new_destination": (NEW_DEST, "up"),
    "new_country": (NEW_COUNTRY, "up"),
    "sequential": (SEQUENTIAL, "up"),
    "premium": (PREMIUM, "up"),
    "new_key": (NEW_KEY, "up"),
    "new_ip": (NEW_IP, "up"),
    "new_link": (NEW_LINK, "up"),
    "foreign_url": (FOREIGN_URL, "up"),
    "new_callback": (NEW_CALLBACK, "up"),
}
# Long texts are judged on accounts, apart from the shares the half-space trees see (a
# template's length says nothing of who sends it or to whom), and against the account's
# own texts of the fifty minutes before the last ten: a template goes wrong at once,
# whenever in the account's life, and a baseline learning its first hour would learn a
# bug of that hour as its normal. That many sends before, or nothing to compare with.
LONG_TEXT_KINDS = frozenset({"account"})
LONG_TEXT_HISTORY_SENDS = 10
LONG_TEXT_FLOOR = 0.02  # the usual share of long texts assumed when there were none
MIN_LONG_TEXT_EFFECT = 0.3  # of the way from the usual share to all texts long
SHARES_BY_KIND = {
    "account": ("url", "dup_body", "new_destination", "new_country", "sequential", "premium",
                "new_key", "new_ip", "new_link", "foreign_url", "new_callback"),
    "api_key": ("url", "dup_body", "new_destination", "new_country", "premium", "new_ip",
                "new_link", "foreign_url", "new_callback"),
    "account_country": ("new_destination", "sequential", "premium"),
    "prefix": ("sequential", "premium"),
    "destination": (),
    "route": (),
    "route_country": (),
}
# Some carriers report in batches (every few minutes, whatever their traffic): a route
# learns how long its reports keep it waiting (steps from a send not yet reported to
# the next report), and one that keeps it waiting BATCHED_REPORTS_MINUTES or more is
# judged on sends older than SLOW_REPORTS_MINUTES, or, slower still, not over ten
# minutes at all. (A lag much longer than the reports' own delay would misjudge a route
# whose traffic is falling: its older, busier minutes against its recent reports.)
# The wait is the mean of the first ones, then a slow average (a wait a lesson at most,
# the longest since the last); one that ends in a flagged lesson (a fault's silence) is
# not learnt.
BATCHED_REPORTS_MINUTES = 3
SLOW_REPORTS_MINUTES = 6
# More reports than this a send over the hour: the scope does not see all its sends.
REPORTS_PER_SEEN_SEND = 1.5
REPORT_WAIT_ALPHA = 0.05
RECENT_NUMBERS_MINUTES = 10  # sequential numbers: compare with the last ten minutes
RECENT_CAP = 1024  # bounded memories of recent destinations, bodies, origins
# A person asks one service, now and then two, for a code at a time: codes to one number
# from this many services within an hour are forms being fired at it (see
# ScopeState.services_last_hour).
SEVERAL_SERVICES = 3
# Resend limits let a person ask for about five codes an hour; one who never enters any
# gives up within the hour. Codes to a number this many times an hour, two hours running,
# none entered, are someone else's doing (a form fired slowly, or a retry loop gone
# wrong), whatever one service's traffic around them looks like.
PERSISTENT_CODES = 6
# Codes from services whose verifications never reach the detector could each have been
# entered: only twice the pace a resend limit allows, two hours running, is nobody's
# asking (a slow bomber through a login form with no feed, or a monitor's test handset).
FEEDLESS_PERSISTENT_CODES = 2 * PERSISTENT_CODES
# One hour at three times either pace needs no second hour: forty codes in an hour,
# none entered, is no person's asking however it goes on (a form fired every ninety
# seconds, too slow for any minute to stand out). They must come all through the hour,
# in each of its six ten-minute spells: repeats packed into half an hour are a
# campaign's or a retry storm's (a bank's card notices resent by a buggy job, then the
# customer's next log-in code), which the burst rules judge.
CROWDED_HOUR = 3
CROWDED_SPELLS = 6
# A new route's prior pace of numbers entering a code (a minute), worth ten minutes:
# its own pace soon speaks.
ENTERED_PRIOR_PER_MIN = 1.0
# A grey route's falls in codes entered: (window, its minutes, the share of the usual
# count under which it has fallen), and how unlikely by chance the fall must be (log10:
# 1 %). A quiet route's fall shows over ten minutes, a busy one's over three.
ENTERED_FALLS = ((W3, 3, 0.25), (W10, 10, 0.5))
ENTERED_SURPRISE = 2.0
# Codes a route's users must usually enter in the window for it to be judged this way: a
# quieter route's users enter codes too seldom to tell a fall from a lull, and pumping
# through it (many small accounts into one range) can make up most of its codes.
USUAL_ENTERED = 12.0
TREES_AFTER_LESSONS = 120
NOVELTY_MINUTES = 60  # a key, address or country stays "new" this long after first use
# A young scope's credentials in use by this many minutes into its life are its own;
# one first used later is new to it (see ScopeState.close).
ORIGIN_SETTLED_MINUTES = 10
# Fraud traces are rare in honest traffic everywhere: their baselines start from
# a strong population prior, so a new scope cannot learn an attack as normal in
# its first minutes.
STRONG_PRIOR_TRIALS = 200.0
FRAUD_TRACES = frozenset({"sequential", "premium"})
# A slow ramp sends a number every minute or two: in a pool this small, the share
# of sends that landed next to an earlier number undercounts a run (its first
# number can never be a hit), so runs are also counted order-free (see _run_signal).
SMALL_POOL = 64
# What pumping rings are paid from: termination fees far above the few cents a
# segment most destinations cost. Above this price a young single-country scope
# (an account's first hour in a country, a range that just woke up) carries the
# money-at-risk signal; see ScopeState.signals. Default of detector.high_price_usd.
HIGH_PRICE_USD = 0.15
PRICED_KINDS = frozenset({"account_country", "prefix"})
# Share of an account's codes that go to a number which had one in the ten minutes
# before: users who ask again. Pumping walks numbers it never texted; bombing texts
# the same few handsets again and again.
RESEND_SHARE = 0.2
# An account that had texted this many distinct numbers before it first sent to a
# country is established: that country is new to it (see ScopeState.signals).
ESTABLISHED_DESTINATIONS = 50
# Sends in ten minutes that make a new country one the account is really texting, not
# a traveller or two asking for a code.
OPENING_SENDS = 5
# A ring that ramps slowly opens a dear country with a trickle that no ten minutes of its
# first hour show, then grows it until it carries most of the account's traffic. For
# its first hours, a country new to the account is also judged on its last hour's share
# (``ScopeState.dear_opening``), once it carries this many sends an hour: three
# openings' worth, so the trickle of a launch's first customers does not count.
RAMP_MINUTES = 240
RAMP_SENDS = 3 * OPENING_SENDS
# Revenue-share fraud through a sign-up form can also go low and wide: a few codes an
# hour into each of many dear countries, none of them ever busy enough to open or ramp.
# This many dear countries taken up within RAMP_MINUTES, together carrying a share of
# the account's last hour that honest expansion does not, are the pattern
# (``ScopeState.dear_countries_hour``).
WIDE_COUNTRIES = 4
# Codes into the dear countries an account took up lately (ScopeState.dear_codes_unentered)
# are judged together once this many are old enough to have been entered.
MIN_DEAR_CODES = 5
# A pumping ring signs up accounts by the dozen and has each send a few codes an hour
# into the block of a dear range it is paid for: no account, and no ten minutes of the
# range, is busy enough to stand out. This many fresh accounts without a verification
# feed sending codes into one range within the hour is the ring itself: independent
# sign-ups do not converge on one range of one dear country.
RING_ACCOUNTS = 5
RING_MINUTES = 60
RING_NUMBERS = 256  # the ring's latest numbers kept, to tell the block it walks


@dataclass(slots=True)
class Signal:
    """One explained surprise: how unlikely ``value`` is next to ``baseline``."""

    surprise: float
    value: float
    baseline: float


def strongest(candidates: Iterable[Signal | None]) -> Signal | None:
    """The most surprising of ``candidates`` (the first of equals); None if none is one.

    A signal read over several windows (the last minute, three, ten) keeps the window
    where it is strongest: a fault shows in the last minutes long before ten.

    >>> strongest([None, Signal(2.0, 0.5, 0.9), Signal(3.0, 0.4, 0.9), Signal(3.0, 0.1, 0.9)])
    Signal(surprise=3.0, value=0.4, baseline=0.9)
    >>> strongest([None]) is None
    True
    """
    best: Signal | None = None
    for got in candidates:
        if got is not None and (best is None or got.surprise > best.surprise):
            best = got
    return best


class ScopeState:
    """Windows, baselines and short memories of one scope instance."""

    def __init__(self, kind: ScopeKind, scope_id: str, step_ms: int, grace_steps: int,
                 seed: int, high_price_usd: float = HIGH_PRICE_USD) -> None:
        self.kind = kind
        self.high_price_usd = high_price_usd
        self.scope_id = scope_id
        self.step_ms = step_ms
        self.steps_per_min = max(1, MINUTE_MS // step_ms)
        spm = self.steps_per_min
        windows = ((spm, 0), (10 * spm, 0), (60 * spm, 0), (10 * spm, grace_steps),
                   (10 * spm, max(1, grace_steps // 2)), (3 * spm, 0),
                   (3 * spm, max(1, grace_steps // 2)), (3 * spm, grace_steps),
                   (60 * spm, grace_steps), (60 * spm, max(1, grace_steps // 2)),
                   (10 * spm, SLOW_REPORTS_MINUTES * spm))
        self.sums = SlidingSums(WIDTH, windows)
        self.open: dict[int, StepBuffer] = {}
        self.last_closed: int | None = None
        self.first_step: int | None = None
        self.seed = seed
        self.rate = SeasonalRate(prior_rate=kind.prior_rate_per_min / spm,
                                 prior_weight=kind.prior_minutes * spm,
                                 half_life_steps=360.0 * spm,
                                 dispersion_after=kind.dispersion_after_minutes * spm)
        self.shares: dict[str, ProportionBaseline] = {}
        # Pumped numbers almost never verify; a launch's new users verify less,
        # but nowhere near zero: only a fall to under half of normal counts (pumping
        # at twice an account's own pace leaves a third of its codes entered).
        self.conversion = ProportionBaseline(kind.priors["conversion"], "down", min_effect=0.5,
                                             prior_weight=STRONG_PRIOR_TRIALS)
        self.delivered = ProportionBaseline(kind.priors["delivered"], "down", min_effect=0.3)
        self.dlr_coverage = ProportionBaseline(kind.priors["dlr_coverage"], "down",
                                               min_effect=0.5)
        # Carriers: how many numbers enter a code a step, the pace the route's usual
        # traffic brings (see codes_lost_by_route). Pumping adds codes nobody enters
        # and leaves this pace alone; it is not learnt from sends for that reason.
        self.entered = SeasonalRate(prior_rate=ENTERED_PRIOR_PER_MIN / spm,
                                    prior_weight=10 * spm, half_life_steps=360.0 * spm)
        self.trees: SquashedHalfSpaceTrees | None = None
        self.judged_lessons = 0
        # Short memories (bounded) for close-time features.
        self.recent_numbers: deque[tuple[int, list[int]]] = deque()
        self.number_pool: list[int] = []
        self.recent_fingerprints: dict[int, int] = {}
        self.seen_links: dict[int, int] = {}  # link hosts' fingerprint -> first step
        # Link hosts the scope's own texts have signed as its site (named them), by
        # fingerprint -> last step: a sports app's kick-off text names its site, its goal
        # alerts an hour later only link to it, and that is still its own site.
        self.own_sites: dict[int, int] = {}
        self.seen_callbacks: dict[int, int] = {}  # callback texts' fingerprint -> first step
        self.recent_otp_numbers: dict[str, int] = {}
        self.recent_verified_numbers: dict[str, int] = {}
        # Numbers sent a code again in the last ten minutes without entering one.
        self.repeated_numbers: dict[str, int] = {}
        # A number's: (step, account, texts that may be codes) over the last hour.
        self.hour_codes: deque[tuple[int, str, int]] | None = None
        # A number's: (step, codes whose account reports verifications, codes whose
        # account does not) since it last entered a code, over two hours.
        self.unanswered: deque[tuple[int, int, int]] | None = None
        self.seen_countries: dict[str, int] = {}
        self.seen_keys: dict[str, int] = {}
        self.seen_ips: dict[str, int] = {}
        # Networks new to the account that sent codes to countries new to it, or
        # marked links (see _close_stranger_links), by last step, for an hour: None
        # until one does.
        self.stranger_networks: dict[str, int] | None = None
        self.lure_networks: dict[str, int] | None = None
        self.recent_accounts: dict[str, float] = {}
        self.error_codes: dict[str, float] = {}
        self.failing_accounts: dict[str, float] = {}
        # Carriers: conversion trials and verifications by account, fading by a tenth
        # a step together (see codes_lost_by_route). A user takes seconds to a minute
        # to enter a code: the last steps' codes are not all entered yet, which leaves
        # an honest sender's share well above half of normal.
        self.code_accounts: dict[str, float] = {}
        self.entered_accounts: dict[str, float] = {}
        self.last_step_destinations: dict[str, int] = {}
        self.last_step_keys: dict[str, int] = {}
        # Keys that sent from a network new within the novelty horizon, or were first
        # used within it, by the step they last did, over the ten minutes to the last
        # close (pruned at every close): which key a hijacker holds (None until one does).
        self.stranger_keys: dict[str, int] | None = None
        self.last_step_strangers = 0.0  # share of the last step's sends from new networks
        # Routes: how many failures the route has reported, when each error code was
        # first returned and after how many failures; the last ten minutes' failures
        # under codes first returned in the last hour (all bounded).
        self.failures_seen = 0
        self.reported = False  # has any delivery report closed here
        # Carriers: the first step of sends not yet followed by a report, and the
        # learnt steps such a wait lasts (see SLOW_REPORTS_MINUTES).
        self.owed_since: int | None = None
        self.report_wait = 0.0
        self.report_waits = 0  # waits learnt
        self.unlearnt_wait: int | None = None  # the longest since the last lesson
        self.seen_error_codes: dict[str, tuple[int, int]] = {}
        self.novel_failures: deque[tuple[int, str, int]] = deque()
        # Lazy learning: what closed since the baselines last learnt.
        self.pending = [0.0] * WIDTH
        self.last_learn_step: int | None = None
        self.last_judged_step: int | None = None
        # The last judgement showed a fraud trace at the alert bar (OTPs going
        # unverified, numbers in a run) whether or not a finding followed: until a
        # judgement says otherwise the level does not learn. Pumping inside a busy
        # account can stay under the volume bar for minutes, and each minute learnt
        # would raise the bar it has to clear (a ramp is learnt as the new normal).
        self.traced = False
        # Carriers: the last judgement saw delivery off its normal by a real effect size
        # (families.DELIVERY_TRACES). Until a judgement says otherwise its shares do not
        # learn (a fault's first minutes, taught as normal, would lower the bar the fault
        # has to clear) and it is judged every step: a fault that builds up slowly on a
        # quiet route crosses the bar on one step's reports, not on the minute's.
        self.faltering = False
        self.history_before = 0  # the account's distinct numbers when this scope began
        # Ranges: fresh accounts without a feed that sent codes here, by last step, and
        # the numbers they sent them to, (step, number) oldest first, over the last
        # RING_MINUTES (see fresh_ring): None until one does, as in most ranges.
        self.fresh_senders: dict[str, int] | None = None
        self.fresh_numbers: deque[tuple[int, str]] | None = None
        # Routes: delivery by the operator behind each number (built with its first
        # report naming one).
        self.operators: OperatorDelivery | None = None
        # Routes: how long their reports take (built with the first report whose send
        # its account remembers).
        self.report_delay: ReportDelay | None = None

    # -- gathering -------------------------------------------------------
    def buffer(self, step: int) -> StepBuffer:
        buf = self.open.get(step)
        if buf is None:
            buf = self.open[step] = StepBuffer()
            if self.kind.carrier:
                buf.code_accounts, buf.entered_accounts = {}, {}
                if self.kind.name == "route":
                    buf.operator_reports, buf.report_waits = {}, []
            elif self.kind.counts_services:
                buf.code_senders = {}
            elif self.kind.name == "prefix":
                buf.fresh_codes = []
        return buf

    # -- closing ---------------------------------------------------------
    def close(self, step: int, seen: DestinationMemory | None) -> StepBuffer:
        """Fold the open step into the windows; return its buffer (now closed)."""
        buf = self.open.pop(step)
        v = buf.values
        if self.first_step is None:
            self.first_step = step
            if seen is not None:
                # How many numbers the account had texted when this scope began: an
                # account x country scope that begins after a long history is a
                # country new to an established account, not the start of the stream.
                self.history_before = seen.count + (
                    seen.capacity if seen.previous is not None else 0)
        novel: set[str] | None = None
        if self.kind.track_destinations and buf.destinations:
            novel = self._close_destinations(step, buf, seen)
        if self.kind.track_bodies and buf.fingerprints:
            self._close_bodies(step, buf)
            if buf.signed_links:
                for fingerprint in buf.signed_links:
                    _mark_seen(self.own_sites, fingerprint, step)
                _forget_older(self.own_sites, -1)  # only past the cap: a site stays its own
            if buf.links and self.own_sites:
                v[FOREIGN_URL] -= _take_own_sites(buf.links, self.own_sites)
            if buf.links:
                v[NEW_LINK] = _novel(buf.links, self.seen_links, step,
                                     NOVELTY_MINUTES * self.steps_per_min)
            if buf.callbacks:
                v[NEW_CALLBACK] = _novel(buf.callbacks, self.seen_callbacks, step,
                                         NOVELTY_MINUTES * self.steps_per_min)
        if buf.otp_numbers:
            v[REPEATS] = _unanswered_repeats(buf, self.recent_otp_numbers,
                                             self.recent_verified_numbers,
                                             self.repeated_numbers, step,
                                             10 * self.steps_per_min)
            v[OTP_NUMBERS] = _fresh(buf.otp_numbers, self.recent_otp_numbers, step,
                                    10 * self.steps_per_min)
        if buf.verified_numbers:
            v[VERIFIED_NUMBERS] = _fresh(buf.verified_numbers, self.recent_verified_numbers,
                                         step, 10 * self.steps_per_min)
        if self.kind.track_origin:
            horizon = NOVELTY_MINUTES * self.steps_per_min
            v[NEW_COUNTRY] = _novel(buf.countries, self.seen_countries, step, horizon)
            v[NEW_KEY] = _novel(buf.keys, self.seen_keys, step, horizon)
            _date_by_block(buf.ips, self.seen_ips)
            v[NEW_IP] = _novel(buf.ips, self.seen_ips, step, horizon)
            self.last_step_keys = buf.keys
            if v[NEW_IP] or v[NEW_KEY] or self.stranger_keys:
                self._mark_stranger_keys(step, buf, step - horizon)
        if self.young(step):
            # Everything is new to a new scope: novelty only means something
            # against a history, so it is remembered but not counted yet. A key,
            # address or country first used well after the scope's opening minutes is
            # the exception: a small account hijacked in its first hour has a history
            # of its own to be new against. Likewise a link host: a shop met in its
            # first hour has been linking to its own site all along.
            # (Only what the kind tracks: the others' memories are empty, and a young
            # prefix or number, the commonest scope of all, need not look.)
            v[NEW_DEST] = 0.0
            settled = self.first_step + ORIGIN_SETTLED_MINUTES * self.steps_per_min
            if self.kind.track_origin:
                v[NEW_COUNTRY] = _first_used_after(buf.countries, self.seen_countries,
                                                   settled)
                v[NEW_KEY] = _first_used_after(buf.keys, self.seen_keys, settled)
                v[NEW_IP] = _first_used_after(buf.ips, self.seen_ips, settled)
            if self.kind.track_bodies:
                v[NEW_LINK] = _first_used_after(buf.links, self.seen_links, settled)
                v[NEW_CALLBACK] = _first_used_after(buf.callbacks, self.seen_callbacks,
                                                    settled)
        if ((buf.keyed_links or self.lure_networks) and self.kind.track_origin
                and not self.young(step)):
            self._close_stranger_links(step, buf, novel or set())
        # (Codes from a network new to the account are the rule's first mark: a step
        # with none, from a scope with no stranger of its own yet, has nothing to count.)
        if (((buf.keyed_codes and v[NEW_IP]) or self.stranger_networks)
                and self.kind.track_origin and not self.young(step)):
            self._close_stranger_codes(step, buf)
        if self.kind.track_origin and v[SENDS]:
            self.last_step_strangers = v[NEW_IP] / v[SENDS]
        if self.kind.attributes_accounts and buf.accounts:
            _decay_into(self.recent_accounts, buf.accounts)
        if buf.fresh_codes:
            self._close_fresh_codes(step, buf.fresh_codes)
        if buf.code_senders:
            if self.hour_codes is None:
                self.hour_codes = deque()
            self.hour_codes.extend((step, account, n) for account, n in buf.code_senders.items())
            self._forget_hour_codes(step)
        if self.kind.counts_services and (buf.answerable_codes or buf.feedless_codes
                                          or self.unanswered):
            self._close_unanswered(step, buf.answerable_codes, buf.feedless_codes,
                                   v[VERIFIED])
        if v[DLRS]:
            self.reported = True
        if self.kind.carrier:
            self._close_report_wait(step, v)
        if buf.error_codes:
            _decay_into(self.error_codes, buf.error_codes)
            if self.kind.name == "route":
                self._close_error_codes(step, buf)
        if buf.failed_accounts:
            _decay_into(self.failing_accounts, buf.failed_accounts)
        if buf.operator_reports:
            if self.operators is None:
                self.operators = OperatorDelivery(10 * self.steps_per_min, self.delivered.mean)
            self.operators.add_step(step, buf.operator_reports)
        if buf.report_waits:
            if self.report_delay is None:
                self.report_delay = ReportDelay(10 * self.steps_per_min)
            self.report_delay.add_step(step, buf.report_waits)
        if buf.code_accounts or buf.entered_accounts:
            _decay_into(self.code_accounts, buf.code_accounts or {})
            _decay_into(self.entered_accounts, buf.entered_accounts or {})
        self.sums.add(step, v)
        self.last_closed = step
        self.pending = list(map(add, self.pending, v))  # same sums as a zip, in C
        return buf

    def _close_report_wait(self, step: int, v: list[float]) -> None:
        if v[DLRS]:
            if self.owed_since is not None:
                self.unlearnt_wait = max(self.unlearnt_wait or 0, step - self.owed_since)
                # This step's sends wait for the next report (a batch covers what was
                # sent before it); with nothing owed before, they came back with it.
                self.owed_since = step if v[SENDS] else None
        elif v[SENDS] and self.owed_since is None:
            self.owed_since = step

    def _learn_report_wait(self, wait: int) -> None:
        self.report_waits += 1
        alpha = max(REPORT_WAIT_ALPHA, 1.0 / self.report_waits)
        self.report_wait += alpha * (wait - self.report_wait)

    def _report_window(self) -> int | None:
        """The lagged window whose sends the route's reports should have covered by now:
        the usual allowance's, a later one's for a route that reports in batches, or
        none for one slower still."""
        spm = self.steps_per_min
        if self.report_wait <= BATCHED_REPORTS_MINUTES * spm:
            return WDLR
        if self.report_wait <= SLOW_REPORTS_MINUTES * spm:
            return W10LATE
        return None

    def _close_destinations(self, step: int, buf: StepBuffer,
                            seen: DestinationMemory | None) -> set[str] | None:
        """Count the step's new and sequential numbers; return the new ones when the
        step sent links that may be lures (see _close_stranger_links)."""
        v = buf.values
        novel: set[str] | None = set() if buf.keyed_links else None
        if seen is not None:
            new = 0  # a plain loop: no generator per close
            for d, c in buf.destinations.items():
                if not seen.add(d):
                    new += c
                    if novel is not None:
                        novel.add(d)
            v[NEW_DEST] = new
        # A sorted pool of the last ten minutes' numbers (a slow ramp sends one number
        # a minute or two), kept incrementally: sorting
        # it afresh at every close would cost more than everything else here.
        numbers, pool = self.recent_numbers, self.number_pool
        while numbers and (numbers[0][0] <= step - RECENT_NUMBERS_MINUTES * self.steps_per_min
                           or len(pool) > RECENT_CAP):
            for n in numbers.popleft()[1]:
                del pool[bisect_left(pool, n)]
        fresh = [int(d[1:]) for d in buf.destinations]
        numbers.append((step, fresh))
        for n in fresh:
            insort(pool, n)
        v[SEQUENTIAL] = sequential_count(buf.destinations, pool)
        self.last_step_destinations = buf.destinations
        return novel

    def _close_stranger_links(self, step: int, buf: StepBuffer, novel: set[str]) -> None:
        """Count the step's links sent with a stolen key's marks, and those of them to
        numbers the account never texted (``novel``).

        An account's key (one it has used for long, or one made lately: a hijacker
        with the console makes his own), used from a network the account never sent
        from, to link to a site it never linked to, that the text does not name,
        offering no way to stop the texts: a hijacker's lure sent with the owner's
        credentials, whatever the pace. Each mark alone is an ordinary change (servers
        move, campaigns link somewhere new); in the same sends they are a stranger. An
        owner's new campaign tool writes to the account's own customers too, and names
        its site or offers an opt-out; a hijacker's list is numbers the account never
        had.
        """
        horizon = step - NOVELTY_MINUTES * self.steps_per_min
        links = lures = 0
        for network, _key, fingerprint, number in buf.keyed_links or ():
            if (self.seen_ips.get(network, horizon) > horizon
                    and self.seen_links.get(fingerprint, horizon) > horizon):
                links += 1
                lures += number in novel
                if self.lure_networks is None:
                    self.lure_networks = {}
                _mark_seen(self.lure_networks, network, step)
        buf.values[STRANGER_LINKS] = links
        buf.values[STRANGER_LINK_PEERS] = _sent_from(buf.ips, self.lure_networks, horizon)
        buf.values[STRANGER_LURES] = lures

    def _close_stranger_codes(self, step: int, buf: StepBuffer) -> None:
        """Count the step's code texts sent from a network new to the account to a
        country new to it, and remember the networks they came from (an hour).

        A key's thief who pumps sends the codes a sign-up form would, where his ring is
        paid (countries the account never served), from the proxies he rents (networks
        it never sent from), at the account's own pace: no share moves far, and every
        such text carries both marks. An account opening a market sends its codes
        from its own servers; one that deploys a server for it, from one network.
        """
        horizon = step - NOVELTY_MINUTES * self.steps_per_min
        codes = 0
        for network, country in buf.keyed_codes or ():
            if (self.seen_ips.get(network, horizon) > horizon
                    and self.seen_countries.get(country, horizon) > horizon):
                codes += 1
                if self.stranger_networks is None:
                    self.stranger_networks = {}
                _mark_seen(self.stranger_networks, network, step)
        buf.values[STRANGER_CODES] = codes
        buf.values[STRANGER_CODE_PEERS] = _sent_from(buf.ips, self.stranger_networks,
                                                     horizon)

    def stranger_code_networks(self, step: int) -> int:
        """How many networks new to the account sent its codes to new countries in the
        last hour (see _close_stranger_codes)."""
        horizon = step - NOVELTY_MINUTES * self.steps_per_min
        return sum(last > horizon for last in (self.stranger_networks or {}).values())

    def _close_error_codes(self, step: int, buf: StepBuffer) -> None:
        """Remember which codes the route returns, and the failures under new ones.

        A carrier fault shows as a code the route does not usually return (a new
        rejection, a dead interconnect); ordinary failures (absent handsets,
        unknown numbers) keep returning the codes the route always had.
        """
        horizon = step - NOVELTY_MINUTES * self.steps_per_min
        seen, young = self.seen_error_codes, self.young(step)
        for code, count in buf.error_codes.items():
            first = seen.get(code)
            if first is None:
                seen[code] = first = (step, self.failures_seen)
            if first[0] > horizon and not young:
                self.novel_failures.append((step, code, count))
            self.failures_seen += count
        if len(seen) > RECENT_CAP:
            for code in list(seen)[: len(seen) - RECENT_CAP]:
                del seen[code]
        keep = step - 10 * self.steps_per_min
        while self.novel_failures and self.novel_failures[0][0] <= keep:
            self.novel_failures.popleft()

    def _close_bodies(self, step: int, buf: StepBuffer) -> None:
        recent = self.recent_fingerprints
        dup = 0
        for fp, count in buf.fingerprints.items():
            dup += count if _mark_seen(recent, fp, step) is not None else count - 1
        _forget_older(recent, step - 10 * self.steps_per_min)
        buf.values[DUP_BODY] = dup

    def _close_unanswered(self, step: int, codes: int, feedless: int, entered: float
                          ) -> None:
        if entered:  # its owner entered a code: whatever came before was asked for
            self.unanswered = None
            return
        if self.unanswered is None:
            self.unanswered = deque()
        if codes or feedless:
            self.unanswered.append((step, codes, feedless))
        _forget_steps(self.unanswered, step - 120 * self.steps_per_min)

    # -- judging ---------------------------------------------------------
    def young(self, step: int) -> bool:
        """True for the first hour: everything a new scope sees is "first seen in the
        last hour", so novelty means nothing yet, and its volume has no history."""
        return (self.first_step is None
                or step - self.first_step < NOVELTY_MINUTES * self.steps_per_min)

    def opens_dear_country(self, step: int, unpriced: bool = False) -> bool:
        """Is this the account's first hour in a high-priced country, with real traffic
        (see OPENING_SENDS)? (Only an established account's new country also counts as
        new: a young account needs one more country at once to raise the same odds.)
        ``unpriced``: a country whose sends do not say their price counts too."""
        if self.kind.name != "account_country" or not self.young(step):
            return False
        if self.sums.total_of(W10, SENDS) < OPENING_SENDS:
            return False
        return self._dear(unpriced)

    def _dear(self, unpriced: bool) -> bool:
        """Did the last ten minutes' sends cost a high price a segment (or, with
        ``unpriced``, not say their price)?"""
        price = self.segment_price()
        return price is not None and (price >= self.high_price_usd
                                      or (unpriced and price == 0))

    def dear_spread(self, step: int, siblings: Iterable[ScopeState]) -> Signal | None:
        """Several high-priced countries new to the account at once, this one among them.

        An account opens a new market one at a time (a launch); a pumping ring that
        owns ranges in several expensive countries turns a sign-up form on all of them.
        Each further country is one more fact as unlikely as this one: a send to a
        country new to the account, at a premium price.
        """
        if not self.opens_dear_country(step):
            return None
        others = sum(1 for _ in self._opening_siblings(step, siblings, unpriced=False))
        if not others:
            return None
        priors = self.kind.priors
        each = -log10(priors["new_country"]) - log10(priors["premium"])
        return Signal(others * each, others + 1.0, 1.0)

    def dear_opening(self, step: int, account: ScopeState | None,
                     siblings: Iterable[ScopeState] = (), met_at_start: bool = False
                     ) -> Signal | None:
        """How unlikely it is that this many of an account's last ten minutes' sends go
        to this high-priced country, new to it, and to the others it opened with it
        (``siblings``: the account's scopes), when honest accounts send a small share of
        their traffic to countries they never texted before.

        A launch opens a market with a trickle beside its usual traffic; a ring pumping
        a dear range makes it a large share at once, or several such ranges a share
        each. (Without a verification feed this share and the price are all there is to
        tell them apart; a country whose sends do not say their price counts, as nothing
        says it is not dear.) Past the ten minutes' bar, a country in the account's first
        hours is judged on its last hour alone: a slow ramp (see RAMP_MINUTES).
        """
        if self.opens_dear_country(step, unpriced=True):
            window = W10
        elif (self._ramps_dear_country(step) and account is not None
              and self._began_after(account)):
            # (Only a country begun after the account had a past of its own: a new
            # tenant's first country is where it sends, however long it has been.)
            window, siblings = W60, ()  # (a ramp's siblings would open at other times)
        else:
            return None
        # ``account``: the account-wide scope this one belongs to.
        if account is None or not self.opened_late(account, step, met_at_start):
            return None
        here = self.sums.total_of(window, SENDS) + sum(
            s.sums.total_of(window, SENDS)
            for s in self._opening_siblings(step, siblings, unpriced=True)
            if s.opened_late(account, step, met_at_start))
        total = max(account.sums.total_of(window, SENDS), here)
        # Against the population's share, never learnt (a first hour has no history),
        # and only a move of real size counts (the share baselines' minimum effect).
        usual = ProportionBaseline(self.kind.priors["new_country"], "up")
        return Signal(usual.score(here, total), share(here, total),
                      usual.prior)

    def _ramps_dear_country(self, step: int) -> bool:
        """Is this a dear (or unpriced) country past the account's first hour in it but
        within its first ``RAMP_MINUTES``, with ``RAMP_SENDS`` in the last hour?"""
        if (self.kind.name != "account_country" or self.first_step is None
                or step - self.first_step >= RAMP_MINUTES * self.steps_per_min
                or self.sums.total_of(W60, SENDS) < RAMP_SENDS):
            return False
        return self._dear(unpriced=True)

    def other_dear_openings(self, step: int, siblings: Iterable[ScopeState],
                            account: ScopeState) -> int:
        """How many other high-priced countries the account (``account``: its
        account-wide scope) took up in its last ``RAMP_MINUTES``: a launch opens one
        market at a time; a ring stopped in one range moves on to the next."""
        return sum(1 for s in _dear_countries_taken_up(step, siblings, account)
                   if s is not self)

    def dear_countries_hour(self, step: int, siblings: Iterable[ScopeState]
                            ) -> Signal | None:
        """How unlikely it is that this many of the account's last hour's sends went to
        high-priced countries it took up in its last ``RAMP_MINUTES``, when there are
        ``WIDE_COUNTRIES`` of them or more (``siblings``: the account's scopes; this
        scope: its account-wide one). The value is the number of countries."""
        taken = _dear_countries_this_hour(step, siblings, self)
        if len(taken) < WIDE_COUNTRIES:
            return None
        here = sum(s.sums.total_of(W60, SENDS) for s in taken)
        total = max(self.sums.total_of(W60, SENDS), here)
        usual = ProportionBaseline(self.kind.priors["new_country"], "up")
        return Signal(usual.score(here, total), float(len(taken)), float(WIDE_COUNTRIES - 1))

    def _mark_stranger_keys(self, step: int, buf: StepBuffer, since: int) -> None:
        if self.stranger_keys is None:
            self.stranger_keys = {}
        for key in buf.keys:
            if self.seen_keys.get(key, since) > since:
                _mark_seen(self.stranger_keys, key, step)
        for network in buf.ips:
            key = buf.network_keys.get(network)
            if key is not None and self.seen_ips.get(network, since) > since:
                _mark_seen(self.stranger_keys, key, step)
        _forget_older(self.stranger_keys, step - 10 * self.steps_per_min)

    def trickles_into_dear_country(self, step: int) -> bool:
        """Is this an account x country scope in its first ``RAMP_MINUTES``, at a high
        price, that sent codes within the hour? Such a scope is judged each minute it
        sends, however few its sends (see dear_codes_unentered)."""
        return (self.kind.name == "account_country" and self.first_step is not None
                and step - self.first_step < RAMP_MINUTES * self.steps_per_min
                and self.sums.total_of(W60, OTP) > 0 and self._dear(unpriced=False))

    def dear_codes_unentered(self, step: int, siblings: Iterable[ScopeState],
                             account: ScopeState) -> Signal | None:
        """How few of the codes the account sent over the last hour into the high-priced
        countries it took up in its last ``RAMP_MINUTES`` (this scope's country among
        them, its own codes unentered too) were entered, against the account's normal
        conversion (``siblings``: the account's scopes; ``account``: its account-wide
        one).

        Pumping hidden in a busy sign-up form can go a few codes an hour into each of
        several dear ranges: no country, and no ten minutes, holds enough of them to
        say anything. Together they do, beside the account's users entering theirs: an
        honest market the account opens has users who enter their codes like the rest.
        """
        if next(_dear_countries_taken_up(step, (self,), account), None) is None:
            return None  # (asked first: most countries judged are no such country)
        hits = trials = 0.0
        for scope in _dear_countries_this_hour(step, siblings, account):
            entered, codes = scope._conversion_counts(scope.sums.totals(W60),
                                                      scope.sums.totals(W60CONV))
            if scope is self and entered > self._fallen_share(account.conversion.mean) * codes:
                return None  # this country's codes are entered: its users are real
            hits, trials = hits + entered, trials + codes
        if trials < MIN_DEAR_CODES:
            return None
        return Signal(account.conversion.score(hits, trials), share(hits, trials),
                      account.conversion.mean)

    def _opening_siblings(self, step: int, siblings: Iterable[ScopeState], unpriced: bool
                          ) -> Iterator[ScopeState]:
        """The other scopes of ``siblings`` in their first hour in a high-priced (or, with
        ``unpriced``, an unpriced) country (see opens_dear_country). Only those that
        closed a step in the last minute: a scope's windows move when it closes, so a
        quiet one's would still hold sends long past."""
        recent = step - self.steps_per_min
        return (s for s in siblings if s is not self and s.last_closed is not None
                and s.last_closed > recent and s.opens_dear_country(step, unpriced))

    def opened_late(self, account: ScopeState, step: int, met_at_start: bool) -> bool:
        """Did this account x country scope begin when its account (the account-wide
        scope) had a past: many numbers texted, or an hour of texting (a small shop's few
        customers)? Only then is the country one the account opened. An account met as
        the detector started (``met_at_start``) was sending before: the countries of its
        first hour here are where it already sent. One that appeared later began here:
        once it is an hour old, what it still sends to a country its first hour opened
        counts too."""
        if self.first_step is None or account.first_step is None:
            return False
        if self._began_after(account):
            return True
        return not met_at_start and not account.young(step)

    def _began_after(self, account: ScopeState) -> bool:
        """Did this scope begin once its account had a past: many numbers texted, or
        an hour of texting?"""
        return (self.first_step is not None and account.first_step is not None
                and (self.history_before >= ESTABLISHED_DESTINATIONS
                     or self.first_step - account.first_step
                     >= NOVELTY_MINUTES * self.steps_per_min))

    def _close_fresh_codes(self, step: int, codes: list[tuple[str, str]]) -> None:
        if self.fresh_senders is None or self.fresh_numbers is None:
            self.fresh_senders, self.fresh_numbers = {}, deque(maxlen=RING_NUMBERS)
        for account, number in codes:
            _mark_seen(self.fresh_senders, account, step)
            self.fresh_numbers.append((step, number))
        self._forget_fresh(step)

    def fresh_ring(self, step: int) -> int:
        """How many fresh accounts without a verification feed sent codes into this
        range in the last ``RING_MINUTES`` (see RING_ACCOUNTS)."""
        if not self.fresh_senders:
            return 0
        self._forget_fresh(step)
        return len(self.fresh_senders)

    def _forget_fresh(self, step: int) -> None:
        """Drop the ring's senders and numbers older than ``RING_MINUTES``, as they are
        written and as they are read (a busy range may go long without being asked)."""
        since = step - RING_MINUTES * self.steps_per_min
        if self.fresh_senders is not None and self.fresh_numbers is not None:
            _forget_older(self.fresh_senders, since)
            _forget_steps(self.fresh_numbers, since)

    def ready(self) -> bool:
        total = self.sums.total_of
        return (total(W10, SENDS) >= self.kind.min_sends
                or total(W10, DLRS) >= self.kind.min_dlrs)

    def flooded_by_services(self, step: int, bar: float) -> bool:
        """Is the number's hour of codes from several services at ``bar`` already,
        however slowly they came (too slowly to make it :meth:`ready`)?"""
        if self.hour_codes is None or len(self.hour_codes) < SEVERAL_SERVICES:
            return False
        services = self._services_signal(step)
        return services is not None and services.surprise >= bar

    def pestered(self, step: int) -> bool:
        """Has the number been sent ``PERSISTENT_CODES`` codes or more in each of the last
        two hours by accounts that report verifications (or twice that by accounts that
        do not), or ``CROWDED_HOUR`` times that all through the last hour, and entered
        none?"""
        return self.unanswered is not None and self.persistent_codes(step) is not None

    def persistent_codes(self, step: int) -> tuple[int, int, bool] | None:
        """The codes of the last hour and of the hour before if they are persistent
        (see :meth:`pestered`), and whether their accounts report verifications."""
        for feedless, pace in ((False, PERSISTENT_CODES), (True, FEEDLESS_PERSISTENT_CODES)):
            last, before = self.unanswered_hours(step, feedless)
            if min(last, before) >= pace or (
                    last >= CROWDED_HOUR * pace
                    and self._spells_with_codes(step, feedless) >= CROWDED_SPELLS):
                return last, before, not feedless
        return None

    def _spells_with_codes(self, step: int, feedless: bool) -> int:
        """In how many of the six ten-minute spells of the hour ending at ``step`` the
        number was sent an unentered code."""
        spell = 10 * self.steps_per_min
        column = 2 if feedless else 1
        return len({(step - entry[0]) // spell for entry in self.unanswered or ()
                    if step - entry[0] < 6 * spell and entry[column]})

    def judge_due(self, step: int, closed: list[float], burst_surprise: float) -> bool:
        """Judge once a minute, or at once when this step alone is a burst.

        Judging costs far more than gathering; a minute's cadence bounds the
        delay of slow signals (conversion, delivery) while a volume burst is
        judged the moment its step closes.
        """
        if self.last_judged_step is None or step - self.last_judged_step >= self.steps_per_min:
            return True
        if closed[SEQUENTIAL] + closed[PREMIUM] > closed[SENDS] / 2 and self.young(step):
            # Most of this step's sends carry a fraud trace (a number next to a recent
            # one, a premium-rate number) in a scope judged on its traces alone (no
            # volume history): a slow attack shows a send at a time, so each one is
            # judged as it closes, not up to a minute later.
            return True
        if self.faltering or (self.kind.carrier and closed[FAILED] >= 2
                               and closed[FAILED] >= closed[DLRS] / 4):
            # A route whose delivery is already off its normal, or a quarter of whose
            # reports this step are failures (going dark, an operator behind it starting
            # to refuse), is judged now, not up to a minute on.
            return True
        if closed[SENDS] < 3:
            return False
        ts = (step + 1) * self.step_ms
        return self.rate.score(ts, closed[SENDS], 1) >= burst_surprise

    def signals(self, step: int) -> dict[str, Signal]:
        """Surprises of the windows ending at ``step`` against the baselines."""
        self.last_judged_step = step
        kind, spm = self.kind, self.steps_per_min
        t1, t10 = self.sums.totals(W1), self.sums.totals(W10)
        ts = (step + 1) * self.step_ms
        out: dict[str, Signal] = {}
        if t10[SENDS] >= kind.min_sends:
            v1 = self.rate.score(ts, t1[SENDS], spm)
            v10 = self.rate.score(ts, t10[SENDS], 10 * spm)
            if v1 >= v10:
                out["volume"] = Signal(v1, t1[SENDS], self.rate.expected(ts, spm))
            else:
                out["volume"] = Signal(v10, t10[SENDS], self.rate.expected(ts, 10 * spm))
            for name in SHARES_BY_KIND[kind.name]:
                out[name] = self._share_signal(name, t1, t10)
            if kind.name in LONG_TEXT_KINDS and t10[LONG]:
                long_texts = self._long_text_signal(t1, t10)
                if long_texts is not None:
                    out["long"] = long_texts
            if "sequential" in out:
                out["sequential"] = strongest((out["sequential"], self._run_signal(step)))
            if kind.name in PRICED_KINDS and self.young(step):
                price = self.segment_price()
                if price is not None and price >= self.high_price_usd:
                    # One fact about the destination, not one per send (every send of
                    # a single-country scope costs about the same): worth the odds of a
                    # premium-priced send in honest traffic, once. The finding rules
                    # count it only beside a behavioural trace.
                    out["high_price"] = Signal(-log10(kind.priors["premium"]), price,
                                               self.high_price_usd)
            if (kind.name == "account_country" and self.young(step)
                    and self.history_before >= ESTABLISHED_DESTINATIONS):
                # Likewise one fact: an established account's first hour in this
                # country, worth the odds of a send to a new country in honest traffic.
                out["new_country"] = Signal(-log10(kind.priors["new_country"]), 1.0,
                                            kind.priors["new_country"])
        if kind.counts_services:
            services = self._services_signal(step)
            if services is not None:
                out["services"] = services
            unanswered = self._unanswered_signal(step)
            if unanswered is not None:
                out["unanswered"] = unanswered
        # (Codes are judged a minute after they are sent, their entries over the last ten
        # minutes: with no code in those ten, the codes judged are the eleventh minute's,
        # whose entries have just left the window. A burst of codes that ended would
        # read as never entered.)
        if (kind.sees_verifications and t10[OTP]
                and self.sums.total_of(WCONV, OTP) >= 3):
            out["conversion"] = self._conversion_signal(t10, self.sums.totals(WCONV))
            if kind.carrier:
                # A route that stops getting codes through stops at once: its last three
                # minutes show it long before ten do (as for its reports).
                recent = self._conversion_signal(self.sums.totals(W3),
                                                 self.sums.totals(W3CONV))
                out["conversion"] = strongest((out["conversion"], recent))
        if kind.name in HOURLY_CONVERSION_KINDS and self.young(step):
            # A young scope is judged on its traces alone, and pumping that keeps to a few
            # codes every ten minutes (low and slow, or a ramp that pauses) leaves each
            # ten minutes short of the bar. Over the scope's first hour its codes add up,
            # while the last ten minutes' codes go unentered too: an attack that stopped,
            # or a stray code, does not keep an hour-old one going.
            ten, hourly = out.get("conversion"), self.sums.totals(W60CONV)
            if (ten is not None and ten.value <= self._fallen_share(ten.baseline)
                    and hourly[OTP] >= 3):
                out["conversion"] = strongest((ten, self._conversion_signal(
                    self.sums.totals(W60), hourly)))
        elif kind.name == "account_country" and "conversion" in out:
            # A country the account serves: pumping hidden beside its own users keeps to
            # a few codes every ten minutes, and no ten minutes of them clear the bar
            # while the country's conversion learns them. Its hour of codes does (while
            # the last ten minutes' go unentered too), judged apart (see findings).
            ten, hourly = out["conversion"], self.sums.totals(W60CONV)
            if (ten.value <= self._fallen_share(ten.baseline)
                    and hourly[OTP] >= HOUR_CODES):
                out["conversion_hour"] = self._conversion_signal(self.sums.totals(W60),
                                                                 hourly)
        if (t10[REPEATS] and t10[OTP] >= kind.min_sends and kind.sees_verifications
                and kind.name != "destination" and not kind.carrier):
            # Codes to numbers that had one minutes before and entered none: users
            # asking again, or handsets being bombed (a number's own scope judges it).
            out["repeats"] = Signal(binomial_surprise(t10[REPEATS], t10[OTP], RESEND_SHARE),
                                    share(t10[REPEATS], t10[OTP]), RESEND_SHARE)
        # A route that dies shows in the last minutes long before it moves the 10-minute
        # share: judge 1, 3 and 10 minutes and keep the strongest.
        sees_sends = self._sees_its_sends(t10)
        delivered = strongest(self._delivered_signal(window, sees_sends)
                              for window in (t1, self.sums.totals(W3), t10))
        if delivered is not None:
            out["delivered"] = delivered
        if self.operators is not None:
            worst = self.operators.worst(step, kind.min_dlrs, sees_sends)
            if worst is not None:
                out["operator_delivered"] = Signal(*worst[1:])
        if self.report_delay is not None:
            # (A route that sees its sends, with none in ten minutes, hears only the
            # stragglers of earlier ones: no wait to judge.)
            slow = self.report_delay.signal(
                step, t10[SENDS] if self._sees_sends_over_hour() else None)
            if slow is not None:
                out["report_delay"] = Signal(*slow)
        if kind.name == "route" and self.novel_failures:
            # (A route's code is new to it, not to one of its countries: a country's
            # few failures would make every code the route returns look new there.)
            new_code = self._new_code_signal(step, t1, t10)
            if new_code is not None:
                out["new_error_code"] = new_code
        if kind.carrier:
            out.update(self._coverage_signal(t10))
        if kind.use_trees and self.trees is not None and "volume" in out:
            out["trees"] = Signal(self.trees.score_one(self._tree_features(out)), 0.0, 0.0)
        return out

    def _services_signal(self, step: int) -> Signal | None:
        """A number's codes over the last hour, from several services, against what the
        population's numbers receive in an hour (its own level learns a slow flood as
        its normal within minutes; no person's normal is codes from many services)."""
        services, codes = self.services_last_hour(step)
        if services < SEVERAL_SERVICES:
            return None
        expected = 60 * self.kind.prior_rate_per_min
        return Signal(poisson_surprise(codes, expected), codes, expected)

    def _unanswered_signal(self, step: int) -> Signal | None:
        """A number's codes over two hours, none entered, against what the population's
        numbers receive in two hours (once it is :meth:`pestered`)."""
        persistent = self.persistent_codes(step)
        if persistent is None:
            return None
        codes = persistent[0] + persistent[1]
        expected = 120 * self.kind.prior_rate_per_min
        return Signal(poisson_surprise(codes, expected), codes, expected)

    def _sees_its_sends(self, t10: list[float]) -> bool:
        """Does this scope see the sends its reports are about?

        The contract makes a send's route optional and a report's too: a gateway may
        name the route on every report but on some accounts' sends only. Such a route
        sees a fraction of its sends, and its reports outnumber them hour after hour
        (a route that sees them all has about a report a send over the hour, late
        tails and all). Its reports are then all its own: trimmed to the sends it
        sees, the failures of a whole operator gone dark would be cut away.
        """
        return bool(t10[SENDS]) and self._sees_sends_over_hour()

    def _sees_sends_over_hour(self) -> bool:
        hour = self.sums.totals(W60)
        return hour[DLRS] <= REPORTS_PER_SEEN_SEND * hour[SENDS]

    def _delivered_signal(self, window: list[float], sees_sends: bool) -> Signal | None:
        hits, trials = own_reports(window[DELIVERED], window[DLRS], window[SENDS],
                                   sees_sends)
        if trials < self.kind.min_dlrs:
            return None
        return Signal(self.delivered.score(hits, trials),
                      share(hits, trials), self.delivered.mean)

    def _coverage_signal(self, t10: list[float]) -> dict[str, Signal]:
        """A route's report coverage: reports against sends old enough to be reported,
        over 3 and 10 minutes (the stronger): a route that stops reporting shows in the
        last minutes long before it moves the 10-minute share.

        When traffic falls (a campaign ends) the lagged window's oldest sends reported
        before this window began: no more trials are counted than this window sent.
        """
        if not self.reported:
            # A route whose reports never reach the detector (a gateway that does not
            # forward them) has no coverage to lose.
            return {}
        lagged = self._report_window()
        if lagged == WDLR:
            windows = [(t10, WDLR), (self.sums.totals(W3), W3DLR)]
        else:
            # A route that reports in batches: its last three minutes are no measure.
            windows = [] if lagged is None else [(t10, lagged)]
        if t10[SENDS] < self.kind.min_dlrs or lagged is None:
            # Too quiet (or its reports too slow) for ten minutes to say anything: a
            # country a route carries a few texts a minute into goes an hour without a
            # report before it shows.
            windows.append((self.sums.totals(W60), W60DLR))
        best = strongest(self._coverage_over(window, lagged) for window, lagged in windows)
        return {} if best is None else {"dlr_coverage": best}

    def quiet_route_due(self, step: int) -> bool:
        """Is this a quiet carrier (too few texts in ten minutes to be judged) that sent
        enough over the hour for its report coverage to speak, and was it last judged
        ten minutes ago or more? Reports an hour late show only over the hour."""
        if not (self.kind.carrier and self.reported):
            return False
        if (self.last_judged_step is not None
                and step - self.last_judged_step < 10 * self.steps_per_min):
            return False
        return self.sums.total_of(W60DLR, SENDS) >= self.kind.min_dlrs

    def _coverage_over(self, window: list[float], lagged: int) -> Signal | None:
        sent = min(self.sums.total_of(lagged, SENDS), window[SENDS])
        if sent < self.kind.min_dlrs:
            return None
        got = min(window[DLRS], sent)
        return Signal(self.dlr_coverage.score(got, sent),
                      share(got, sent), self.dlr_coverage.mean)

    def _share_baseline(self, name: str) -> ProportionBaseline:
        weight = STRONG_PRIOR_TRIALS if name in FRAUD_TRACES else 20.0
        return ProportionBaseline(self.kind.priors[name], SHARE_SIGNALS[name][1],
                                  prior_weight=weight)

    def _new_code_signal(self, step: int, t1: list[float], t10: list[float]
                         ) -> Signal | None:
        """How unlikely the recent failures under a new error code are, given the
        route's failures before that code first appeared (1, 3, 10 minutes).

        A partial fault on a quiet route takes many minutes to move the delivered
        share clear of its normal failures. Which codes the failures carry is a
        second, independent question: a code absent from the route's ``F`` earlier
        failures has a share of about ``1 / (F + 2)`` (Laplace), so failures that
        now come under it are surprising in proportion to that history. A route
        that only just started failing has no history, and no surprise.
        """
        return strongest(self._new_code_candidates(step, t1, t10))

    def _new_code_candidates(self, step: int, t1: list[float], t10: list[float]
                             ) -> Iterable[Signal]:
        for window, minutes in ((t1, 1), (self.sums.totals(W3), 3), (t10, 10)):
            trials = window[FAILED]
            if window[DLRS] < self.kind.min_dlrs or not trials:
                continue
            since = step - minutes * self.steps_per_min
            by_code: dict[str, int] = {}
            for closed_step, code, count in self.novel_failures:
                if closed_step > since:
                    by_code[code] = by_code.get(code, 0) + count
            for code, hits in by_code.items():
                base = 1.0 / (self.seen_error_codes.get(code, (0, 0))[1] + 2.0)
                got_share = min(hits, trials) / trials
                # As for every share: only a move of real size counts (min_effect 0.3).
                if got_share < base + 0.3 * (1.0 - base):
                    continue
                yield Signal(binomial_surprise(min(hits, trials), trials, base),
                             got_share, base)

    def _run_signal(self, step: int) -> Signal | None:
        """Sequential numbers counted order-free in a small pool of recent numbers.

        Of ``n`` distinct numbers of the last ten minutes, ``n - 1`` could have landed
        next to another; ``joins`` did (gaps within SEQUENTIAL_DISTANCE). A walk
        through a range (x, x+1, x+3) is 2 joins of 2, where the per-send share says
        2 of 3: the first number of a run can never be "next to an earlier one".
        Only for small pools, where that difference matters and sorting is cheap.
        """
        horizon = step - RECENT_NUMBERS_MINUTES * self.steps_per_min
        numbers: list[int] = []
        for closed_step, fresh in self.recent_numbers:
            if closed_step > horizon:
                numbers.extend(fresh)
                if len(numbers) > SMALL_POOL:
                    return None
        distinct = sorted(set(numbers))
        trials = len(distinct) - 1
        if trials < 1:
            return None
        joins = 0
        for low, high in zip(distinct, distinct[1:], strict=False):
            if high - low <= SEQUENTIAL_DISTANCE:
                joins += 1
        model = self.shares.get("sequential")
        if model is None:
            model = self.shares["sequential"] = self._share_baseline("sequential")
        return Signal(model.score(joins, trials),
                      share(joins, trials), model.mean)

    def _conversion_signal(self, recent: list[float], matured: list[float]) -> Signal:
        hits, trials = self._conversion_counts(recent, matured)
        return Signal(self.conversion.score(hits, trials),
                      share(hits, trials), self.conversion.mean)

    def _fallen_share(self, usual: float) -> float:
        """The conversion at or under which codes entered have fallen by a real effect
        size: the conversion model's own (half of normal)."""
        return (1.0 - self.conversion.min_effect) * usual

    def codes_tried(self) -> bool:
        """Were the last ten minutes' codes met by attempts to enter them, right or
        wrong (see features.TYPED_WITHIN_MS), at ``CODES_ENTERED`` of the scope's normal
        conversion?

        A login service that rejects good codes leaves its users typing them, failing,
        and asking again: codes entered collapse and resends soar, as under pumping,
        but every attempt is a person holding the code. Pumped numbers belong to nobody
        and nobody types what they receive (a service that reports each code running
        out unentered reports it once the code expires, not within the minute).
        """
        recent = self.sums.totals(W10)
        _, trials = self._conversion_counts(recent, self.sums.totals(WCONV))
        return (trials > 0
                and recent[TYPED] >= CODES_ENTERED * self.conversion.mean * trials)

    def codes_entered_over_hour(self) -> bool:
        """Were the scope's codes of the last hour entered at ``CODES_ENTERED`` of its
        normal share or more?"""
        hits, trials = self._conversion_counts(self.sums.totals(W60),
                                               self.sums.totals(W60CONV))
        return trials > 0 and hits >= CODES_ENTERED * self.conversion.mean * trials

    def new_origin_over_hour(self) -> bool:
        """Did more than ``HOUR_NEW_ORIGIN`` of the scope's last hour of sends come from a
        key or a network first used within the hour before each was sent?"""
        hour = self.sums.totals(W60)
        return max(hour[NEW_KEY], hour[NEW_IP]) > HOUR_NEW_ORIGIN * hour[SENDS]

    def _conversion_counts(self, recent: list[float], matured: list[float]) -> tuple[float, float]:
        """Verified over OTP'd numbers (sends, for one handset), old enough to have verified."""
        if self.kind.name == "destination":
            return min(recent[VERIFIED], matured[OTP]), matured[OTP]
        trials = matured[OTP_NUMBERS]
        return min(recent[VERIFIED_NUMBERS], trials), trials

    def _share_signal(self, name: str, t1: list[float], t10: list[float]) -> Signal:
        field_index, direction = SHARE_SIGNALS[name]
        model = self.shares.get(name)
        if model is None:
            model = self.shares[name] = self._share_baseline(name)
        s1 = model.score(t1[field_index], t1[SENDS])
        s10 = model.score(t10[field_index], t10[SENDS])
        window = t1 if s1 >= s10 else t10
        return Signal(max(s1, s10), share(window[field_index], window[SENDS]), model.mean)

    def _long_text_signal(self, t1: list[float], t10: list[float]) -> Signal | None:
        """The share of long texts over the last minute and ten (the stronger),
        against the fifty minutes before (see LONG_TEXT_KINDS)."""
        hour = self.sums.totals(W60)
        before = hour[SENDS] - t10[SENDS]
        if before < LONG_TEXT_HISTORY_SENDS:
            return None
        usual = max((hour[LONG] - t10[LONG]) / before, LONG_TEXT_FLOOR)
        best = None
        for window in (t1, t10):
            if not window[SENDS]:
                continue
            observed = window[LONG] / window[SENDS]
            if observed < usual + MIN_LONG_TEXT_EFFECT * (1.0 - usual):
                continue
            surprise = binomial_surprise(window[LONG], window[SENDS], usual, upper=True)
            if best is None or surprise > best.surprise:
                best = Signal(surprise, observed, usual)
        return best

    def _tree_features(self, signals: dict[str, Signal]) -> dict[str, float]:
        vol = signals["volume"]
        x = {"volume_ratio": vol.value / max(vol.baseline, 1e-6)}
        for name in SHARES_BY_KIND[self.kind.name]:
            x[name] = signals[name].value
        return x

    # -- learning --------------------------------------------------------
    def learn(self, step: int, flagged: bool, signals: dict[str, Signal] | None = None) -> None:
        """Fold what closed since the last lesson into the baselines, unless flagged."""
        span = step - self.last_learn_step if self.last_learn_step is not None else 1
        self.last_learn_step = step
        pending, self.pending = self.pending, [0.0] * WIDTH
        if self.unlearnt_wait is not None:
            if not flagged:
                self._learn_report_wait(self.unlearnt_wait)
            self.unlearnt_wait = None
        # A route's models of its reports (by operator, their wait) learn or skip together.
        report_models = (self.operators, self.report_delay)
        if flagged or self.faltering or span <= 0:
            for model in report_models:
                if model is not None:
                    model.skip_lesson()
        if flagged or span <= 0:
            return
        ts = (step + 1) * self.step_ms
        if not self.traced:
            self.rate.learn(ts, pending[SENDS], span)
        if pending[SENDS]:
            # A young scope is judged against the population: its fraud traces do not
            # teach yet, or an attack that starts with the scope's life (a pumped range,
            # an account's first hour in a country) would raise its own bar send by send.
            young = self.young(step)
            for name in SHARES_BY_KIND[self.kind.name]:
                if young and name in FRAUD_TRACES:
                    continue
                model = self.shares.get(name)
                if model is None:
                    model = self.shares[name] = self._share_baseline(name)
                model.learn(pending[SHARE_SIGNALS[name][0]], pending[SENDS])
        if self.faltering:
            return
        if pending[DLRS]:
            self.delivered.learn(pending[DELIVERED], pending[DLRS])
        for model in report_models:
            if model is not None:
                model.learn()
        # (One component first: most lessons are of scopes without codes, and a lesson
        # that was not judged has no window vector at hand to read it from.)
        if self.kind.sees_verifications and self.sums.total_of(WCONV, OTP) >= 1:
            # The conversion window spans ten minutes; learn the part that is new.
            weight = min(1.0, span / (10 * self.steps_per_min))
            t10 = self.sums.totals(W10)
            hits, trials = self._conversion_counts(t10, self.sums.totals(WCONV))
            self.conversion.learn(hits * weight, trials * weight)
        if self.kind.carrier:
            if not self.traced:  # its codes going unentered: not the route's usual pace
                self.entered.learn(ts, pending[VERIFIED_NUMBERS], span)
            # Learnt over the windows it is judged on: a route too slow for ten minutes
            # is judged, and learns, over the hour.
            lagged, reports, minutes = self._report_window(), W10, 10
            if lagged is None:
                lagged, reports, minutes = W60DLR, W60, 60
            sent = self.sums.total_of(lagged, SENDS)
            if sent:
                weight = min(1.0, span / (minutes * self.steps_per_min))
                got = min(self.sums.total_of(reports, DLRS), sent)
                self.dlr_coverage.learn(got * weight, sent * weight)
        if self.kind.use_trees and signals and "volume" in signals:
            self.judged_lessons += 1
            # Building the trees costs milliseconds: only for scopes busy enough
            # to have been judged many times, the ones whose normal is rich.
            if self.trees is None and self.judged_lessons >= TREES_AFTER_LESSONS:
                self.trees = SquashedHalfSpaceTrees(
                    scales={"volume_ratio": 1.0}, n_trees=8, height=5, seed=self.seed,
                    warmup=30, window_size=30)
            if self.trees is not None:
                self.trees.learn_one(self._tree_features(signals))

    def learn_due(self, step: int) -> bool:
        """Quiet scopes learn once a minute at most: cheap, and enough for a rate."""
        return self.last_learn_step is None or step - self.last_learn_step >= self.steps_per_min

    # -- evidence helpers ------------------------------------------------
    def _forget_hour_codes(self, step: int) -> None:
        _forget_steps(self.hour_codes, step - 60 * self.steps_per_min)

    def services_last_hour(self, step: int) -> tuple[int, int]:
        """How many services (accounts) sent this number texts that may be codes over
        the hour ending at ``step``, and how many such texts they sent."""
        if not self.hour_codes:
            return 0, 0
        self._forget_hour_codes(step)
        return (len({account for _, account, _ in self.hour_codes}),
                sum(n for _, _, n in self.hour_codes))

    def unanswered_hours(self, step: int, feedless: bool = False) -> tuple[int, int]:
        """Codes sent to this number by accounts that report verifications (``feedless``:
        that do not), in the hour ending at ``step`` and in the hour before, since it
        last entered a code."""
        hour = step - 60 * self.steps_per_min
        last = before = 0
        column = 2 if feedless else 1
        for entry in self.unanswered or ():
            at, n = entry[0], entry[column]
            if at > hour:
                last += n
            elif at > hour - 60 * self.steps_per_min:
                before += n
        return last, before

    def top_account(self) -> tuple[str | None, float]:
        mem = self.recent_accounts
        if not mem:
            return None, 0.0
        best = max(mem, key=lambda k: (mem[k], k))
        return best, mem[best] / sum(mem.values())

    def failures_concentrated(self) -> tuple[str | None, float, float]:
        """The account most of the recent failures belong to, its share of failures
        and its share of sends: a route is not failing when one sender's traffic is."""
        failing = self.failing_accounts
        if not failing:
            return None, 0.0, 0.0
        top = max(failing, key=lambda k: (failing[k], k))
        sent = self.recent_accounts
        sent_share = sent.get(top, 0.0) / sum(sent.values()) if sent else 0.0
        return top, failing[top] / sum(failing.values()), sent_share

    def codes_lost_by_route(self, step: int) -> bool:
        """Has this carrier's route stopped getting codes through, for every sender?

        A route that stops reaching handsets while its reports still say "delivered"
        (a grey route, an interconnect that drops messages) shows only in verifications.
        Codes go unentered for other reasons too; what tells the route's fault apart:

        - it fails every sender: set aside the one sending the most codes, and the
          others' codes are entered at under half the route's normal share too (with
          too few others to tell, codes going unentered are that sender's affair:
          pumping, a broken verification webhook, judged in its own scopes);
        - it stops codes being entered: fewer numbers entered one than a quarter of
          those that usually do over the last three minutes, or half over ten
          (``ENTERED_FALLS``; the route's own pace, learnt from codes entered, not from
          sends). Pumping, by one account or by many, adds codes nobody enters beside
          those still entered.
        """
        codes, entered = self.code_accounts, self.entered_accounts
        if not codes:
            return False
        top = max(codes, key=lambda a: (codes[a], a))
        others = sum(codes.values()) - codes[top]
        if others < self.kind.min_sends:
            return False
        others_entered = sum(entered.values()) - entered.get(top, 0.0)
        if others_entered >= self._fallen_share(self.conversion.mean) * others:
            return False
        ts, spm = (step + 1) * self.step_ms, self.steps_per_min
        for window, minutes, fall in ENTERED_FALLS:
            usual = self.entered.expected(ts, minutes * spm)
            entered = self.sums.total_of(window, VERIFIED_NUMBERS)
            if (usual >= USUAL_ENTERED and entered < fall * usual
                    and poisson_surprise(entered, usual, upper=False) >= ENTERED_SURPRISE):
                return True
        return False

    def money(self, window: int = W10) -> float:
        return self.sums.totals(window)[MONEY]

    def segment_price(self) -> float | None:
        """What the last ten minutes' sends cost a segment; None without segments."""
        window = self.sums.totals(W10)
        return window[MONEY] / window[SEGMENTS] if window[SEGMENTS] > 0 else None

    def sends(self, window: int = W1) -> float:
        return self.sums.totals(window)[SENDS]

    def segments(self, window: int = W10) -> float:
        return self.sums.total_of(window, SEGMENTS)

    def otp_sends(self) -> float:
        return self.sums.totals(W10)[OTP]


def _sent_from(sends: dict[str, int], networks: dict[str, int] | None, horizon: int
               ) -> int:
    """A step's sends from ``networks`` (network -> last step marked), forgetting the
    networks last marked at or before step ``horizon``."""
    if not networks:
        return 0
    _forget_older(networks, horizon)
    return sum(count for network, count in sends.items() if network in networks)


def _decay_into(memory: dict[str, float], counts: dict[str, int], cap: int = RECENT_CAP
                ) -> None:
    """Add a step's counts to a memory that fades by a tenth a step (bounded)."""
    for key in list(memory):
        memory[key] *= 0.9
        if memory[key] < 0.05:
            del memory[key]
    for key, count in counts.items():
        memory[key] = memory.get(key, 0.0) + count
    if len(memory) > cap:
        for key in sorted(memory, key=memory.__getitem__)[: len(memory) - cap]:
            del memory[key]


def _fresh(current: dict[str, int], recent: dict[str, int], step: int, horizon: int) -> float:
    """How many keys of ``current`` were not seen in the last ``horizon`` steps (bounded)."""
    fresh = 0
    for key in current:
        last = _mark_seen(recent, key, step)
        if last is None or last <= step - horizon:
            fresh += 1
    _forget_older(recent, step - horizon)
    return fresh


def _unanswered_repeats(buf: StepBuffer, recent: dict[str, int], verified: dict[str, int],
                        repeated: dict[str, int], step: int, horizon: int) -> float:
    """The step's codes to numbers that already had one in the last ``horizon`` steps
    (or earlier in this step) and entered none since then (read before the step's own
    codes and verifications are remembered). Such numbers are remembered in
    ``repeated`` (number -> step, bounded, for ``horizon`` steps)."""
    repeats = 0
    since = step - horizon
    for number, count in buf.otp_numbers.items():
        if number in buf.verified_numbers or verified.get(number, since) > since:
            continue  # the handset answers: a user who asked again and got in
        last = recent.get(number)
        again = count if last is not None and last > since else count - 1
        if again:
            repeats += again
            _mark_seen(repeated, number, step)
    _forget_older(repeated, since)
    return repeats


def _dear_countries_taken_up(step: int, siblings: Iterable[ScopeState],
                             account: ScopeState) -> Iterator[ScopeState]:
    """The account's country scopes (of ``siblings``) that it took up in its last
    ``RAMP_MINUTES``, once it had a past (``account``: its account-wide scope), whose
    latest sends cost a high price."""
    recent = step - RAMP_MINUTES * account.steps_per_min
    return (s for s in siblings if s.kind.name == "account_country"
            and s.first_step is not None and s.first_step > recent
            and s._began_after(account) and s._dear(unpriced=False))


def _dear_countries_this_hour(step: int, siblings: Iterable[ScopeState],
                              account: ScopeState) -> list[ScopeState]:
    """Of :func:`_dear_countries_taken_up`, those that sent within the last hour (a
    scope's windows move when it closes: a quiet one's would still hold sends long
    past)."""
    hour = step - 60 * account.steps_per_min
    return [s for s in _dear_countries_taken_up(step, siblings, account)
            if s.last_closed is not None and s.last_closed > hour]


def _forget_steps(memory: deque, since: int) -> None:
    """Drop the oldest entries of a step-stamped memory (step first) up to ``since``, and
    any beyond ``RECENT_CAP``."""
    while memory and (memory[0][0] <= since or len(memory) > RECENT_CAP):
        memory.popleft()


def _mark_seen(memory: dict[K, int], key: K, step: int) -> int | None:
    """Note ``key`` as last seen at ``step``; returns when it was last seen before.

    The key moves to the newest end: these memories are kept in the order things were
    last seen, so ``_forget_older`` finds the stalest at the front.
    """
    last = memory.pop(key, None)
    memory[key] = step
    return last


def _forget_older(memory: dict[K, int], since: int) -> None:
    """Forget what was last seen at or before step ``since``, and the oldest past
    ``RECENT_CAP`` (a memory kept in the order things were last seen)."""
    while memory and (len(memory) > RECENT_CAP or next(iter(memory.values())) <= since):
        del memory[next(iter(memory))]



def _date_by_block(networks: dict[str, int], first_seen: dict[str, int]) -> None:
    """Date a network never seen before by the first use of its provider block (the
    /16 of an IPv4 /24), if the scope already sends from that block.

    A platform's new servers (a campaign tool, an autoscaled fleet) come from the same
    hosting provider as its old ones, in networks of the same block; a hijacker's
    machines seldom sit in the victim's block. (In the blind test files, a fifth of the
    honest senders' new networks were in a block they already used, and two of the
    hijackers' hundred.)
    """
    for network in networks:
        if network in first_seen or ":" in network:
            continue
        block = network.rpartition(".")[0] + "."
        dates = [first for known, first in first_seen.items() if known.startswith(block)]
        if dates:
            first_seen[network] = min(dates)


def _first_used_after(current: dict[K, int], first_seen: dict[K, int], step: int
                      ) -> float:
    """Sends in ``current`` from keys first seen after ``step`` (as ``_novel`` noted)."""
    return sum(count for key, count in current.items() if first_seen.get(key, step) > step)


def _take_own_sites(links: dict[int, int], own_sites: dict[int, int]) -> int:
    """Take the links to sites in ``own_sites`` out of ``links``; return how many
    sends carried them."""
    own = [fingerprint for fingerprint in links if fingerprint in own_sites]
    return sum(links.pop(fingerprint) for fingerprint in own)


def _novel(current: dict[K, int], first_seen: dict[K, int], step: int, horizon: int
           ) -> float:
    """Sends in ``current`` from keys first seen less than ``horizon`` steps ago.

    A stolen key stays "new" for the hour after its first use, not just for the
    one step in which it first appeared. Memory is bounded: past the cap the
    keys first seen longest ago are forgotten.
    """
    novel = 0
    for key, count in current.items():
        first = first_seen.get(key)
        if first is None:
            first_seen[key] = first = step
        if first > step - horizon:
            novel += count
    if len(first_seen) > RECENT_CAP:
        for key in list(first_seen)[: len(first_seen) - RECENT_CAP]:
            del first_seen[key]
    return novel
