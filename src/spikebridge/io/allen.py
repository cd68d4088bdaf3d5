"""Reader for Allen Brain Observatory Visual Coding two-photon sessions (NWB), without the Allen SDK.

Two layouts are read:

- the published Visual Coding files (NWB 1, HDF5, as the Allen SDK downloads them), read with h5py::

    processing/brain_observatory_pipeline/DfOverF/imaging_plane_1/{data (cells x frames), timestamps}
    processing/brain_observatory_pipeline/Fluorescence/imaging_plane_1/{data, neuropil_traces, r}
    processing/brain_observatory_pipeline/ImageSegmentation/cell_specimen_ids
    stimulus/presentation/<kind>_stimulus/{data, frame_duration (start, end frames), features}

  ``drifting_gratings`` and ``static_gratings`` are feature tables (one column per ``features``
  entry); ``natural_scenes`` and ``locally_sparse_noise`` are image indices;

- NWB 2 conversions (e.g. on DANDI), read with pynwb: dF/F from a ``DfOverF`` RoiResponseSeries
  and one stimulus table per ``TimeIntervals`` (in ``intervals`` or ``stimulus``), in seconds.

Natural movies and spontaneous activity are left out by default, as in the QuantFormer paper
(single-neuron responses to movies cannot be isolated; spontaneous activity has no stimulus).
Sub-sessions (blocks) are found from the gaps between presentations of the same kind.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from spikebridge.data.calcium import CalciumRecording, StimulusTable, blocks_from_gaps
from spikebridge.data.types import RecordingInfo, Traces
from spikebridge.errors import SpikebridgeConfigError, SpikebridgeDataError
from spikebridge.io._files import short_error

PIPELINE = "processing/brain_observatory_pipeline"
SIGNALS = ("dff", "F", "F_corrected")
DEFAULT_EXCLUDE = ("natural_movie", "spontaneous")
BLOCK_GAP_S = 20.0
_META = {
    "session_type": "general/session_type",
    "experiment_container_id": "general/experiment_container_id",
    "ophys_experiment_id": "general/session_id",
    "targeted_structure": "general/optophysiology/imaging_plane_1/location",
    "indicator": "general/optophysiology/imaging_plane_1/indicator",
    "genotype": "general/subject/genotype",
}


def _scalar_text(value: Any) -> str:
    """Text of an HDF5 scalar, bytes or string array (arrays are joined with commas)."""
    if hasattr(value, "id") and hasattr(value, "shape"):  # an h5py dataset
        value = value[()]
    if isinstance(value, bytes):
        return value.decode("utf-8", "replace")
    if isinstance(value, np.ndarray):
        return ",".join(_scalar_text(v) for v in value.ravel())
    return str(value)


def _fmt(value: Any) -> str:
    """A feature value as label text: integers without '.0', NaN as 'blank'."""
    if isinstance(value, bytes | str):
        return _scalar_text(value)
    value = float(value)
    if not np.isfinite(value):
        return "blank"
    return str(int(value)) if value == int(value) else f"{value:g}"


def _labels(kind: str, data: np.ndarray, features: list[str]) -> np.ndarray:
    """One label per presentation: ``kind:f1=v1,f2=v2`` (``kind:blank`` for blank sweeps)."""
    data = data.reshape(len(data), -1)  # (n,) image indices -> (n, 1)
    names = features or ["image"]
    out = []
    for row in data:
        pairs = dict(zip(names, row, strict=False))
        blank = pairs.pop("blank_sweep", 0)
        values = {k: _fmt(v) for k, v in pairs.items()}
        is_blank = (np.isfinite(float(blank)) and float(blank) > 0) or "blank" in values.values()
        out.append(
            f"{kind}:blank" if is_blank else f"{kind}:" + ",".join(f"{k}={v}" for k, v in values.items())
        )
    return np.array(out)


def _frame_rate(timestamps: np.ndarray, path: Path) -> float:
    steps = np.diff(np.asarray(timestamps, dtype=np.float64))
    if steps.size == 0 or not np.all(np.isfinite(steps)) or np.any(steps <= 0):
        raise SpikebridgeDataError(f"{path}: frame timestamps must increase; pass frame_rate")
    return float(1.0 / np.median(steps))


def _blocks(onset: np.ndarray, kind: np.ndarray, frame_rate: float) -> np.ndarray:
    """Blocks: a gap of more than max(5 median inter-onset intervals, 20 s) starts a new one."""
    gaps = [np.median(np.diff(np.sort(onset[kind == k]))) for k in np.unique(kind) if (kind == k).sum() > 1]
    typical = float(max(gaps)) if gaps else 0.0
    return blocks_from_gaps(onset, kind, max(5.0 * typical, BLOCK_GAP_S * frame_rate))


def _excluded(kind: str, exclude: tuple[str, ...]) -> bool:
    return any(kind.startswith(prefix) for prefix in exclude)


def _table(
    rows: list[tuple[np.ndarray, np.ndarray, np.ndarray, str]], rate: float, src: str
) -> StimulusTable:
    """Concatenate (onset, offset, labels, kind) chunks into one time-ordered table."""
    if not rows:
        raise SpikebridgeDataError(f"{src}: no stimulus presentations left after exclusions")
    onset = np.concatenate([r[0] for r in rows]).astype(np.int64)
    offset = np.concatenate([r[1] for r in rows]).astype(np.int64)
    label = np.concatenate([r[2] for r in rows])
    kind = np.concatenate([np.full(len(r[0]), r[3]) for r in rows])
    order = np.argsort(onset, kind="stable")
    onset, offset, label, kind = onset[order], offset[order], label[order], kind[order]
    return StimulusTable(onset, offset, label, kind, _blocks(onset, kind, rate), source=src)


def _v1_traces(f: Any, signal: str, path: Path) -> tuple[np.ndarray, np.ndarray]:
    """(cells x frames) values and frame timestamps of the NWB 1 layout."""
    group = "DfOverF" if signal == "dff" else "Fluorescence"
    key = f"{PIPELINE}/{group}/imaging_plane_1"
    if f"{key}/data" not in f:
        raise SpikebridgeDataError(f"{path}: no {key}/data (not an Allen Visual Coding ophys file)")
    values = np.asarray(f[f"{key}/data"][()], dtype=np.float64)
    if signal == "F_corrected":
        neuropil = np.asarray(f[f"{key}/neuropil_traces"][()], dtype=np.float64)
        r = np.asarray(f[f"{key}/r"][()], dtype=np.float64).reshape(-1, 1)
        values = values - r * neuropil
    stamps = np.asarray(f[f"{key}/timestamps"][()], dtype=np.float64)
    if values.ndim != 2 or values.shape[1] != stamps.size:
        raise SpikebridgeDataError(
            f"{path}: {key}/data is {values.shape}, expected cells x {stamps.size} frames"
        )
    return values, stamps


def _v1_stimuli(f: Any, n_frames: int, rate: float, exclude: tuple[str, ...], path: Path) -> StimulusTable:
    if "stimulus/presentation" not in f:
        raise SpikebridgeDataError(f"{path}: no stimulus/presentation group")
    rows = []
    for name, group in f["stimulus/presentation"].items():
        kind = name.removesuffix("_stimulus")
        if _excluded(kind, exclude) or "frame_duration" not in group or "data" not in group:
            continue
        frames = np.asarray(group["frame_duration"][()], dtype=np.int64).reshape(-1, 2)
        data = np.asarray(group["data"][()])
        features = [_scalar_text(v) for v in group["features"][()]] if "features" in group else []
        if len(data) != len(frames):
            raise SpikebridgeDataError(f"{path}: {name} has {len(data)} rows but {len(frames)} frame spans")
        keep = (frames[:, 0] >= 0) & (frames[:, 0] < n_frames)
        rows.append((frames[keep, 0], frames[keep, 1], _labels(kind, data[keep], features), kind))
    return _table(rows, rate, str(path))


def _v1_info(f: Any, path: Path, name: str | None) -> RecordingInfo:
    extra = {k: _scalar_text(f[v]) for k, v in _META.items() if v in f}
    return RecordingInfo(
        name=name or path.stem,
        preparation="in_vivo",
        species="mouse",
        region=extra.get("targeted_structure", ""),
        lab="Allen Institute for Brain Science",
        session=extra.get("ophys_experiment_id", ""),
        source=str(path),
        extra=extra,
    )


def _read_v1(
    path: Path, signal: str, exclude: tuple[str, ...], frame_rate: float | None, name: str | None
) -> CalciumRecording:
    import h5py

    try:
        with h5py.File(path, "r") as f:
            values, stamps = _v1_traces(f, signal, path)
            rate = float(frame_rate) if frame_rate else _frame_rate(stamps, path)
            seg = f"{PIPELINE}/ImageSegmentation"
            ids_key = next(
                (f"{seg}/{k}" for k in ("cell_specimen_ids", "roi_ids") if f"{seg}/{k}" in f), None
            )
            ids = np.asarray(f[ids_key][()]) if ids_key else None
            stimuli = _v1_stimuli(f, values.shape[1], rate, exclude, path)
            info = _v1_info(f, path, name).with_extra(signal=signal, layout="allen-nwb1")
    except OSError as exc:
        raise SpikebridgeDataError(f"{path}: not a readable HDF5 file ({short_error(exc)})") from exc
    if ids is not None and ids.size != values.shape[0]:
        raise SpikebridgeDataError(f"{path}: {ids.size} cell ids for {values.shape[0]} traces")
    if not np.all(np.isfinite(values)):
        raise SpikebridgeDataError(f"{path}: {signal} traces hold NaN or infinite values")
    kind = "dF/F" if signal == "dff" else "F"
    traces = Traces(values=values.T, frame_rate=rate, info=info, roi_ids=ids, kind=kind)  # (frames, cells)
    return CalciumRecording(traces, stimuli)


def _interval_columns(table: Any) -> list[str]:
    skip = {"start_time", "stop_time", "tags", "timeseries", "tags_index", "timeseries_index"}
    return [c for c in table.colnames if c not in skip]


def _v2_stimuli(
    nwbfile: Any, stamps: np.ndarray, rate: float, exclude: tuple[str, ...], src: str
) -> StimulusTable:
    from pynwb.epoch import TimeIntervals

    tables = {**dict(nwbfile.intervals or {}), **{k: v for k, v in (nwbfile.stimulus or {}).items()}}
    rows = []
    for name, table in tables.items():
        kind = name.removesuffix("_presentations")
        if (
            not isinstance(table, TimeIntervals)
            or _excluded(kind, exclude)
            or kind in ("epochs", "invalid_times")
        ):
            continue
        start = np.asarray(table["start_time"].data[:], dtype=np.float64)
        stop = np.asarray(table["stop_time"].data[:], dtype=np.float64)
        cols = _interval_columns(table)
        data = (
            np.column_stack([np.asarray(table[c].data[:], dtype=object) for c in cols])
            if cols
            else start[:, None]
        )
        onset = np.searchsorted(stamps, start, side="left")
        offset = np.maximum(onset, np.searchsorted(stamps, stop, side="left"))
        keep = onset < stamps.size
        rows.append((onset[keep], offset[keep], _labels(kind, data[keep], cols or ["start"]), kind))
    return _table(rows, rate, src)


def _series_stamps(series: Any, n_frames: int) -> np.ndarray:
    if series.timestamps is not None:
        return np.asarray(series.timestamps[:], dtype=np.float64)
    return float(series.starting_time or 0.0) + np.arange(n_frames) / float(series.rate)


def _read_v2(
    path: Path, series: str | None, exclude: tuple[str, ...], frame_rate: float | None, name: str | None
) -> CalciumRecording:
    from spikebridge.io.nwb import _open_nwb, _pick_series, _roi_series, read_nwb_ophys

    traces = read_nwb_ophys(path, series=series, frame_rate=frame_rate, name=name)
    with _open_nwb(path) as nwbfile:
        chosen, _, _ = _pick_series(_roi_series(nwbfile), series, path)
        stamps = _series_stamps(chosen, traces.n_frames)
        stimuli = _v2_stimuli(nwbfile, stamps, traces.frame_rate, exclude, str(path))
    info = traces.info.with_extra(layout="nwb2")
    return CalciumRecording(Traces(traces.values, traces.frame_rate, info, traces.roi_ids, traces.is_cell,
                                   traces.kind), stimuli)  # fmt: skip


def _is_v1(path: Path) -> bool:
    """True for the NWB 1 layout: the pipeline's groups without an NWB 2 version attribute."""
    import h5py

    try:
        with h5py.File(path, "r") as f:
            version = f.attrs.get("nwb_version", b"")
            version = version.decode() if isinstance(version, bytes) else str(version)
            if version.startswith("2"):
                return False
            return (
                f"{PIPELINE}/DfOverF" in f or f"{PIPELINE}/Fluorescence" in f or "stimulus/presentation" in f
            )
    except OSError as exc:
        raise SpikebridgeDataError(f"{path}: not a readable HDF5/NWB file ({short_error(exc)})") from exc


