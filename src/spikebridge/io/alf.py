"""Reader for IBL ALF spike-sorting folders (and sessions fetched with the ONE API).

An ALF folder holds one ``.npy`` file per attribute of an object:

- ``spikes.times.npy`` (seconds) and ``spikes.clusters.npy`` (cluster id of each spike), one row per spike;
- ``clusters.<attribute>.npy``, one row per cluster, row ``i`` describing cluster ``i``.

Files may carry an ALF namespace prefix (``_ibl_spikes.times.npy``) or extra parts
(``clusters.depths.v2.npy``). The cluster table may also come as one ``clusters.npz`` whose
arrays are the columns (as in the shipped IBL example); its ``cluster_id`` column then gives the
cluster ids and its ``label`` column the IBL quality label (1.0 = "good").

Object arrays (string columns such as ``acronym``) are unpickled with a restricted unpickler that
only rebuilds numpy arrays of plain Python values, so a crafted file cannot run code.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import replace
from pathlib import Path
from typing import Any

import numpy as np

from spikebridge.data.types import RecordingInfo, SpikeTrains
from spikebridge.errors import SpikebridgeDataError, SpikebridgeError
from spikebridge.io._files import load_npy, load_npz, short_error

_GOOD_LABEL = 1.0
_ALF_NAME = r"^(?:_[A-Za-z0-9]+_)?{obj}\.([A-Za-z0-9_]+)(?:\.[A-Za-z0-9_-]+)*\.npy$"
_SESSION_PATH = re.compile(
    r"(?P<lab>[^/]+)/Subjects/(?P<subject>[^/]+)/(?P<date>\d{4}-\d{2}-\d{2})/(?P<n>\d+)"
)


def _alf_files(folder: Path, obj: str) -> dict[str, Path]:
    """Map attribute name -> file for the ALF object ``obj`` in ``folder``."""
    pattern = re.compile(_ALF_NAME.format(obj=re.escape(obj)))
    found: dict[str, Path] = {}
    for path in sorted(folder.iterdir()):
        match = pattern.match(path.name)
        if match is None:
            continue
        attr = match.group(1)
        if attr in found:
            other = found[attr].name
            raise SpikebridgeDataError(f"{folder}: two files for {obj}.{attr}: {other}, {path.name}")
        found[attr] = path
    return found


def _as_column(col: Any) -> np.ndarray:
    """A table column as a numpy array; object arrays of strings become unicode arrays."""
    if hasattr(col, "to_numpy"):  # pandas Series
        col = col.to_numpy()
    arr = np.asarray(col)
    if arr.dtype == object and all(isinstance(v, str) for v in arr.ravel()):
        arr = arr.astype(str)
    return arr


def _all_integers(values: np.ndarray) -> bool:
    """True when every value is a finite whole number."""
    return bool(np.all(np.isfinite(values)) and np.all(values == np.round(values)))


def _check_table(table: Mapping[str, Any], source: str) -> dict[str, np.ndarray]:
    """Validate a cluster table: equal row counts, integer unique ``cluster_id`` (added when absent)."""
    cols = {k: _as_column(v) for k, v in table.items()}
    if not cols:
        raise SpikebridgeDataError(f"{source}: the clusters table has no columns")
    lengths = {k: (v.shape[0] if v.ndim else -1) for k, v in cols.items()}
    n_rows = max(lengths.values())
    if len(set(lengths.values())) > 1:
        counts = ", ".join(f"{k} {n}" for k, n in lengths.items())
        raise SpikebridgeDataError(f"{source}: clusters columns have different row counts ({counts})")
    ids = cols.get("cluster_id", np.arange(n_rows))
    if ids.ndim != 1 or ids.dtype.kind not in "iuf" or not _all_integers(ids):
        raise SpikebridgeDataError(f"{source}: cluster_id must be a column of integers")
    if np.unique(ids).size != ids.size:
        raise SpikebridgeDataError(f"{source}: cluster_id holds duplicate ids")
    cols["cluster_id"] = ids.astype(np.int64)
    return cols


def read_alf_clusters(path_or_folder: str | Path) -> dict[str, np.ndarray]:
    """Read the cluster (unit metadata) table of an ALF folder or a ``clusters.npz`` file.

    Parameters
    ----------
    path_or_folder : str or Path
        A ``.npz`` file whose arrays are the columns, or a folder holding ``clusters.npz``
        or ``clusters.<attribute>.npy`` files.

    Returns
    -------
    dict of str to ndarray
        One array per column, all with the same first dimension (n_clusters). ``cluster_id``
        (int64) is always present: taken from the file, else the row number. String columns
        (``acronym``, ``uuids``) are unicode arrays.
    """
    path = Path(path_or_folder)
    table = _cluster_table(path) if path.is_dir() else None
    if path.is_dir() and table is None:
        raise SpikebridgeDataError(f"{path}: no clusters.npz or clusters.*.npy files")
    if table is not None:
        return table
    if not path.exists():
        raise SpikebridgeDataError(f"{path}: file not found")
    if path.suffix != ".npz":
        raise SpikebridgeDataError(f"{path}: expected a .npz cluster table or an ALF folder")
    return _check_table(load_npz(path), str(path))


def _cluster_table(folder: Path) -> dict[str, np.ndarray] | None:
    """The folder's cluster table, or None when it has none."""
    npz = folder / "clusters.npz"
    if npz.exists():
        return _check_table(load_npz(npz), str(npz))
    files = _alf_files(folder, "clusters")
    if not files:
        return None
    return _check_table({attr: load_npy(p) for attr, p in files.items()}, f"{folder}/clusters.*.npy")


