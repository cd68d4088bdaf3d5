"""The asdf reader on the shipped slice and in vivo files, and on tiny files built here."""

from __future__ import annotations

import numpy as np
import pytest

from conftest import INVIVO, SLICE, write_asdf_v5, write_asdf_v73
from spikebridge.errors import SpikebridgeDataError
from spikebridge.io.asdf import read_asdf


def test_shipped_slice_is_1ms_bin_indices():
    rec = read_asdf(SLICE / "asdf_lh.mat", variable="asdf_lh", bin_size_ms=1)
    assert rec.n_units == 128
    assert rec.duration == pytest.approx(400.08)
    assert int((rec.spike_counts == 0).sum()) == 2
    # 1-based bin index 2 of unit 0 is the centre of the second 1 ms bin
    from scipy.io import loadmat

    raw = loadmat(str(SLICE / "asdf_lh.mat"))["asdf_lh"][0, 0].ravel()
    assert rec.times[0][0] == pytest.approx((raw[0] - 0.5) * 1e-3)
    assert rec.info.extra["time_unit"] == "bins"


def test_shipped_invivo_is_30khz_samples():
    rec = read_asdf(INVIVO / "asdf.mat", variable="asdf", sampling_rate=30000)
    assert rec.n_units == 128
    assert rec.duration == pytest.approx(35412431 / 30000)
    table = np.load(INVIVO / "clusters.npz", allow_pickle=True)
    ratio = rec.rates / table["firing_rate"][:128]
    assert np.median(ratio) == pytest.approx(0.99, abs=0.02)


@pytest.mark.parametrize("layout", ["col", "row"])
def test_v5_layouts_and_bin_size(tmp_path, layout):
    path = write_asdf_v5(tmp_path / "a.mat", [[1, 5, 9], [], [10]], n_bins=10, bin_ms=2, layout=layout)
    rec = read_asdf(path)
    assert rec.n_units == 3
    assert rec.duration == pytest.approx(0.020)
    np.testing.assert_allclose(rec.times[0], [0.001, 0.009, 0.017])
    assert rec.times[1].size == 0
    np.testing.assert_allclose(rec.times[2], [0.019])


def test_v5_empty_bin_size_means_1ms(tmp_path):
    rec = read_asdf(write_asdf_v5(tmp_path / "a.mat", [[1, 2]], n_bins=4))
    np.testing.assert_allclose(rec.times[0], [0.0005, 0.0015])


def test_v5_sample_indices_with_sampling_rate(tmp_path):
    path = write_asdf_v5(tmp_path / "a.mat", [[0, 300, 29999]], n_bins=30000, trailer=[1, 30000])
    rec = read_asdf(path, sampling_rate=30000)
    np.testing.assert_allclose(rec.times[0], [0.0, 0.01, 29999 / 30000])
    assert rec.duration == pytest.approx(1.0)


def test_v73_hdf5_file(tmp_path):
    path = write_asdf_v73(tmp_path / "b.mat", [[1, 3], [2]], n_bins=5)
    rec = read_asdf(path)
    assert rec.n_units == 2
    np.testing.assert_allclose(rec.times[0], [0.0005, 0.0025])
    np.testing.assert_allclose(rec.times[1], [0.0015])
    assert rec.duration == pytest.approx(0.005)


def test_non_integer_bin_indices_warn(tmp_path):
    path = write_asdf_v5(tmp_path / "a.mat", [[1.5, 3.2]], n_bins=5)
    with pytest.warns(UserWarning, match="sample indices"):
        read_asdf(path)


@pytest.mark.parametrize(
    ("units", "trailer", "match"),
    [
        ([[1, 2], [3]], [3, 10], "trailer says 3 units but the file holds 2"),
        ([[3, 1]], [1, 10], "unsorted"),
        ([[np.nan, 2]], [1, 10], "NaN"),
        ([[0, 2]], [1, 10], "below 1"),
        ([[-4, 2]], [1, 10], "below 1"),
        ([[2, 11]], [1, 10], "past the trailer"),
    ],
)
def test_bad_content(tmp_path, units, trailer, match):
    path = write_asdf_v5(tmp_path / "bad.mat", units, n_bins=trailer[1], trailer=trailer)
    with pytest.raises(SpikebridgeDataError, match=match) as err:
        read_asdf(path)
    assert str(path) in str(err.value)


def test_zero_units(tmp_path):
    path = write_asdf_v5(tmp_path / "zero.mat", [], n_bins=10, trailer=[0, 10])
    with pytest.raises(SpikebridgeDataError, match="zero units"):
        read_asdf(path)


def test_missing_truncated_and_foreign_files(tmp_path):
    with pytest.raises(SpikebridgeDataError, match="file not found"):
        read_asdf(tmp_path / "none.mat")
    good = write_asdf_v5(tmp_path / "g.mat", [[1, 2, 3]], n_bins=10)
    cut = tmp_path / "cut.mat"
    cut.write_bytes(good.read_bytes()[:200])
    with pytest.raises(SpikebridgeDataError, match="cut.mat"):
        read_asdf(cut)
    text = tmp_path / "text.mat"
    text.write_text("hello, not MATLAB")
    with pytest.raises(SpikebridgeDataError, match="not a MATLAB"):
        read_asdf(text)
    cut73 = tmp_path / "cut73.mat"
    cut73.write_bytes(write_asdf_v73(tmp_path / "b.mat", [[1]], n_bins=3).read_bytes()[:900])
    with pytest.raises(SpikebridgeDataError, match="cut73.mat"):
        read_asdf(cut73)
