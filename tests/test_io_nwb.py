"""Tests of the NWB readers on small files written with pynwb."""

from __future__ import annotations

import subprocess
import sys
from datetime import UTC, datetime
from pathlib import Path

import h5py
import numpy as np
import pytest

from spikebridge.data.types import RecordingInfo
from spikebridge.errors import SpikebridgeDataError
from spikebridge.io.nwb import read_nwb_ophys, read_nwb_units

pynwb = pytest.importorskip("pynwb")

UNIT_IDS = [5, 7, 9]  # unit 7 never fires
SPIKES = {5: [0.5, 1.25, 3.0], 7: [], 9: [0.001, 2.75]}
N_FRAMES, N_ROIS = 6, 3
F_VALUES = np.arange(N_FRAMES * N_ROIS, dtype=np.float32).reshape(N_FRAMES, N_ROIS)
DFF_VALUES = F_VALUES / 10.0
ISCELL = [1.0, 0.0, 1.0]


def _nwbfile(**kwargs) -> pynwb.NWBFile:
    return pynwb.NWBFile(
        session_description="test",
        identifier="test-id",
        session_start_time=datetime(2024, 1, 2, tzinfo=UTC),
        **kwargs,
    )


def _write(nwbfile: pynwb.NWBFile, path: Path) -> Path:
    with pynwb.NWBHDF5IO(str(path), "w") as nwb_io:
        nwb_io.write(nwbfile)
    return path


def _units_file(path: Path, spikes: dict[int, list[float]] = SPIKES) -> Path:
    from pynwb.file import Subject

    nwb = _nwbfile(
        lab="Lab A",
        session_id="S1",
        keywords=["in vivo", "Neuropixels"],
        subject=Subject(subject_id="m1", species="Mus musculus"),
    )
    device = nwb.create_device(name="probe")
    group = nwb.create_electrode_group(name="shank0", description="", location="CA1", device=device)
    nwb.add_electrode(group=group, location="CA1")
    nwb.add_unit_column(name="quality", description="curation label")
    nwb.add_unit_column(name="depth", description="um")
    for uid, quality, depth in zip(UNIT_IDS, ["good", "mua", "good"], [10.0, 20.0, 30.0], strict=True):
        nwb.add_unit(spike_times=spikes[uid], quality=quality, depth=depth, id=uid)
    return _write(nwb, path)


def _ophys_file(path: Path, f_values: np.ndarray = F_VALUES) -> Path:
    from pynwb.ophys import DfOverF, Fluorescence, ImageSegmentation, OpticalChannel

    nwb = _nwbfile()
    device = nwb.create_device(name="scope")
    channel = OpticalChannel(name="green", description="", emission_lambda=510.0)
    plane = nwb.create_imaging_plane(
        name="plane", optical_channel=channel, description="", device=device, excitation_lambda=920.0,
        imaging_rate=12.5, indicator="GCaMP6s", location="V1",
    )  # fmt: skip
    module = nwb.create_processing_module(name="ophys", description="")
    segmentation = ImageSegmentation()
    module.add(segmentation)
    rois = segmentation.create_plane_segmentation(name="cells", description="", imaging_plane=plane)
    rois.add_column(name="iscell", description="classifier flag")
    for flag in ISCELL:
        rois.add_roi(image_mask=np.ones((4, 4)), iscell=flag)
    region = rois.create_roi_table_region(region=[0, 1, 2], description="all")
    fluorescence, dff = Fluorescence(), DfOverF()
    module.add([fluorescence, dff])  # in the file before their series point at the ROI table
    fluorescence.create_roi_response_series(name="raw", data=f_values, rois=region, unit="a.u.", rate=12.5)
    stamps = 100.0 + np.arange(N_FRAMES) / 8.0
    dff.create_roi_response_series(name="dff", data=DFF_VALUES, rois=region, unit="n.a.", timestamps=stamps)
    return _write(nwb, path)


