"""lk.caching's pure parts: the Zipf workload, the fixed-window counter, the busiest span."""

from __future__ import annotations

from collections import Counter

import pandas as pd
import pytest

from labkit import caching
from labkit.errors import BadArgument


def test_zipf_keys_are_skewed_towards_the_first_key_and_repeatable() -> None:
    keys = caching.zipf_keys(2000, keys=list(range(1, 21)))
    counts = Counter(keys)
    assert set(keys) <= set(range(1, 21))
    assert counts[1] > counts[2] > counts[10]
    assert keys == caching.zipf_keys(2000, keys=list(range(1, 21)))


@pytest.mark.parametrize(("count", "keys"), [(0, [1]), (5, [])])
def test_zipf_keys_refuse_an_empty_workload(count: int, keys: list[int]) -> None:
    with pytest.raises(BadArgument):
        caching.zipf_keys(count, keys=keys)


def test_fixed_window_lets_twice_its_limit_through_around_a_boundary() -> None:
    window = caching.FixedWindow(limit=3, window_seconds=1.0)
    assert window.allowed([0.9] * 4 + [1.1] * 4) == [True] * 3 + [False] + [True] * 3 + [False]


def test_busiest_counts_passed_requests_in_the_fullest_span() -> None:
    frame = pd.DataFrame(
        {"t": [0.0, 0.5, 0.9, 1.2, 1.3, 1.4, 3.0], "status": [200, 200, 429, 200, 200, 200, 200]}
    )
    assert caching.busiest(frame, 1.0) == 4  # 0.5, 1.2, 1.3, 1.4
    assert caching.busiest(frame, 0.25) == 3
    assert caching.busiest(frame[frame.status == 429], 1.0) == 0
