"""Shared fixtures: the real recordings beside the checkout, and tiny files built per test."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest

DATA_ROOT = Path(__file__).resolve().parents[1].parent / "shared" / "data"
SLICE = DATA_ROOT / "shimono2025" / "invitro_slice_210511001"
INVIVO = DATA_ROOT / "shimono2025" / "invivo_ibl_NYU-40_2021-04-14_001"


@pytest.fixture(scope="session")
def data_root() -> Path:
    assert DATA_ROOT.is_dir(), f"the shared recordings must sit beside the checkout: {DATA_ROOT}"
    return DATA_ROOT


@pytest.fixture(scope="session")
def chromium() -> None:
    """Debian's Chromium and ChromeDriver, installed when missing (skips, with the reason, if impossible)."""
    from browser import ensure_browser

    reason = ensure_browser()
    if reason:
        print(f"browser test skipped: {reason}")
        pytest.skip(reason)


@pytest.fixture(scope="session", autouse=True)
def _session_cache(tmp_path_factory):
    """Fixtures shared by a module or the session (fits reused by several tests) run before any test's own
    fixtures: their prepared-recording cache goes to a temporary folder too, never into the checkout."""
    patch = pytest.MonkeyPatch()
    patch.setenv("SPIKEBRIDGE_CACHE", str(tmp_path_factory.mktemp("session-cache")))
    patch.setenv("SPIKEBRIDGE_DATA", str(DATA_ROOT))
    yield
    patch.undo()


@pytest.fixture(autouse=True)
def _isolated_cache(tmp_path, monkeypatch):
    """Every test writes its prepared-recording cache into its own temporary folder."""
    monkeypatch.setenv("SPIKEBRIDGE_CACHE", str(tmp_path / "cache"))
    os.environ.setdefault("MPLBACKEND", "Agg")


def write_asdf_v5(path: Path, units: list[np.ndarray], n_bins: int, bin_ms=None, layout="col", trailer=None):
    """Write an asdf cell array with scipy (MATLAB v5)."""
    from scipy.io import savemat

    cells = [np.asarray(u, dtype=np.float64).reshape(1, -1) for u in units]
    cells.append(np.zeros((0, 0)) if bin_ms is None else np.array([[bin_ms]], dtype=np.float64))
    cells.append(np.array([trailer or [len(units), n_bins]], dtype=np.float64))
    arr = np.empty((len(cells), 1) if layout == "col" else (1, len(cells)), dtype=object)
    for i, c in enumerate(cells):
        arr.flat[i] = c
    savemat(str(path), {"asdf": arr})
    return path


def write_asdf_v73(path: Path, units: list[np.ndarray], n_bins: int, bin_ms=None):
    """Write an asdf cell array in the MATLAB v7.3 layout (HDF5 with a 512-byte user block)."""
    import h5py

    cells = [np.asarray(u, dtype=np.float64) for u in units]
    cells.append(None if bin_ms is None else np.array([float(bin_ms)]))
    cells.append(np.array([float(len(units)), float(n_bins)]))
    with h5py.File(path, "w", userblock_size=512) as f:
        refs_group = f.create_group("#refs#")
        refs = []
        for i, c in enumerate(cells):
            if c is None or c.size == 0:
                ds = refs_group.create_dataset(f"c{i}", data=np.zeros(2, dtype=np.uint64))
                ds.attrs["MATLAB_empty"] = np.uint8(1)
            else:
                ds = refs_group.create_dataset(f"c{i}", data=c.reshape(-1, 1))
            ds.attrs["MATLAB_class"] = np.bytes_("double")
            refs.append(ds.ref)
        top = f.create_dataset("asdf", data=np.array(refs, dtype=h5py.ref_dtype).reshape(-1, 1))
        top.attrs["MATLAB_class"] = np.bytes_("cell")
    with open(path, "r+b") as fh:
        fh.write(b"MATLAB 7.3 MAT-file, Platform: GLNXA64, Created on: test HDF5 schema 1.00 .")
    return path


def write_mea_h5(
    path: Path, units: list[np.ndarray], names=None, epos=None, recordingtime=None, summary_duration=None
):
    """Write the MEA HDF5 layout (/spikes, /sCount, /names, /epos, /meta, optionally /summary/duration)."""
    import h5py

    with h5py.File(path, "w") as f:
        f["spikes"] = (
            np.concatenate([np.asarray(u, dtype=np.float64) for u in units]) if units else np.zeros(0)
        )
        f["sCount"] = np.array([len(u) for u in units], dtype=np.int32)
        f["names"] = np.array([n.encode() for n in (names or [f"u{i}" for i in range(len(units))])])
        if epos is not None:
            f["epos"] = np.asarray(epos, dtype=np.float64)
        if recordingtime is not None:
            f["recordingtime"] = np.asarray(recordingtime, dtype=np.float64)
        f.create_group("meta")["species"] = np.array([b"mouse"])
        if summary_duration is not None:
            f.create_group("summary")["duration"] = np.array([float(summary_duration)])
    return path
