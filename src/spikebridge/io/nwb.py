"""Readers for Neurodata Without Borders (NWB 2) files: sorted units and two-photon traces.

- :func:`read_nwb_units` reads the ``Units`` table (spike times in seconds, one row per unit).
- :func:`read_nwb_ophys` reads a ``RoiResponseSeries`` kept in a ``DfOverF`` or ``Fluorescence``
  interface of a processing module (usually ``processing/ophys``).

pynwb is imported inside the functions, so importing this module stays light.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import replace
from pathlib import Path
from typing import Any

import numpy as np

from spikebridge.data.types import RecordingInfo, SpikeTrains, Traces
from spikebridge.errors import SpikebridgeDataError, SpikebridgeError
from spikebridge.io._files import short_error

_RAGGED_OR_LINKED = ("spike_times", "obs_intervals", "electrodes", "electrode_group", "waveforms")
_PREP_WORDS = {"in_vitro": re.compile(r"\bin[ _-]?vitro\b"), "in_vivo": re.compile(r"\bin[ _-]?vivo\b")}


@contextmanager
def _open_nwb(path: Path) -> Iterator[Any]:
    """Yield the NWBFile at ``path``; any failure to open or read it becomes a SpikebridgeDataError."""
    from pynwb import NWBHDF5IO

    if not path.is_file():
        raise SpikebridgeDataError(f"{path}: file not found")
    try:
        nwb_io = NWBHDF5IO(str(path), mode="r", load_namespaces=True)
    except Exception as exc:  # h5py / hdmf raise many types for files that are not NWB
        raise SpikebridgeDataError(f"{path}: not a readable NWB file ({short_error(exc)})") from exc
    try:
        yield nwb_io.read()
    except SpikebridgeError:
        raise
    except Exception as exc:
        raise SpikebridgeDataError(f"{path}: not a readable NWB file ({short_error(exc)})") from exc
    finally:
        nwb_io.close()


def _text(values: np.ndarray) -> np.ndarray:
    """Decode byte strings; object arrays of strings become unicode arrays."""
    if values.dtype.kind == "S" or (values.dtype == object and all(isinstance(v, bytes) for v in values)):
        return np.array([v.decode("utf-8", "replace") for v in values])
    if values.dtype == object and all(isinstance(v, str) for v in values):
        return values.astype(str)
    return values


def _preparation(nwbfile: Any) -> str:
    """ "in_vitro" when the file describes slices or says so in its keywords, "in_vivo" likewise."""
    if getattr(nwbfile, "slices", None):
        return "in_vitro"
    keywords = _text(np.asarray(nwbfile.keywords[:])) if nwbfile.keywords is not None else []
    words = " ".join(str(k) for k in keywords).lower()
    hits = [prep for prep, pattern in _PREP_WORDS.items() if pattern.search(words)]
    return hits[0] if len(hits) == 1 else "unknown"


def _region(nwbfile: Any) -> str:
    """Distinct electrode locations (electrodes table, else electrode groups), comma-separated."""
    locations: list[str] = []
    if nwbfile.electrodes is not None and "location" in nwbfile.electrodes.colnames:
        locations = [str(v) for v in _text(np.asarray(nwbfile.electrodes["location"].data[:]))]
    elif nwbfile.electrode_groups:
        locations = [str(g.location) for g in nwbfile.electrode_groups.values()]
    kept = [loc for loc in dict.fromkeys(locations) if loc and loc.lower() not in ("unknown", "none")]
    return ",".join(kept)


def _file_info(nwbfile: Any, path: Path, name: str | None, info: RecordingInfo | None) -> RecordingInfo:
    """Recording metadata from the NWB file (``info`` wins when given)."""
    if info is not None:
        return info if info.source else replace(info, source=str(path))
    subject = nwbfile.subject
    extra = {
        "identifier": str(nwbfile.identifier),
        "session_start_time": nwbfile.session_start_time.isoformat(),
    }
    if nwbfile.institution:
        extra["institution"] = str(nwbfile.institution)
    return RecordingInfo(
        name=name or path.stem,
        preparation=_preparation(nwbfile),
        species=str(subject.species or "") if subject is not None else "",
        region=_region(nwbfile),
        lab=str(nwbfile.lab or ""),
        session=str(nwbfile.session_id or ""),
        source=str(path),
        extra=extra,
    )


def _unit_trains(units: Any, path: Path) -> tuple[np.ndarray, ...]:
    """Spike times of every unit from the ragged ``spike_times`` column."""
    if "spike_times" not in units.colnames:
        raise SpikebridgeDataError(f"{path}: the Units table has no spike_times column")
    index = units["spike_times"]  # VectorIndex over the flat spike_times VectorData
    flat = np.asarray(index.target.data[:], dtype=np.float64)
    ends = np.asarray(index.data[:], dtype=np.int64)
    n_units = len(units.id)
    if ends.size != n_units or np.any(np.diff(ends) < 0) or (ends.size and ends[-1] != flat.size):
        raise SpikebridgeDataError(f"{path}: the spike_times index does not match {flat.size} spike times")
    n_bad = int(np.count_nonzero(~np.isfinite(flat)))
    if n_bad:
        raise SpikebridgeDataError(f"{path}: Units spike_times hold {n_bad} NaN or infinite values")
    return tuple(np.split(flat, ends[:-1]))


def _unit_columns(units: Any) -> dict[str, np.ndarray]:
    """The Units table's 1-D numeric or text columns (ragged and linked columns are left out)."""
    from hdmf.common import DynamicTableRegion, VectorIndex

    n_units = len(units.id)
    meta: dict[str, np.ndarray] = {}
    for col_name in units.colnames:
        if col_name in _RAGGED_OR_LINKED:
            continue
        col = units[col_name]
        if isinstance(col, VectorIndex | DynamicTableRegion):
            continue
        values = _text(np.asarray(col.data[:]))
        if values.ndim == 1 and values.size == n_units and values.dtype.kind in "biufU":
            meta[col_name] = values
    return meta


