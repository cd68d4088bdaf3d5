"""Generated spike rasters: several trials of binned activity with their provenance (numpy only)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np

from spikebridge.data.types import RecordingInfo, SpikeTrains
from spikebridge.errors import SpikebridgeDataError


@dataclass(frozen=True)
class GeneratedSpikes:
    """Free-running generated activity: ``K`` trials of ``T`` bins of ``N`` model columns.

    Attributes
    ----------
    spikes : ndarray of bool, shape (n_trials, n_bins, n_units)
        ``spikes[k, t, i]``: column ``i`` spiked in bin ``t`` of trial ``k``.
    bin_size : float
        Bin width in seconds.
    info : RecordingInfo
        Name and preparation (those of the prefix recording); ``source`` is the file once written.
    unit_mask : ndarray of bool, shape (n_units,)
        False for padding columns (they are silent).
    unit_ids : ndarray of int, shape (n_units,)
        Unit id, in the prefix recording, of the unit each column stands for (-1 for padding).
    metadata : dict
        JSON-serialisable provenance: model, checkpoint, prefix recording, seed, temperature,
        package version, ...
    """

    spikes: np.ndarray
    bin_size: float
    info: RecordingInfo
    unit_mask: np.ndarray | None = None
    unit_ids: np.ndarray | None = None
    metadata: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        src = self.info.source or self.info.name
        spikes = np.asarray(self.spikes)
        if spikes.ndim != 3 or 0 in spikes.shape:
            raise SpikebridgeDataError(
                f"{src}: generated spikes must be (trials, bins, units), got {spikes.shape}"
            )
        n = spikes.shape[2]
        mask = np.ones(n, bool) if self.unit_mask is None else np.asarray(self.unit_mask, bool)
        ids = np.arange(n) if self.unit_ids is None else np.asarray(self.unit_ids, dtype=np.int64)
        if mask.shape != (n,) or ids.shape != (n,):
            raise SpikebridgeDataError(f"{src}: unit mask / ids do not match {n} columns")
        if not np.isfinite(self.bin_size) or self.bin_size <= 0:
            raise SpikebridgeDataError(f"{src}: bin size must be positive, got {self.bin_size}")
        object.__setattr__(self, "spikes", spikes.astype(bool, copy=False))
        object.__setattr__(self, "unit_mask", mask)
        object.__setattr__(self, "unit_ids", ids)
        object.__setattr__(self, "bin_size", float(self.bin_size))

    @property
    def n_trials(self) -> int:
        return self.spikes.shape[0]

    @property
    def n_bins(self) -> int:
        """Bins per trial."""
        return self.spikes.shape[1]

    @property
    def n_units(self) -> int:
        return self.spikes.shape[2]

    @property
    def trial_duration(self) -> float:
        """Seconds per trial."""
        return self.n_bins * self.bin_size

    def trial_spans(self) -> list[tuple[float, float]]:
        """``(start, stop)`` seconds of every trial when the trials are laid end to end."""
        d = self.trial_duration
        return [(k * d, (k + 1) * d) for k in range(self.n_trials)]

    def to_trains(self) -> SpikeTrains:
        """All trials laid end to end as spike times in seconds, each at the centre of its bin.

        Binning the result again at ``bin_size`` from time 0 gives back the trials one after another.
        """
        flat = self.spikes.reshape(-1, self.n_units)  # (K * T, N): trial k covers rows k*T .. (k+1)*T - 1
        times = tuple((np.flatnonzero(flat[:, i]) + 0.5) * self.bin_size for i in range(self.n_units))
        return SpikeTrains(
            times=times,
            duration=self.n_trials * self.trial_duration,
            info=self.info,
            unit_ids=np.arange(self.n_units),
        )

    @classmethod
    def from_trains(
        cls,
        trains: SpikeTrains,
        n_trials: int,
        bin_size: float,
        unit_mask: np.ndarray | None = None,
        unit_ids: np.ndarray | None = None,
        metadata: dict[str, Any] | None = None,
    ) -> GeneratedSpikes:
        """Inverse of :meth:`to_trains`: bin spike times from 0 and cut them into ``n_trials`` equal trials."""
        src = trains.info.source or trains.info.name
        total = int(round(trains.duration / bin_size))
        if n_trials < 1 or total % n_trials:
            raise SpikebridgeDataError(f"{src}: {total} bins do not split into {n_trials} equal trials")
        flat = np.zeros((total, trains.n_units), bool)
        for i, t in enumerate(trains.times):
            idx = np.floor(t / bin_size).astype(np.int64)
            flat[idx[(idx >= 0) & (idx < total)], i] = True
        spikes = flat.reshape(n_trials, total // n_trials, trains.n_units)  # (K, T, N)
        return cls(spikes, bin_size, trains.info, unit_mask, unit_ids, dict(metadata or {}))
