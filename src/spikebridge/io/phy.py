"""Reader for phy / Kilosort output folders, through SpikeInterface's extractors.

A phy folder holds ``params.py`` (``sample_rate``, ``dat_path``, ``n_channels_dat``, ``dtype``),
``spike_times.npy`` (sample index of every spike), ``spike_clusters.npy`` (cluster of every spike;
``spike_templates.npy`` when absent) and per-cluster tables such as ``cluster_group.tsv`` (manual
curation: good / mua / noise), ``cluster_KSLabel.tsv`` (Kilosort's own label) or ``cluster_info.tsv``.

The spike arrays are checked here first (lengths, NaN, negative or fractional samples) because
SpikeInterface casts them to integers without looking. SpikeInterface is imported only when a
folder is read. A published folder often lacks ``params.py`` (or its ``sample_rate``): pass the
sampling rate, and the folder is read through a view that adds it.

Clusters are chosen by their curation label (``units``): the manual label of ``cluster_group.tsv``
when set, else Kilosort's ``KSLabel``; "good" keeps good clusters, "good+mua" also multi-unit
activity, "all" every cluster. The label of every kept cluster is in ``unit_meta["quality"]``.
"""

from __future__ import annotations

import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import replace
from pathlib import Path
from typing import Any

import numpy as np

from spikebridge.data.types import RecordingInfo, SpikeTrains
from spikebridge.errors import SpikebridgeConfigError, SpikebridgeDataError
from spikebridge.io._files import load_npy, short_error

_CURATION_FILES = ("cluster_group.tsv", "cluster_group.csv", "cluster_info.tsv", "cluster_info.csv")
UNIT_CHOICES = ("good", "good+mua", "all")


def _check_spike_arrays(folder: Path) -> np.ndarray:
    """Validate ``spike_times.npy`` against ``spike_clusters.npy`` (or ``spike_templates.npy``).

    Returns
    -------
    ndarray of int64
        The distinct cluster ids that have spikes.
    """
    times_path = folder / "spike_times.npy"
    clu_path = folder / "spike_clusters.npy"
    if not clu_path.exists():
        clu_path = folder / "spike_templates.npy"
    if not clu_path.exists():
        raise SpikebridgeDataError(
            f"{folder}: not a phy/Kilosort folder (no spike_clusters.npy, nor spike_templates.npy)"
        )
    times, clusters = load_npy(times_path).ravel(), load_npy(clu_path).ravel()
    for path, arr in ((times_path, times), (clu_path, clusters)):
        if arr.dtype.kind not in "iuf":
            raise SpikebridgeDataError(f"{path}: expected numbers, got {arr.dtype}")
        n_bad = int(np.count_nonzero(~np.isfinite(arr)))
        if n_bad:
            raise SpikebridgeDataError(f"{path}: {n_bad} NaN or infinite values")
        if np.any(arr < 0) or np.any(arr != np.round(arr)):
            raise SpikebridgeDataError(f"{path}: values must be non-negative integers")
    if times.size != clusters.size:
        raise SpikebridgeDataError(
            f"{folder}: spike_times.npy has {times.size} spikes but {clu_path.name} has {clusters.size}"
        )
    return np.unique(clusters).astype(np.int64)


def _sample_rate(folder: Path, sampling_rate: float | None) -> float | None:
    """The sampling rate to impose on the folder: None when ``params.py`` already gives the right one."""
    from spikeinterface.core.core_tools import read_python

    params_path = folder / "params.py"
    stored = None
    if params_path.is_file():
        try:
            stored = read_python(params_path).get("sample_rate")
        except Exception as exc:  # a params.py is Python source: any error can come out of it
            raise SpikebridgeDataError(
                f"{params_path}: not a readable params.py ({short_error(exc)})"
            ) from exc
    if sampling_rate is not None:
        if not np.isfinite(sampling_rate) or sampling_rate <= 0:
            raise SpikebridgeDataError(f"{folder}: sampling rate must be positive, got {sampling_rate}")
        return None if stored == sampling_rate else float(sampling_rate)
    if stored is None:
        where = "has no sample_rate" if params_path.is_file() else "is missing"
        raise SpikebridgeDataError(
            f"{params_path}: {where}; pass the sampling rate (--sampling-rate HZ, or sampling_rate=)"
        )
    return None


@contextmanager
def _with_sample_rate(folder: Path, rate: float | None) -> Iterator[Path]:
    """``folder`` itself, or a temporary view of it (links to its files) whose params.py gives ``rate``."""
    if rate is None:
        yield folder
        return
    with tempfile.TemporaryDirectory(prefix="spikebridge-phy-") as tmp:
        view = Path(tmp)
        for item in folder.iterdir():
            if item.name != "params.py":
                (view / item.name).symlink_to(item.resolve())
        params = (folder / "params.py").read_text() if (folder / "params.py").is_file() else ""
        (view / "params.py").write_text(f"{params}\nsample_rate = {float(rate)!r}\n")
        yield view


