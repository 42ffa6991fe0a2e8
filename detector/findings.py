"""From a scope's signals to a finding: which threat, how sure, and what to show.

Each threat has a signature made of the signals that distinguish it from the
benign surges that look like it:

- ``sms_pumping``: more traffic *and* a fraud trace: OTPs nobody verifies,
  numbers in sequence, premium-rate ranges. A launch spike has the
  traffic but its users verify; a campaign sends no OTPs to premium ranges.
  A young scope (an account's first hour in a country, a range that just woke
  up) has no traffic history to exceed: there the traces alone decide, and a
  premium price per segment (the money at risk) adds to what they show. With no
  trace possible (no feed, no codes said), a dear new country taking most of an
  account's traffic is a warning that nothing throttles.
- ``account_takeover``: more traffic from a credential or address the account
  never used, going somewhere new. For an account whose records carry no key and
  no address: more traffic to countries it never texted, to new numbers. Not a
  burst that links to the account's own site: a hijacker has no use for it. At
  the account's own pace: a new network, a new country and a new link at once.
- ``spam_burst``: more traffic, links and one repeated body, to recipients the
  account never had, linking to hosts it never linked to. A scheduled campaign
  writes to its known recipients and links to its own site. Without
  bodies: a burst to numbers the account never had, of sends that say they are
  not codes.
- ``sms_bombing``: one handset receiving far more codes than any number
  does, mostly unverified (notices with no code in them are a sender's bug).
- ``delivery_degradation``: a route's delivered share, or its share of sends
  that get any report at all, collapsing; on a quiet route, failures under an
  error code it never returned before show a partial fault sooner.
- ``anomaly``: a large surprise no signature explains; shown, never acted on.

Scores add the surprises of the signals that make the signature (log10 units,
so adding is multiplying independent tail probabilities).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from detector.features import (
    CODED_OTHER,
    CODES,
    DESCRIBED,
    OPT_OUT_URL,
    OTP,
    OWN_SITE_URL,
    STRANGER_CODE_PEERS,
    STRANGER_CODES,
    STRANGER_LINK_PEERS,
    STRANGER_LINKS,
    STRANGER_LURES,
    TYPED,
    URL,
    VERIFIED_NUMBERS,
)
from detector.scopes import (
    CODES_ENTERED,
    FEEDLESS_PERSISTENT_CODES,
    MINUTE_MS,
    NOVELTY_MINUTES,
    PERSISTENT_CODES,
    RING_ACCOUNTS,
    SENDS,
    SEVERAL_SERVICES,
    W1,
    W10,
    W60,
    ScopeState,
    Signal,
)

PUMPING, TAKEOVER, SPAM, BOMBING, DEGRADATION, ANOMALY = (
    "sms_pumping", "account_takeover", "spam_burst", "sms_bombing",
    "delivery_degradation", "anomaly",
)
THROTTLED_KINDS = frozenset({PUMPING, TAKEOVER, SPAM, BOMBING})
DOMINANT_SHARE = 0.6
REPEATED_SHARE = 0.9  # of a window's sends with a body seen in it before: one text
MIN_UNVERIFIED = 3  # unverified codes that say where pumping goes (see _pumped_numbers)
# Share of codes to numbers texted minutes before (resends) above which unanswered
# codes are bombing, not pumping.
BOMBED_REPEAT_SHARE = 0.5
MIN_BOMBED_NUMBERS = 3
# Share of a step's sends from networks new to the account above which the account is
# all the hijacker's (see _whole_account_taken).
STRANGERS_ONLY = 0.9
# A stolen key's lures at the account's pace (see _stolen_key_lures): this many in an
# hour, to numbers the account never texted (all but a tenth: a bought list, where an
# owner's campaign reaches its customers too).
STOLEN_KEY_LURES = 10
NEVER_TEXTED_SHARE = 0.9
# ... and most of the sends of the networks that sent them carry those marks.
LURES_OF_STRANGER_SENDS = 0.5
# A stolen key pumping at the account's pace (see _stranger_codes): this many code texts
# in an hour from networks new to the account to countries new to it, from this many
# networks (a ring's rented proxies; an account opening a market from a new server of
# its own uses one), most of what those networks sent.
STRANGER_CODES_1H = 10
STRANGER_CODE_NETWORKS = 2
MIN_ROTATED_SENDS = 5  # keyed sends in that step: a few sends say nothing of rotation
# Share of a burst's sends linking to the account's own site (see _own_campaign).
OWN_CAMPAIGN_SHARE = 0.5
# Sends in the last minute below which it is not judged apart from the ten (a reminder
# or two going out beside the campaign).
OWN_CAMPAIGN_MINUTE_SENDS = 5
# Conversion under this share of its normal: the codes collapsed (at CODES_ENTERED or
# above, see detector.scopes, they go to people).
COLLAPSED = 0.3
BLOCK_DIGITS = 2  # a range-wide block stops every sender in 1/100 of the range only
# A young scope bursts when its last minute carries this many times its own average
# minute so far, measured once it has this many minutes of life (see _bursting).
BURST_RATIO = 3.0
BURST_BASE_MINUTES = 3.0
# A scope first met this soon after the detector's first record may well be older than
# the detector: a shop already texting its list when the detector started. Its age is
# unknown, so its first minutes are not taken for the start of a burst.
STARTUP_MINUTES = BURST_BASE_MINUTES


@dataclass(slots=True)
class Finding:
    kind: str
    scope_kind: str
    scope_id: str
    entity_type: str
    entity_id: str
    account_id: str | None
    score: float
    step: int
    evidence: list[dict]
    throttle_scope: dict[str, str] | None
    # The judged scope's own normal pace (its baseline, sends a second): what a limit
    # holds the throttled scope to, so it cuts the excess and lets the usual through.
    normal_rate_per_s: float | None = None
    # The proposed scope is to replace a narrower one the episode holds: the attacker
    # holds more of the account than the throttled part (see _whole_account_taken).
    widens: bool = False
    # The most this finding may say, whatever its score (see _reports_lost_codes_entered).
    max_severity: str | None = None
    # The throttle must be a block, whatever the severity (see policy._issue): a limit
    # would hold the scope to nothing honest. Pumping into a country the account took
    # up within the hour (or a second dear one within hours): the scope carried none of
    # its traffic before, and the floor pace would let a slow attack through whole. A
    # range pumped by one account, throttled on that account there: its own family may
    # block that very scope already, and at a gateway a newer command on a scope
    # replaces the older (a limit would soften it). A ring's block: its accounts are
    # disposable, the block is what it is paid for.
    block_only: bool = False
    # The other threat the same traffic is, with its own evidence: a hijacked account
    # sending lures is a takeover and a smishing burst, and on-call should hear both. A
    # warning without a throttle: this finding's throttle already covers the traffic.
    also: Finding | None = None

    def warn_only(self) -> None:
        """Make this a finding for on-call to look at, not for the gateway to act on: a
        warning at most, and no throttle (what it describes has an honest look-alike
        that the signals cannot tell apart)."""
        self.max_severity = "warning"
        self.throttle_scope = None


@dataclass(frozen=True, slots=True)
class Context:
    """What the rules need besides the signals."""

    threshold: float
    sensitivity: float
    # Kinds with an open episode on this entity and the lowered bar that holds them
    # open (hysteresis); every other kind must clear the full threshold.
    holding: frozenset[str]
    hold_threshold: float
    prefix_depth: int
    account_id: str | None  # the account the scope belongs to, if any
    entity_id: str  # what the alert names (account id, key id, prefix, number, route)
    # Event time of the first record the detector saw (None before any): a scope met
    # in the detector's first minutes is of unknown age, not new.
    started_ms: int | None = None


def judge(state: ScopeState, signals: dict[str, Signal], step: int, ctx: Context
          ) -> Finding | None:
    """The most specific finding the signals support, or None."""
    finding = _judge(state, signals, step, ctx)
    if finding is None and "long" in signals:
        finding = _texts_grown_long(state, signals, step, ctx)
    return finding


def _texts_grown_long(state: ScopeState, signals: dict[str, Signal], step: int,
                      ctx: Context) -> Finding | None:
    """An account whose texts are suddenly several segments long: a template gone wrong
    (a terms block pasted in, an emoji turning every text to UCS-2) paying several
    times over for the same traffic. Only once nothing else is found (a lure campaign
    may be long too)."""
    long_texts = signals["long"]
    t = ctx.hold_threshold if ANOMALY in ctx.holding else ctx.threshold
    if long_texts.surprise * ctx.sensitivity < t:
        return None
    finding = _finding(ANOMALY, long_texts.surprise * ctx.sensitivity, state, signals, step,
                       ctx, ("long", "volume"), None)
    sends = state.sends(W1)
    finding.evidence.append({"feature": "segments_per_send_1m", "value": _round(
        state.segments(W1) / sends) if sends else 0.0, "baseline": None})
    return finding


def _judge(state: ScopeState, signals: dict[str, Signal], step: int, ctx: Context
           ) -> Finding | None:
    s = {name: sig.surprise * ctx.sensitivity for name, sig in signals.items()}
    conversion = signals.get("conversion")
    if (conversion is not None and conversion.value > COLLAPSED * conversion.baseline
            and s["conversion"] < 2 * ctx.threshold):
        # Short of a collapse, fewer codes entered is what a launch's new users do too:
        # it counts only when it is overwhelming on its own, twice the alert bar
        # (pumping at twice an account's pace: hundreds of codes, a third entered).
        s["conversion"] = 0.0

    def get(name: str) -> float:
        return s.get(name, 0.0)

    kind = state.kind.name
    vol = get("volume")

    def bar(threat: str) -> float:
        return ctx.hold_threshold if threat in ctx.holding else ctx.threshold

    if state.kind.carrier:
        t = bar(DEGRADATION)
        # The route's share, or one operator's behind it (an interconnect that broke
        # on its own moves the route's share by that operator's part of the traffic).
        failing = max(get("delivered"), get("operator_delivered"))
        if failing >= 1:
            # More failures than usual, and failures under a code the route never
            # returned: two independent questions about the same reports, so their
            # surprises add (a new code alone could be a carrier renaming one).
            failing += get("new_error_code")
        top, failed_share, sent_share = state.failures_concentrated()
        if top is not None and failed_share >= DOMINANT_SHARE and sent_share < failed_share / 2:
            # One sender's traffic is being refused (filtered spam, dead numbers it
            # pumps): that sender's problem, not the route's, and judged elsewhere.
            # Missing reports are not: a refusal is reported, and the share of failures
            # by sender stands still while nothing is reported at all.
            failing = 0.0
        # Codes the route carries no longer entered, whatever its reports say: it has
        # stopped reaching handsets (see ScopeState.codes_lost_by_route).
        unentered = get("conversion")
        if unentered and not state.codes_lost_by_route(step):
            unentered = 0.0
        # Reports that come, later and later: a carrier queueing what it should deliver
        # (see detector.report_delay).
        drop = max(failing, get("dlr_coverage"), unentered, get("report_delay"))
        if drop >= t:
            finding = _finding(DEGRADATION, drop, state, signals, step, ctx,
                               ("delivered", "operator_delivered", "dlr_coverage",
                                "report_delay", "new_error_code", "conversion"), None)
            if drop > max(failing, unentered) and _codes_entered(signals):
                _reports_lost_codes_entered(finding, signals["conversion"])
            return finding
        return None
    if kind == "destination":
        t = bar(BOMBING)
        if _no_codes(state):
            # A bomber fires the forms that text a code (sign-up, log-in, reset): the
            # only texts anyone can trigger at will. Notices that carry no code, sent
            # to one number again and again, are the sender's bug, not an attack.
            return None
        if vol >= t / 2 and vol + get("conversion") >= t:
            score = vol + get("conversion")
            finding = _finding(BOMBING, score, state, signals, step, ctx,
                               ("volume", "conversion"), _number_scope(state, ctx))
            if _number_entering_codes(state):
                # A bombed handset's owner asked for none of the codes and enters none;
                # one entering them now is at the keypad, asking again and again (an app
                # that logged everyone out): for a person to look at, not to block.
                finding.warn_only()
            elif "conversion" not in signals and not _feed_silent(state):
                # Codes from services whose users' verifications reach the detector,
                # none old enough yet to have been entered: which of the two it is shows
                # within the minute (a fan tapping "resend" in a ticket queue types the
                # code that finally comes). Raised now; the throttle waits for the codes
                # to go unentered, the conversion's first say.
                finding.warn_only()
            return finding
        if get("services") >= t and not _number_entered_codes(state):
            # A slow flood through many sites' forms, a few codes each: the number's
            # own level learns it within minutes, the hour's count from several
            # services does not pass for anyone's normal.
            finding = _finding(BOMBING, get("services") + vol, state, signals, step, ctx,
                               ("services", "volume", "conversion"),
                               _number_scope(state, ctx))
            finding.evidence.insert(0, {"feature": "services_sending_codes_1h",
                                        "value": state.services_last_hour(step)[0],
                                        "baseline": SEVERAL_SERVICES - 1})
            return finding
        if get("unanswered") >= t:
            # One service's codes, a few an hour for hours, none entered: slower than
            # any burst, and no person's pace of asking (see scopes.PERSISTENT_CODES).
            # A service's own delivery monitor (a test handset that is sent a code every
            # few minutes and never types one in) looks the same: for a person to look
            # at, not for the gateway to block.
            finding = _finding(BOMBING, get("unanswered") + vol, state, signals, step, ctx,
                               ("unanswered", "volume", "conversion"), None)
            finding.warn_only()
            last, before, fed = state.persistent_codes(step) or (0, 0, True)
            # (Codes from a service without a verification feed may have been entered;
            # only twice the pace counts, and on-call should know which it was.)
            name, pace = (("codes_unanswered", PERSISTENT_CODES) if fed
                          else ("codes_no_verification_feed", FEEDLESS_PERSISTENT_CODES))
            finding.evidence[1:1] = [
                {"feature": f"{name}_last_hour", "value": last, "baseline": pace - 1},
                {"feature": f"{name}_hour_before", "value": before, "baseline": pace - 1}]
            return finding
        return None
    t = bar(TAKEOVER)
    origin_unknown = _origin_unknown(state)
    own_campaign = kind in ("account", "api_key") and _own_campaign(state)
    origin = _new_origin(state, get)
    if (kind in ("account", "api_key") and vol >= t / 2 and not origin_unknown
            and not own_campaign):
        # What a hijacker sends: to new numbers or countries, premium ranges, or links
        # to somewhere not the account's own site. An enterprise whose app servers
        # rotate addresses sends its urgent notice with a link to its own status page.
        spread = max(get("new_destination"), get("new_country"), get("premium"),
                     get("foreign_url"))
        if origin >= t and spread >= t / 2:
            finding = _finding(TAKEOVER, vol + origin + spread, state, signals, step, ctx,
                               ("volume", "new_key", "new_ip", "new_destination",
                                "new_country", "premium", "foreign_url", "new_callback"),
                               _origin_scope(state, ctx))
            gain = max(get("new_country"), get("premium"), get("foreign_url"),
                       get("new_callback"))
            if gain < t / 2 and _nothing_to_gain(state):
                # New numbers from a new network, and texts that carry nothing a hijacker
                # is paid by: no link to a site they do not name, no number to call, no
                # dear or new country. An account's second server (the marketing
                # platform its campaigns go out from, met for the first time) looks the
                # same: for a person to look at, not for the gateway to block.
                finding.warn_only()
            elif (_mostly_own_origin(state, signals) and _nothing_to_gain(state)
                  and max(get("premium"), get("foreign_url"), get("new_callback")) < t / 2
                  and (_no_codes(state) or _ordinary_price(state))):
                # Most of the burst goes out from the account's own servers, the new one
                # beside them sending the same texts, with no lure in them and no codes
                # into a dear range: the owner's doing (a broadcaster's vote
                # confirmations in a market new to it, a server added to its pool). A
                # hijacker does not share his burst with the owner's servers. For a
                # person to look at.
                finding.warn_only()
            else:
                finding.widens = _whole_account_taken(state, finding.throttle_scope)
                if _carries_lures(get, signals, t):
                    finding.also = _finding(
                        SPAM, finding.score, state, signals, step, ctx,
                        ("url", "dup_body", "new_link", "foreign_url", "new_callback",
                         "new_destination", "volume"), None)
                    finding.also.warn_only()
            return finding
    if kind == "account" and not origin_unknown and not own_campaign:
        # A hijacker who keeps to the account's pace: from a network or key it never
        # used, to a country it never texted, linking to a site it never linked to.
        # Each alone is an ordinary change (servers move, markets open, campaigns
        # link somewhere new); all three at once are someone else's traffic (each at
        # least half the bar, together twice it). Held to that country: the account's
        # own traffic, through the same key, goes on.
        changes = (origin, get("new_country"), get("new_link"))
        if min(changes) >= t / 2 and sum(changes) >= 2 * t:
            return _finding(TAKEOVER, sum(changes), state, signals,
                            step, ctx, ("new_key", "new_ip", "new_country", "new_link",
                                        "foreign_url", "volume"),
                            _new_country_scope(state, step, ctx))
    # Independent fraud traces add up; a young scope (an account's first hour in a
    # country, a range that just woke up) has no volume history worth comparing.
    fraud = sum(x for x in (get("conversion"), get("sequential"), get("premium")) if x >= 1)
    # Codes nobody enters, but to the same few handsets over and over: people being
    # bombed (a block of an office's numbers), not a range being pumped. The same
    # traces, judged (and held) as bombing.
    bombing = _bombing_many(state, signals, bar(BOMBING), BOMBING in ctx.holding, ctx)
    t = bar(BOMBING) if bombing else bar(PUMPING)

    def bombed() -> Finding:
        return _finding(BOMBING, vol + get("conversion") + get("repeats"), state, signals,
                        step, ctx, ("volume", "conversion", "repeats"),
                        _bombed_block(state, ctx))

    if bombing and get("repeats") >= t and vol >= t / 2:
        # Once every bombed number has had its first code, they are no longer new
        # numbers that nobody verifies: the repeats alone say it.
        return bombed()
    if get("conversion") < t / 2 and get("premium") < t / 2 and _ordinary_price(state):
        # A run of numbers alone, at what an ordinary message costs: an enterprise
        # texting its staff's number block. Pumping pays only where termination is
        # dear, or shows in codes nobody enters.
        fraud = 0.0
    if _codes_entered(signals):
        # Its people enter their codes as they always did: pumped numbers belong to
        # nobody. A run of numbers or a dear range is then where the users are.
        fraud = 0.0
    elif "conversion" in signals and _ordinary_price(state) and state.codes_tried():
        # Its people type their codes as usual and the service turns them down (a login
        # back end rejecting good codes): they fail, ask again and fail again, and the
        # codes entered collapse while the resends soar. Pumped numbers type nothing,
        # and at an ordinary price nothing pays for typing on their behalf.
        fraud = 0.0
    if get("conversion") >= 1 or get("sequential") >= 1:
        # A premium-priced destination is what pays a pumping ring: it raises the odds
        # of what the behaviour shows, but is no evidence on its own (an account that
        # serves an expensive market pays that price for every honest message).
        fraud += get("high_price")
        if state.young(step):
            # Likewise a country new to an established account (young scopes only:
            # an older scope's new-country share is about many sends, not one fact).
            fraud += get("new_country") + get("dear_countries")
    elif "dear_countries" in signals and _feed_silent(state):
        # Several dear countries new to the account at once, and no verification feed
        # to say whether their users are real: the spread is the behaviour (revenue
        # share fraud over many ranges), and each country's price and novelty count.
        # (With a feed, unverified codes are the behaviour, as above.)
        fraud += get("high_price") + get("new_country") + get("dear_countries")
    # Two behavioural traces at once stand in for the volume: codes nobody enters
    # (which a broken verification feed also shows) in a run of numbers (which an
    # enterprise texting its staff's number block also shows). A range pumped a few
    # sends a minute by each of many accounts barely moves the range's volume.
    both = get("conversion") >= t / 2 and get("sequential") >= t / 2
    if fraud >= t and (vol >= t / 2 or state.young(step) or both):
        if bombing:
            return bombed()
        score = vol + fraud
        finding = _finding(PUMPING, score, state, signals, step, ctx,
                           ("volume", "conversion", "sequential", "premium", "high_price",
                            "new_country", "dear_countries"),
                           _pumping_scope(state, ctx))
        name = state.kind.name
        finding.block_only = (
            (name == "account_country" and state.young(step) and get("new_country") > 0)
            or (name == "prefix" and "account_id" in (finding.throttle_scope or {})))
        return finding
    if kind == "account_country" and get("dear_codes_unentered") >= t:
        # Codes trickling into the dear countries the account took up lately, too few
        # in any one to say anything, none of them entered while its users elsewhere
        # enter theirs (see ScopeState.dear_codes_unentered). Blocked in this country:
        # the account's honest traffic there is a few hours old at most, and a trickle
        # hops from block to block.
        finding = _finding(PUMPING, get("dear_codes_unentered"), state, signals, step, ctx,
                           ("dear_codes_unentered", "volume", "high_price"),
                           {"account_id": ctx.account_id or "", "country": _country_of(state)})
        finding.block_only = True
        return finding
    if kind == "prefix" and (ring := _ring(state, step)):
        return _ring_finding(state, signals, step, ctx, ring, t)
    if (kind == "account" and "dear_countries_hour" in signals
            and get("dear_countries_hour") >= t and _feed_silent(state)
            and _maybe_codes(state)):
        # Codes going low and wide into dear countries the account took up in its last
        # hours, no one of them busy, together a share of its traffic that honest
        # expansion (one market at a time) does not make, and no verification feed to
        # say whether anyone is behind them. A warning: which countries to stop is for
        # a person to say (an account opening several markets at once looks the same).
        finding = _finding(PUMPING, get("dear_countries_hour"), state, signals, step, ctx,
                           ("dear_countries_hour", "volume"), None)
        finding.warn_only()
        return finding
    hour = signals.get("conversion_hour")
    if (hour is not None and get("conversion_hour") >= t
            and hour.value <= COLLAPSED * hour.baseline and not state.young(step)):
        # A country the account serves, where its codes went unentered for an hour and
        # the last ten minutes too: pumped codes hidden beside its users, a few every
        # ten minutes, which never move its volume. A grey route into the country that
        # drops the users' codes looks the same here (its own route judges it): a
        # warning for a person to look at, no throttle.
        finding = _finding(PUMPING, get("conversion_hour"), state, signals, step, ctx,
                           ("conversion_hour", "conversion", "volume"), None)
        finding.warn_only()
        return finding
    opening = "dear_opening" if "dear_opening" in signals else "unpriced_opening"
    if opening in signals and _feed_silent(state) and _maybe_codes(state):
        # An account's first hour in a dear country new to it, carrying a share of its
        # traffic no honest account sends to a country it never texted, and no
        # verification feed to say whether people are behind it: what pays a pumping
        # ring, and what a launch could also be. Codes entered cannot clear it, so only
        # its share and price speak: a warning for a person to look at, no throttle.
        # A gateway that does not say the price leaves the share alone to speak: the
        # countries rings pump are the dear ones, and nothing says this one is not.
        score = get(opening) + get("high_price")
        if score >= t:
            again = signals.get("dear_openings_4h")
            finding = _finding(PUMPING, score, state, signals, step, ctx,
                               (opening, "volume", "high_price"),
                               None if again is None else _pumping_scope(state, ctx))
            if again is None:
                finding.warn_only()
            else:
                # Not its first dear country in hours: a launch opens one market at a
                # time, a ring stopped in one range moves on to the next (through
                # another of a reseller's keys). Blocked there: the account never
                # texted the country before.
                finding.block_only = True
                finding.evidence.insert(0, {"feature": "new_high_price_countries_4h",
                                            "value": again.value, "baseline": 1.0})
            return finding
    t = bar(TAKEOVER)
    if origin_unknown and vol >= t / 2 and not own_campaign:
        # The gateway reports no key and no address for this account: a hijack cannot
        # show as a new credential. What it still shows, once no fraud trace says
        # pumping, is traffic to countries the account never texted, to new numbers.
        spread = max(get("new_destination"), get("premium"), get("foreign_url"))
        if get("new_country") >= t and spread >= t / 2:
            return _finding(TAKEOVER, vol + get("new_country") + spread, state, signals,
                            step, ctx, ("volume", "new_destination", "new_country",
                                        "premium", "foreign_url"),
                            _new_country_scope(state, step, ctx))
    if (kind == "account" and not origin_unknown and _content_unknown(state)
            and min(origin, get("new_country")) >= t):
        # The hijacker at the account's pace again (see above), but no bodies reach the
        # detector, so a link never used cannot show. A network and a country both new
        # to the account, each at the full bar: for a person to look at (a market opened
        # from a new server looks the same), not for the gateway to block.
        finding = _finding(TAKEOVER, origin + get("new_country"), state, signals, step,
                           ctx, ("new_key", "new_ip", "new_country", "volume"), None)
        finding.warn_only()
        return finding
    if kind == "account" and vol < t / 2 and (marked := _stolen_key_lures(state)):
        # A hijacker at the account's pace with a key it stole: its lures are a share of
        # the account's traffic too small to move any one signal, but each carries every
        # mark at once (see ScopeState._close_stranger_links), and nearly all go to
        # numbers the account never had. For a person to look at (the owner's own
        # traffic goes through the same key), not for the gateway to block.
        lures, links = marked
        finding = _finding(TAKEOVER, max(t, origin + get("new_link")), state, signals, step,
                           ctx, ("new_ip", "new_link", "foreign_url", "new_destination",
                                 "volume"), None)
        finding.warn_only()
        finding.evidence[:0] = [
            {"feature": "stranger_lures_1h", "value": lures, "baseline": STOLEN_KEY_LURES - 1},
            {"feature": "stranger_lures_to_new_numbers_share", "value": _round(lures / links),
             "baseline": NEVER_TEXTED_SHARE}]
        return finding
    if kind == "account" and (pumped := _stranger_codes(state, step,
                                                         get("conversion") >= t / 2)):
        # A thief pumping with a key he stole, from the proxies he rents, into the
        # countries his ring is paid in, at the account's pace (see
        # ScopeState._close_stranger_codes). A warning: the key may be the owner's too.
        codes, networks = pumped
        finding = _finding(TAKEOVER, max(t, origin + get("new_country")), state, signals,
                           step, ctx, ("new_ip", "new_country", "new_destination",
                                       "conversion", "volume"), None)
        finding.warn_only()
        finding.evidence[:0] = [
            {"feature": "stranger_codes_1h", "value": codes, "baseline": STRANGER_CODES_1H - 1},
            {"feature": "stranger_code_networks_1h", "value": networks,
             "baseline": STRANGER_CODE_NETWORKS - 1}]
        return finding
    t = bar(SPAM)
    # Lures from a stranger: links to a site the account never linked to, sent with a
    # key or from an address it never used. That needs no volume: a ring spreading its
    # lures over many small stolen accounts keeps each within its bursty history's pace.
    stranger_lure = (kind in ("account", "api_key") and get("new_link") >= t
                     and origin >= t / 2)
    # So are the lures of an account that signed up while the detector ran: its first
    # texts, to numbers it never had by definition, linking to sites that neither they
    # nor their sender name and offering no way to stop them. (A new tenant's first
    # campaign links to its own site, or through a shortener with an opt-out.) A ring
    # of such accounts keeps each to a few texts a minute, from its first minute.
    newcomer = state.young(step) and not met_at_startup(state, ctx.started_ms)
    newcomer_lure = (kind in ("account", "api_key") and get("foreign_url") >= t
                     and newcomer and _opt_out_share(state) <= 0.5)
    # Numbers in runs are a list somebody generated, not subscribers who opted in. Links
    # to it, unless to a site the texts name, are a lure campaign's, whatever the texts
    # say about stopping them; and it needs no volume: a drip of a few a minute from a
    # new account is every recipient's first text all the same.
    generated = (kind in ("account", "api_key") and get("sequential") >= t / 2
                 and not _links_to_named_site(state))
    if vol < t / 2 and not stranger_lure and not generated and not newcomer_lure:
        if (kind in ("account", "api_key") and _lures_slipped_in(get, t)
                and _opt_out_share(state, W1) <= 0.5):
            # Lures slipped into an account's own traffic at its own pace, from its own
            # keys and networks (an insider, or a hijacker careful to blend in): texts
            # linking to sites it never linked to, to numbers it never texted, and not
            # offering a way to stop them as a campaign must (the last minute's: a
            # campaign's first seconds, before its volume shows, are mostly its own).
            # A campaign to a partner's new site that forgets to looks the same: for a
            # person to look at.
            finding = _finding(SPAM, get("new_link") + get("url") + get("new_destination"),
                               state, signals, step, ctx,
                               ("new_link", "url", "new_destination", "foreign_url",
                                "volume"), None)
            finding.warn_only()
            return finding
        return None
    if kind in ("account", "api_key"):
        dup = get("dup_body")
        # (A young scope's flood already judged a lure stays one while it goes on:
        # against its own life so far, a steady flood soon stops being a burst.)
        fresh = (generated or newcomer_lure or get("new_destination") >= t / 2
                 or (state.young(step) and (SPAM in ctx.holding or _bursting(state, step, ctx))))
        repeated = _repeated(get, signals, t)
        # Links to hosts the account did not link to: links where it sent none, or,
        # from an account whose texts always carry links, a site that is not its own.
        # A shop's campaign to its mailing list (new recipients and all) links to the
        # shop's own site. An account that appeared mid-stream has no site of its own
        # yet: its links only need to be a surprise, unless they carry its sender name.
        # A callback scam's lure is a number to phone in a text the account never sent.
        links = max(get("new_link"), get("new_callback"))
        if newcomer:
            links = max(links, get("foreign_url"))
        if generated:
            links = max(links, get("url"))
        # A spun campaign rewords every text and rotates its shorteners to slip past
        # duplicate filters: nothing repeats, but an account that seldom linked now
        # links in most of what it sends.
        spun = get("url")
        if (links >= t / 2 and (repeated or spun >= t / 2) and fresh
                and links + max(dup, spun) >= t):
            score = vol + links + dup + get("new_destination")
            finding = _finding(SPAM, score, state, signals, step, ctx,
                               ("volume", "url", "dup_body", "new_destination", "new_link",
                                "foreign_url", "new_callback")
                               + (("sequential",) if generated else ()),
                               _origin_scope(state, ctx))
            opt_out = _opt_out_share(state)
            if origin < t / 2 and not origin_unknown and opt_out > 0.5 and not generated:
                # From the account's own keys and networks, and its links offer a way
                # to stop the texts, as the carriers' marketing rules require and no
                # lure posing as a bank or a courier does: a campaign to a site new to
                # the detector (a polling-place finder, a partner's shop). For a person
                # to look at; not for the gateway to block.
                finding.warn_only()
                finding.evidence.append({"feature": "opt_out_link_share",
                                         "value": _round(opt_out),
                                         "baseline": None})
            elif (origin < t / 2 and not origin_unknown and get("new_callback") >= links
                  and not newcomer):
                # A number to phone and no link, sent with the account's own keys from
                # its own networks: a bank's card-block wave after a breach, with its
                # support line in a text it never had to send before. A scam's number
                # comes from whoever took the account over (a new network) or from an
                # account that has no networks of its own yet. For a person to look at.
                finding.warn_only()
            return finding
        if (_content_unknown(state) and vol >= t and get("new_destination") >= t
                and _no_codes(state)):
            # No bodies reach the detector: links and a repeated text cannot show. A
            # burst far above the account's level, nearly all to numbers it never
            # had, is what is left of a lure campaign (a scheduled campaign writes to
            # its own list; a launch's new users receive codes, and messages that do
            # not say what they are prove nothing either way).
            score = vol + get("new_destination")
            finding = _finding(SPAM, score, state, signals, step, ctx,
                               ("volume", "new_destination"), _origin_scope(state, ctx))
            if origin < t / 2 and not origin_unknown:
                # Sent with the account's own keys from its own networks: the one
                # trace of a stranger left without bodies is absent. A marketer's
                # blast to a bought list is for a person to look at, not to block.
                finding.warn_only()
            return finding
    t = bar(ANOMALY)
    if state.young(step) and met_at_startup(state, ctx.started_ms):
        # Busier than the population is no news about a scope that was already running
        # when the detector started (a busy shop), only about one that appears later.
        return None
    if kind in ("account", "prefix") and (vol >= 2 * t or (vol >= t and get("trees") >= 0.95)):
        if kind == "prefix" and state.top_account()[1] >= DOMINANT_SHARE:
            # One account's burst (a brand's midnight greetings reach every range of a
            # country at once): its own scopes judge it against its own level, once,
            # not once for each range it touches.
            return None
        return _finding(ANOMALY, vol, state, signals, step, ctx,
                        ("volume", "trees", "new_destination", "url"), None)
    return None


def _ring(state: ScopeState, step: int) -> int:
    """Fresh accounts without a feed that sent codes into this dear range within the
    hour, if they are a ring's ``RING_ACCOUNTS`` or more; else 0 (see
    ScopeState.fresh_ring). A range whose texts do not say their price counts as dear:
    nothing says it is not."""
    ring = state.fresh_ring(step)
    return 0 if ring < RING_ACCOUNTS or _ordinary_price(state) else ring


def _ring_finding(state: ScopeState, signals: dict[str, Signal], step: int, ctx: Context,
                  ring: int, t: float) -> Finding:
    """Pumping by a ring of fresh accounts: each sends a few codes an hour, together
    they walk one block of a dear range. Blocked for every sender in the block the
    numbers fill (its honest senders mostly text elsewhere in the range), however few
    the codes: their accounts are disposable, the block is what the ring is paid for."""
    numbers = dict.fromkeys((n for _, n in state.fresh_numbers or ()), 1)
    finding = _finding(PUMPING, t * ring / RING_ACCOUNTS, state, signals, step, ctx,
                       ("volume", "high_price"), {"prefix": _block_of(numbers, ctx.entity_id)})
    finding.evidence.insert(0, {"feature": "fresh_accounts_sending_codes_1h", "value": ring,
                                "baseline": RING_ACCOUNTS - 1})
    finding.block_only = True
    return finding


def _codes_entered(signals: dict[str, Signal]) -> bool:
    """Is the scope's OTP conversion (where its account reports verifications) at
    least ``CODES_ENTERED`` of its normal?"""
    conversion = signals.get("conversion")
    return conversion is not None and conversion.value >= CODES_ENTERED * conversion.baseline


def _reports_lost_codes_entered(finding: Finding, conversion: Signal) -> None:
    """Reports missing while the route's codes are entered as usual: its messages reach
    handsets, and what broke is the way back (late or lost reports). Worth a warning
    that shows the codes entered beside the coverage; not a page at night."""
    finding.warn_only()
    finding.evidence.append(_evidence_item("conversion", conversion))


def _bombing_many(state: ScopeState, signals: dict[str, Signal], t: float, holding: bool,
                  ctx: Context) -> bool:
    """Do most of the codes go to several numbers that had one minutes before, far more
    often than users ask again? (One number alone is its own scope's to judge.) Once
    held, the share may fall as far as the surprise may."""
    repeats = signals.get("repeats")
    if repeats is None or len(state.repeated_numbers) < MIN_BOMBED_NUMBERS:
        return False
    least = BOMBED_REPEAT_SHARE * (ctx.hold_threshold / ctx.threshold if holding else 1.0)
    return repeats.value >= least and repeats.surprise >= t / 2


def _bombed_block(state: ScopeState, ctx: Context) -> dict[str, str] | None:
    """The block of the numbers sent codes again and again, when most fall in one
    (``BLOCK_DIGITS`` below the prefix depth): from this account for an account's
    finding, from every sender for a range's. Else no throttle here (each bombed
    number is throttled as a destination).

    (Each scope is held by one episode only: an account's finding never releases the
    block a range's finding still holds.)"""
    depth = ctx.prefix_depth + 1 + BLOCK_DIGITS
    block = _dominant_head({n: 1 for n in state.repeated_numbers if len(n) > depth}, depth)
    if block is None:
        return None
    return {"account_id": ctx.account_id, "prefix": block} if ctx.account_id else {
        "prefix": block}


def _bursting(state: ScopeState, step: int, ctx: Context) -> bool:
    """Is a young scope's last minute far busier than its own life so far?

    In a scope's first hour every recipient is new, so "to recipients the account
    never had" cannot tell a lure from a campaign. A burst against the scope's own
    level can: a shop that was already texting its list when the detector started
    sends steadily; an account whose lures start mid-life jumps.
    """
    spm = state.steps_per_min
    first = state.first_step if state.first_step is not None else step
    alive_min = (step - first + 1) / spm
    if alive_min < BURST_BASE_MINUTES:
        # No level of its own yet. A scope that appeared mid-stream is new: judged
        # against the population. One met as the detector started is not known to be.
        return not met_at_startup(state, ctx.started_ms)
    level = state.sums.totals(W60)[SENDS] / min(alive_min, 60.0)
    return state.sums.totals(W1)[SENDS] >= BURST_RATIO * max(level, 1.0)


def _new_origin(state: ScopeState, get: Callable[[str], float]) -> float:
    """How surprising the traffic's origin is: the networks it comes from, or, for an
    account whose records carry no address, the keys it uses.

    A key the owner rotates is used from the owner's servers; one a hijacker steals or
    plants is used from his. So where addresses are known, a new key from the usual
    networks is the owner's own doing (a deploy), not a stranger.
    """
    return get(_origin_signal(state))


def _origin_signal(state: ScopeState) -> str:
    """The signal that says where the traffic comes from (see _new_origin)."""
    return "new_key" if state.kind.track_origin and not state.seen_ips else "new_ip"


def _stolen_key_lures(state: ScopeState) -> tuple[float, float] | None:
    """The last hour's sends with a stolen key's marks (see
    ScopeState._close_stranger_links) to numbers the account never texted, and all of
    them, if there were ``STOLEN_KEY_LURES`` of the first, nearly all of the second,
    and most of what the networks that sent them sent; else None. (A brand's campaign
    from a marketing platform met for the first time carries a few links through a
    shortener beside many to its own site; a hijacker's networks send nothing but
    lures.) (Read one column at a time: nearly every account judged has none.)"""
    lures = state.sums.total_of(W60, STRANGER_LURES)
    if lures < STOLEN_KEY_LURES:
        return None
    links = state.sums.total_of(W60, STRANGER_LINKS)
    if lures < NEVER_TEXTED_SHARE * links:
        return None
    peers = state.sums.total_of(W60, STRANGER_LINK_PEERS)
    return (lures, links) if links >= LURES_OF_STRANGER_SENDS * peers else None


def _stranger_codes(state: ScopeState, step: int,
                    unentered: bool) -> tuple[float, int] | None:
    """The last hour's code texts from networks new to the account to countries new to
    it, and the networks they came from, if there were ``STRANGER_CODES_1H`` of them,
    from ``STRANGER_CODE_NETWORKS`` networks or more (one, when the account's codes go
    ``unentered``), and they were most of what those networks sent; else None.

    (An account opening a market from a new server of its own is one network, and its
    new users enter their codes; a thief's ring, behind one proxy or many, enters none.)"""
    codes = state.sums.total_of(W60, STRANGER_CODES)
    if codes < STRANGER_CODES_1H:
        return None
    networks = state.stranger_code_networks(step)
    if networks < (1 if unentered else STRANGER_CODE_NETWORKS):
        return None
    peers = state.sums.total_of(W60, STRANGER_CODE_PEERS)
    return (codes, networks) if codes >= LURES_OF_STRANGER_SENDS * peers else None


def _opt_out_share(state: ScopeState, window_id: int = W10) -> float:
    """Of the last ten minutes' (or ``window_id``'s) sends with links, the share
    offering an opt-out."""
    window = state.sums.totals(window_id)
    return window[OPT_OUT_URL] / window[URL] if window[URL] else 0.0


def _number_entering_codes(state: ScopeState) -> bool:
    """Has this number typed a code in the last ten minutes, right or wrong (see
    features.TYPED_WITHIN_MS)? A code turned down by a failing login service was still
    typed by the handset's owner."""
    return state.sums.total_of(W10, TYPED) > 0


def _number_entered_codes(state: ScopeState) -> bool:
    """Did this number enter a code over the last hour (its owner at the keypad)?"""
    return state.sums.total_of(W60, VERIFIED_NUMBERS) > 0


def _origin_unknown(state: ScopeState) -> bool:
    """Has the account's traffic never carried an API key or a source address?"""
    return state.kind.track_origin and not state.seen_keys and not state.seen_ips


def _carries_lures(get: Callable[[str], float], signals: dict[str, Signal], bar: float
                   ) -> bool:
    """Do the texts link to sites the scope never linked to or that they do not name (or
    ask to phone a number they never gave), over and over or in most of them?"""
    links = max(get("new_link"), get("foreign_url"), get("new_callback"))
    return links >= bar / 2 and (_repeated(get, signals, bar) or get("url") >= bar / 2)


def _repeated(get: Callable[[str], float], signals: dict[str, Signal], bar: float
              ) -> bool:
    """One text over and over? For an account that always sends one template the share
    cannot rise above its baseline, so a burst that is nearly all one text counts as
    repeated even when that is no surprise (its links still must be)."""
    return get("dup_body") >= bar / 2 or (
        "dup_body" in signals and signals["dup_body"].value >= REPEATED_SHARE)


def _lures_slipped_in(get: Callable[[str], float], bar: float) -> bool:
    """Links to sites the scope never linked to, to numbers it never texted: both a
    surprise, the links fully."""
    return get("new_link") >= bar and get("new_destination") >= bar / 2


def _own_campaign(state: ScopeState) -> bool:
    """Do most sends of the last ten minutes link to the account's own site (the sender
    name's site, or one its text signs with: see detector.body), and of the last minute
    too, unless it carries only a few sends (a reminder or two beside the campaign)?

    A small shop's campaign goes out from a server address it has used for half an
    hour, to a list of numbers it never texted in the detector's memory: every trace of
    a hijack but one. A hijacker sends lures to a look-alike site, or advertises his
    own; the victim's site is of no use to him. A shortened link offered with an opt-out
    names no site: a hijacker copies "Reply STOP" as easily as the brand writes it.
    """
    for window, fewest in ((W10, 1), (W1, OWN_CAMPAIGN_MINUTE_SENDS)):
        totals = state.sums.totals(window)
        sends = totals[SENDS]
        if sends >= fewest and totals[OWN_SITE_URL] < OWN_CAMPAIGN_SHARE * sends:
            return False
    return state.sums.totals(W10)[SENDS] > 0


def _links_to_named_site(state: ScopeState) -> bool:
    """Do most of the last ten minutes' links go to a site their texts name?"""
    window = state.sums.totals(W10)
    return window[URL] > 0 and window[OWN_SITE_URL] >= OWN_CAMPAIGN_SHARE * window[URL]


def _mostly_own_origin(state: ScopeState, signals: dict[str, Signal]) -> bool:
    """Did most of the window's sends come from the account's own networks (or keys,
    where records carry no address)? (See _new_origin.)"""
    origin = signals.get(_origin_signal(state))
    return origin is not None and origin.value < 0.5


def _nothing_to_gain(state: ScopeState) -> bool:
    """Did the latest sends carry bodies, most of them no link to a site the text does
    not name? (A shortener hides whose site it is; without bodies, anything.) The last
    minute's, unless it carries only a few: the burst, not the account's usual texts."""
    window = state.sums.totals(W1)
    if window[SENDS] < OWN_CAMPAIGN_MINUTE_SENDS:
        window = state.sums.totals(W10)
    return (not _content_unknown(state)
            and window[URL] - window[OWN_SITE_URL] < window[SENDS] / 2)


def _content_unknown(state: ScopeState) -> bool:
    """Has the scope's last ten minutes carried no message body at all?"""
    return state.kind.track_bodies and not state.recent_fingerprints


def _no_codes(state: ScopeState) -> bool:
    """Do most of the last ten minutes' sends say they are no OTP (a category) or show
    it (a text with no code in it), and neither says otherwise? A send with no category
    and no body may be a code.

    Without bodies, a launch's codes to new users and a burst of lures to bought numbers
    differ only in what the gateway says the messages are; saying nothing proves nothing.
    """
    window = state.sums.totals(W10)
    return window[DESCRIBED] - window[CODES] - window[CODED_OTHER] > window[SENDS] / 2


def _maybe_codes(state: ScopeState) -> bool:
    """Could most of the last ten minutes' sends be codes (what pumping abuses), and do
    most carry no link (what lures carry)?"""
    window = state.sums.totals(W10)
    return not _no_codes(state) and window[URL] < window[SENDS] / 2


def _feed_silent(state: ScopeState) -> bool:
    """Did none of the last ten minutes' sends come from an account that reports its
    users' verifications (so conversion can never speak for them)?"""
    return state.sums.total_of(W10, OTP) == 0


def _ordinary_price(state: ScopeState) -> bool:
    """Did the last ten minutes' sends say their price, and was it below the high
    price? (A gateway that sends no price says nothing either way.)"""
    price = state.segment_price()
    return price is not None and 0 < price < state.high_price_usd


def met_at_startup(state: ScopeState, started_ms: int | None) -> bool:
    """Was the scope first seen in the detector's first minutes (so of unknown age)?
    ``started_ms``: event time of the first record the detector saw."""
    if started_ms is None or state.first_step is None:
        return False
    return state.first_step * state.step_ms < started_ms + STARTUP_MINUTES * MINUTE_MS


def _finding(kind: str, score: float, state: ScopeState, signals: dict[str, Signal],
             step: int, ctx: Context, names: tuple[str, ...],
             throttle_scope: dict[str, str] | None) -> Finding:
    evidence = [_evidence_item(n, signals[n]) for n in names
                if n in signals and (n == "volume" or signals[n].surprise > 0)]
    evidence.append({"feature": "money_at_risk_10m_usd", "value": _round(state.money()),
                     "baseline": None})
    account_id = ctx.account_id
    top, top_share = state.top_account()
    if account_id is None and top is not None:
        evidence.append({"feature": "top_account_share", "value": _round(top_share),
                         "baseline": None, "account_id": top})
        if top_share >= DOMINANT_SHARE:
            account_id = top
    if kind == DEGRADATION and state.error_codes:
        total = sum(state.error_codes.values())
        code = max(state.error_codes, key=lambda c: (state.error_codes[c], c))
        evidence.append({"feature": "top_error_code_share", "value": _round(
            state.error_codes[code] / total), "baseline": None, "error_code": code})
    if kind == DEGRADATION and state.operators is not None:
        for item in evidence:
            if item["feature"] == "operator_delivered_rate":
                item["operator"] = state.operators.worst_operator
    if state.kind.name == "route_country":
        # The route is the entity; the country is where it fails.
        country = _country_of(state)
        for item in evidence:
            item["country"] = country
    per_minute = state.rate.expected((step + 1) * state.step_ms, state.steps_per_min)
    return Finding(kind, state.kind.name, state.scope_id, state.kind.entity_type,
                   ctx.entity_id, account_id, round(score, 3), step, evidence, throttle_scope,
                   per_minute / 60.0)


_FEATURE_NAMES = {
    "volume": "sends_in_window",
    "conversion": "otp_conversion_rate",
    "conversion_hour": "otp_conversion_rate_1h",
    "sequential": "sequential_number_share",
    "premium": "premium_rate_number_share",
    "high_price": "price_per_segment_usd",
    "new_country": "new_country_share",
    "dear_countries": "new_high_price_countries",
    "dear_countries_hour": "new_high_price_countries_taken_up_4h",
    "dear_codes_unentered": "otp_conversion_rate_new_high_price_countries_1h",
    "dear_opening": "new_high_price_country_traffic_share",
    "unpriced_opening": "new_country_traffic_share_price_unknown",
    "new_destination": "new_destination_share",
    "new_key": "new_api_key_share",
    "new_ip": "new_source_ip_share",
    "new_link": "new_link_host_share",
    "new_callback": "new_callback_text_share",
    "long": "long_text_share",
    "foreign_url": "foreign_link_share",
    "url": "url_share",
    "dup_body": "duplicate_body_share",
    "delivered": "delivered_rate",
    "operator_delivered": "operator_delivered_rate",
    "dlr_coverage": "delivery_report_coverage",
    "report_delay": "delivery_report_wait_s",
    "new_error_code": "new_error_code_failure_share",
    "repeats": "repeat_code_share",
    "services": "codes_to_number_1h",
    "unanswered": "unanswered_codes_to_number_2h",
    "trees": "half_space_trees_score",
}


def _evidence_item(name: str, signal: Signal) -> dict:
    """What a signal shows on call: the feature, its value, its baseline, how unlikely."""
    return {"feature": _FEATURE_NAMES.get(name, name), "value": _round(signal.value),
            "baseline": _round(signal.baseline), "surprise": _round(signal.surprise)}


def _round(x: float) -> float:
    return round(float(x), 4)


def _dominant(counts: dict[str, int]) -> str | None:
    total = sum(counts.values())
    if not total:
        return None
    best = max(counts, key=lambda k: (counts[k], k))
    return best if counts[best] / total >= DOMINANT_SHARE else None


def _pumping_scope(state: ScopeState, ctx: Context) -> dict[str, str]:
    """Narrowest scope holding the attack: account x prefix, then account x country (for
    a finding on the account in one country), then account, then the pumped block of a
    range for every sender."""
    pumped = _pumped_numbers(state)
    prefix = _dominant_head(pumped, ctx.prefix_depth + 1)
    if state.kind.name == "prefix":
        prefix = ctx.entity_id
        top, top_share = state.top_account()
        if top is not None and top_share >= DOMINANT_SHARE:
            return {"account_id": top, "prefix": prefix}
        # Every sender is stopped: only in the block of the range the pumping goes to,
        # when it goes to one (a ring walks a block; the range's honest senders
        # mostly text elsewhere in it). A step's number or two say nothing of where a
        # ring's numbers spread: then the range's last ten minutes say it.
        if sum(pumped.values()) < MIN_UNVERIFIED:
            pumped = dict.fromkeys((f"+{n}" for n in state.number_pool), 1) or pumped
        return {"prefix": _block_of(pumped, prefix)}
    scope = {"account_id": ctx.account_id or ""}
    if prefix is not None:
        scope["prefix"] = prefix
    elif state.kind.name == "account_country":
        # Pumped numbers mixed with the account's honest ones in this country: the
        # country still holds the attack, the account's other countries need not stop.
        scope["country"] = _country_of(state)
    return scope


def _block_of(numbers: dict[str, int], prefix: str) -> str:
    """The narrowest sub-range, down to ``BLOCK_DIGITS`` digits below ``prefix``, that
    most of ``numbers`` fall in, or ``prefix`` itself when none holds most of them: a
    ring spreading its numbers over a tenth of the range is stopped there whole, not in
    the hundredth its first number fell in.

    >>> _block_of({"+99292103601": 3, "+99292103688": 2, "+99292555000": 1}, "+99292")
    '+9929210'
    >>> _block_of({"+99292103601": 1, "+99292136000": 1, "+99292555000": 1}, "+99292")
    '+992921'
    >>> _block_of({"+99292103601": 1, "+99292555000": 1}, "+99292")
    '+99292'
    """
    for digits in range(BLOCK_DIGITS, 0, -1):
        depth = len(prefix) + digits
        inside = {n: c for n, c in numbers.items() if n.startswith(prefix) and len(n) > depth}
        head = _dominant_head(inside, depth)
        if head is not None:
            return head
    return prefix


def _dominant_head(numbers: dict[str, int], depth: int) -> str | None:
    """The first ``depth`` characters that ``DOMINANT_SHARE`` of ``numbers`` (number ->
    count) share, if any.

    >>> _dominant_head({"+99292103601": 3, "+99292103688": 2, "+99292555000": 1}, 8)
    '+9929210'
    """
    heads: dict[str, int] = {}
    for number, count in numbers.items():
        heads[number[:depth]] = heads.get(number[:depth], 0) + count
    return _dominant(heads)


def _pumped_numbers(state: ScopeState) -> dict[str, int]:
    """Where the pumping goes: the last ten minutes' codes that nobody entered, when
    there are a few, else the last step's numbers. In a busy account the last step
    may hold more honest numbers than pumped ones, in another range."""
    verified = state.recent_verified_numbers
    unverified = {n: 1 for n in state.recent_otp_numbers if n not in verified}
    return unverified if len(unverified) >= MIN_UNVERIFIED else state.last_step_destinations


def _origin_scope(state: ScopeState, ctx: Context) -> dict[str, str]:
    scope = {"account_id": ctx.account_id or ""}
    key = ctx.entity_id if state.kind.name == "api_key" else _hijacked_key(state)
    if key is not None:
        scope["api_key_id"] = key
    return scope


def _country_of(state: ScopeState) -> str:
    """The country of a scope of one thing in one country (its id ends in ``|CC``)."""
    return state.scope_id.rsplit("|", 1)[1]


def _hijacked_key(state: ScopeState) -> str | None:
    """The key the new traffic goes through: the one key that sent from a network new
    to the account, or was new itself, in the last ten minutes; of several, the last
    step's dominant one; with none, the last step's dominant key. A hijacker driving a
    console key staff use now and then sends a text a minute beside the account's busy
    production key, which carries most steps and is not the one taken."""
    strangers = state.stranger_keys or {}
    if len(strangers) == 1:
        return next(iter(strangers))
    keys = state.last_step_keys
    if strangers:
        keys = {key: n for key, n in keys.items() if key in strangers}
    return _dominant(keys)


def _whole_account_taken(state: ScopeState, scope: dict[str, str] | None) -> bool:
    """Does a hijacker send with several of the account's keys at once, and nobody else?

    The last step's sends went through two keys or more, none dominating, and nearly
    all of them came from networks new to the account: blocking the one key the first
    step showed lets the rest through.
    (A step that mixes the account's own traffic with a single stolen key's names no
    key either, but its own addresses are in it.)"""
    keys = state.last_step_keys
    return (scope is not None and "api_key_id" not in scope and len(keys) >= 2
            and sum(keys.values()) >= MIN_ROTATED_SENDS
            and state.last_step_strangers >= STRANGERS_ONLY)


def _new_country_scope(state: ScopeState, step: int, ctx: Context) -> dict[str, str]:
    """A takeover seen only as traffic to new countries: the account in the one country
    it never texted before this hour, or the whole account when there are several
    (no key to narrow it to, and the hijacker's traffic is all that is new)."""
    horizon = step - NOVELTY_MINUTES * state.steps_per_min
    new = [c for c, first in state.seen_countries.items() if first > horizon]
    scope = {"account_id": ctx.account_id or ""}
    if len(new) == 1:
        scope["country"] = new[0]
    return scope


def _number_scope(state: ScopeState, ctx: Context) -> dict[str, str]:
    top, top_share = state.top_account()
    if top is not None and top_share >= DOMINANT_SHARE:
        return {"account_id": top, "prefix": ctx.entity_id}
    return {"prefix": ctx.entity_id}
