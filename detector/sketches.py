"""Bounded memory of what an entity has seen: a two-generation Bloom filter.

"Has this account ever sent to this number?" would need an ever-growing set.
A Bloom filter answers it in fixed memory with a small false-positive rate
(a new number is now and then taken for an old one, never the reverse).
When the current generation has taken ``capacity`` items it becomes the
previous one and a fresh one starts, so
memory stays at two filters and numbers unseen for two generations are
forgotten, which is the expiry we want.

>>> seen = RotatingBloom(capacity=1000)
>>> seen.add("+4477001000")
False
>>> seen.add("+4477001000")
True
>>> "+4477001999" in seen
False
"""

from __future__ import annotations

import zlib
from typing import Protocol

_HASHES = 4


class DestinationMemory(Protocol):
    """What a scope reads of an account's memory of numbers: the filter itself, or
    the answers it gave for one step (``detector.families.SeenBeforeStep``)."""

    count: int
    capacity: int
    previous: bytearray | None

    def add(self, item: str) -> bool: ...


class RotatingBloom:
    """Parameters: ``capacity`` items per generation; ``bits_per_item`` sets the
    false-positive rate (10 bits and 4 hashes: about 1%)."""

    __slots__ = ("capacity", "bits", "current", "previous", "count")

    def __init__(self, capacity: int = 8192, bits_per_item: int = 10) -> None:
        self.capacity = capacity
        self.bits = capacity * bits_per_item
        self.current = bytearray((self.bits + 7) // 8)
        self.previous: bytearray | None = None
        self.count = 0

    def _positions(self, item: str) -> list[int]:
        raw = item.encode()
        h1 = zlib.crc32(raw)
        h2 = zlib.adler32(raw) | 1
        bits = self.bits
        # The _HASHES (4) double-hashing positions, unrolled: this runs for every
        # destination of every closing account step.
        return [h1 % bits, (h1 + h2) % bits, (h1 + 2 * h2) % bits, (h1 + 3 * h2) % bits]

    def __contains__(self, item: str) -> bool:
        positions = self._positions(item)
        return _has(self.current, positions) or (
            self.previous is not None and _has(self.previous, positions)
        )

    def add(self, item: str) -> bool:
        """Record ``item``; True if it was (probably) seen before."""
        positions = self._positions(item)
        if _has(self.current, positions):
            return True
        seen = self.previous is not None and _has(self.previous, positions)
        if self.count >= self.capacity:
            self.previous, self.current, self.count = self.current, bytearray(len(self.current)), 0
        for p in positions:
            self.current[p >> 3] |= 1 << (p & 7)
        self.count += 1
        return seen

    def __getstate__(self) -> dict:
        return {name: getattr(self, name) for name in self.__slots__}

    def __setstate__(self, state: dict) -> None:
        for name, value in state.items():
            setattr(self, name, value)


def _has(bits: bytearray, positions: list[int]) -> bool:
    # A loop, not all(<generator>): no generator object per call on the hot path.
    for p in positions:  # noqa: SIM110
        if not bits[p >> 3] & (1 << (p & 7)):
            return False
    return True
