"""Family processors: all scopes that share one partitioning key, with their clock.

Four families, each keyed the way the stream processor partitions it:

- ``account`` (key: account_id, like the input topics): the account, each of its
  API keys, and the account in each destination country;
- ``prefix`` (key: the destination's first ``detector.prefix_depth`` digits): so two
  accounts pumping the same range meet in one place;
- ``destination`` (key: the number): OTP bombing of a handset;
- ``route`` (key: route): delivery degradation.

Each family key has its own event-time clock (the latest ``ts`` it has seen).
A step closes once that clock passes the step's end by ``detector.lateness_s``,
or, for a key that has gone quiet, once the processor's stream clock (the latest
``ts`` of any key) passes it by ``detector.quiet_close_s``. What a close raises is
stamped with the event time at which it closed: the key's clock, or the quiet
deadline, so the stamps do not depend on which other keys share a processor.
Records of an already closed step are counted into the oldest open step, never
dropped. Findings depend only on closed steps, so any arrival order within the
lateness allowance gives the same alerts and commands.
"""

from __future__ import annotations

import heapq
import math
import pickle
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass, field

from detector.config import Config
from detector.findings import ANOMALY, Context, Finding, judge, met_at_startup
from detector.policy import Output, Policy, PolicyState
from detector.records import DlrEvent, Event, SendEvent, VerifyEvent
from detector.scopes import KINDS, RING_ACCOUNTS, ScopeState, Signal
from detector.sketches import RotatingBloom

SCOPE_FAMILIES = ("account", "prefix", "destination", "route")
# Most numbers get a message or two a day. A number is only tracked in full once
# it has had this many sends within ten minutes; until then its sends wait in a
# tiny list, which keeps memory flat however many numbers the traffic touches.
PROMOTE_SENDS = 3
# The shape of a checkpointed entity (aggregate vector width, windows, model fields). Bumped
# when it changes, so a worker upgraded over older checkpoints drops them key by key.
STATE_FORMAT = 30
# What pumping does rather than where it sends: codes nobody enters, numbers in a run.
# At the alert bar they keep a scope's level from learning (ScopeState.traced).
BEHAVIOURAL_TRACES = ("conversion", "sequential")
# What a carrier's fault shows: any of them off its normal by a real effect size keeps
# the carrier's shares from learning and has it judged every step (ScopeState.faltering).
DELIVERY_TRACES = ("delivered", "operator_delivered", "new_error_code", "dlr_coverage",
                   "report_delay")
PROMOTE_WINDOW_MS = 600_000
# How long after an account's last verification its OTPs still count towards
# conversion: an hour covers an account whose users verify a few times an hour.
VERIFICATION_FEED_MS = 3_600_000
# An account is fresh (a sign-up: see SendEvent.account_fresh) in its first day, if it
# first appeared an hour or more after the detector started: one met in that first
# hour may have been sending for years.
FRESH_ACCOUNT_MS = 24 * 3_600_000
FRESH_AFTER_START_MS = 3_600_000
# How long (and for how many sends) an account remembers which route each send took,
# once its delivery reports turn out not to say (the contract makes a report's route
# optional). Reports come seconds to minutes after their send; an expiry, much later,
# is not judged anyway.
SEND_ROUTE_MEMORY_MS = 600_000
SEND_ROUTE_CAP = 4096
# How long an account remembers when a send was made, for its report to say how long
# the route took (see detector.report_delay). A report forgets its send: what stays is
# what the route still owes, and a route slower than this is judged on its missing
# reports instead (ScopeState's report coverage).
REPORT_WAIT_MS = 600_000
# A bare send (no text, no category) to a number that entered one of the account's
# codes within the hour is a follow-up (the order confirmation after a checkout's
# code, the ticket after the queue's), not a code waiting to be entered: counted as
# one, a sale's confirmations read as its codes going unentered. Pumped numbers never
# enter a code, so they stay trials. Bounded like the route memories above.
FOLLOW_UP_MS = 3_600_000
# A send that does not say its route (the contract makes it optional) took the one its
# account's reports to that country name, once that route has proven to carry them:
# this many of its reports in a row, at least one for every two sends the account made
# there meanwhile. A route carrying a sliver of an account's traffic never proves it
# (while the main route's reports are late, it would be blamed for their absence), and
# the first report naming another route (a failover) ends the claim. The claim lapses
# an hour after the route's latest report.
REPORTS_IN_A_ROW = 20
REPORT_ROUTE_MEMORY_MS = 3_600_000
# Uncategorised sends count as codes (see _codes_uncategorised) from this many
# verifications a send, until under the second; counts halve every hour, and the
# verdict waits for a few sends.
CODES_ON_RATIO, CODES_OFF_RATIO = 0.5, 0.2
FEED_HALF_LIFE_MS = 3_600_000
MIN_FEED_SENDS = 10.0
# Verifications an account's recent pace says should have come, none having come, for
# its feed to count as down (see _feed_stalled): a chance of about 1e-9 if it works.
STALLED_VERIFICATIONS = 20.0
LN2 = math.log(2.0)


