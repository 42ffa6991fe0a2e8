"""Which alerts name which incident.

An alert names an incident when its entity is one the incident's label lists
(a prefix alert also counts when it lies inside the attacked range) or its
``account_id`` is one of the incident's accounts, and its ts falls in
``[start_ts, end_ts + grace]``. An alert on a wider range whose throttle scope names
the attacked range (or a block inside it) names the incident too: it tells the
gateway to stop exactly that block.

>>> label = {"start_ts": 0, "end_ts": 10, "account_ids": [], "entities": [
...     {"type": "prefix", "id": "+9936217"}, {"type": "prefix", "id": "+99362177"}]}
>>> wide = {"ts": 5, "entity": {"type": "prefix", "id": "+99362"}}
>>> alert_touches(wide, label), alert_touches({**wide, "throttle_scope": {
...     "prefix": "+9936217"}}, label)
(False, True)

A label may call a handset a ``number``; the contract's alerts call it a ``destination``:

>>> alert_touches({"ts": 5, "entity": {"type": "destination", "id": "+15551234567"}},
...               {**label, "entities": [{"type": "number", "id": "+15551234567"}]})
True
"""

from __future__ import annotations

from collections.abc import Mapping

DETECTION_GRACE_MS = 10 * 60 * 1000
# Names outside tools give an entity type in their labels, and the contract's name for it.
LABEL_TYPES = {"number": "destination", "msisdn": "destination", "phone": "destination"}


def alert_touches(alert: Mapping, label: Mapping, grace_ms: int = DETECTION_GRACE_MS) -> bool:
    ts = alert.get("ts")
    if not isinstance(ts, int) or not label["start_ts"] <= ts <= label["end_ts"] + grace_ms:
        return False
    account = alert.get("account_id")
    if account is not None and account in label["account_ids"]:
        return True
    entity = alert.get("entity") or {}
    etype, eid = entity.get("type"), entity.get("id")
    if etype is None or eid is None:
        return False
    if etype == "account" and eid in label["account_ids"]:
        return True
    listed = [e["id"] for e in label["entities"]
              if LABEL_TYPES.get(e["type"], e["type"]) == etype]
    if eid in listed:
        return True
    ranges = [e["id"] for e in label["entities"] if e["type"] == "prefix"]
    # A deeper prefix inside the attacked range names it too (a sibling range does not).
    if etype == "prefix" and ranges and eid.startswith(max(ranges, key=len)):
        return True
    blocked = (alert.get("throttle_scope") or {}).get("prefix")
    return blocked is not None and any(blocked.startswith(r) for r in ranges)
