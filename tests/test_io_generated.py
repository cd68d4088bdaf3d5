"""Generated trials written as NWB Units and asdf .mat read back to the same spikes and provenance."""

from __future__ import annotations

import json

import numpy as np
import pytest

from spikebridge.cli.main import main
from spikebridge.data.generated import GeneratedSpikes
from spikebridge.data.types import RecordingInfo, SpikeTrains
from spikebridge.errors import SpikebridgeDataError
from spikebridge.io import read_recording
from spikebridge.io.asdf import read_asdf
from spikebridge.io.generated import read_generated, write_generated
from spikebridge.io.writers import write_asdf, write_nwb_units

pynwb = pytest.importorskip("pynwb")


def _generated(n_trials=3, n_bins=2000, n_units=5) -> GeneratedSpikes:
    spikes = np.random.default_rng(0).random((n_trials, n_bins, n_units)) < 0.03
    spikes[:, :, -1] = False  # a padding column
    spikes[0, 0, 0] = spikes[-1, -1, 0] = True  # first and last bin of the layout
    mask = np.array([True] * (n_units - 1) + [False])
    ids = np.array([11, 4, 25, 8, -1][:n_units])
    info = RecordingInfo("gen", preparation="in_vitro", lab="L")
    provenance = {"model": "transformer-bce", "prefix_recording": "slice", "seed": 3, "temperature": 0.8,
                  "package_version": "0.1.0", "checkpoint": "/m/best.ckpt"}  # fmt: skip
    return GeneratedSpikes(spikes, 1e-3, info, mask, ids, provenance)


@pytest.mark.parametrize("suffix", [".nwb", ".mat"])
def test_round_trip_gives_the_same_trials_mask_ids_and_provenance(tmp_path, suffix):
    gen = _generated()
    back = read_generated(write_generated(gen, tmp_path / f"gen{suffix}"))
    np.testing.assert_array_equal(back.spikes, gen.spikes)
    np.testing.assert_array_equal(back.unit_mask, gen.unit_mask)
    np.testing.assert_array_equal(back.unit_ids, gen.unit_ids)
    assert back.metadata == gen.metadata and back.bin_size == 1e-3
    assert back.info.preparation == "in_vitro" and back.info.source.endswith(suffix)


def test_nwb_file_opens_with_pynwb_with_units_trials_and_notes(tmp_path):
    gen = _generated()
    path = write_generated(gen, tmp_path / "gen.nwb")
    with pynwb.NWBHDF5IO(str(path), "r") as nwb_io:
        nwb = nwb_io.read()
        assert len(nwb.units.id) == 5 and len(nwb.trials) == 3
        np.testing.assert_allclose(nwb.trials["stop_time"][:], [2.0, 4.0, 6.0])
        for k in range(3):  # unit 1's spikes in trial k, in seconds from the trial start
            times = np.asarray(nwb.units["spike_times"][1]) - 2.0 * k
            in_trial = times[(times >= 0) & (times < 2.0)]
            np.testing.assert_allclose(in_trial, (np.flatnonzero(gen.spikes[k, :, 1]) + 0.5) * 1e-3)
        assert list(nwb.units["source_unit_id"][:]) == [11, 4, 25, 8, -1]
        notes = json.loads(nwb.notes)
        assert notes["provenance"]["seed"] == 3 and notes["provenance"]["checkpoint"] == "/m/best.ckpt"
        assert "in vitro" in list(nwb.keywords[:])


def test_asdf_writer_uses_one_based_bins_and_the_trailer(tmp_path):
    trains = SpikeTrains((np.array([0.0005, 0.0035]), np.array([])), 0.005, RecordingInfo("t"))
    path = write_asdf(trains, tmp_path / "t.mat")
    from scipy.io import loadmat

    cells = loadmat(str(path))["asdf"].ravel()
    assert cells[0].ravel().tolist() == [1.0, 4.0] and cells[1].size == 0
    assert cells[2].ravel().tolist() == [1.0] and cells[3].ravel().tolist() == [2.0, 5.0]
    back = read_asdf(path)
    np.testing.assert_allclose(back.times[0], [0.0005, 0.0035])
    assert back.duration == 0.005


def test_foreign_files_read_as_one_trial(tmp_path):
    trains = SpikeTrains((np.array([0.1, 0.5]), np.array([0.2])), 1.0, RecordingInfo("x", source="x"))
    nwb = write_nwb_units(trains, tmp_path / "x.nwb", "a recording")
    gen = read_generated(nwb)
    assert gen.spikes.shape == (1, 1000, 2) and gen.unit_mask.all()
    assert np.flatnonzero(gen.spikes[0, :, 0]).tolist() == [100, 500]
    with pytest.raises(SpikebridgeDataError, match="generated files"):
        read_generated(tmp_path / "x.h5")


def test_writer_rejects_a_bad_unit_column(tmp_path):
    trains = SpikeTrains((np.array([0.1]),), 1.0, RecordingInfo("x"))
    with pytest.raises(SpikebridgeDataError, match="unit column"):
        write_nwb_units(trains, tmp_path / "x.nwb", "d", unit_columns={"depth": np.zeros(3)})
    assert not (tmp_path / "x.nwb").exists()


@pytest.mark.parametrize("suffix", [".nwb", ".mat"])
def test_spikebridge_prepare_reads_a_generated_file(tmp_path, suffix, capsys):
    gen = _generated(n_trials=2, n_bins=30_000)
    path = write_generated(gen, tmp_path / f"gen{suffix}")
    recording = read_recording(path)
    assert recording.n_units == 5 and recording.info.preparation == (
        "in_vitro" if suffix == ".nwb" else "unknown"
    )
    code = main(["prepare", str(path), "--n-units", "5", "--out", str(tmp_path / "prep.npz")])
    assert code == 0 and (tmp_path / "prep.npz").is_file()
    assert "test" in capsys.readouterr().out
