"""Validation in the core data types, and the light import of the package."""

from __future__ import annotations

import subprocess
import sys

import numpy as np
import pytest

from spikebridge.data.types import BinnedSpikes, RecordingInfo, SpikeTrains, Traces
from spikebridge.errors import SpikebridgeDataError

INFO = RecordingInfo(name="r", source="rec.h5")


@pytest.mark.parametrize(
    ("times", "match"),
    [
        (([-0.1, 0.2],), "negative spike time"),
        (([0.3, 0.2],), "unsorted"),
        (([0.1, np.nan],), "NaN"),
        (([0.1, 5.0],), "after the recording's end"),
        ((), "zero units"),
    ],
)
def test_spike_trains_reject_bad_times(times, match):
    with pytest.raises(SpikebridgeDataError, match=match) as err:
        SpikeTrains(times=times, duration=2.0, info=INFO)
    assert str(err.value).startswith("rec.h5:")


def test_silent_units_are_kept():
    st = SpikeTrains(times=([0.1, 0.2], []), duration=1.0, info=INFO)
    assert st.spike_counts.tolist() == [2, 0]
    np.testing.assert_allclose(st.rates, [2.0, 0.0])


def test_window_and_select():
    st = SpikeTrains(
        times=([0.1, 0.5, 0.9], [0.6]), duration=1.0, info=INFO, unit_meta={"x": np.array([1, 2])}
    )
    w = st.window(0.4, 0.8)
    np.testing.assert_allclose(w.times[0], [0.1])
    np.testing.assert_allclose(w.times[1], [0.2])
    assert w.duration == pytest.approx(0.4)
    s = st.select_units(np.array([1]))
    assert s.unit_meta["x"].tolist() == [2] and s.unit_ids.tolist() == [1]
    with pytest.raises(SpikebridgeDataError, match="longer than the recording"):
        st.window(0.5, 3.0)


def test_binned_and_traces_shapes():
    b = BinnedSpikes(
        data=np.array([[1, 0], [0, 0]]), bin_size=0.001, t_start=0.0, info=INFO, unit_mask=[True, False]
    )
    assert b.spike_fraction == 0.5 and b.duration == pytest.approx(0.002)
    with pytest.raises(SpikebridgeDataError, match="2-D"):
        BinnedSpikes(data=np.zeros(3), bin_size=0.001, t_start=0.0, info=INFO)
    tr = Traces(values=np.zeros((10, 3)), frame_rate=5.0, info=INFO)
    assert tr.duration == 2.0 and tr.is_cell.all()
    with pytest.raises(SpikebridgeDataError, match="frame rate"):
        Traces(values=np.zeros((10, 3)), frame_rate=0.0, info=INFO)
    with pytest.raises(SpikebridgeDataError, match="preparation"):
        RecordingInfo(name="x", preparation="ex_vivo")


def test_import_is_light():
    code = (
        "import sys, spikebridge, spikebridge.data, spikebridge.io, spikebridge.catalog, spikebridge.preprocess;"
        "heavy = [m for m in ('torch', 'matplotlib', 'pynwb', 'spikeinterface', 'ray', 'lightning', 'sklearn')"
        " if m in sys.modules]; print(heavy)"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[]"
