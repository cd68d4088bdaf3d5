"""Time-left words of long stages (the matrix and the study print them after each item)."""

from __future__ import annotations

from spikebridge.progress import time_left


def test_time_left_extrapolates_the_mean_item_time():
    assert time_left(0, 10, 0.0) == ""
    assert time_left(2, 10, 20.0) == "about 80 s left"  # 10 s per item, 8 left
    assert time_left(1, 10, 60.0) == "about 9 min left"  # 540 s
    assert time_left(10, 10, 300.0) == "done"
