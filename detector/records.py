"""Parse and validate the contract's input records into typed events.

A record that breaks the contract raises :class:`Rejected` with a short
machine-readable ``reason`` (the dead-letter topic and the metrics use it) and
a ``detail`` for people. Nothing else escapes: any malformed input becomes a
``Rejected``. Bodies are reduced to :mod:`detector.body` features here and
dropped, so no later stage can store, log or forward them.

>>> parser = RecordParser()
>>> ev = parser.parse("sms.send", b'{"message_id":"m1","ts":1767225600000,'
...                   b'"account_id":"a1","destination":"+4915112345678","body":"hi"}')
>>> ev.country, ev.segments, ev.body_length
('DE', 1, 2)
>>> try:
...     parser.parse("sms.dlr", b'{"ts": 1}')
... except Rejected as err:
...     print(err.reason)
missing_field
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import orjson

from detector.body import body_features
from detector.enrichment import NumberEnricher

SEND, DLR, VERIFY = "sms.send", "sms.dlr", "sms.verify"
INPUT_ROLES = (SEND, DLR, VERIFY)
CATEGORIES = frozenset({"otp", "transactional", "marketing"})
STATUSES = frozenset({"delivered", "undelivered", "failed", "expired", "rejected", "unknown"})
FAILED_STATUSES = frozenset({"undelivered", "failed", "expired", "rejected"})

MIN_TS = 946_684_800_000  # 2000-01-01T00:00:00Z
MAX_ID_CHARS = 256
MAX_RECORD_BYTES = 64 * 1024
MAX_SEGMENTS = 255
MAX_PRICE = 1000.0
_E164 = re.compile(r"\+[1-9][0-9]{6,14}")


class Rejected(ValueError):
    """A record that breaks the contract; ``reason`` is a metric label, ``detail`` is for people."""

    def __init__(self, reason: str, detail: str) -> None:
        super().__init__(f"{reason}: {detail}")
        self.reason = reason
        self.detail = detail


class _Record:
    """What every event can do: become a plain dict (for repartition topics)."""

    __slots__ = ()

    def to_dict(self) -> dict[str, Any]:
        # Fields are plain values: no need for asdict's recursive deep copy, which cost
        # a worker ~4% of its time (one call per re-keyed event).
        names: tuple[str, ...] = self.__slots__
        return {name: getattr(self, name) for name in names}


@dataclass(slots=True)
class SendEvent(_Record):
    message_id: str
    ts: int
    account_id: str
    destination: str
    country: str
    calling_code: str
    number_type: str
    operator: str = ""  # see NumberInfo.operator
    api_key_id: str | None = None
    source_ip: str | None = None
    sender_id: str | None = None
    category: str | None = None
    segments: int = 1
    price: float = 0.0
    route: str | None = None
    has_url: bool = False
    body_fingerprint: int = 0
    body_length: int = 0
    own_link: bool = False  # its links name the sender (see detector.body)
    site_named: bool = False  # ... by name, not only a shortener's (see detector.body)
    callback: bool = False  # it asks the reader to phone a number (see detector.body)
    code_like: bool = True  # it carries a number to type in (see detector.body)
    opt_out_link: bool = False  # it links and offers an opt-out (see detector.body)
    role: str = SEND
    # Set by the account's processor: does this account report OTP verifications
    # lately? An OTP is evidence of "nobody verified it" only if verifications of
    # that account reach the detector at all (the feed is optional).
    verifiable: bool = True
    # Set by the account's processor: do the account's verifications reach the
    # detector lately, whatever this send is (see scopes.PERSISTENT_CODES)?
    feed_live: bool = False
    # Set by the account's processor: did the account appear after the detector's first
    # hour, within the last day: a sign-up, not an account met as the detector started
    # (see families.FRESH_ACCOUNT_MS and ScopeState.fresh_ring)?
    account_fresh: bool = False


@dataclass(slots=True)
class DlrEvent(_Record):
    message_id: str
    ts: int
    account_id: str
    destination: str
    country: str
    status: str
    error_code: str | None = None
    route: str | None = None
    operator: str = ""  # see NumberInfo.operator
    role: str = DLR
    # Set by the account's processor, not read from the record: milliseconds since the
    # send it reports on, when that send was recent enough to be remembered.
    wait_ms: int | None = None


@dataclass(slots=True)
class VerifyEvent(_Record):
    ts: int
    account_id: str
    destination: str
    country: str
    verified: bool
    message_id: str | None = None
    role: str = VERIFY
    # Set by the account's processor, not read from the record (the contract's
    # verification has no route): the route of the last code the account sent to
    # this number, so a route is judged on whether its codes are entered; and how
    # long after that code this verification came.
    route: str | None = None
    code_age_ms: int | None = None


Event = SendEvent | DlrEvent | VerifyEvent
_EVENT_TYPES: dict[str, type] = {SEND: SendEvent, DLR: DlrEvent, VERIFY: VerifyEvent}


def event_from_dict(data: Mapping[str, Any]) -> Event:
    """Rebuild an event from :meth:`to_dict` output (e.g. after a repartition topic)."""
    return _EVENT_TYPES[data["role"]](**data)


class RecordParser:
    """Validates records against the contract; remembers the stream's latest ``ts``.

    ``max_future_ms`` bounds how far a record may run ahead of the stream's
    latest valid timestamp, so one record with a wild clock cannot drag event
    time (and every window) a year forward.
    """

    def __init__(self, max_future_ms: int = 24 * 3600 * 1000, max_body_bytes: int = 2000,
                 enricher: NumberEnricher | None = None) -> None:
        self.max_future_ms = max_future_ms
        self.max_body_bytes = max_body_bytes
        self.enricher = enricher or NumberEnricher()
        self.latest_ts: int | None = None

    def parse(self, role: str, raw: bytes | str | Mapping[str, Any]) -> Event:
        value = _decode(raw)
        if role == SEND:
            event: Event = self._send(value)
        elif role == DLR:
            event = self._dlr(value)
        elif role == VERIFY:
            event = self._verify(value)
        else:
            raise Rejected("unknown_topic", f"no input topic role {role!r}")
        if self.latest_ts is None or event.ts > self.latest_ts:
            self.latest_ts = event.ts
        return event

    def _ts(self, value: Mapping[str, Any]) -> int:
        ts = _required(value, "ts", int)
        if ts < MIN_TS:
            raise Rejected("ts_out_of_range", f"ts {ts} is before 2000-01-01")
        if self.latest_ts is not None and ts > self.latest_ts + self.max_future_ms:
            raise Rejected("ts_out_of_range", f"ts {ts} is more than a day ahead of the stream")
        return ts

    def _destination(self, value: Mapping[str, Any]) -> tuple[str, Any]:
        destination = _required(value, "destination", str)
        if not _E164.fullmatch(destination):
            raise Rejected("bad_destination", f"{destination[:32]!r} is not E.164")
        info = self.enricher.lookup(destination)
        if info is None:
            raise Rejected("bad_destination",
                           f"{destination} is no possible number of its calling code")
        return destination, info

    def _send(self, value: Mapping[str, Any]) -> SendEvent:
        message_id = _required_id(value, "message_id")
        account_id = _required_id(value, "account_id")
        ts = self._ts(value)
        destination, info = self._destination(value)
        body = _optional(value, "body", str)
        if body is not None and len(body.encode()) > self.max_body_bytes:
            raise Rejected("body_too_large", f"body of {len(body.encode())} bytes")
        category = _optional(value, "category", str)
        if category is not None and category not in CATEGORIES:
            raise Rejected("bad_value", f"category {category[:32]!r}")
        segments = _optional(value, "segments", int)
        if segments is not None and not 1 <= segments <= MAX_SEGMENTS:
            raise Rejected("bad_value", f"segments {segments}")
        price = _optional(value, "price", (int, float))
        if price is not None and not 0 <= price <= MAX_PRICE:
            raise Rejected("bad_value", f"price {price}")
        sender_id = _optional_id(value, "sender_id")
        features = body_features(body, sender_id)
        return SendEvent(
            message_id=message_id, ts=ts, account_id=account_id, destination=destination,
            country=info.country, calling_code=info.calling_code, number_type=info.number_type,
            operator=info.operator, api_key_id=_optional_id(value, "api_key_id"),
            source_ip=_optional_id(value, "source_ip"),
            sender_id=sender_id,
            category=category,
            segments=segments or 1,
            price=float(price or 0.0),
            route=_optional_id(value, "route"),
            has_url=features.has_url,
            body_fingerprint=features.fingerprint,
            body_length=features.length,
            own_link=features.own_link,
            site_named=features.site_named,
            callback=features.callback,
            code_like=features.code_like,
            opt_out_link=features.opt_out_link,
        )

    def _dlr(self, value: Mapping[str, Any]) -> DlrEvent:
        message_id = _required_id(value, "message_id")
        account_id = _required_id(value, "account_id")
        ts = self._ts(value)
        destination, info = self._destination(value)
        status = _required(value, "status", str)
        if status not in STATUSES:
            raise Rejected("unknown_status", f"status {status[:32]!r}")
        return DlrEvent(
            message_id=message_id, ts=ts, account_id=account_id, destination=destination,
            country=info.country, status=status,
            error_code=_optional_id(value, "error_code"), route=_optional_id(value, "route"),
            operator=info.operator,
        )

    def _verify(self, value: Mapping[str, Any]) -> VerifyEvent:
        account_id = _required_id(value, "account_id")
        ts = self._ts(value)
        destination, info = self._destination(value)
        verified = _required(value, "verified", bool)
        return VerifyEvent(
            ts=ts, account_id=account_id, destination=destination, country=info.country,
            verified=verified, message_id=_optional_id(value, "message_id"),
        )


def parse_record(role: str, raw: bytes | str | Mapping[str, Any]) -> Event:
    """Parse one record without stream context (no "ahead of the stream" check)."""
    return RecordParser().parse(role, raw)


def _decode(raw: bytes | str | Mapping[str, Any]) -> Mapping[str, Any]:
    if isinstance(raw, Mapping):
        return raw
    if len(raw) > MAX_RECORD_BYTES:
        raise Rejected("record_too_large", f"{len(raw)} bytes")
    try:
        value = orjson.loads(raw)
    except (orjson.JSONDecodeError, TypeError) as err:
        raise Rejected("not_json", str(err)[:120]) from None
    if not isinstance(value, dict):
        raise Rejected("not_object", f"JSON {type(value).__name__}, expected an object")
    return value


def _required(value: Mapping[str, Any], name: str, kind: type | tuple[type, ...]) -> Any:
    item = value.get(name)
    if item is None:
        raise Rejected("missing_field", f"{name} is required")
    if type(item) is kind:  # fast path for well-formed records (bool is never int here)
        return item
    return _typed(item, name, kind)


def _optional(value: Mapping[str, Any], name: str, kind: type | tuple[type, ...]) -> Any:
    item = value.get(name)
    if item is None or type(item) is kind:  # absent, or exactly the type: nothing to check
        return item
    return _typed(item, name, kind)


def _typed(item: Any, name: str, kind: type | tuple[type, ...]) -> Any:
    # bool is an int in Python; the contract's ints and numbers are never booleans.
    if isinstance(item, bool) and kind is not bool:
        raise Rejected("bad_type", f"{name} is a boolean")
    if not isinstance(item, kind):
        raise Rejected("bad_type", f"{name} is {type(item).__name__}")
    return item


def _required_id(value: Mapping[str, Any], name: str) -> str:
    item = _required(value, name, str)
    if not item or len(item) > MAX_ID_CHARS:
        raise Rejected("bad_value", f"{name} must have 1 to {MAX_ID_CHARS} characters")
    return item


def _optional_id(value: Mapping[str, Any], name: str) -> str | None:
    item = _optional(value, name, str)
    if item is not None and len(item) > MAX_ID_CHARS:
        raise Rejected("bad_value", f"{name} longer than {MAX_ID_CHARS} characters")
    return item or None