def read_nwb_units(
    path: str | Path,
    duration: float | None = None,
    name: str | None = None,
    info: RecordingInfo | None = None,
) -> SpikeTrains:
    """Read the sorted units of an NWB file.

    Parameters
    ----------
    path : str or Path
        NWB 2 file (HDF5).
    duration : float, optional
        End of the recording in seconds on the file's clock, which then starts at 0; default: the last
        spike time rounded up to the next second, and the start is the earliest observation interval
        of the Units table (``obs_intervals``) when there is one, else unknown (the analysis window
        then begins at the first spike).
    name, info
        Metadata for the result; ``info`` wins over ``name``. By default species comes from
        the file's subject, region from the electrode locations, preparation from ``slices``
        (in vitro) or the keywords ("in vitro" / "in vivo"), else "unknown".

    Returns
    -------
    SpikeTrains
        Spike times in seconds (the file's own clock), unit ids = the Units table ids, 1-D
        columns (``quality``, ``depth``, ...) in ``unit_meta``.
    """
    path = Path(path)
    with _open_nwb(path) as nwbfile:
        units = nwbfile.units
        if units is None or len(units.id) == 0:
            raise SpikebridgeDataError(f"{path}: the file has no Units table or it is empty")
        trains = _unit_trains(units, path)
        ids = np.asarray(units.id[:])
        meta = _unit_columns(units)
        info = _file_info(nwbfile, path, name, info)
        observed = _observed_start(units)
    t_start: float | None = 0.0
    if duration is None:
        last = max((t.max() for t in trains if t.size), default=None)
        if last is None:
            raise SpikebridgeDataError(f"{path}: no unit has spikes; pass duration explicitly")
        first = min(t.min() for t in trains if t.size)
        duration = float(np.floor(last) + 1.0)
        t_start = observed if observed is not None and 0 <= observed <= first else None
    return SpikeTrains(
        times=trains, duration=duration, info=info, unit_ids=ids, unit_meta=meta, t_start=t_start
    )


def _observed_start(units: Any) -> float | None:
    """Earliest start of the Units table's ``obs_intervals`` (seconds), or None without that column."""
    if "obs_intervals" not in units.colnames:
        return None
    intervals = np.asarray(units["obs_intervals"].target.data[:], dtype=np.float64).reshape(-1, 2)
    starts = intervals[np.isfinite(intervals[:, 0]), 0]
    return float(starts.min()) if starts.size else None


def _roi_series(nwbfile: Any) -> dict[str, tuple[Any, str]]:
    """Every RoiResponseSeries in a DfOverF / Fluorescence interface: key "module/interface/series"."""
    from pynwb.ophys import DfOverF, Fluorescence

    found: dict[str, tuple[Any, str]] = {}
    for module in nwbfile.processing.values():
        for interface in module.data_interfaces.values():
            if isinstance(interface, DfOverF | Fluorescence):
                kind = "dF/F" if isinstance(interface, DfOverF) else "F"
                for series in interface.roi_response_series.values():
                    found[f"{module.name}/{interface.name}/{series.name}"] = (series, kind)
    return found