@pytest.fixture(scope="module")
def units_path(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return _units_file(tmp_path_factory.mktemp("nwb") / "units.nwb")


@pytest.fixture(scope="module")
def ophys_path(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return _ophys_file(tmp_path_factory.mktemp("nwb") / "ophys.nwb")


def test_import_does_not_load_pynwb() -> None:
    code = (
        "import sys, spikebridge.io.nwb, spikebridge.io.phy, spikebridge.io.alf;"
        "print([m in sys.modules for m in ('pynwb', 'hdmf', 'spikeinterface', 'one')])"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[False, False, False, False]"


# --- Units ---------------------------------------------------------------------------------------


def test_units_exact_trains_and_metadata(units_path: Path) -> None:
    trains = read_nwb_units(units_path)
    np.testing.assert_array_equal(trains.unit_ids, UNIT_IDS)
    for got, uid in zip(trains.times, UNIT_IDS, strict=True):
        np.testing.assert_array_equal(got, SPIKES[uid])
    assert trains.duration == 4.0
    np.testing.assert_array_equal(trains.unit_meta["quality"], ["good", "mua", "good"])
    np.testing.assert_array_equal(trains.unit_meta["depth"], [10.0, 20.0, 30.0])
    assert set(trains.unit_meta) == {"quality", "depth"}
    info = trains.info
    assert (info.name, info.preparation, info.species, info.region) == (
        "units",
        "in_vivo",
        "Mus musculus",
        "CA1",
    )
    assert (info.lab, info.session, info.source) == ("Lab A", "S1", str(units_path))


def test_units_given_duration_and_info(units_path: Path) -> None:
    given = RecordingInfo(name="mine", preparation="in_vitro")
    trains = read_nwb_units(units_path, duration=10.0, info=given)
    assert trains.duration == 10.0 and trains.info.name == "mine" and trains.info.source == str(units_path)


def test_units_nan_spike_times(tmp_path: Path) -> None:
    path = _units_file(tmp_path / "nan.nwb", {5: [0.5, np.nan], 7: [], 9: [1.0]})
    with pytest.raises(SpikebridgeDataError, match="nan.nwb: Units spike_times hold 1 NaN"):
        read_nwb_units(path)


def test_units_missing_table(ophys_path: Path) -> None:
    with pytest.raises(SpikebridgeDataError, match="ophys.nwb: the file has no Units table"):
        read_nwb_units(ophys_path)


# --- ophys ---------------------------------------------------------------------------------------


def test_ophys_fluorescence_with_rate(ophys_path: Path) -> None:
    traces = read_nwb_ophys(ophys_path, series="raw")
    np.testing.assert_array_equal(traces.values, F_VALUES)
    assert traces.frame_rate == 12.5 and traces.kind == "F"
    np.testing.assert_array_equal(traces.roi_ids, [0, 1, 2])
    np.testing.assert_array_equal(traces.is_cell, [True, False, True])
    assert traces.info.extra["series"] == "ophys/Fluorescence/raw"


def test_ophys_dff_rate_from_timestamps(ophys_path: Path) -> None:
    traces = read_nwb_ophys(ophys_path, series="DfOverF/dff")
    np.testing.assert_allclose(traces.values, DFF_VALUES)
    assert traces.frame_rate == pytest.approx(8.0) and traces.kind == "dF/F"
    assert read_nwb_ophys(ophys_path, series="dff", frame_rate=4.0).frame_rate == 4.0


def test_ophys_series_choice(ophys_path: Path, units_path: Path) -> None:
    with pytest.raises(SpikebridgeDataError, match="several RoiResponseSeries, choose one"):
        read_nwb_ophys(ophys_path)
    with pytest.raises(SpikebridgeDataError, match="no RoiResponseSeries 'nope'"):
        read_nwb_ophys(ophys_path, series="nope")
    with pytest.raises(SpikebridgeDataError, match="units.nwb: no RoiResponseSeries"):
        read_nwb_ophys(units_path)


def test_ophys_nan_values(tmp_path: Path) -> None:
    bad = F_VALUES.copy()
    bad[2, 1] = np.nan
    path = _ophys_file(tmp_path / "nan.nwb", bad)
    with pytest.raises(SpikebridgeDataError, match="Fluorescence/raw holds 1 NaN"):
        read_nwb_ophys(path, series="raw")


# --- bad files -----------------------------------------------------------------------------------


@pytest.mark.parametrize("reader", [read_nwb_units, read_nwb_ophys])
def test_missing_file(tmp_path: Path, reader) -> None:
    with pytest.raises(SpikebridgeDataError, match="missing.nwb: file not found"):
        reader(tmp_path / "missing.nwb")


@pytest.mark.parametrize("reader", [read_nwb_units, read_nwb_ophys])
def test_truncated_file(tmp_path: Path, units_path: Path, reader) -> None:
    path = tmp_path / "cut.nwb"
    path.write_bytes(units_path.read_bytes()[:2000])
    with pytest.raises(SpikebridgeDataError, match="cut.nwb: not a readable NWB file"):
        reader(path)


def test_other_formats(tmp_path: Path) -> None:
    text = tmp_path / "text.nwb"
    text.write_text("this is not HDF5\n")
    with pytest.raises(SpikebridgeDataError, match="text.nwb: not a readable NWB file"):
        read_nwb_units(text)
    plain = tmp_path / "plain.h5"
    with h5py.File(plain, "w") as fh:
        fh["spikes"] = np.arange(5.0)
    with pytest.raises(SpikebridgeDataError, match="plain.h5: not a readable NWB file"):
        read_nwb_units(plain)