def _load_sorting(folder: Path, spiking: np.ndarray, rate: float | None) -> tuple[Any, str]:
    """The SpikeInterface sorting of the folder and the extractor used ("phy" or "kilosort").

    ``spiking`` holds the cluster ids that have spikes; each must be a unit of the sorting. ``rate``
    overrides the sampling rate of ``params.py`` (see :func:`_sample_rate`).
    """
    from spikeinterface.extractors import read_kilosort
    from spikeinterface.extractors import read_phy as si_read_phy

    curated = any((folder / f).exists() for f in _CURATION_FILES)
    try:
        with _with_sample_rate(folder, rate) as path:  # the sorting holds its arrays once built
            if curated:
                sorting = si_read_phy(path, exclude_cluster_groups=None, load_all_cluster_properties=True)
            else:
                sorting = read_kilosort(path, keep_good_only=False)
    except Exception as exc:  # SpikeInterface / pandas raise many types for malformed folders
        raise SpikebridgeDataError(
            f"{folder}: not a readable phy/Kilosort folder ({short_error(exc)})"
        ) from exc
    listed = sorting.get_property("original_cluster_id")
    missing = np.setdiff1d(spiking, sorting.unit_ids if listed is None else listed)
    if missing.size:
        raise SpikebridgeDataError(
            f"{folder}: {missing.size} cluster(s) with spikes are missing from the cluster tables "
            f"(e.g. {missing[0]}); their spikes would be lost"
        )
    return sorting, "phy" if curated else "kilosort"


def _trains(sorting: Any) -> tuple[tuple[np.ndarray, ...], np.ndarray, float]:
    """Per-unit spike times in seconds, the unit ids and the sampling frequency (Hz)."""
    fs = float(sorting.get_sampling_frequency())
    ids = np.asarray(sorting.unit_ids)
    vec = sorting.to_spike_vector()  # structured: sample_index, unit_index, segment_index
    order = np.lexsort((vec["sample_index"], vec["unit_index"]))
    bounds = np.cumsum(np.bincount(vec["unit_index"], minlength=ids.size))[:-1]
    return tuple(np.split(vec["sample_index"][order] / fs, bounds)), ids, fs


def _default_duration(folder: Path, fs: float, trains: tuple[np.ndarray, ...]) -> float:
    """The raw file's length when known, else the last spike time rounded up to the next second."""
    duration = _raw_duration(folder, fs)
    if duration is not None:
        return duration
    last = max((t[-1] for t in trains if t.size), default=None)
    if last is None:
        raise SpikebridgeDataError(f"{folder}: no spikes; pass duration explicitly")
    return float(np.floor(last) + 1.0)


def _unit_meta(sorting: Any, ids: np.ndarray) -> dict[str, np.ndarray]:
    """1-D unit properties; SpikeInterface's ``quality`` goes back to phy's name ``group``."""
    meta: dict[str, np.ndarray] = {}
    for key in sorting.get_property_keys():
        values = np.asarray(sorting.get_property(key))
        if values.ndim != 1 or values.size != ids.size:
            continue
        if key == "original_cluster_id" and np.array_equal(values, ids):
            continue
        if values.dtype == object and all(isinstance(v, str) for v in values):
            values = values.astype(str)
        meta["group" if key == "quality" else key] = values
    return meta


def _raw_duration(folder: Path, fs: float) -> float | None:
    """Length in seconds of the raw binary file named by ``params.py``, when both are present."""
    from spikeinterface.core.core_tools import read_python

    if not (folder / "params.py").is_file():
        return None
    params = read_python(folder / "params.py")
    dat = params.get("dat_path")
    if isinstance(dat, list | tuple) and len(dat) == 1:
        dat = dat[0]
    if not isinstance(dat, str) or "n_channels_dat" not in params:
        return None
    path = Path(dat) if Path(dat).is_absolute() else folder / dat
    if not path.is_file():
        return None
    try:
        itemsize = np.dtype(params.get("dtype", "int16")).itemsize
    except TypeError:
        return None
    n_samples = (path.stat().st_size - int(params.get("offset", 0))) // (
        int(params["n_channels_dat"]) * itemsize
    )
    return n_samples / fs if n_samples > 0 else None


def _labels(meta: dict[str, np.ndarray], n: int) -> np.ndarray:
    """Curation label of every cluster: the manual ``group`` when set, else ``KSLabel``, else "unsorted"."""
    labels = np.full(n, "unsorted", dtype=object)
    if "KSLabel" in meta:
        labels = np.asarray(meta["KSLabel"]).astype(str).astype(object)
    if "group" in meta:
        group = np.asarray(meta["group"]).astype(str)
        manual = ~np.isin(group, ("unsorted", "", "nan"))
        labels[manual] = group[manual]
    return labels.astype(str)


