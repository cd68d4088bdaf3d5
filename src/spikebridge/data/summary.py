"""Summary statistics of a recording that do not need a full raster in memory."""

from __future__ import annotations

from dataclasses import asdict, dataclass

import numpy as np

from spikebridge.data.types import SpikeTrains, Traces


@dataclass(frozen=True)
class RecordingSummary:
    """Headline numbers of one recording.

    Attributes
    ----------
    n_units : int
        Units (spikes) or ROIs (calcium).
    duration_s : float
        Recorded time (for spikes: from the recording's start, or its first spike when the file gives
        no start, to its end).
    mean_rate_hz : float
        Mean firing rate over units (spikes only; NaN for calcium).
    spike_fraction : float
        Fraction of (1 ms bin, unit) cells holding at least one spike (spikes only).
    silent_units : int
        Units with no spike at all.
    multi_spike_cells : int
        (1 ms bin, unit) cells with more than one spike.
    """

    n_units: int
    duration_s: float
    mean_rate_hz: float
    spike_fraction: float
    silent_units: int
    multi_spike_cells: int

    def to_dict(self) -> dict:
        return asdict(self)


def summarize(rec: SpikeTrains | Traces, bin_size: float = 1e-3) -> RecordingSummary:
    """Summarise spike trains (rates, 1 ms spiking-bin fraction) or calcium traces (shape only)."""
    if isinstance(rec, Traces):
        return RecordingSummary(rec.n_rois, rec.duration, float("nan"), float("nan"), 0, 0)
    start = rec.start
    n_bins = max(1, int(round(rec.length / bin_size)))
    occupied = multi = 0
    for t in rec.times:
        if t.size:
            _, counts = np.unique(np.floor((t - start) / bin_size).astype(np.int64), return_counts=True)
            occupied += counts.size
            multi += int(np.count_nonzero(counts > 1))
    counts = rec.spike_counts
    return RecordingSummary(
        n_units=rec.n_units,
        duration_s=rec.length,
        mean_rate_hz=float(rec.rates.mean()),
        spike_fraction=occupied / (n_bins * rec.n_units),
        silent_units=int(np.count_nonzero(counts == 0)),
        multi_spike_cells=multi,
    )
