"""A gateway that obeys throttle commands, replayed offline against the sends.

It answers the question "which sends would the emitted commands have stopped?"
the way a gateway enforcing ``sms.throttle`` would: a ``limit`` or ``block``
applies from its ``ts`` until ``expires_at`` or a ``release`` of the same
scope; a newer command for the same scope replaces the older one (one key per
scope); a command id is applied once. A scope matches a send when every field
it names matches (``country`` is derived from the destination, ``prefix`` is a
string prefix of it). ``block`` stops every matching send, ``limit`` lets
``rate_per_s`` through as a token bucket (burst ``max(1, rate_per_s)``) per
command; a send is stopped when any matching command stops it.

>>> gate = Gate()
>>> gate.apply({"command_id": "c1", "ts": 0, "action": "limit", "rate_per_s": 1.0,
...             "scope": {"account_id": "a"}, "expires_at": 10_000})
>>> [gate.stops({"ts": t, "account_id": "a", "destination": "+4915112345678"}) is not None
...  for t in (0, 100, 200, 1300, 20_000)]
[False, True, True, False, False]
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from functools import lru_cache

import phonenumbers

SCOPE_FIELDS = ("account_id", "api_key_id", "country", "prefix")


@lru_cache(maxsize=65536)
def _country_of_head(head: str) -> str | None:
    try:
        return phonenumbers.region_code_for_number(phonenumbers.parse(head + "0" * 6))
    except phonenumbers.NumberParseException:
        return None


def country_of(destination: str) -> str | None:
    """ISO alpha-2 region of an E.164 number (cached by its first digits)."""
    region = _country_of_head(destination[:7])
    if region is None or region == "ZZ":
        try:
            region = phonenumbers.region_code_for_number(phonenumbers.parse(destination))
        except phonenumbers.NumberParseException:
            return None
    return region


def scope_key(scope: Mapping[str, str]) -> tuple:
    return tuple((name, scope.get(name)) for name in SCOPE_FIELDS)


@dataclass
class ActiveCommand:
    command_id: str
    action: str
    scope: dict
    ts: int
    expires_at: int
    rate_per_s: float = 0.0
    tokens: float = 0.0
    last_ts: int = 0
    stopped_attack: int = 0
    stopped_legit: int = 0
    stopped_benign: int = 0
    legit_cost: float = 0.0
    attack_saved: float = 0.0
    benign_incidents: set[str] = field(default_factory=set)

    def matches(self, send: Mapping) -> bool:
        scope = self.scope
        if "account_id" in scope and send.get("account_id") != scope["account_id"]:
            return False
        if "api_key_id" in scope and send.get("api_key_id") != scope["api_key_id"]:
            return False
        destination = send.get("destination", "")
        if "prefix" in scope and not destination.startswith(scope["prefix"]):
            return False
        return not ("country" in scope and country_of(destination) != scope["country"])

    def admits(self, ts: int) -> bool:
        """Token-bucket check without spending (``block`` never admits)."""
        if self.action == "block":
            return False
        burst = max(1.0, self.rate_per_s)
        self.tokens = min(burst, self.tokens + (ts - self.last_ts) / 1000.0 * self.rate_per_s)
        self.last_ts = ts
        return self.tokens >= 1.0


class Gate:
    """Active throttle commands, applied in ts order; ``stops(send)`` asks the gateway."""

    def __init__(self) -> None:
        self.active: dict[tuple, ActiveCommand] = {}
        self.applied_ids: set[str] = set()
        self.all_commands: dict[str, ActiveCommand] = {}

    def apply(self, command: Mapping) -> None:
        command_id = str(command.get("command_id"))
        if command_id in self.applied_ids:
            return  # a gateway applies a command id once
        self.applied_ids.add(command_id)
        scope = dict(command.get("scope") or {})
        key = scope_key(scope)
        action = command.get("action")
        if action == "release":
            self.active.pop(key, None)
            return
        if action not in ("limit", "block"):
            return
        rate = float(command.get("rate_per_s") or 0.0)
        entry = ActiveCommand(
            command_id=command_id, action=action, scope=scope, ts=int(command["ts"]),
            expires_at=int(command.get("expires_at") or command["ts"]), rate_per_s=rate,
            tokens=max(1.0, rate), last_ts=int(command["ts"]),
        )
        self.active[key] = entry
        self.all_commands[command_id] = entry

    def expire(self, ts: int) -> None:
        for key in [k for k, c in self.active.items() if c.expires_at <= ts]:
            del self.active[key]

    def stops(self, send: Mapping) -> list[ActiveCommand] | None:
        """The commands that stop this send, or None when it goes through."""
        if not self.active:
            return None
        ts = int(send["ts"])
        matching = [
            c for c in self.active.values() if c.expires_at > ts and c.matches(send)
        ]
        if not matching:
            return None
        refusing = [c for c in matching if not c.admits(ts)]
        if refusing:
            return refusing
        for c in matching:
            c.tokens -= 1.0
        return None
