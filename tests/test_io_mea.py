"""The MEA HDF5 reader on the shipped cultures and retinas and on tiny files."""

from __future__ import annotations

import numpy as np
import pytest

from conftest import DATA_ROOT, write_mea_h5
from spikebridge.errors import SpikebridgeDataError
from spikebridge.io.mea_h5 import read_mea_h5

SHIPPED = {
    "eglen2014_mea_cultures/C57_CTX_G2CEPHYS1_DIV14_TC03_A.h5": (51, 911.2),
    "eglen2014_mea_cultures/C57_CTX_G2CEPHYS1_DIV21_KN62_TC01_A.h5": (46, 911.2),
    "eglen2014_mea_cultures/C57_CTX_G2CEPHYS1_DIV28_KN62_TC02_A.h5": (59, 911.2),
    "eglen2014_mea_cultures/C57_CTX_G2CEPHYS3_DIV21_KN62_TC01_C.h5": (55, 911.1),
    "eglen2014_mea_cultures/TC104-NB-C57-DIV21_A.h5": (59, 911.4),
    "eglen2014_mea_cultures/TC127-NB-C57-DIV28_A.h5": (56, 911.2),
    "maccione2014_retina_hdmea/Maccione2014_P10_AllPhases_Spikes_bursts_filtered.h5": (774, 1920.0),
    "maccione2014_retina_hdmea/Maccione2014_P12_m1r1_bursts_filtered.h5": (670, 1800.0),
}


@pytest.mark.parametrize("rel", sorted(SHIPPED))
def test_shipped_files(rel):
    import h5py

    n_units, duration = SHIPPED[rel]
    rec = read_mea_h5(DATA_ROOT / rel)
    assert rec.n_units == n_units
    assert rec.duration == pytest.approx(duration)
    with h5py.File(DATA_ROOT / rel) as f:
        assert rec.spike_counts.tolist() == f["sCount"][()].tolist()
        assert rec.unit_meta["x_um"].tolist() == f["epos"][()][0].tolist()
    assert rec.info.extra["meta_species"] == "mouse"
    assert rec.t_start == 0.0  # every shipped file gives its span: the clock starts at 0


def test_tiny_file_exact(tmp_path):
    path = write_mea_h5(
        tmp_path / "m.h5", [[0.1, 0.5], [], [2.25]], epos=[[0, 200, 400], [0, 0, 200]], recordingtime=[0, 3.0]
    )
    rec = read_mea_h5(path)
    assert rec.n_units == 3 and rec.duration == 3.0
    np.testing.assert_array_equal(rec.times[0], [0.1, 0.5])
    assert rec.times[1].size == 0
    assert rec.unit_meta["name"].tolist() == ["u0", "u1", "u2"]
    assert rec.unit_meta["y_um"].tolist() == [0, 0, 200]


def test_duration_without_stored_span(tmp_path):
    rec = read_mea_h5(write_mea_h5(tmp_path / "m.h5", [[0.1, 7.4]]))
    assert rec.duration == 8.0 and rec.t_start is None and rec.start == 0.1


def test_late_spikes_with_a_shorter_duration_field_give_no_start(tmp_path):
    # as in some 512-electrode retina files: spikes from 3600 s to 7192 s, /summary/duration = 3592 s
    units = [[3600.5, 5000.0, 7191.2], [3601.0, 7192.3]]
    rec = read_mea_h5(write_mea_h5(tmp_path / "litke.h5", units, summary_duration=3592.0))
    assert rec.t_start is None and rec.start == 3600.5 and rec.duration == 7193.0
    assert rec.length == pytest.approx(3592.5) and rec.rates[0] == pytest.approx(3 / 3592.5)
    covered = read_mea_h5(write_mea_h5(tmp_path / "ok.h5", [[0.5, 3591.0]], summary_duration=3592.0))
    assert (covered.t_start, covered.duration) == (0.0, 3592.0)
    spanned = read_mea_h5(
        write_mea_h5(tmp_path / "span.h5", [[3600.5, 7000.0]], recordingtime=[3600.0, 7200.0])
    )
    assert (spanned.t_start, spanned.duration, spanned.length) == (3600.0, 7200.0, 3600.0)


@pytest.mark.parametrize(
    ("units", "match"),
    [([[0.5, 0.2]], "unsorted"), ([[np.nan]], "NaN"), ([[-1.0, 0.2]], "negative"), ([], "zero units")],
)
def test_bad_spikes(tmp_path, units, match):
    path = write_mea_h5(tmp_path / "bad.h5", units, recordingtime=[0, 5.0])
    with pytest.raises(SpikebridgeDataError, match=match) as err:
        read_mea_h5(path)
    assert "bad.h5" in str(err.value)


def test_count_mismatch_truncated_and_foreign(tmp_path):
    import h5py

    path = write_mea_h5(tmp_path / "m.h5", [[0.1, 0.2], [0.3]])
    with h5py.File(path, "r+") as f:
        del f["sCount"]
        f["sCount"] = np.array([5, 1])
    with pytest.raises(SpikebridgeDataError, match="sums to 6 but /spikes holds 3"):
        read_mea_h5(path)
    cut = tmp_path / "cut.h5"
    cut.write_bytes(write_mea_h5(tmp_path / "ok.h5", [[0.1]]).read_bytes()[:300])
    with pytest.raises(SpikebridgeDataError, match="cut.h5"):
        read_mea_h5(cut)
    other = tmp_path / "other.h5"
    with h5py.File(other, "w") as f:
        f["data"] = np.zeros(3)
    with pytest.raises(SpikebridgeDataError, match="missing /spikes"):
        read_mea_h5(other)
    with pytest.raises(SpikebridgeDataError, match="file not found"):
        read_mea_h5(tmp_path / "absent.h5")