@dataclass(slots=True)
class ReportedRoute:
    """What an account's reports say of the route into one country (see
    REPORTS_IN_A_ROW), for an account whose sends do not say."""

    sends: int = 0  # the account's sends there without a route, ever
    route: str | None = None  # the route its latest report named
    in_a_row: int = 0  # reports in a row naming it
    sends_before: int = 0  # ``sends`` when the first of them came
    proven: bool = False
    latest_ts: int = 0

    def count_report(self, route: str, ts: int) -> None:
        if route != self.route:
            self.route, self.in_a_row, self.sends_before, self.proven = (
                route, 0, self.sends, False)
        self.in_a_row += 1
        self.latest_ts = ts
        if not self.proven and self.in_a_row >= REPORTS_IN_A_ROW:
            self.proven = 2 * self.in_a_row >= self.sends - self.sends_before

    def route_of_send(self, ts: int) -> str | None:
        if self.proven and ts - self.latest_ts <= REPORT_ROUTE_MEMORY_MS:
            return self.route
        return None


@dataclass(slots=True)
class FamilyEntity:
    """Everything one family key remembers."""

    scopes: dict[str, ScopeState] = field(default_factory=dict)
    policy: PolicyState = field(default_factory=PolicyState)
    watermark: int = 0
    closed_through: int | None = None  # last closed step
    open_steps: set[int] = field(default_factory=set)  # steps some scope has open
    seen_destinations: RotatingBloom | None = None
    # The scopes an event lands in, by what picks them (an account's country and API
    # key): found with one dict lookup per event instead of building three scope ids.
    routes: dict[tuple[str, str | None], list[ScopeState]] = field(default_factory=dict)
    last_verification_ts: int | None = None  # account family: its latest verify record
    # Account family: does it send codes without saying so? Decayed counts of its sends
    # and verifications (see _codes_uncategorised), their time, and the verdict.
    feed_sends: float = 0.0
    feed_verifies: float = 0.0
    feed_ts: int = 0
    uncategorised_codes: bool = False
    # Account family: route of each recent send by message id, with the send's ts,
    # oldest first; None until one of its reports comes without a route (most
    # gateways put it in every report, and then nothing is kept).
    send_routes: dict[str, tuple[str, int]] | None = None
    # Account family: route of the last conversion trial sent to each recent number,
    # oldest first, so its verification can be counted on the route that carried it.
    code_routes: dict[str, tuple[str | None, int]] = field(default_factory=dict)
    # Account family: when each recent number entered one of its codes, oldest first
    # (see FOLLOW_UP_MS).
    entered_numbers: dict[str, int] = field(default_factory=dict)
    # Account family: when each recent send not yet reported on was made, by message
    # id, oldest first, so its report can say how long it took (see REPORT_WAIT_MS).
    sent_at: dict[str, int] = field(default_factory=dict)
    # Account family: for each country, what its reports say of the route its sends
    # there take (see ReportedRoute); None until one of its sends comes without a route
    # (most gateways put it in every send, and then nothing is kept).
    report_routes: dict[str, ReportedRoute] | None = None


