"""HMAC-SHA256 signatures over throttle commands, so only the detector can issue them.

The signature covers the command's canonical JSON (sorted keys, no spaces,
UTF-8, the ``signature`` field itself left out). Any language can recompute it.

>>> cmd = {"command_id": "c1", "action": "block", "expires_at": 5}
>>> signed = sign_command(cmd, "k")
>>> verify_command(signed, "k")
True
>>> verify_command({**signed, "action": "release"}, "k")
False
"""

from __future__ import annotations

import hashlib
import hmac
import json
from collections.abc import Mapping
from typing import Any

SIGNATURE_FIELD = "signature"


def canonical_json(command: Mapping[str, Any]) -> bytes:
    body = {k: v for k, v in command.items() if k != SIGNATURE_FIELD}
    return json.dumps(body, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode()


def sign_command(command: Mapping[str, Any], key: str | bytes) -> dict[str, Any]:
    """Return a copy of ``command`` with its hex HMAC-SHA256 ``signature``."""
    digest = hmac.new(_key_bytes(key), canonical_json(command), hashlib.sha256).hexdigest()
    return {**command, SIGNATURE_FIELD: digest}


def verify_command(command: Mapping[str, Any], key: str | bytes) -> bool:
    """True when the command carries a signature that matches its content."""
    given = command.get(SIGNATURE_FIELD)
    if not isinstance(given, str):
        return False
    expected = hmac.new(_key_bytes(key), canonical_json(command), hashlib.sha256).hexdigest()
    return hmac.compare_digest(given, expected)


def _key_bytes(key: str | bytes) -> bytes:
    return key.encode() if isinstance(key, str) else key
