"""Reader for the MATLAB "asdf" spike format (v5 ``.mat`` and v7.3 / HDF5 ``.mat``).

An asdf is a cell array of ``n_units + 2`` cells, laid out either as ``n x 1`` or ``1 x n``:

- cells ``1..n_units``: spike times of one unit, as **1-based bin indices** (the usual case,
  bin size in milliseconds in the second-to-last cell) or as **sample indices** at an explicit
  sampling rate (some exports, e.g. IBL Neuropixels data at 30 kHz, store samples and leave the
  bin-size cell as ``[0 0]``);
- cell ``n_units + 1``: the bin size in ms (may be empty: 1 ms is then assumed);
- cell ``n_units + 2``: ``[n_units, n_bins]`` (or ``[n_units, n_samples]``).

Bin indices are converted to the centre of their bin, ``(i - 0.5) * bin_size``, so that binning
again at the same bin size puts every spike back in its own bin. Sample indices are converted to
``s / sampling_rate``.
"""

from __future__ import annotations

import warnings
from pathlib import Path

import numpy as np

from spikebridge.data.types import RecordingInfo, SpikeTrains
from spikebridge.errors import SpikebridgeDataError

_HDF5_MAGIC = b"\x89HDF\r\n\x1a\n"


def read_asdf(
    path: str | Path,
    variable: str | None = None,
    sampling_rate: float | None = None,
    bin_size_ms: float | None = None,
    name: str | None = None,
    info: RecordingInfo | None = None,
) -> SpikeTrains:
    """Read an asdf ``.mat`` file into :class:`SpikeTrains`.

    Parameters
    ----------
    path : str or Path
    variable : str, optional
        Name of the cell-array variable; by default the only (or first) cell array in the file.
    sampling_rate : float, optional
        When given, spike times are sample indices at this rate (Hz) and the trailer's second
        number is the number of samples.
    bin_size_ms : float, optional
        Bin size of bin-index spike times; overrides the file's bin-size cell.
    name, info
        Metadata for the result; ``info`` wins over ``name``.

    Returns
    -------
    SpikeTrains
        Spike times in seconds, duration = n_bins * bin size (or n_samples / sampling_rate).
    """
    path = Path(path)
    cells = _load_cells(path, variable)
    if len(cells) < 2:
        raise SpikebridgeDataError(
            f"{path}: an asdf needs at least 2 cells (bin size, trailer), found {len(cells)}"
        )
    trailer = np.asarray(cells[-1], dtype=np.float64).ravel()
    if trailer.size != 2 or not np.all(np.isfinite(trailer)):
        raise SpikebridgeDataError(f"{path}: last cell must be [n_units, n_bins], got {trailer.tolist()}")
    n_units, n_ticks = int(trailer[0]), int(trailer[1])
    unit_cells = cells[:-2]
    if n_units == 0 and not unit_cells:
        raise SpikebridgeDataError(f"{path}: the recording has zero units")
    if n_units != len(unit_cells):
        raise SpikebridgeDataError(
            f"{path}: trailer says {n_units} units but the file holds {len(unit_cells)} spike cells"
        )
    if n_ticks <= 0:
        raise SpikebridgeDataError(f"{path}: trailer gives a non-positive length ({n_ticks})")
    raw = [np.asarray(c, dtype=np.float64).ravel() for c in unit_cells]
    _check_range(path, raw, n_ticks, sampling_rate is not None)
    if sampling_rate is not None:
        if sampling_rate <= 0:
            raise SpikebridgeDataError(f"{path}: sampling rate must be positive, got {sampling_rate}")
        times, duration = [r / sampling_rate for r in raw], n_ticks / sampling_rate
        unit_desc = {"time_unit": "samples", "sampling_rate": float(sampling_rate)}
    else:
        bs = _bin_size(path, cells[-2], bin_size_ms)
        _warn_if_samples(path, raw, n_ticks)
        times, duration = [(r - 0.5) * bs for r in raw], n_ticks * bs
        unit_desc = {"time_unit": "bins", "bin_size_s": bs}
    meta = (info or RecordingInfo(name=name or path.stem, source=str(path))).with_extra(**unit_desc)
    return SpikeTrains(times=tuple(times), duration=duration, info=meta)