def _session_info(folder: Path, name: str | None, info: RecordingInfo | None) -> RecordingInfo:
    """Recording metadata: ``info`` when given (source filled in), else parsed from an IBL session path."""
    if info is not None:
        return info if info.source else replace(info, source=str(folder))
    match = _SESSION_PATH.search(folder.resolve().as_posix())
    lab, session = "", ""
    if match is not None:
        lab = match["lab"]
        session = f"{match['subject']}/{match['date']}/{match['n']}"
    return RecordingInfo(
        name=name or folder.name, preparation="in_vivo", lab=lab, session=session, source=str(folder)
    )


def read_alf(
    folder: str | Path,
    collection: str | None = None,
    good_only: bool = False,
    duration: float | None = None,
    name: str | None = None,
    info: RecordingInfo | None = None,
) -> SpikeTrains:
    """Read the spike-sorted units of an IBL ALF folder.

    Parameters
    ----------
    folder : str or Path
        Session or probe folder.
    collection : str, optional
        Sub-folder holding the files, e.g. ``"alf/probe00"``.
    good_only : bool
        Keep only clusters whose ``label`` is 1.0 (IBL "good"); needs a ``label`` column.
    duration : float, optional
        End of the recording in seconds on the session clock, which then starts at 0; default: the last
        spike time rounded up to the next second, with the start unknown (the analysis window then
        begins at the first spike: ALF spike times are in session time, and no file says when the
        recording began).
    name, info
        Metadata for the result; ``info`` wins over ``name``.

    Returns
    -------
    SpikeTrains
        One unit per cluster of the cluster table (or ``0..max(spikes.clusters)`` without one),
        clusters without spikes kept as empty trains; 1-D table columns go to ``unit_meta``.
    """
    folder = Path(folder) / collection if collection else Path(folder)
    if not folder.is_dir():
        raise SpikebridgeDataError(f"{folder}: ALF folder not found")
    spike_files = _alf_files(folder, "spikes")
    for attr in ("times", "clusters"):
        if attr not in spike_files:
            raise SpikebridgeDataError(f"{folder}: no spikes.{attr}.npy file")
    spikes = {attr: load_npy(spike_files[attr]) for attr in ("times", "clusters")}
    info = _session_info(folder, name, info)
    return alf_to_spike_trains(
        spikes, _cluster_table(folder), good_only=good_only, duration=duration, info=info
    )


def _spike_arrays(spikes: Mapping[str, Any], src: str) -> tuple[np.ndarray, np.ndarray]:
    """Validated (times in s, cluster ids) arrays of the ``spikes`` object."""
    if "times" not in spikes or "clusters" not in spikes:
        raise SpikebridgeDataError(f"{src}: the spikes object needs 'times' and 'clusters'")
    times, clusters = np.asarray(spikes["times"]).ravel(), np.asarray(spikes["clusters"]).ravel()
    if times.dtype.kind not in "iuf" or clusters.dtype.kind not in "iuf":
        raise SpikebridgeDataError(f"{src}: spikes.times and spikes.clusters must be numeric")
    if times.size != clusters.size:
        raise SpikebridgeDataError(
            f"{src}: spikes.times has {times.size} entries but spikes.clusters has {clusters.size}"
        )
    n_bad = int(np.count_nonzero(~np.isfinite(times)))
    if n_bad:
        raise SpikebridgeDataError(f"{src}: spikes.times holds {n_bad} NaN or infinite values")
    if not _all_integers(clusters) or np.any(clusters < 0):
        raise SpikebridgeDataError(f"{src}: spikes.clusters must hold non-negative integers")
    return times.astype(np.float64), clusters.astype(np.int64)


def _rows_of(clusters: np.ndarray, ids: np.ndarray, src: str) -> np.ndarray:
    """Row of ``ids`` that each spike's cluster id refers to."""
    if ids.size == 0:
        raise SpikebridgeDataError(f"{src}: the clusters table has no rows")
    order = np.argsort(ids)
    pos = np.clip(np.searchsorted(ids[order], clusters), 0, ids.size - 1)
    if np.any(ids[order][pos] != clusters):
        missing = np.setdiff1d(clusters, ids)
        raise SpikebridgeDataError(
            f"{src}: spikes.clusters refers to {missing.size} cluster id(s) absent from the clusters table "
            f"(e.g. {missing[0]})"
        )
    return order[pos]