def _complete_from_account(entity: FamilyEntity, event: Event, counted: bool = False
                           ) -> None:
    """Fill in what the account knows and the event does not say.

    Runs in the account family, which sees an event before any other family does
    (replay's order; the worker applies it before re-keying), so what it fills in
    travels with the event to the prefix, number and route it goes to.

    - OTPs: whether they count as conversion trials. The verification feed is
      optional, and an account may check codes itself: without verifications of its
      own in the last ``VERIFICATION_FEED_MS``, an account's OTPs say nothing about
      conversion (they would all read as "never verified").
    - Uncategorised sends: whether the account sends codes (see _codes_uncategorised);
      a bare one to a number that entered a code lately is a follow-up (FOLLOW_UP_MS).
    - Sends without a route: the route the account's reports to that country name,
      when they name one steadily (see REPORTS_IN_A_ROW), so a route whose sends never
      say so is still judged on the reports it owes.
    - Delivery reports without a route: the route their send took, if it was recent.
    - Delivery reports: how long after their send they came, if it was recent.
    - Verifications: the route of the last code sent to the number, if it was recent,
      so the route family sees whether the codes it carries are entered.

    ``counted``: the account's state already holds the event (a stream processor's
    restored state); it is marked again but not counted twice.
    """
    if isinstance(event, SendEvent):
        if not counted:
            _count_feed(entity, event.ts, sends=1.0)
        if event.route is None:
            event.route = _route_from_reports(entity, event.country, event.ts, counted)
        # (An uncategorised text with no number to type in, a promotion or a reminder,
        # is no code even from an account that sends its codes uncategorised: counted,
        # its campaign would read as codes nobody enters.)
        last = entity.last_verification_ts
        event.feed_live = (last is not None and event.ts - last <= VERIFICATION_FEED_MS
                           and not _feed_stalled(entity, event.ts - last))
        if event.category == "otp" or (event.category is None and event.code_like
                                       and _codes_uncategorised(entity)):
            event.verifiable = event.feed_live and not _follow_up(entity, event)
            if event.verifiable:
                _remember_route(entity.code_routes, event.destination, event.route, event.ts)
        elif event.category is None:
            event.verifiable = False  # not known to be a code: no conversion trial
        if event.route is not None and entity.send_routes is not None:
            _remember_route(entity.send_routes, event.message_id, event.route, event.ts)
        _remember_time(entity.sent_at, event.message_id, event.ts, REPORT_WAIT_MS)
        return
    if isinstance(event, VerifyEvent):
        entity.last_verification_ts = max(event.ts, entity.last_verification_ts or 0)
        if event.verified and not counted:
            _remember_time(entity.entered_numbers, event.destination, event.ts,
                           FOLLOW_UP_MS)
        sent = entity.code_routes.get(event.destination)
        if sent is not None and event.ts - sent[1] <= SEND_ROUTE_MEMORY_MS:
            event.route, event.code_age_ms = sent[0], event.ts - sent[1]
        if not counted:
            _count_feed(entity, event.ts, verifies=1.0)
        return
    sent_ts = entity.sent_at.pop(event.message_id, None)
    if sent_ts is not None and 0 <= event.ts - sent_ts <= REPORT_WAIT_MS:
        event.wait_ms = event.ts - sent_ts
    if event.route is not None:
        if entity.report_routes is not None and not counted:
            reported = entity.report_routes.get(event.country)
            if reported is not None:
                reported.count_report(event.route, event.ts)
    else:
        if entity.send_routes is None:
            entity.send_routes = {}  # from now on: this account's reports do not say
        sent = entity.send_routes.get(event.message_id)
        if sent is not None:
            event.route = sent[0]


def _follow_up(entity: FamilyEntity, event: SendEvent) -> bool:
    """Is this bare send a follow-up to a code its number entered (see FOLLOW_UP_MS)?"""
    if event.category is not None or event.body_fingerprint:
        return False  # a text that says it is a code, or shows one, is one
    entered = entity.entered_numbers.get(event.destination)
    return entered is not None and event.ts - entered <= FOLLOW_UP_MS


def _remember_time(memory: dict[str, int], key: str, ts: int, keep_ms: int) -> None:
    """Remember when ``key`` (a number, a message id) was last met, for ``keep_ms``.

    Bounded like the route memories (see _remember_route): oldest first, capped."""
    memory.pop(key, None)
    memory[key] = ts
    horizon = ts - keep_ms
    while len(memory) > SEND_ROUTE_CAP or next(iter(memory.values())) < horizon:
        del memory[next(iter(memory))]


def _route_from_reports(entity: FamilyEntity, country: str, ts: int, counted: bool
                        ) -> str | None:
    """The route the account's reports to ``country`` have proven its sends take."""
    if entity.report_routes is None:
        entity.report_routes = {}  # from now on: this account's sends do not say
    reported = entity.report_routes.get(country)
    if reported is None:
        reported = entity.report_routes[country] = ReportedRoute()
    if not counted:
        reported.sends += 1
    return reported.route_of_send(ts)


def _count_feed(entity: FamilyEntity, ts: int, sends: float = 0.0, verifies: float = 0.0
                ) -> None:
    if ts > entity.feed_ts:
        decay = 0.5 ** ((ts - entity.feed_ts) / FEED_HALF_LIFE_MS)
        entity.feed_sends *= decay
        entity.feed_verifies *= decay
        entity.feed_ts = ts
    entity.feed_sends += sends
    entity.feed_verifies += verifies