def read_allen_ophys(
    path: str | Path,
    signal: str = "dff",
    series: str | None = None,
    exclude: tuple[str, ...] = DEFAULT_EXCLUDE,
    frame_rate: float | None = None,
    name: str | None = None,
) -> CalciumRecording:
    """Read an Allen Visual Coding two-photon session: traces and stimulus table.

    Parameters
    ----------
    path : str or Path
        An ``.nwb`` file in the published Visual Coding layout (NWB 1) or an NWB 2 conversion.
    signal : {"dff", "F", "F_corrected"}
        NWB 1 only: the pipeline's dF/F, raw ROI fluorescence, or fluorescence minus ``r`` times
        the neuropil trace. NWB 2 files give the series chosen with ``series``.
    series : str, optional
        NWB 2 only: the RoiResponseSeries to read when the file holds several.
    exclude : tuple of str
        Stimulus kinds left out (prefix match); default: natural movies and spontaneous activity.
    frame_rate : float, optional
        Frames per second; default: from the frame timestamps.
    name : str, optional
        Recording name (default: the file stem).

    Returns
    -------
    CalciumRecording
        ``traces.values`` of shape (n_frames, n_cells), ``traces.roi_ids`` the cell specimen ids;
        ``stimuli`` with onsets in frames, one label per condition, blocks per kind.
    """
    path = Path(path)
    if signal not in SIGNALS:
        raise SpikebridgeConfigError(f"signal must be one of {SIGNALS}, got {signal!r}")
    if not path.is_file():
        raise SpikebridgeDataError(f"{path}: file not found")
    exclude = tuple(exclude)
    if _is_v1(path):
        return _read_v1(path, signal, exclude, frame_rate, name)
    return _read_v2(path, series, exclude, frame_rate, name)


def fetch_allen_session(ophys_experiment_id: int, cache_dir: str | Path) -> Path:
    """Download one Visual Coding session with the Allen SDK (optional; needs ``allensdk`` and internet).

    Returns the path of the downloaded NWB file, which :func:`read_allen_ophys` reads.
    """
    try:
        from allensdk.core.brain_observatory_cache import BrainObservatoryCache
    except ImportError as exc:
        raise SpikebridgeConfigError(
            "downloading Allen sessions needs the optional Allen SDK (pip install allensdk); "
            "reading a downloaded file does not"
        ) from exc
    cache = BrainObservatoryCache(manifest_file=str(Path(cache_dir) / "manifest.json"))
    data = cache.get_ophys_experiment_data(int(ophys_experiment_id))
    return Path(data.nwb_file)