def alf_to_spike_trains(
    spikes: Mapping[str, Any],
    clusters: Mapping[str, Any] | None = None,
    *,
    good_only: bool = False,
    duration: float | None = None,
    info: RecordingInfo,
) -> SpikeTrains:
    """Convert loaded ALF ``spikes`` and ``clusters`` objects to :class:`SpikeTrains`.

    Parameters
    ----------
    spikes : mapping
        ``times`` (seconds, shape (n_spikes,)) and ``clusters`` (cluster id per spike).
    clusters : mapping, optional
        Cluster table, columns of equal length (see :func:`read_alf_clusters`); pandas
        DataFrames among the values (ONE's ``metrics``) are expanded to their columns.
    good_only, duration
        As in :func:`read_alf`.
    info : RecordingInfo
        Metadata of the result; ``info.source`` names the data in error messages.

    Returns
    -------
    SpikeTrains
    """
    src = info.source or info.name
    times, clu = _spike_arrays(spikes, src)
    has_table = clusters is not None and len(clusters) > 0
    table = _check_table(_expand_frames(clusters), src) if has_table else None
    if table is None:
        if clu.size == 0:
            raise SpikebridgeDataError(f"{src}: no spikes and no clusters table")
        table = {"cluster_id": np.arange(clu.max() + 1)}
    ids = table["cluster_id"]
    rows = _rows_of(clu, ids, src)
    t_start: float | None = 0.0
    if duration is None:  # ALF spike times are in session time and no file says when recording began
        if times.size == 0:
            raise SpikebridgeDataError(f"{src}: no spikes; pass duration explicitly")
        duration, t_start = float(np.floor(times.max()) + 1.0), None
    order = np.lexsort((times, rows))
    bounds = np.cumsum(np.bincount(rows, minlength=ids.size))[:-1]
    trains = tuple(np.split(times[order], bounds))
    meta = {k: v for k, v in table.items() if v.ndim == 1 and k != "cluster_id"}
    result = SpikeTrains(
        times=trains, duration=duration, info=info, unit_ids=ids, unit_meta=meta, t_start=t_start
    )
    return _keep_good(result, src) if good_only else result


def _expand_frames(clusters: Mapping[str, Any]) -> dict[str, Any]:
    """Flatten pandas DataFrame values (e.g. ONE's ``clusters.metrics``) into plain columns."""
    out: dict[str, Any] = {}
    for key, value in clusters.items():
        if hasattr(value, "columns") and hasattr(value, "to_numpy"):
            for col in value.columns:
                out.setdefault(str(col), value[col].to_numpy())
        else:
            out[key] = value
    return out


def _keep_good(trains: SpikeTrains, src: str) -> SpikeTrains:
    """Units whose IBL ``label`` is 1.0."""
    if "label" not in trains.unit_meta:
        raise SpikebridgeDataError(f"{src}: good_only needs a 'label' column in the clusters table")
    good = np.flatnonzero(np.isclose(trains.unit_meta["label"].astype(np.float64), _GOOD_LABEL))
    if good.size == 0:
        raise SpikebridgeDataError(f"{src}: no cluster has label {_GOOD_LABEL} (good)")
    return trains.select_units(good)


def _default_one() -> Any:
    """A ONE instance with the user's default settings (imports the optional ONE API)."""
    try:
        from one.api import ONE
    except ImportError as exc:
        raise SpikebridgeError("loading IBL sessions needs the ONE API: pip install ONE-api") from exc
    return ONE()


def load_one_session(
    eid: str,
    probe: str = "probe00",
    one: Any = None,
    collection: str | None = None,
    good_only: bool = False,
    duration: float | None = None,
    name: str | None = None,
    info: RecordingInfo | None = None,
) -> SpikeTrains:
    """Load one probe of an IBL session through the ONE API.

    Parameters
    ----------
    eid : str
        Session id (UUID) or a path understood by ONE.
    probe : str
        Probe label; the default collection is ``alf/<probe>``.
    one : one.api.ONE, optional
        A configured ONE instance; by default ``ONE()`` (needs ``pip install ONE-api``).
    collection : str, optional
        ALF collection holding spikes and clusters, e.g. ``"alf/probe00/pykilosort"``.
    good_only, duration, name, info
        As in :func:`read_alf`.

    Returns
    -------
    SpikeTrains
    """
    one = _default_one() if one is None else one
    collection = collection or f"alf/{probe}"
    source = f"ONE session {eid} ({collection})"
    try:
        spikes = one.load_object(eid, "spikes", collection=collection, attribute=["times", "clusters"])
        clusters = one.load_object(eid, "clusters", collection=collection)
    except Exception as exc:  # ONE raises many types (network, ALF, missing data)
        raise SpikebridgeDataError(f"{source}: could not load spikes/clusters ({short_error(exc)})") from exc
    if info is None:
        info = RecordingInfo(
            name=name or f"{eid}_{probe}", preparation="in_vivo", session=str(eid), source=source
        )
    return alf_to_spike_trains(
        dict(spikes), dict(clusters) or None, good_only=good_only, duration=duration, info=info
    )