def _pick_series(found: dict[str, tuple[Any, str]], series: str | None, path: Path) -> tuple[Any, str, str]:
    """The series named ``series`` (its name or any trailing part of its key), or the only one."""
    if not found:
        raise SpikebridgeDataError(f"{path}: no RoiResponseSeries in a DfOverF or Fluorescence interface")
    keys = list(found)
    if series is not None:
        keys = [k for k in keys if k == series or k.endswith("/" + series.strip("/"))]
        if not keys:
            raise SpikebridgeDataError(f"{path}: no RoiResponseSeries {series!r}; found {sorted(found)}")
    if len(keys) > 1:
        raise SpikebridgeDataError(
            f"{path}: several RoiResponseSeries, choose one with series=: {sorted(keys)}"
        )
    return (*found[keys[0]], keys[0])


def _series_rate(series: Any, n_frames: int, path: Path) -> float:
    """Frames per second from the series' rate, else from its timestamps."""
    if series.rate is not None:
        return float(series.rate)
    stamps = series.timestamps
    if stamps is None:
        raise SpikebridgeDataError(f"{path}: {series.name} has neither rate nor timestamps; pass frame_rate")
    stamps = np.asarray(
        stamps.timestamps[:] if hasattr(stamps, "timestamps") else stamps[:], dtype=np.float64
    )
    steps = np.diff(stamps)
    if stamps.size != n_frames or stamps.size < 2 or not np.all(np.isfinite(steps)) or np.any(steps <= 0):
        raise SpikebridgeDataError(
            f"{path}: {series.name} timestamps ({stamps.size}) must increase, one per frame ({n_frames})"
        )
    return float(1.0 / np.median(steps))


def _roi_labels(series: Any, n_rois: int, path: Path) -> tuple[np.ndarray | None, np.ndarray | None]:
    """ROI ids and cell flags (plane segmentation ``iscell`` column 0) of the series' ROIs."""
    region = series.rois
    if region is None:
        return None, None
    rows = np.asarray(region.data[:], dtype=np.int64)
    if rows.size != n_rois:
        raise SpikebridgeDataError(f"{path}: {series.name} has {n_rois} ROI columns but {rows.size} rois")
    table = region.table
    ids = np.asarray(table.id[:])[rows]
    if "iscell" not in table.colnames:
        return ids, None
    flags = np.asarray(table["iscell"].data[:])
    flags = flags[:, 0] if flags.ndim == 2 else flags
    return ids, flags[rows].astype(bool)


def read_nwb_ophys(
    path: str | Path,
    series: str | None = None,
    frame_rate: float | None = None,
    name: str | None = None,
    info: RecordingInfo | None = None,
) -> Traces:
    """Read calcium traces (a RoiResponseSeries) from an NWB file.

    Parameters
    ----------
    path : str or Path
        NWB 2 file (HDF5).
    series : str, optional
        The series' name or a trailing part of ``"module/interface/series"``; needed when the
        file holds several series.
    frame_rate : float, optional
        Frames per second; overrides the series' own rate, and is needed when the series has
        neither a rate nor timestamps.
    name, info
        Metadata for the result; ``info`` wins over ``name``.

    Returns
    -------
    Traces
        ``values`` of shape (n_frames, n_rois) as stored (NWB keeps time first); ``kind`` is
        "dF/F" for a DfOverF interface, "F" for Fluorescence; ``roi_ids`` and ``is_cell`` from
        the plane segmentation when it has them.
    """
    path = Path(path)
    with _open_nwb(path) as nwbfile:
        chosen, kind, key = _pick_series(_roi_series(nwbfile), series, path)
        values = np.asarray(chosen.data[:], dtype=np.float32)
        values = values[:, None] if values.ndim == 1 else values  # (frames,) -> (frames, 1)
        if values.ndim != 2 or values.size == 0:
            raise SpikebridgeDataError(f"{path}: {key} must be frames x ROIs, got shape {values.shape}")
        n_bad = int(np.count_nonzero(~np.isfinite(values)))
        if n_bad:
            raise SpikebridgeDataError(f"{path}: {key} holds {n_bad} NaN or infinite values")
        rate = float(frame_rate) if frame_rate is not None else _series_rate(chosen, values.shape[0], path)
        roi_ids, is_cell = _roi_labels(chosen, values.shape[1], path)
        info = _file_info(nwbfile, path, name, info)
    info = info.with_extra(series=key)
    return Traces(values=values, frame_rate=rate, info=info, roi_ids=roi_ids, is_cell=is_cell, kind=kind)
