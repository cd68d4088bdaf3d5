"""The Allen Visual Coding reader on files built here in the published layouts (NWB 1 and NWB 2)."""

from __future__ import annotations

from datetime import UTC, datetime

import h5py
import numpy as np
import pytest

from spikebridge.errors import SpikebridgeDataError
from spikebridge.io.allen import read_allen_ophys
from spikebridge.preprocess.calcium import ObservationConfig, stimulus_observations

RATE = 30.0
N_FRAMES = 3000
PIPE = "processing/brain_observatory_pipeline"


def _dg_rows(first_frame: int, n: int) -> tuple[np.ndarray, np.ndarray]:
    """Drifting gratings: (temporal_frequency, orientation, blank_sweep) rows, 2 s on, 1 s off."""
    data = np.array([[2.0, 90.0 * (i % 2), 0.0] for i in range(n)])
    data[-1] = [np.nan, np.nan, 1.0]  # the last one is a blank sweep
    starts = first_frame + 90 * np.arange(n)
    return data, np.column_stack([starts, starts + 60])


def write_allen_v1(path, n_cells: int = 3) -> np.ndarray:
    """An Allen Brain Observatory NWB 1 file: dF/F, fluorescence, segmentation ids, stimulus tables."""
    dff = np.arange(n_cells * N_FRAMES, dtype=np.float64).reshape(n_cells, N_FRAMES) / 1e4  # cells x frames
    stamps = 10.0 + np.arange(N_FRAMES) / RATE
    with h5py.File(path, "w") as f:
        plane = f.create_group(f"{PIPE}/DfOverF/imaging_plane_1")
        plane["data"], plane["timestamps"] = dff, stamps
        fl = f.create_group(f"{PIPE}/Fluorescence/imaging_plane_1")
        fl["data"], fl["timestamps"] = 100.0 + dff, stamps
        fl["neuropil_traces"] = np.full((n_cells, N_FRAMES), 10.0)
        fl["r"] = np.full(n_cells, 0.7)
        f[f"{PIPE}/ImageSegmentation/cell_specimen_ids"] = np.array([517000 + i for i in range(n_cells)])
        f["general/session_type"] = np.bytes_("three_session_A")
        f["general/optophysiology/imaging_plane_1/location"] = np.bytes_("VISp")
        pres = f.create_group("stimulus/presentation")
        blocks = [_dg_rows(200, 5), _dg_rows(1400, 5)]  # two sub-sessions, 26 s apart
        dg = pres.create_group("drifting_gratings_stimulus")
        dg["data"] = np.vstack([b[0] for b in blocks])
        dg["frame_duration"] = np.vstack([b[1] for b in blocks])
        dg["features"] = np.array([b"temporal_frequency", b"orientation", b"blank_sweep"])
        ns = pres.create_group("natural_scenes_stimulus")
        ns["data"] = np.array([5, 17, 5])
        ns["frame_duration"] = np.array([[2500, 2507], [2508, 2515], [2516, 2523]])
        movie = pres.create_group("natural_movie_one_stimulus")
        movie["data"], movie["frame_duration"] = (
            np.arange(3),
            np.array([[2600, 2601], [2601, 2602], [2602, 2603]]),
        )
    return dff


def test_reads_the_published_layout(tmp_path):
    path = tmp_path / "501940850.nwb"
    dff = write_allen_v1(path)
    rec = read_allen_ophys(path)
    tr, st = rec.traces, rec.stimuli
    assert tr.values.shape == (N_FRAMES, 3) and tr.kind == "dF/F"
    assert np.allclose(tr.values, dff.T)
    assert tr.frame_rate == pytest.approx(RATE)
    assert tr.roi_ids.tolist() == [517000, 517001, 517002]
    assert rec.info.region == "VISp" and rec.info.extra["session_type"] == "three_session_A"
    assert st.n == 13  # 10 gratings + 3 scenes; the natural movie is left out by default
    assert set(st.kind) == {"drifting_gratings", "natural_scenes"}
    assert st.onset[0] == 200 and st.offset[0] == 260
    dg = st.kind == "drifting_gratings"
    assert st.block[dg].tolist() == [0] * 5 + [1] * 5
    assert st.label[0] == "drifting_gratings:temporal_frequency=2,orientation=0"
    assert st.label[1] == "drifting_gratings:temporal_frequency=2,orientation=90"
    assert st.label[4] == "drifting_gratings:blank"
    assert st.label[st.kind == "natural_scenes"].tolist() == ["natural_scenes:image=5", "natural_scenes:image=17",
                                                              "natural_scenes:image=5"]  # fmt: skip
    assert st.labels()[:3] == ("drifting_gratings:temporal_frequency=2,orientation=0",
                               "drifting_gratings:temporal_frequency=2,orientation=90", "drifting_gratings:blank")  # fmt: skip


