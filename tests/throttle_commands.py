"""Throttle commands as the detector writes them, for the enforcement tests.

The gateway side takes its time from the wall clock (a command expires in real
time), so these commands are stamped with it.
"""

from __future__ import annotations

import time
from typing import Any


def now_ms() -> int:
    return int(time.time() * 1000)


def throttle_command(command_id: str, action: str, scope: dict, ttl_ms: int = 60_000,
                     rate_per_s: float = 5.0, alert_id: str | None = None,
                     **extra: Any) -> dict:
    """A contract ``sms.throttle`` record; ``extra`` overrides or adds fields."""
    base = now_ms()
    cmd: dict[str, Any] = {
        "command_id": command_id,
        "ts": base,
        "action": action,
        "scope": scope,
        "expires_at": base + ttl_ms,
        "reason": f"test {action}",
    }
    if alert_id is not None:
        cmd["alert_id"] = alert_id
    if action == "limit":
        cmd["rate_per_s"] = rate_per_s
    cmd.update(extra)
    return cmd