def _keep_mask(
    trains: SpikeTrains, labels: np.ndarray, units: str | None, exclude_noise, good_only
) -> np.ndarray:
    """Clusters kept by the ``units`` choice, or by the older ``exclude_noise`` / ``good_only`` flags."""
    src = trains.info.source
    if units is not None:
        if units not in UNIT_CHOICES:
            raise SpikebridgeConfigError(f"units must be one of {', '.join(UNIT_CHOICES)}, got {units!r}")
        if units != "all" and np.all(labels == "unsorted"):
            raise SpikebridgeDataError(
                f"{src}: --units {units} needs cluster labels (cluster_group.tsv or cluster_KSLabel.tsv)"
            )
        wanted = {"good": ("good",), "good+mua": ("good", "mua"), "all": None}[units]
        return np.ones(labels.size, dtype=bool) if wanted is None else np.isin(labels, wanted)
    meta = trains.unit_meta
    keep = np.ones(trains.n_units, dtype=bool)
    if exclude_noise and "group" in meta:
        keep &= meta["group"] != "noise"
    if good_only:
        label = "group" if "group" in meta and np.any(meta["group"] != "unsorted") else "KSLabel"
        if label not in meta:
            raise SpikebridgeDataError(f"{src}: good_only needs cluster_group.tsv or cluster_KSLabel.tsv")
        keep &= meta[label] == "good"
    return keep


def _select(trains: SpikeTrains, exclude_noise: bool, good_only: bool, units: str | None) -> SpikeTrains:
    """Keep the chosen clusters; record the rule and the labels kept."""
    labels = _labels(trains.unit_meta, trains.n_units)
    keep = _keep_mask(trains, labels, units, exclude_noise, good_only)
    if not keep.any():
        raise SpikebridgeDataError(
            f"{trains.info.source}: no cluster left after choosing units ({units or 'default'})"
        )
    rule = units or ("good" if good_only else "all but noise" if exclude_noise else "all")
    kept, counts = np.unique(labels[keep], return_counts=True)
    info = trains.info.with_extra(
        units=rule, unit_quality={str(k): int(c) for k, c in zip(kept, counts, strict=True)}
    )
    trains = replace(trains, info=info, unit_meta={**trains.unit_meta, "quality": labels})
    return trains if keep.all() else trains.select_units(np.flatnonzero(keep))


def read_phy(
    folder: str | Path,
    exclude_noise: bool = True,
    good_only: bool = False,
    duration: float | None = None,
    name: str | None = None,
    info: RecordingInfo | None = None,
    units: str | None = None,
    sampling_rate: float | None = None,
) -> SpikeTrains:
    """Read the units of a phy or Kilosort output folder.

    Parameters
    ----------
    folder : str or Path
        Folder holding ``spike_times.npy`` and ``spike_clusters.npy`` (or ``spike_templates.npy``),
        usually with ``params.py`` and the cluster tables.
    exclude_noise : bool
        Drop clusters that curation labelled "noise" (``cluster_group.tsv``); ignored with ``units``.
    good_only : bool
        Keep only clusters labelled "good": by curation when present, else by ``KSLabel``; ignored
        with ``units``.
    duration : float, optional
        Recording length in seconds; default: the raw data file's length when ``params.py``
        points to one that exists, else the last spike time rounded up to the next second.
    name, info
        Metadata for the result; ``info`` wins over ``name``.
    units : {"good", "good+mua", "all"}, optional
        Clusters to keep by curation label (manual label, else ``KSLabel``); recorded in
        ``info.extra["units"]`` with the count of each label kept (``info.extra["unit_quality"]``).
    sampling_rate : float, optional
        Sampling rate of ``spike_times.npy`` in Hz; needed when ``params.py`` is missing or has no
        ``sample_rate``, and wins over it when given.

    Returns
    -------
    SpikeTrains
        Spike times in seconds (sample index / sampling rate; the clock starts at sample 0), unit ids
        = cluster ids, cluster table columns (``group``, ``KSLabel``, ...) and the resolved label
        (``quality``) in ``unit_meta``; clusters listed in the tables but without spikes are kept as
        empty trains.
    """
    folder = Path(folder)
    if not (folder / "spike_times.npy").is_file():
        raise SpikebridgeDataError(f"{folder}: not a phy/Kilosort folder (no spike_times.npy)")
    spiking = _check_spike_arrays(folder)
    sorting, extractor = _load_sorting(folder, spiking, _sample_rate(folder, sampling_rate))
    trains, ids, fs = _trains(sorting)
    if duration is None:
        duration = _default_duration(folder, fs, trains)
    if info is None:
        info = RecordingInfo(name=name or folder.name, source=str(folder))
    elif not info.source:
        info = replace(info, source=str(folder))
    info = info.with_extra(sampling_rate=fs, extractor=extractor)
    result = SpikeTrains(trains, duration, info, unit_ids=ids, unit_meta=_unit_meta(sorting, ids))
    return _select(result, exclude_noise, good_only, units)