def _feed_stalled(entity: FamilyEntity, silent_ms: int) -> bool:
    """Has the account's verification feed gone quiet for far longer than its users
    ever wait between two verifications?

    Pumping added to an account leaves its real users verifying; a webhook that breaks
    stops every verification at once. Once ``STALLED_VERIFICATIONS`` of them are
    missing at the account's recent pace, the feed is down, and its OTPs say nothing
    about conversion until a verification comes again.
    """
    per_ms = entity.feed_verifies * LN2 / FEED_HALF_LIFE_MS
    return silent_ms * per_ms >= STALLED_VERIFICATIONS


def _codes_uncategorised(entity: FamilyEntity) -> bool:
    """Are this account's sends without a category codes?

    The category is optional, and a verification service's gateway may send none. An
    account whose users verify at least half as many times as it sends (its last hour
    or so) is sending codes, and its uncategorised sends are conversion trials; one that
    only partly sends codes (notices, marketing beside them) is not. Hysteresis: the
    verdict holds until verifications fall under a fifth of the sends, so a pumping
    attack's unverified flood does not switch off the very evidence against it while
    it is being judged.
    """
    if entity.feed_sends < MIN_FEED_SENDS:
        return entity.uncategorised_codes
    ratio = entity.feed_verifies / entity.feed_sends
    if ratio >= CODES_ON_RATIO:
        entity.uncategorised_codes = True
    elif ratio < CODES_OFF_RATIO:
        entity.uncategorised_codes = False
    return entity.uncategorised_codes


def _account_scope(entity: FamilyEntity) -> ScopeState | None:
    """The account-wide scope of an account family's entity (None elsewhere)."""
    return next((s for s in entity.scopes.values() if s.kind.name == "account"), None)


def _remember_route(routes: dict[str, tuple[str | None, int]], key: str, route: str | None,
                    ts: int) -> None:
    """Remember the route a send to ``key`` (its message id, or its number) took.

    A key sent to again moves to the newest end: the memory stays oldest first."""
    routes.pop(key, None)
    routes[key] = (route, ts)
    # Oldest first (sends come in event-time order): drop from the front.
    horizon = ts - SEND_ROUTE_MEMORY_MS
    while len(routes) > SEND_ROUTE_CAP or next(iter(routes.values()))[1] < horizon:
        del routes[next(iter(routes))]


class SeenBeforeStep:
    """What an account had texted before one step, asked by each of its scopes.

    The account's memory of destinations is one Bloom filter; if every scope asked
    it in turn, the first to close (the account) would mark the step's numbers seen
    and its country and API-key scopes would never find a new one. So the step's
    numbers are looked up (and remembered) once, in sorted order so that arrival
    order inside the step cannot move the filter's rotation, and every scope gets
    the same answer. Quacks like the filter where a scope reads it.
    """

    __slots__ = ("novel", "count", "capacity", "previous")

    def __init__(self, seen: RotatingBloom, destinations: Iterable[str]) -> None:
        # Size before this step: "how much history did the account have".
        self.count, self.capacity, self.previous = seen.count, seen.capacity, seen.previous
        self.novel = {d for d in sorted(destinations) if not seen.add(d)}

    @classmethod
    def of(cls, seen: RotatingBloom, scopes: Iterable[ScopeState], step: int
           ) -> SeenBeforeStep:
        """For the numbers any of ``scopes`` texted in ``step``."""
        destinations: set[str] = set()
        for scope in scopes:
            buf = scope.open.get(step)
            if buf is not None and scope.kind.track_destinations:
                destinations.update(buf.destinations)
        return cls(seen, destinations)

    def add(self, item: str) -> bool:
        """True if ``item`` was (probably) texted before this step."""
        return item not in self.novel


def family_keys(event: Event, prefix_depth: int = 5) -> list[tuple[str, str]]:
    """The (family, key) pairs an event is routed to.

    >>> from detector.records import parse_record
    >>> ev = parse_record("sms.send", {"message_id": "m", "ts": 1767225600000,
    ...     "account_id": "a1", "destination": "+4915112345678", "route": "r1"})
    >>> family_keys(ev)
    [('account', 'a1'), ('prefix', '+49151'), ('destination', '+4915112345678'), ('route', 'r1')]
    """
    keys = [("account", event.account_id), ("prefix", event.destination[: prefix_depth + 1])]
    if not isinstance(event, DlrEvent):
        keys.append(("destination", event.destination))
    route = getattr(event, "route", None)
    if route:
        keys.append(("route", route))
    return keys


