"""Binning of spike trains into binary population rasters."""

from __future__ import annotations

import numpy as np

from spikebridge.data.types import BinnedSpikes, SpikeTrains
from spikebridge.errors import SpikebridgeDataError


def bin_spikes(
    trains: SpikeTrains,
    bin_size: float = 1e-3,
    t_start: float = 0.0,
    t_stop: float | None = None,
) -> BinnedSpikes:
    """Bin spike trains into a boolean raster.

    A bin is True when the unit spiked at least once in it. Cells that held more than one spike
    are counted in ``n_multi`` so that the loss of information by binarisation is visible.

    Parameters
    ----------
    trains : SpikeTrains
    bin_size : float
        Bin width in seconds (default 1 ms).
    t_start, t_stop : float
        Span to bin, seconds; ``t_stop`` defaults to the recording's duration. Spikes outside
        ``[t_start, t_start + n_bins * bin_size)`` are dropped.

    Returns
    -------
    BinnedSpikes
        ``data`` of shape (n_bins, n_units), ``n_bins = round((t_stop - t_start) / bin_size)``.
    """
    t_stop = trains.duration if t_stop is None else t_stop
    if bin_size <= 0:
        raise SpikebridgeDataError(f"{trains.info.source}: bin size must be positive, got {bin_size}")
    if t_stop <= t_start:
        raise SpikebridgeDataError(f"{trains.info.source}: empty span [{t_start:g}, {t_stop:g}) s")
    n_bins = int(round((t_stop - t_start) / bin_size))
    data = np.zeros((n_bins, trains.n_units), dtype=bool)
    n_multi = 0
    for i, t in enumerate(trains.times):
        idx = np.floor((t - t_start) / bin_size).astype(np.int64)
        idx = idx[(idx >= 0) & (idx < n_bins)]
        if idx.size == 0:
            continue
        data[idx, i] = True
        _, counts = np.unique(idx, return_counts=True)
        n_multi += int(np.count_nonzero(counts > 1))
    return BinnedSpikes(
        data=data,
        bin_size=bin_size,
        t_start=t_start,
        info=trains.info,
        unit_ids=trains.unit_ids,
        n_multi=n_multi,
    )
