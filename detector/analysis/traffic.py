"""Input traffic as parsed events: volumes, countries, OTP conversion, delivery, message shape.

Records are read through the core's :class:`detector.records.RecordParser`, so
they are validated exactly as the detector validates them, enriched with
country and number type, and their bodies are reduced to features (length,
URL, fingerprint) before anything here sees them: no function in this module
can return message text.
"""

from __future__ import annotations

import os
from collections import Counter, defaultdict
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from detector.analysis.findings import read_jsonl, topic_roles_of
from detector.analysis.timelines import bin_edges, choose_bin_s, count_per_bin
from detector.records import (
    DLR,
    FAILED_STATUSES,
    SEND,
    VERIFY,
    DlrEvent,
    RecordParser,
    Rejected,
    SendEvent,
    VerifyEvent,
)


@dataclass
class Traffic:
    """Parsed input events by role, in file order, with rejects counted by reason."""

    sends: list[SendEvent] = field(default_factory=list)
    dlrs: list[DlrEvent] = field(default_factory=list)
    verifies: list[VerifyEvent] = field(default_factory=list)
    rejected: Counter[str] = field(default_factory=Counter)

    @property
    def span(self) -> tuple[int, int] | None:
        stamps = [e.ts for e in self.sends] + [e.ts for e in self.dlrs]
        return (min(stamps), max(stamps)) if stamps else None


def traffic_from_lines(
    lines: Iterable[Mapping[str, Any]], config: Any = None, limit: int | None = None
) -> Traffic:
    """Parse replay-format lines (``{"topic", "value"}``); topics may be configured names."""
    roles = topic_roles_of(config) if config is not None else {}
    parser = RecordParser()
    traffic = Traffic()
    targets = {SEND: traffic.sends, DLR: traffic.dlrs, VERIFY: traffic.verifies}
    for n, line in enumerate(lines):
        if limit is not None and n >= limit:
            break
        topic = str(line.get("topic", ""))
        role = roles.get(topic, topic)
        if role not in targets:
            traffic.rejected["not_input"] += 1
            continue
        try:
            targets[role].append(parser.parse(role, line.get("value")))
        except Rejected as err:
            traffic.rejected[err.reason] += 1
    return traffic


def load_traffic(
    path: str | os.PathLike[str], config: Any = None, limit: int | None = None
) -> Traffic:
    """Read a replay input file (the first ``limit`` lines when given)."""
    return traffic_from_lines(read_jsonl(path), config, limit)


def sends_per_bin(
    sends: Iterable[SendEvent], bin_s: int | None = None, span: tuple[int, int] | None = None
) -> tuple[int, list[int], list[int]]:
    """(bin width, bin starts, sends per bin) over ``span`` or the sends' own span."""
    stamps = [e.ts for e in sends]
    if span is None:
        if not stamps:
            return (bin_s or 60, [], [])
        span = (min(stamps), max(stamps))
    width = bin_s or choose_bin_s(span[1] - span[0])
    bins = bin_edges(span[0], span[1], width)
    return width, bins, count_per_bin(stamps, bins, width)


def share(part: int, whole: int) -> float | None:
    """part / whole, or None when there is nothing to divide (an undefined rate, not 0).

    >>> share(1, 4), share(0, 0)
    (0.25, None)
    """
    return part / whole if whole else None


@dataclass
class GroupRates:
    """OTP conversion and delivery rates of one group (a country, an account, a route)."""

    sends: int = 0
    otp_sends: int = 0
    verified: int = 0
    dlrs: int = 0
    delivered: int = 0
    failed: int = 0

    @property
    def conversion(self) -> float | None:
        return share(self.verified, self.otp_sends)

    @property
    def delivery_rate(self) -> float | None:
        return share(self.delivered, self.dlrs)

    @property
    def failure_rate(self) -> float | None:
        return share(self.failed, self.dlrs)


def rates_by(traffic: Traffic, key: str = "country") -> dict[str, GroupRates]:
    """Send counts, OTP conversion and delivery rates grouped by an event attribute.

    ``key`` is an attribute every event kind has (``country``, ``account_id``)
    or ``route`` (sends and DLRs only). Conversion counts verifications that
    name an OTP send of the group over the group's OTP sends; delivery counts
    DLR statuses.
    """
    groups: dict[str, GroupRates] = defaultdict(GroupRates)
    otp_ids: dict[str, str] = {}
    for send in traffic.sends:
        group = str(getattr(send, key, None))
        rates = groups[group]
        rates.sends += 1
        if send.category == "otp":
            rates.otp_sends += 1
            otp_ids[send.message_id] = group
    for verify in traffic.verifies:
        if verify.verified and verify.message_id in otp_ids:
            groups[otp_ids[verify.message_id]].verified += 1
    for dlr in traffic.dlrs:
        rates = groups[str(getattr(dlr, key, None))]
        rates.dlrs += 1
        rates.delivered += dlr.status == "delivered"
        rates.failed += dlr.status in FAILED_STATUSES
    return dict(groups)


def send_matches(send: SendEvent, entity_type: str, entity_id: str) -> bool:
    """Whether a send belongs to a contract entity (account, api_key, destination, ...)."""
    if entity_type == "account":
        return send.account_id == entity_id
    if entity_type == "api_key":
        return send.api_key_id == entity_id
    if entity_type == "destination":
        return send.destination == entity_id
    if entity_type == "prefix":
        return send.destination.startswith(entity_id)
    if entity_type == "country":
        return send.country == entity_id
    if entity_type == "route":
        return send.route == entity_id
    return False


def entity_sends(
    traffic: Traffic, entity_type: str, entity_id: str,
    start_ts: int | None = None, end_ts: int | None = None,
) -> list[SendEvent]:
    """The entity's sends, optionally inside [start_ts, end_ts]."""
    return [
        s for s in traffic.sends
        if send_matches(s, entity_type, entity_id)
        and (start_ts is None or s.ts >= start_ts) and (end_ts is None or s.ts <= end_ts)
    ]


@dataclass
class MessageShape:
    """What a set of messages looked like, without their text."""

    count: int
    distinct_destinations: int
    countries: Counter[str]
    number_types: Counter[str]
    categories: Counter[str]
    lengths: list[int]
    url_share: float | None
    distinct_fingerprints: int
    price_total: float


def message_shape(sends: Iterable[SendEvent]) -> MessageShape:
    """Counts, countries, number types, lengths and URL share of some sends."""
    sends = list(sends)
    return MessageShape(
        count=len(sends),
        distinct_destinations=len({s.destination for s in sends}),
        countries=Counter(s.country for s in sends),
        number_types=Counter(s.number_type for s in sends),
        categories=Counter(s.category or "unset" for s in sends),
        lengths=[s.body_length for s in sends],
        url_share=share(sum(s.has_url for s in sends), len(sends)),
        distinct_fingerprints=len({s.body_fingerprint for s in sends if s.body_fingerprint}),
        price_total=sum(s.price for s in sends),
    )
