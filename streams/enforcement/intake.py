"""Decode, authenticate and validate ``sms.throttle`` records before they reach Redis.

The topic is not trusted: anyone who can write to it could otherwise lift a
block or throttle a legitimate account. So every record must carry the
detector's HMAC-SHA256 signature (``detector.signing``), be well formed, and
still be in force; anything else is rejected with a short reason slug that the
enforcer counts (``smsguard_enforcer_commands_total{outcome="rejected_<reason>"}``).

>>> from detector.signing import sign_command
>>> cmd = {"command_id": "c1", "ts": 1, "action": "block", "scope": {"account_id": "A"},
...        "expires_at": 2_000, "reason": "test"}
>>> authenticate(sign_command(cmd, "k"), key="k", now_ms=1_000).scope_key
'account_id=A'
>>> authenticate(cmd, key="k", now_ms=1_000)
Traceback (most recent call last):
...
streams.enforcement.intake.CommandRejected: unsigned: the command carries no signature
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from detector.signing import SIGNATURE_FIELD, verify_command

ACTIONS = ("limit", "block", "release")
SCOPE_FIELDS = ("account_id", "api_key_id", "country", "prefix")

# The scope shapes the admission script probes (see admission.lua and the README's
# key layout). A command of any other shape could be stored but would never be
# enforced, so it is rejected loudly instead of being silently ignored.
ENFORCED_SHAPES = frozenset(
    {
        ("account_id",),
        ("api_key_id",),
        ("account_id", "api_key_id"),
        ("country",),
        ("account_id", "country"),
        ("prefix",),
        ("account_id", "prefix"),
    }
)

_PREFIX = re.compile(r"^\+\d{1,15}$")
_COUNTRY = re.compile(r"^[A-Z]{2}$")
_ESCAPES = {"%": "%25", "|": "%7C", "=": "%3D"}


class CommandRejected(ValueError):
    """A throttle record that must not be applied; ``reason`` is a metric-safe slug."""

    def __init__(self, reason: str, detail: str) -> None:
        super().__init__(f"{reason}: {detail}")
        self.reason = reason
        self.detail = detail


@dataclass(frozen=True, slots=True)
class ThrottleCommand:
    """A well-formed ``sms.throttle`` command (contract fields the store needs)."""

    command_id: str
    ts: int
    action: str
    scope: dict[str, str]
    expires_at: int
    rate_per_s: float
    reason: str
    alert_id: str

    @property
    def scope_key(self) -> str:
        """Canonical scope string, e.g. ``account_id=A|prefix=+2367``."""
        return scope_string(self.scope)


def scope_string(scope: Mapping[str, str]) -> str:
    """Sorted ``field=value`` pairs joined by ``|``; ``%``, ``|`` and ``=`` in values escaped.

    >>> scope_string({"prefix": "+2367", "account_id": "A|B"})
    'account_id=A%7CB|prefix=+2367'
    """
    return "|".join(f"{name}={_escape(str(scope[name]))}" for name in sorted(scope))


def _escape(value: str) -> str:
    return "".join(_ESCAPES.get(ch, ch) for ch in value)


def decode(raw: bytes | str | Mapping[str, Any]) -> Mapping[str, Any]:
    """The record as a mapping (Kafka gives bytes)."""
    if isinstance(raw, Mapping):
        return raw
    try:
        value = json.loads(raw)
    except (ValueError, UnicodeDecodeError) as exc:
        raise CommandRejected("not_json", str(exc)[:200]) from None
    if not isinstance(value, dict):
        raise CommandRejected("not_json", "the record is not a JSON object")
    return value


def parse_command(value: Mapping[str, Any]) -> ThrottleCommand:
    """Validate the contract's fields; raises :class:`CommandRejected` (reason ``invalid``)."""

    def bad(detail: str) -> CommandRejected:
        return CommandRejected("invalid", detail)

    command_id = value.get("command_id")
    if not isinstance(command_id, str) or not command_id:
        raise bad("command_id must be a non-empty string")
    action = value.get("action")
    if action not in ACTIONS:
        raise bad(f"action must be one of {', '.join(ACTIONS)}")
    ts, expires_at = value.get("ts"), value.get("expires_at")
    for name, field_value in (("ts", ts), ("expires_at", expires_at)):
        if not isinstance(field_value, int) or isinstance(field_value, bool):
            raise bad(f"{name} must be integer epoch milliseconds")
    scope = value.get("scope")
    if not isinstance(scope, Mapping) or not scope:
        raise bad("scope must be a non-empty object")
    clean: dict[str, str] = {}
    for name, field_value in scope.items():
        if name not in SCOPE_FIELDS:
            raise bad(f"unknown scope field {name!r}")
        if not isinstance(field_value, str) or not field_value:
            raise bad(f"scope.{name} must be a non-empty string")
        clean[name] = field_value
    if "prefix" in clean and not _PREFIX.match(clean["prefix"]):
        raise bad("scope.prefix must be '+' and 1 to 15 digits")
    if "country" in clean:
        clean["country"] = clean["country"].upper()
        if not _COUNTRY.match(clean["country"]):
            raise bad("scope.country must be an ISO 3166 alpha-2 code")
    if tuple(sorted(clean)) not in ENFORCED_SHAPES:
        raise CommandRejected(
            "unsupported_scope", f"no admission check probes a scope of {sorted(clean)}"
        )
    rate = value.get("rate_per_s", 0.0)
    if action == "limit":
        if (
            not isinstance(rate, int | float)
            or isinstance(rate, bool)
            or not math.isfinite(rate)
            or rate < 0
        ):
            raise bad("rate_per_s must be a finite number >= 0 for limit")
    else:
        rate = 0.0
    reason = value.get("reason", "")
    alert_id = value.get("alert_id", "")
    return ThrottleCommand(
        command_id=command_id,
        ts=ts,
        action=action,
        scope=clean,
        expires_at=expires_at,
        rate_per_s=float(rate),
        reason=reason if isinstance(reason, str) else str(reason),
        alert_id=alert_id if isinstance(alert_id, str) else str(alert_id),
    )


def authenticate(
    raw: bytes | str | Mapping[str, Any],
    key: str | bytes,
    now_ms: int,
    require_signature: bool = True,
) -> ThrottleCommand:
    """Decode, check the signature, validate and check expiry, in that order.

    With ``require_signature`` off (a development setting), an unsigned record
    passes, but a record that does carry a signature must still verify.
    """
    value = decode(raw)
    signature = value.get(SIGNATURE_FIELD)
    if signature is None:
        if require_signature:
            raise CommandRejected("unsigned", "the command carries no signature")
    elif not key:
        raise CommandRejected("bad_signature", "no signing key configured to verify it")
    elif not verify_command(value, key):
        raise CommandRejected("bad_signature", "the signature does not match the content")
    command = parse_command(value)
    if command.expires_at <= now_ms:
        raise CommandRejected(
            "expired", f"expired at {command.expires_at}, {now_ms - command.expires_at} ms ago"
        )
    return command
