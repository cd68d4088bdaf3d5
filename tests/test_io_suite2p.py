"""Tests of the suite2p reader: the shipped folder and tiny hand-built folders."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from spikebridge.errors import SpikebridgeConfigError, SpikebridgeDataError
from spikebridge.io.suite2p import read_suite2p

F = np.array([[1.0, 2.0, 3.0, 4.0], [10.0, 20.0, 30.0, 40.0], [5.0, 5.0, 5.0, 5.0]], dtype=np.float32)
FNEU = np.full_like(F, 1.0)
ISCELL = np.array([[1.0, 0.9], [0.0, 0.2], [1.0, 0.7]])


@pytest.fixture
def data_root() -> Path:
    return Path(__file__).resolve().parents[1].parent / "shared" / "data"


@pytest.fixture
def shipped(data_root: Path) -> Path:
    return data_root / "suite2p_calcium"


@pytest.fixture
def plane(tmp_path: Path) -> Path:
    folder = tmp_path / "suite2p" / "plane0"
    folder.mkdir(parents=True)
    np.save(folder / "F.npy", F)
    np.save(folder / "Fneu.npy", FNEU)
    np.save(folder / "spks.npy", F * 0.5)
    np.save(folder / "iscell.npy", ISCELL)
    return folder


def test_shipped_folder_shapes(shipped: Path) -> None:
    traces = read_suite2p(shipped, frame_rate=30.0)
    assert traces.values.shape == (2000, 219) and traces.values.dtype == np.float32
    assert traces.is_cell.sum() == 20 and traces.frame_rate == 30.0
    np.testing.assert_array_equal(traces.values, np.load(shipped / "F.npy").T)
    assert traces.kind == "F" and traces.info.name == "suite2p_calcium"


def test_shipped_folder_cells_only_and_signals(shipped: Path) -> None:
    cells = read_suite2p(shipped, frame_rate=10.0, signal="spks", cells_only=True)
    flags = np.load(shipped / "iscell.npy")[:, 0].astype(bool)
    assert cells.values.shape == (2000, 20) and cells.is_cell.all()
    np.testing.assert_array_equal(cells.roi_ids, np.flatnonzero(flags))
    np.testing.assert_array_equal(cells.values, np.load(shipped / "spks.npy")[flags].T)
    assert cells.kind == "deconvolved" and cells.duration == 200.0


def test_tiny_folder_exact_values(plane: Path) -> None:
    traces = read_suite2p(plane.parents[1], frame_rate=5.0)  # finds suite2p/plane0
    np.testing.assert_array_equal(traces.values, F.T)
    np.testing.assert_array_equal(traces.is_cell, [True, False, True])
    corrected = read_suite2p(plane, frame_rate=5.0, signal="F-0.7*Fneu", cells_only=True)
    np.testing.assert_allclose(corrected.values, (F - 0.7 * FNEU)[[0, 2]].T, rtol=1e-6)
    np.testing.assert_array_equal(corrected.roi_ids, [0, 2])
    assert corrected.kind == "F-0.7*Fneu" and corrected.info.source == str(plane)


def test_frame_rate_from_ops(plane: Path) -> None:
    np.save(
        plane / "ops.npy", {"fs": 15.5, "nframes": 4, "save_path": str(plane), "meanImg": np.zeros((2, 2))}
    )
    assert read_suite2p(plane).frame_rate == 15.5
    assert read_suite2p(plane, frame_rate=3.0).frame_rate == 3.0


def test_no_iscell_means_all_cells(plane: Path) -> None:
    (plane / "iscell.npy").unlink()
    traces = read_suite2p(plane, frame_rate=1.0, cells_only=True)
    assert traces.is_cell.all() and traces.n_rois == 3


def test_frame_rate_required_without_ops(plane: Path) -> None:
    with pytest.raises(SpikebridgeConfigError, match="pass frame_rate"):
        read_suite2p(plane)


def test_bad_ops(plane: Path) -> None:
    np.save(plane / "ops.npy", {"nframes": 4})
    with pytest.raises(SpikebridgeDataError, match="ops.npy: no numeric 'fs'"):
        read_suite2p(plane)
    np.save(plane / "ops.npy", {"fs": 10.0, "path": Path("x")})
    with pytest.raises(SpikebridgeDataError, match="refusing to unpickle.*pass frame_rate"):
        read_suite2p(plane)


def test_bad_signal_name(plane: Path) -> None:
    with pytest.raises(SpikebridgeConfigError, match="signal must be one of"):
        read_suite2p(plane, frame_rate=1.0, signal="dff")


def test_missing_folder_and_files(tmp_path: Path, plane: Path) -> None:
    with pytest.raises(SpikebridgeDataError, match="suite2p folder not found"):
        read_suite2p(tmp_path / "nope", frame_rate=1.0)
    (tmp_path / "empty").mkdir()
    with pytest.raises(SpikebridgeDataError, match="no suite2p output"):
        read_suite2p(tmp_path / "empty", frame_rate=1.0)
    (plane / "Fneu.npy").unlink()
    with pytest.raises(SpikebridgeDataError, match=r"Fneu\.npy: file not found"):
        read_suite2p(plane, frame_rate=1.0, signal="Fneu")


def test_truncated_and_other_format(plane: Path) -> None:
    path = plane / "F.npy"
    path.write_bytes(path.read_bytes()[:-8])
    with pytest.raises(SpikebridgeDataError, match=r"F\.npy: not a readable"):
        read_suite2p(plane, frame_rate=1.0)
    path.write_text("roi,frame,value\n0,0,1.0\n")
    with pytest.raises(SpikebridgeDataError, match=r"F\.npy: not a readable"):
        read_suite2p(plane, frame_rate=1.0)


def test_inconsistent_arrays(plane: Path) -> None:
    np.save(plane / "Fneu.npy", FNEU[:2])
    with pytest.raises(SpikebridgeDataError, match=r"F\.npy is \(3, 4\) but Fneu\.npy is \(2, 4\)"):
        read_suite2p(plane, frame_rate=1.0, signal="F-0.7*Fneu")
    np.save(plane / "iscell.npy", ISCELL[:2])
    with pytest.raises(SpikebridgeDataError, match="iscell.npy: expected 3 rows"):
        read_suite2p(plane, frame_rate=1.0)
    np.save(plane / "F.npy", F[0])
    with pytest.raises(SpikebridgeDataError, match="expected a 2-D numeric"):
        read_suite2p(plane, frame_rate=1.0)


def test_nan_values(plane: Path) -> None:
    bad = F.copy()
    bad[1, 2] = np.nan
    np.save(plane / "F.npy", bad)
    with pytest.raises(SpikebridgeDataError, match="1 NaN or infinite"):
        read_suite2p(plane, frame_rate=1.0)
