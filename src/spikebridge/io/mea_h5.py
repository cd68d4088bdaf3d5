"""Reader for the MEA HDF5 layout of the culture and retina recordings.

Layout (as published with the Eglen/Charlesworth culture and Maccione retina data):

- ``/spikes``: all spike times in seconds, concatenated unit by unit;
- ``/sCount``: spikes per unit (split ``/spikes`` by its cumulative sum);
- ``/names``: unit names; ``/epos``: electrode positions (n_units x 2, um);
- ``/meta/*``: age, region, species, strain, genotype, ...
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from spikebridge.data.types import RecordingInfo, SpikeTrains
from spikebridge.errors import SpikebridgeDataError


def _decode(value) -> str | float | list:
    arr = np.asarray(value)
    if arr.dtype.kind in "SO":
        items = [v.decode() if isinstance(v, bytes) else str(v) for v in arr.ravel()]
        return items[0] if len(items) == 1 else items
    if arr.size == 1:
        return float(arr.ravel()[0])
    return arr.ravel().tolist()


def read_mea_h5(
    path: str | Path,
    duration: float | None = None,
    name: str | None = None,
    info: RecordingInfo | None = None,
) -> SpikeTrains:
    """Read an MEA HDF5 recording.

    Parameters
    ----------
    path : str or Path
    duration : float, optional
        End of the recording in seconds on the file's clock (its start is then 0). By default
        ``/recordingtime`` ([start, stop]) or ``/summary/duration`` (a length from 0) when they cover
        every spike. Otherwise the file gives no usable start (some files keep spikes from 3600 s on
        with a duration of 3592 s): the start is left unknown (the analysis window begins at the first
        spike) and the end is the last spike rounded up to the next second.
    name, info
        Metadata for the result.

    Returns
    -------
    SpikeTrains
        With unit metadata ``name``, ``x_um``, ``y_um`` when present.
    """
    import h5py

    path = Path(path)
    if not path.is_file():
        raise SpikebridgeDataError(f"{path}: file not found")
    try:
        with h5py.File(path, "r") as f:
            for key in ("spikes", "sCount"):
                if key not in f:
                    raise SpikebridgeDataError(f"{path}: missing /{key} (not an MEA HDF5 spike file)")
            spikes = np.asarray(f["spikes"][()], dtype=np.float64).ravel()
            counts = np.asarray(f["sCount"][()]).ravel().astype(np.int64)
            names = [str(n) for n in np.atleast_1d(_decode(f["names"][()]))] if "names" in f else None
            epos = np.asarray(f["epos"][()], dtype=np.float64) if "epos" in f else None
            meta = {k: _decode(f["meta"][k][()]) for k in f["meta"]} if "meta" in f else {}
            stored = _stored_duration(f)
    except SpikebridgeDataError:
        raise
    except Exception as exc:
        raise SpikebridgeDataError(
            f"{path}: cannot read HDF5 file ({exc.__class__.__name__}: {exc})"
        ) from exc
    if counts.size == 0:
        raise SpikebridgeDataError(f"{path}: the recording has zero units")
    if np.any(counts < 0) or counts.sum() != spikes.size:
        raise SpikebridgeDataError(
            f"{path}: /sCount sums to {counts.sum()} but /spikes holds {spikes.size} spike times"
        )
    times = tuple(np.split(spikes, np.cumsum(counts)[:-1]))
    unit_meta = _unit_meta(path, len(times), names, epos)
    t_start: float | None = 0.0
    if duration is None:
        finite = spikes.size and np.all(np.isfinite(spikes))
        first, last = (float(spikes.min()), float(spikes.max())) if finite else (0.0, 0.0)
        t_start, duration = _clock(stored, first, last)
    base = info or RecordingInfo(name=name or path.stem, source=str(path))
    base = base.with_extra(**{f"meta_{k}": v for k, v in meta.items()})
    return SpikeTrains(times=times, duration=duration, info=base, unit_meta=unit_meta, t_start=t_start)


def _clock(stored: tuple[float, float] | None, first: float, last: float) -> tuple[float | None, float]:
    """(start or None, end) of the recording from the stored span and the first and last spike times."""
    if stored is not None and stored[0] <= first and last < stored[1]:
        return stored[0], stored[1]
    return None, float(np.floor(last) + 1.0)


def _stored_duration(f) -> tuple[float, float] | None:
    """Recording span [start, stop] s from ``/recordingtime``, else [0, ``/summary/duration``]."""
    if "recordingtime" in f:
        span = np.asarray(f["recordingtime"][()], dtype=np.float64).ravel()
        if span.size == 2 and span[1] > span[0]:
            return float(span[0]), float(span[1])
    if "summary" in f and "duration" in f["summary"]:
        return 0.0, float(np.asarray(f["summary"]["duration"][()]).ravel()[0])
    return None


def _unit_meta(path: Path, n: int, names, epos) -> dict[str, np.ndarray]:
    meta: dict[str, np.ndarray] = {}
    if names is not None:
        if len(names) != n:
            raise SpikebridgeDataError(f"{path}: /names has {len(names)} entries for {n} units")
        meta["name"] = np.asarray(names)
    if epos is not None:
        if epos.ndim == 2 and epos.shape[0] != n and epos.shape[1] == n:
            epos = epos.T  # stored transposed by some writers: (2, n_units) -> (n_units, 2)
        if epos.shape != (n, 2):
            raise SpikebridgeDataError(f"{path}: /epos has shape {epos.shape} for {n} units")
        meta["x_um"], meta["y_um"] = epos[:, 0], epos[:, 1]
    return meta
