"""Sliding window sums agree with a brute-force recomputation, whatever the steps."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from detector.windows import SlidingSums

WINDOWS = ((1, 0), (6, 0), (60, 0), (60, 12), (3, 2))

steps_and_values = st.lists(
    st.tuples(st.integers(min_value=1, max_value=40), st.integers(min_value=0, max_value=50)),
    min_size=1, max_size=80,
)


@settings(max_examples=200, deadline=None)
@given(steps_and_values, st.integers(min_value=0, max_value=100))
def test_window_totals_match_brute_force(gaps: list[tuple[int, int]], tail: int) -> None:
    sums = SlidingSums(width=2, windows=WINDOWS)
    history: list[tuple[int, list[float]]] = []
    step = 0
    for gap, value in gaps:
        step += gap
        values = [float(value), float(value % 7)]
        sums.add(step, values)
        history.append((step, values))
        _check(sums, history, step)
    sums.advance(step + tail)
    _check(sums, history, step + tail)


def _check(sums: SlidingSums, history: list[tuple[int, list[float]]], now: int) -> None:
    for i, (length, lag) in enumerate(WINDOWS):
        lo, hi = now - lag - length, now - lag
        expected = [sum(v[j] for s, v in history if lo < s <= hi) for j in range(2)]
        assert sums.totals(i) == expected, (i, now)


def test_memory_stays_bounded_by_the_longest_window() -> None:
    sums = SlidingSums(width=1, windows=((60, 12),))
    for step in range(10_000):
        sums.add(step, [1.0])
    assert len(sums) <= 73
