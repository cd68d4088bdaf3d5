"""Core data types: spike trains, binned spikes and calcium traces (numpy only).

Every type validates itself on construction and raises :class:`SpikebridgeDataError`
naming the source file and the problem, so no half-valid recording travels further.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field, replace
from typing import Any, Literal

import numpy as np

from spikebridge.errors import SpikebridgeDataError

Preparation = Literal["in_vitro", "in_vivo", "unknown"]
PREPARATIONS = ("in_vitro", "in_vivo", "unknown")


@dataclass(frozen=True)
class RecordingInfo:
    """Metadata of one recording.

    Attributes
    ----------
    name : str
        Short name (catalog name or file stem).
    preparation : {"in_vitro", "in_vivo", "unknown"}
    species, region, lab, session : str
        Free text; empty when unknown.
    source : str
        The file or folder the recording was read from.
    extra : dict
        Anything else a reader knows (electrode pitch, age, ...); JSON-serialisable values.
    """

    name: str
    preparation: str = "unknown"
    species: str = ""
    region: str = ""
    lab: str = ""
    session: str = ""
    source: str = ""
    extra: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if self.preparation not in PREPARATIONS:
            raise SpikebridgeDataError(
                f"{self.source or self.name}: preparation must be one of {PREPARATIONS}, "
                f"got {self.preparation!r}"
            )

    def with_extra(self, **extra: Any) -> RecordingInfo:
        """A copy whose ``extra`` also holds ``extra`` (new keys win)."""
        return replace(self, extra={**self.extra, **extra})

    def to_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "preparation": self.preparation,
            "species": self.species,
            "region": self.region,
            "lab": self.lab,
            "session": self.session,
            "source": self.source,
            "extra": dict(self.extra),
        }


@dataclass(frozen=True)
class SpikeTrains:
    """Spike times of the units of one recording.

    Attributes
    ----------
    times : tuple of ndarray
        One float64 array per unit: spike times in seconds on the recording's clock, sorted, finite
        and non-negative. Units with no spikes hold an empty array.
    duration : float
        Time on that clock at which the recording ends, seconds (its length when the clock starts at
        0, as in most files); every spike time is below it.
    info : RecordingInfo
    unit_ids : ndarray, shape (n_units,)
        Identifier of each unit in the source file.
    unit_meta : dict of str to ndarray
        Per-unit columns (positions, depth, cell class, ...), each of length n_units.
    t_start : float or None
        Time on the clock at which the recording starts (0 for files whose times count from their
        own start); None when the file does not say, in which case the recording is taken to start
        at its first spike (see :attr:`start`).
    """

    times: tuple[np.ndarray, ...]
    duration: float
    info: RecordingInfo
    unit_ids: np.ndarray | None = None
    unit_meta: dict[str, np.ndarray] = field(default_factory=dict)
    t_start: float | None = 0.0

    def __post_init__(self) -> None:
        src = self.info.source or self.info.name
        times = tuple(np.asarray(t, dtype=np.float64).ravel() for t in self.times)
        if len(times) == 0:
            raise SpikebridgeDataError(f"{src}: the recording has zero units")
        if not np.isfinite(self.duration) or self.duration <= 0:
            raise SpikebridgeDataError(f"{src}: duration must be positive, got {self.duration}")
        if self.t_start is not None and not 0 <= self.t_start < self.duration:
            raise SpikebridgeDataError(
                f"{src}: start time {self.t_start:g} s must lie in [0, {self.duration:g}) s"
            )
        first = 0.0 if self.t_start is None else float(self.t_start)
        for i, t in enumerate(times):
            if t.size == 0:
                continue
            if not np.all(np.isfinite(t)):
                raise SpikebridgeDataError(f"{src}: unit {i} has NaN or infinite spike times")
            if t[0] < first:
                where = "a negative spike time" if first == 0 else f"a spike before the start ({first:g} s):"
                raise SpikebridgeDataError(f"{src}: unit {i} has {where} ({t[0]:g} s)")
            if np.any(np.diff(t) < 0):
                raise SpikebridgeDataError(f"{src}: unit {i} has unsorted spike times")
            if t[-1] >= self.duration:
                raise SpikebridgeDataError(
                    f"{src}: unit {i} spikes at {t[-1]:g} s, after the recording's end ({self.duration:g} s)"
                )
        ids = np.arange(len(times)) if self.unit_ids is None else np.asarray(self.unit_ids)
        if ids.shape != (len(times),):
            raise SpikebridgeDataError(f"{src}: {ids.size} unit ids for {len(times)} units")
        for key, col in self.unit_meta.items():
            if len(col) != len(times):
                raise SpikebridgeDataError(
                    f"{src}: unit metadata {key!r} has {len(col)} rows for {len(times)} units"
                )
        object.__setattr__(self, "times", times)
        object.__setattr__(self, "unit_ids", ids)
        object.__setattr__(self, "duration", float(self.duration))
        if self.t_start is not None:
            object.__setattr__(self, "t_start", float(self.t_start))

    @property
    def start(self) -> float:
        """Start of the recording on its clock: ``t_start``, or the first spike when the file gives none."""
        if self.t_start is not None:
            return self.t_start
        firsts = [t[0] for t in self.times if t.size]
        return float(min(firsts)) if firsts else 0.0

    @property
    def length(self) -> float:
        """Recorded time in seconds, ``duration - start``."""
        return self.duration - self.start

    @property
    def n_units(self) -> int:
        return len(self.times)

    @property
    def spike_counts(self) -> np.ndarray:
        """Spikes per unit, shape (n_units,)."""
        return np.array([t.size for t in self.times], dtype=np.int64)

    @property
    def rates(self) -> np.ndarray:
        """Mean firing rate per unit in Hz over the recorded time, shape (n_units,)."""
        return self.spike_counts / self.length

    def select_units(self, index: np.ndarray) -> SpikeTrains:
        """Return the units at ``index`` (in that order)."""
        index = np.asarray(index, dtype=np.int64)
        return replace(
            self,
            times=tuple(self.times[i] for i in index),
            unit_ids=self.unit_ids[index],
            unit_meta={k: np.asarray(v)[index] for k, v in self.unit_meta.items()},
        )

    def window(self, start: float, stop: float) -> SpikeTrains:
        """Spikes in ``[start, stop)`` seconds, re-referenced so that ``start`` becomes 0."""
        src = self.info.source or self.info.name
        if start < 0 or stop <= start:
            raise SpikebridgeDataError(f"{src}: invalid window [{start:g}, {stop:g}) s")
        if stop > self.duration + 1e-9:
            raise SpikebridgeDataError(
                f"{src}: window [{start:g}, {stop:g}) s is longer than the recording ({self.duration:g} s)"
            )
        cut = []
        for t in self.times:
            lo, hi = np.searchsorted(t, [start, stop], side="left")
            cut.append(t[lo:hi] - start)
        return replace(self, times=tuple(cut), duration=float(stop - start), t_start=0.0)


@dataclass(frozen=True)
class BinnedSpikes:
    """A binary population raster.

    Attributes
    ----------
    data : ndarray of bool, shape (n_bins, n_units)
        ``data[t, i]`` is True when unit ``i`` spiked at least once in bin ``t``.
    bin_size : float
        Bin width in seconds.
    t_start : float
        Time of the left edge of bin 0, seconds, in the recording's own clock.
    unit_mask : ndarray of bool, shape (n_units,)
        False for padding columns that hold no real unit (metrics ignore them).
    unit_ids : ndarray, shape (n_units,)
        Source identifier of each column (-1 for padding).
    n_multi : int
        Number of (bin, unit) cells that held more than one spike before binarisation.
    info : RecordingInfo
    """

    data: np.ndarray
    bin_size: float
    t_start: float
    info: RecordingInfo
    unit_mask: np.ndarray | None = None
    unit_ids: np.ndarray | None = None
    n_multi: int = 0

    def __post_init__(self) -> None:
        src = self.info.source or self.info.name
        data = np.asarray(self.data)
        if data.ndim != 2:
            raise SpikebridgeDataError(f"{src}: binned spikes must be 2-D (bins x units), got {data.shape}")
        if data.dtype != np.bool_:
            data = data.astype(bool)
        n = data.shape[1]
        mask = np.ones(n, dtype=bool) if self.unit_mask is None else np.asarray(self.unit_mask, bool)
        ids = np.arange(n) if self.unit_ids is None else np.asarray(self.unit_ids)
        if mask.shape != (n,) or ids.shape != (n,):
            raise SpikebridgeDataError(f"{src}: unit mask / ids do not match {n} units")
        if self.bin_size <= 0:
            raise SpikebridgeDataError(f"{src}: bin size must be positive, got {self.bin_size}")
        object.__setattr__(self, "data", data)
        object.__setattr__(self, "unit_mask", mask)
        object.__setattr__(self, "unit_ids", ids)

    @property
    def n_bins(self) -> int:
        return self.data.shape[0]

    @property
    def n_units(self) -> int:
        return self.data.shape[1]

    @property
    def duration(self) -> float:
        return self.n_bins * self.bin_size

    @property
    def t_stop(self) -> float:
        return self.t_start + self.duration

    @property
    def spike_fraction(self) -> float:
        """Fraction of (bin, real unit) cells holding a spike."""
        real = self.data[:, self.unit_mask]
        return float(real.mean()) if real.size else 0.0

    @property
    def rates(self) -> np.ndarray:
        """Spiking-bin probability per unit, shape (n_units,)."""
        return self.data.mean(axis=0) if self.n_bins else np.zeros(self.n_units)

    def slice_bins(self, start: int, stop: int) -> BinnedSpikes:
        """Bins ``[start, stop)`` as a new raster (a view of the same memory)."""
        return replace(
            self, data=self.data[start:stop], t_start=self.t_start + start * self.bin_size, n_multi=0
        )

    def select_units(self, index: np.ndarray) -> BinnedSpikes:
        index = np.asarray(index, dtype=np.int64)
        return replace(
            self, data=self.data[:, index], unit_mask=self.unit_mask[index], unit_ids=self.unit_ids[index]
        )

    def content_hash(self) -> str:
        """A short hash of the raster and its mask, for provenance records."""
        h = hashlib.sha256()
        h.update(np.packbits(self.data, axis=None).tobytes())
        h.update(self.unit_mask.tobytes())
        h.update(np.float64(self.bin_size).tobytes())
        return h.hexdigest()[:16]


@dataclass(frozen=True)
class Traces:
    """Calcium traces of the ROIs of one imaging session.

    Attributes
    ----------
    values : ndarray of float32, shape (n_frames, n_rois)
    frame_rate : float
        Frames per second.
    info : RecordingInfo
    roi_ids : ndarray, shape (n_rois,)
    is_cell : ndarray of bool, shape (n_rois,)
        Classifier's cell flag (all True when the source has none).
    kind : str
        What the values are: "F", "dF/F", "deconvolved", ...
    """

    values: np.ndarray
    frame_rate: float
    info: RecordingInfo
    roi_ids: np.ndarray | None = None
    is_cell: np.ndarray | None = None
    kind: str = "F"

    def __post_init__(self) -> None:
        src = self.info.source or self.info.name
        values = np.asarray(self.values, dtype=np.float32)
        if values.ndim != 2 or values.shape[1] == 0:
            raise SpikebridgeDataError(
                f"{src}: traces must be 2-D (frames x ROIs) with ROIs, got {values.shape}"
            )
        if not np.isfinite(self.frame_rate) or self.frame_rate <= 0:
            raise SpikebridgeDataError(f"{src}: frame rate must be positive, got {self.frame_rate}")
        n = values.shape[1]
        ids = np.arange(n) if self.roi_ids is None else np.asarray(self.roi_ids)
        cell = np.ones(n, dtype=bool) if self.is_cell is None else np.asarray(self.is_cell, dtype=bool)
        if ids.shape != (n,) or cell.shape != (n,):
            raise SpikebridgeDataError(f"{src}: ROI ids / cell flags do not match {n} ROIs")
        object.__setattr__(self, "values", values)
        object.__setattr__(self, "roi_ids", ids)
        object.__setattr__(self, "is_cell", cell)

    @property
    def n_frames(self) -> int:
        return self.values.shape[0]

    @property
    def n_rois(self) -> int:
        return self.values.shape[1]

    @property
    def duration(self) -> float:
        return self.n_frames / self.frame_rate
