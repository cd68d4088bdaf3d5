"""Reader for suite2p output folders (``F.npy``, ``Fneu.npy``, ``spks.npy``, ``iscell.npy``, ``ops.npy``).

suite2p stores traces as ROIs x frames; :class:`Traces` holds frames x ROIs, so the reader
transposes. ``iscell.npy`` is ROIs x 2 (cell flag, classifier probability). The frame rate is
``ops.npy['fs']`` when an ``ops.npy`` exists; otherwise it must be given.
"""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import numpy as np

from spikebridge.data.types import RecordingInfo, Traces
from spikebridge.errors import SpikebridgeConfigError, SpikebridgeDataError
from spikebridge.io._files import load_npy

NEUROPIL_COEF = 0.7
SIGNALS = {"F": "F", "Fneu": "Fneu", "spks": "deconvolved", "F-0.7*Fneu": "F-0.7*Fneu"}


def _plane_folder(folder: Path) -> Path:
    """The folder holding ``F.npy``: ``folder`` itself, ``folder/plane0`` or ``folder/suite2p/plane0``."""
    if not folder.is_dir():
        raise SpikebridgeDataError(f"{folder}: suite2p folder not found")
    for candidate in (folder, folder / "plane0", folder / "suite2p" / "plane0"):
        if (candidate / "F.npy").exists() or (candidate / "spks.npy").exists():
            return candidate
    raise SpikebridgeDataError(f"{folder}: no suite2p output (F.npy / spks.npy) found")


def _trace_array(folder: Path, stem: str) -> np.ndarray:
    """One ROIs x frames array, checked to be 2-D, numeric and finite."""
    path = folder / f"{stem}.npy"
    arr = load_npy(path)
    if arr.ndim != 2 or arr.dtype.kind not in "iuf":
        raise SpikebridgeDataError(
            f"{path}: expected a 2-D numeric ROIs x frames array, got {arr.dtype} {arr.shape}"
        )
    if arr.size == 0:
        raise SpikebridgeDataError(f"{path}: the array is empty {arr.shape}")
    n_bad = int(np.count_nonzero(~np.isfinite(arr)))
    if n_bad:
        raise SpikebridgeDataError(f"{path}: {n_bad} NaN or infinite values")
    return arr


def _signal(folder: Path, signal: str) -> np.ndarray:
    """The requested signal, ROIs x frames, float32."""
    if signal == "F-0.7*Fneu":
        f, fneu = _trace_array(folder, "F"), _trace_array(folder, "Fneu")
        if f.shape != fneu.shape:
            raise SpikebridgeDataError(f"{folder}: F.npy is {f.shape} but Fneu.npy is {fneu.shape}")
        return (f.astype(np.float32) - np.float32(NEUROPIL_COEF) * fneu.astype(np.float32)).astype(np.float32)
    return _trace_array(folder, signal).astype(np.float32)


def _is_cell(folder: Path, n_rois: int) -> np.ndarray | None:
    """Column 0 of ``iscell.npy`` as booleans, or None when the file is absent."""
    path = folder / "iscell.npy"
    if not path.exists():
        return None
    arr = load_npy(path)
    if arr.dtype.kind not in "biuf" or arr.ndim not in (1, 2) or arr.shape[0] != n_rois:
        raise SpikebridgeDataError(
            f"{path}: expected {n_rois} rows (one per ROI), got {arr.dtype} {arr.shape}"
        )
    flags = arr if arr.ndim == 1 else arr[:, 0]
    if not np.all(np.isin(flags, (0, 1))):
        raise SpikebridgeDataError(f"{path}: column 0 must hold 0/1 cell flags")
    return flags.astype(bool)


def _ops_frame_rate(folder: Path) -> float:
    """``ops['fs']`` from ``ops.npy``."""
    path = folder / "ops.npy"
    if not path.exists():
        raise SpikebridgeConfigError(
            f"{folder}: no ops.npy to read the frame rate from; pass frame_rate (frames per second)"
        )
    try:
        ops = load_npy(path).item()
        return float(ops["fs"])
    except SpikebridgeDataError as exc:
        raise SpikebridgeDataError(f"{exc}; pass frame_rate to skip ops.npy") from exc
    except (ValueError, TypeError, KeyError, AttributeError) as exc:
        raise SpikebridgeDataError(f"{path}: no numeric 'fs' entry in the ops dictionary") from exc


def read_suite2p(
    folder: str | Path,
    frame_rate: float | None = None,
    signal: str = "F",
    cells_only: bool = False,
    name: str | None = None,
    info: RecordingInfo | None = None,
) -> Traces:
    """Read the traces of a suite2p plane folder.

    Parameters
    ----------
    folder : str or Path
        A suite2p plane folder (``.../suite2p/plane0``), or a folder holding ``plane0`` or ``suite2p/plane0``.
    frame_rate : float, optional
        Frames per second; required when the folder has no ``ops.npy`` (its ``fs`` is used otherwise).
    signal : {"F", "Fneu", "spks", "F-0.7*Fneu"}
        Which trace: raw fluorescence, neuropil, deconvolved activity, or neuropil-corrected
        fluorescence ``F - 0.7 * Fneu`` (suite2p's default coefficient).
    cells_only : bool
        Keep only ROIs flagged as cells in ``iscell.npy`` column 0.
    name, info
        Metadata for the result; ``info`` wins over ``name``.

    Returns
    -------
    Traces
        ``values`` of shape (n_frames, n_rois), float32; ``roi_ids`` = suite2p ROI index;
        ``is_cell`` from ``iscell.npy`` (all True without it).
    """
    if signal not in SIGNALS:
        raise SpikebridgeConfigError(f"signal must be one of {sorted(SIGNALS)}, got {signal!r}")
    plane = _plane_folder(Path(folder))
    values = _signal(plane, signal).T  # (ROIs, frames) -> (frames, ROIs)
    is_cell = _is_cell(plane, values.shape[1])
    rate = _ops_frame_rate(plane) if frame_rate is None else float(frame_rate)
    roi_ids = np.arange(values.shape[1])
    if cells_only and is_cell is not None:
        if not is_cell.any():
            raise SpikebridgeDataError(f"{plane / 'iscell.npy'}: no ROI is classified as a cell")
        values, roi_ids, is_cell = values[:, is_cell], roi_ids[is_cell], is_cell[is_cell]
    if info is None:
        info = RecordingInfo(name=name or Path(folder).name, source=str(plane), extra={"signal": signal})
    elif not info.source:
        info = replace(info, source=str(plane))
    return Traces(
        values=values, frame_rate=rate, info=info, roi_ids=roi_ids, is_cell=is_cell, kind=SIGNALS[signal]
    )