def _bin_size(path: Path, cell: object, override_ms: float | None) -> float:
    if override_ms is not None:
        if override_ms <= 0:
            raise SpikebridgeDataError(f"{path}: bin size must be positive, got {override_ms} ms")
        return override_ms / 1000.0
    value = np.asarray(cell, dtype=np.float64).ravel()
    if value.size == 0:
        return 1e-3
    if value.size == 1 and value[0] > 0:
        return float(value[0]) / 1000.0
    raise SpikebridgeDataError(
        f"{path}: bin-size cell holds {value.tolist()}; pass the sampling rate (sample-index "
        "spike times) or an explicit bin size"
    )


def _warn_if_samples(path: Path, raw: list[np.ndarray], n_ticks: int) -> None:
    if any(r.size and np.any(r != np.round(r)) for r in raw):
        warnings.warn(
            f"{path}: spike times are not whole bin indices; if they are sample indices, pass sampling_rate",
            stacklevel=3,
        )


def _check_range(path: Path, raw: list[np.ndarray], n_ticks: int, samples: bool) -> None:
    lo = 0 if samples else 1
    for i, r in enumerate(raw):
        if r.size == 0:
            continue
        if not np.all(np.isfinite(r)):
            raise SpikebridgeDataError(f"{path}: unit {i} has NaN or infinite spike times")
        if r.min() < lo:
            raise SpikebridgeDataError(f"{path}: unit {i} has a spike index below {lo} ({r.min():g})")
        if np.any(np.diff(r) < 0):
            raise SpikebridgeDataError(f"{path}: unit {i} has unsorted spike times")
        if r.max() > n_ticks:
            raise SpikebridgeDataError(
                f"{path}: unit {i} has a spike at index {r.max():g}, past the trailer's length {n_ticks}"
            )


def _load_cells(path: Path, variable: str | None) -> list[np.ndarray]:
    if not path.is_file():
        raise SpikebridgeDataError(f"{path}: file not found")
    with open(path, "rb") as fh:
        head = fh.read(520)
    if head[512:520] == _HDF5_MAGIC or head[:8] == _HDF5_MAGIC:
        return _load_cells_hdf5(path, variable)
    if not head.startswith(b"MATLAB 5.0 MAT-file"):
        raise SpikebridgeDataError(f"{path}: not a MATLAB .mat file")
    from scipy.io import loadmat

    try:
        mat = loadmat(str(path))
    except Exception as exc:  # scipy raises many types for damaged files
        raise SpikebridgeDataError(
            f"{path}: cannot read MATLAB file ({exc.__class__.__name__}: {exc})"
        ) from exc
    cands = {
        k: v
        for k, v in mat.items()
        if not k.startswith("__") and getattr(getattr(v, "dtype", None), "kind", "") == "O"
    }
    arr = _pick(path, cands, variable)
    if arr.ndim != 2 or min(arr.shape) != 1:
        raise SpikebridgeDataError(f"{path}: asdf must be an n x 1 or 1 x n cell array, got {arr.shape}")
    return list(arr.ravel())


def _load_cells_hdf5(path: Path, variable: str | None) -> list[np.ndarray]:
    import h5py

    try:
        with h5py.File(path, "r") as f:
            cands = {
                k: f[k]
                for k in f
                if not k.startswith("#") and f[k].attrs.get("MATLAB_class", b"") in (b"cell", "cell")
            }
            ds = _pick(path, cands, variable)
            refs = np.asarray(ds[()]).ravel()
            cells = []
            for ref in refs:
                obj = f[ref]
                if obj.attrs.get("MATLAB_empty", 0):
                    cells.append(np.zeros(0))
                else:
                    cells.append(np.asarray(obj[()], dtype=np.float64).ravel())
            return cells
    except SpikebridgeDataError:
        raise
    except Exception as exc:
        raise SpikebridgeDataError(
            f"{path}: cannot read MATLAB v7.3 file ({exc.__class__.__name__}: {exc})"
        ) from exc


def _pick(path: Path, cands: dict, variable: str | None):
    if variable is not None:
        if variable not in cands:
            raise SpikebridgeDataError(f"{path}: no cell-array variable {variable!r} (found {sorted(cands)})")
        return cands[variable]
    if not cands:
        raise SpikebridgeDataError(f"{path}: no cell-array variable (not an asdf file)")
    return cands[sorted(cands)[0]]