class FamilyProcessor:
    """Processes the events of one family, for any number of its keys."""

    def __init__(self, family: str, config: Config) -> None:
        if family not in SCOPE_FAMILIES:
            raise ValueError(f"unknown family {family!r}")
        self.family = family
        self.config = config
        d = config.detector
        self.step_ms = d.step_s * 1000
        self.lateness_ms = d.lateness_s * 1000
        self.grace_steps = max(1, d.otp_grace_s // d.step_s)
        self.prefix_depth = d.prefix_depth
        ttl_s = d.destination_ttl_s if family == "destination" else d.entity_ttl_s
        self.ttl_ms = ttl_s * 1000
        self.policy = Policy(config)
        self.entities: dict[str, FamilyEntity] = {}
        self.counters: Counter[str] = Counter()
        self._dirty: set[str] = set()
        self.candidates: dict[str, list[Event]] = {}
        # The stream clock and, by step, the keys with that step open: what the quiet
        # close walks (steps in a heap, so the next deadline is one look away).
        self.quiet_ms = max(d.quiet_close_s, d.lateness_s) * 1000
        self.clock = 0
        self.started_ms: int | None = None  # event time of the first record seen
        self._due: dict[int, set[str]] = {}
        self._due_steps: list[int] = []

    # -- input -------------------------------------------------------------
    def key_of(self, event: Event) -> str | None:
        if self.family == "account":
            return event.account_id
        if self.family == "prefix":
            return event.destination[: self.prefix_depth + 1]
        if self.family == "destination":
            return None if isinstance(event, DlrEvent) else event.destination
        return getattr(event, "route", None)

    def advance(self, ts: int) -> list[Output]:
        """Move the stream clock to ``ts``; returns what quiet keys' steps raise on the way.

        ``process`` calls it for every record. A stream processor calls it alone for
        a record whose key's restored state already holds it: the record still moved
        the clock the first time round.
        """
        if ts <= self.clock:
            return []
        if self.started_ms is None:
            self.started_ms = ts
        self.clock = ts
        steps = self._due_steps
        if steps and ts >= (steps[0] + 1) * self.step_ms + self.quiet_ms:
            return self._close_quiet()
        return []

    def annotate(self, event: Event) -> None:
        """Mark ``event`` as :meth:`process` would, without counting it: for a record
        whose key's restored state already holds it but that other families still need."""
        if self.family == "account":
            entity = self.entities.get(event.account_id)
            if entity is not None:
                _complete_from_account(entity, event, counted=True)
                self._mark_fresh(entity, event)

    def process(self, event: Event) -> list[Output]:
        out = self.advance(event.ts)
        key = self.key_of(event)
        if key is None:
            return out
        if self.family == "destination" and key not in self.entities:
            waiting = self._candidate(key, event)
            if waiting is None:
                return out
            for earlier in waiting:
                out.extend(self._process(key, earlier))
            return out
        if out:
            out.extend(self._process(key, event))
            return out
        return self._process(key, event)

    def _close_quiet(self) -> list[Output]:
        """Close the steps whose quiet deadline the stream clock has passed.

        Step by step, keys in sorted order, each stamped with its deadline: the same
        outputs whichever records moved the clock (a replay's whole stream or one
        partition of a worker's).
        """
        out: list[Output] = []
        through = (self.clock - self.quiet_ms) // self.step_ms - 1
        steps = self._due_steps
        while steps and steps[0] <= through:
            step = heapq.heappop(steps)
            deadline = (step + 1) * self.step_ms + self.quiet_ms
            for key in sorted(self._due.pop(step)):
                entity = self.entities.get(key)
                if entity is not None and step in entity.open_steps:
                    self._dirty.add(key)
                    self.counters["quiet_closes"] += 1
                    out.extend(self._close_ready(key, entity, step, deadline))
        return out

    def _open_step(self, key: str, entity: FamilyEntity, step: int) -> None:
        if step in entity.open_steps:
            return
        entity.open_steps.add(step)
        keys = self._due.get(step)
        if keys is None:
            keys = self._due[step] = set()
            heapq.heappush(self._due_steps, step)
        keys.add(key)

    def _mark_fresh(self, entity: FamilyEntity, event: Event) -> None:
        """Mark a send of an account that signed up while the detector ran (its first
        day, first seen an hour or more after the detector started)."""
        if not isinstance(event, SendEvent) or self.started_ms is None:
            return
        account = _account_scope(entity)
        first = (event.ts if account is None or account.first_step is None
                 else account.first_step * account.step_ms)
        event.account_fresh = (first - self.started_ms >= FRESH_AFTER_START_MS
                               and event.ts - first <= FRESH_ACCOUNT_MS)

    def _candidate(self, key: str, event: Event) -> list[Event] | None:
        """Hold a number's records until it is busy enough to track; then hand them over.

        Verifications wait beside the sends (they do not count towards tracking), so a
        verification and the send that makes the number tracked give the same result
        in either order: same-millisecond records may come in any order.
        """
        held = self.candidates.get(key)
        is_send = isinstance(event, SendEvent)
        if held is None and not is_send:
            return None  # nothing sent to this number lately: nothing to judge it by
        waiting = [e for e in held or () if event.ts - e.ts < PROMOTE_WINDOW_MS]
        waiting.append(event)
        self._dirty.add(key)
        if not is_send or sum(isinstance(e, SendEvent) for e in waiting) < PROMOTE_SENDS:
            self.candidates[key] = waiting
            return None
        self.candidates.pop(key, None)
        return waiting

    def _process(self, key: str, event: Event) -> list[Output]:
        entity = self.entities.get(key)
        if entity is None or event.ts - entity.watermark > self.ttl_ms:
            entity = self.entities[key] = FamilyEntity()
            if self.family == "account":
                entity.seen_destinations = RotatingBloom()
        self._dirty.add(key)
        if self.family == "account":
            _complete_from_account(entity, event)
        step = event.ts // self.step_ms
        if entity.closed_through is not None and step <= entity.closed_through:
            self.counters["late_records"] += 1
            step = entity.closed_through + 1
        self._open_step(key, entity, step)
        scopes = self._scopes_of(entity, key, event)
        if self.family == "account":
            self._mark_fresh(entity, event)
        # One type test per event, not one per scope; a step buffer is always truthy,
        # so buffer() (which creates it) only runs for a scope's first record of a step.
        if isinstance(event, SendEvent):
            for scope in scopes:
                (scope.open.get(step) or scope.buffer(step)).add_send(
                    event, scope.kind.track_origin)
        elif isinstance(event, DlrEvent):
            for scope in scopes:
                (scope.open.get(step) or scope.buffer(step)).add_dlr(event)
        else:
            for scope in scopes:
                (scope.open.get(step) or scope.buffer(step)).add_verify(event)
        if event.ts > entity.watermark:
            entity.watermark = event.ts
        through = (entity.watermark - self.lateness_ms) // self.step_ms - 1
        if min(entity.open_steps) > through:  # the common case: nothing to close yet
            return []
        return self._close_ready(key, entity, through, entity.watermark)

    def finish(self) -> list[Output]:
        """End of input: close every open step of every entity.

        Each step is stamped with its quiet deadline, when it would have closed had the
        input gone on: a replay's clock passes that deadline on other keys' records
        where a partition of a stream processor may end first, and both give the same
        stamps.
        """
        out: list[Output] = []
        for key in sorted(self.entities):
            entity = self.entities[key]
            for step in sorted(entity.open_steps):
                deadline = (step + 1) * self.step_ms + self.quiet_ms
                out.extend(self._close_ready(key, entity, step, deadline))
        return out

    def sweep(self, now_ts: int) -> int:
        """Forget entities idle for longer than their time to live, and numbers whose
        held records are too old to count; returns how many keys went.

        Forgotten keys count as changed (``dirty_keys``): a checkpoint deletes them.
        """
        stale = [k for k, e in self.entities.items() if now_ts - e.watermark > self.ttl_ms]
        for key in stale:
            del self.entities[key]
        idle = [k for k, w in self.candidates.items()
                if now_ts - w[-1].ts >= PROMOTE_WINDOW_MS]
        for key in idle:
            del self.candidates[key]
        self._dirty.update(stale)
        self._dirty.update(idle)
        return len(stale) + len(idle)

    def _scopes_of(self, entity: FamilyEntity, key: str, event: Event) -> list[ScopeState]:
        if self.family == "route":
            scopes = entity.routes.get((event.country, None))
            if scopes is None:
                scopes = self._route_scopes(entity, key, event.country)
            return scopes
        if self.family != "account":
            # A single-scope family: the entity's one scope.
            scopes = entity.routes.get(("", None))
            if scopes is None:
                scopes = entity.routes[("", None)] = [self._scope(entity, self.family, key)]
            return scopes
        route = (event.country, getattr(event, "api_key_id", None))
        scopes = entity.routes.get(route)
        if scopes is None:
            scopes = entity.routes[route] = self._account_scopes(entity, key, *route)
        return scopes

    def _route_scopes(self, entity: FamilyEntity, key: str, country: str
                      ) -> list[ScopeState]:
        """The route, and the route into this country once it carries more than one.

        A route into a single country is judged whole: a second scope would only say
        the same again. From its second country on, each country is judged apart too
        (the first one's scope begins then)."""
        route = self._scope(entity, "route", key)
        if entity.routes:
            for other, scopes in entity.routes.items():
                if len(scopes) == 1:
                    scopes.append(self._scope(entity, "route_country", f"{key}|{other[0]}"))
            scopes = [route, self._scope(entity, "route_country", f"{key}|{country}")]
        else:
            scopes = [route]
        entity.routes[(country, None)] = scopes
        return scopes

    def _account_scopes(self, entity: FamilyEntity, key: str, country: str,
                        api_key: str | None) -> list[ScopeState]:
        scopes = [self._scope(entity, "account", key),
                  self._scope(entity, "account_country", f"{key}|{country}")]
        if api_key:
            scopes.append(self._scope(entity, "api_key", api_key))
        return scopes

    def _scope(self, entity: FamilyEntity, kind: str, scope_id: str) -> ScopeState:
        sid = f"{kind}:{scope_id}"
        scope = entity.scopes.get(sid)
        if scope is None:
            scope = entity.scopes[sid] = ScopeState(
                KINDS[kind], scope_id, self.step_ms, self.grace_steps,
                seed=self.config.detector.seed,
                high_price_usd=self.config.detector.high_price_usd)
        return scope

    # -- closing -----------------------------------------------------------
    def _close_ready(self, key: str, entity: FamilyEntity, through: int, ts: int
                     ) -> list[Output]:
        """Close the entity's open steps up to ``through``; ``ts``: the event time now."""
        if not entity.open_steps or min(entity.open_steps) > through:
            return []
        ready = sorted(s for s in entity.open_steps if s <= through)
        entity.open_steps.difference_update(ready)
        out: list[Output] = []
        for step in ready:
            findings: list[Finding] = []
            seen = (None if entity.seen_destinations is None else SeenBeforeStep.of(
                entity.seen_destinations, entity.scopes.values(), step))
            for scope in entity.scopes.values():
                if step in scope.open:
                    finding = self._close_scope(entity, key, scope, step, seen)
                    if finding is not None:
                        findings.append(finding)
                        if finding.also is not None:
                            findings.append(finding.also)
            # Stamped when the step closed, not when it ended: an alert says when the
            # detector could know (the lateness allowance and a quiet key's wait included).
            out.extend(self.policy.step(entity.policy, findings, step,
                                        max(ts, (step + 1) * self.step_ms - 1)))
            entity.closed_through = step
        # A scope's windows move when it closes a step (SlidingSums.add) and are only
        # read right after that, so scopes without records are not moved here: an
        # account's idle country scopes keep their few steps until the entity expires.
        return out

    def _close_scope(self, entity: FamilyEntity, key: str, scope: ScopeState, step: int,
                     seen: SeenBeforeStep | None) -> Finding | None:
        closed = scope.close(step, seen).values
        entity_id, account_id = self._entity_of(key, scope)
        threshold = self.config.detector.surprise_threshold
        holding = self.policy.open_kinds(entity.policy, scope.kind.entity_type, entity_id)
        ready = scope.ready() or (scope.kind.counts_services and (
            scope.flooded_by_services(step, threshold / 2) or scope.pestered(step))) or (
            scope.fresh_senders is not None and scope.fresh_ring(step) >= RING_ACCOUNTS) or (
            scope.trickles_into_dear_country(step))
        due = (scope.judge_due(step, closed, threshold / 2) if ready
               else scope.quiet_route_due(step))
        if not holding and not due:
            if scope.learn_due(step):
                scope.learn(step, flagged=False)
            return None
        self.counters[f"evaluations:{scope.kind.name}"] += 1
        signals = scope.signals(step)
        last = entity.last_verification_ts
        if last is not None and _feed_stalled(entity, (step + 1) * self.step_ms - last):
            # The account's verifications stopped all at once: its codes sent in the
            # moments before that showed are no evidence of anything either.
            signals.pop("conversion", None)
        account = _account_scope(entity) if scope.kind.name == "account_country" else None
        if "conversion_hour" in signals and (account is None
                                             or not account.codes_entered_over_hour()
                                             or account.new_origin_over_hour()):
            # Codes hidden in one country stand out against the account's users
            # entering theirs everywhere else, from its usual keys and servers; an
            # account whose codes go unentered at large (a reseller whose client keys
            # send no verifications), or that took on a new key or network this hour
            # (a client onboarded, whose service reports no verifications yet), says
            # nothing about this country.
            signals.pop("conversion_hour")
        if account is not None and self._age_unknown(account, step):
            # An account met as the detector started may have texted this country
            # every day before: in its first hour here, no country is known to be new.
            signals.pop("new_country", None)
        else:
            spread = scope.dear_spread(step, entity.scopes.values())
            if spread is not None:
                signals["dear_countries"] = spread
            opening = scope.dear_opening(
                step, account, entity.scopes.values(),
                account is not None and met_at_startup(account, self.started_ms))
            if opening is not None:
                # (A country whose sends do not say their price may be dear or not.)
                priced = bool(scope.segment_price())
                signals["dear_opening" if priced else "unpriced_opening"] = opening
                others = scope.other_dear_openings(step, entity.scopes.values(), account)
                if others:
                    # A fact carried to the rule with its count, not a surprise.
                    signals["dear_openings_4h"] = Signal(0.0, others + 1.0, 1.0)
            unentered = (scope.dear_codes_unentered(step, entity.scopes.values(), account)
                         if account is not None else None)
            if (unentered is not None and account is not None
                    and account.codes_entered_over_hour()
                    and not account.new_origin_over_hour()):
                # (As for conversion_hour: only beside the account's users entering their
                # codes, from its usual keys and servers.)
                signals["dear_codes_unentered"] = unentered
        if scope.kind.name == "account" and not self._age_unknown(scope, step):
            wide = scope.dear_countries_hour(step, entity.scopes.values())
            if wide is not None:
                signals["dear_countries_hour"] = wide
        scope.traced = any(name in signals and signals[name].surprise >= threshold
                           for name in BEHAVIOURAL_TRACES)
        if scope.kind.carrier:
            scope.faltering = any(name in signals and signals[name].surprise > 0
                                  for name in DELIVERY_TRACES)
        ctx = Context(threshold=threshold,
                      sensitivity=self.config.sensitivity_of(account_id),
                      holding=holding,
                      hold_threshold=threshold * self.config.policy.clear_ratio,
                      prefix_depth=self.prefix_depth, account_id=account_id,
                      entity_id=entity_id, started_ms=self.started_ms)
        finding = judge(scope, signals, step, ctx)
        if finding is not None or scope.learn_due(step):
            # While any threat is open on this entity, none of its scopes learn:
            # the attack may be showing in a scope that raised nothing itself.
            under_attack = any(e.kind != ANOMALY for e in entity.policy.episodes.values())
            # A young scope's bare anomaly (busier than the population, no threat's
            # signature) is what it has to learn: its own level. Kept out, a busy account
            # met in the detector's first hour stays "anomalous" against the population
            # prior for good, and its normal traffic ends up judged as an attack.
            learning_own_level = (finding is not None and finding.kind == ANOMALY
                                  and scope.young(step))
            flagged = (finding is not None and not learning_own_level) or under_attack
            scope.learn(step, flagged=flagged, signals=signals)
        return finding

    def _age_unknown(self, account: ScopeState, step: int) -> bool:
        """Was the account first seen in the detector's first minutes, and is this still
        within its first hour? (Its past before the detector is unknown: a busy account
        rotates through its countries over the hour, none of them new.)"""
        return met_at_startup(account, self.started_ms) and account.young(step)

    def _entity_of(self, key: str, scope: ScopeState) -> tuple[str, str | None]:
        if self.family != "account":
            return key, None
        if scope.kind.name == "api_key":
            return scope.scope_id, key
        return key, key

    # -- state for the stream processor ------------------------------------------
    def export_state(self, key: str) -> bytes:
        state = self.entities.get(key) or self.candidates.get(key, [])
        return pickle.dumps((STATE_FORMAT, state), protocol=pickle.HIGHEST_PROTOCOL)

    def import_state(self, key: str, blob: bytes) -> bool:
        """Restore ``key``'s checkpointed state; False if it was dropped. State written
        by a version of another shape is dropped (counted as ``state_dropped``): the key
        starts afresh, as after its time to live, rather than crash the worker on its
        first record."""
        try:
            payload = pickle.loads(blob)
        except Exception:  # a class or field this version no longer has
            payload = None
        if not (isinstance(payload, tuple) and len(payload) == 2
                and payload[0] == STATE_FORMAT):
            self.counters["state_dropped"] += 1
            return False
        state = payload[1]
        if isinstance(state, FamilyEntity):
            self.entities[key] = state
            open_steps, state.open_steps = state.open_steps, set()
            for step in sorted(open_steps):
                self._open_step(key, state, step)  # back in the quiet close's index
        elif state:
            self.candidates[key] = state
        return True

    def holds(self, key: str) -> bool:
        """Is there state for ``key``: a tracked entity, or a number's held records?"""
        return key in self.entities or key in self.candidates

    def dirty_keys(self) -> set[str]:
        return set(self._dirty)

    def mark_clean(self) -> None:
        self._dirty.clear()

    def state_size(self) -> int:
        return len(self.entities) + len(self.candidates)