def test_signals_and_exclusions(tmp_path):
    path = tmp_path / "s.nwb"
    dff = write_allen_v1(path)
    corrected = read_allen_ophys(path, signal="F_corrected")
    assert corrected.traces.kind == "F"
    assert np.allclose(corrected.traces.values, (100.0 + dff - 7.0).T)
    everything = read_allen_ophys(path, exclude=())
    assert "natural_movie_one" in set(everything.stimuli.kind)
    obs = stimulus_observations(
        corrected.traces, corrected.stimuli, ObservationConfig(baseline_len=96, response_len=64)
    )
    assert obs.n == 13 * 3 and obs.n_stimuli == 5


def test_a_file_in_another_layout_is_a_one_line_error(tmp_path):
    path = tmp_path / "other.nwb"
    with h5py.File(path, "w") as f:
        f["x"] = np.zeros(3)
    with pytest.raises(SpikebridgeDataError, match="other.nwb"):
        read_allen_ophys(path)
    (tmp_path / "junk.nwb").write_bytes(b"not hdf5")
    with pytest.raises(SpikebridgeDataError, match="junk.nwb"):
        read_allen_ophys(tmp_path / "junk.nwb")


def test_reads_an_nwb2_conversion_with_time_intervals(tmp_path):
    from pynwb import NWBHDF5IO, NWBFile
    from pynwb.epoch import TimeIntervals
    from pynwb.ophys import DfOverF, ImageSegmentation, OpticalChannel

    nwb = NWBFile(
        session_description="allen", identifier="sess", session_start_time=datetime(2016, 1, 1, tzinfo=UTC)
    )
    device = nwb.create_device(name="2p")
    channel = OpticalChannel(name="green", description="", emission_lambda=510.0)
    plane = nwb.create_imaging_plane(
        name="plane", optical_channel=channel, description="", device=device, excitation_lambda=910.0,
        imaging_rate=RATE, indicator="GCaMP6f", location="VISp",
    )  # fmt: skip
    module = nwb.create_processing_module(name="brain_observatory_pipeline", description="")
    segmentation = ImageSegmentation()
    module.add(segmentation)
    seg = segmentation.create_plane_segmentation(name="cells", description="", imaging_plane=plane)
    for _ in range(2):
        seg.add_roi(image_mask=np.ones((4, 4)))
    region = seg.create_roi_table_region(region=[0, 1], description="all")
    dff = DfOverF()
    module.add(dff)
    dff.create_roi_response_series(name="imaging_plane_1", data=np.zeros((600, 2)), rois=region, unit="1",
                                   rate=RATE, starting_time=0.0)  # fmt: skip
    table = TimeIntervals(name="static_gratings_presentations", description="sg")
    table.add_column("orientation", "deg")
    for i, start in enumerate((5.0, 5.25, 5.5)):
        table.add_interval(start_time=start, stop_time=start + 0.25, orientation=30.0 * i)
    nwb.add_time_intervals(table)
    path = tmp_path / "dandi.nwb"
    with NWBHDF5IO(str(path), "w") as io:
        io.write(nwb)
    rec = read_allen_ophys(path)
    assert rec.traces.values.shape == (600, 2) and rec.traces.kind == "dF/F"
    assert rec.stimuli.onset.tolist() == [150, 158, 165]  # start_time * 30 Hz, first frame at or after it
    assert rec.stimuli.label.tolist() == ["static_gratings:orientation=0", "static_gratings:orientation=30",
                                          "static_gratings:orientation=60"]  # fmt: skip
