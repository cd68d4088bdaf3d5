"""Own-history baseline: a unit's spike probability given the time since its own last spike.

For every unit, bins are grouped by the number of bins since the unit's last spike (lag 1 = it spiked
in the current bin), in categories bounded by ``edges``; the spike probability of the next bin in each
category is estimated from training counts, shrunk towards the unit's training rate with ``prior``
pseudo-bins: ``(spikes_k + prior * rate) / (bins_k + prior)``. This captures refractoriness, bursting
and rhythmicity of the unit itself, but nothing about the other units.
"""

from __future__ import annotations

import numpy as np

from spikebridge.baselines.base import Baseline
from spikebridge.errors import SpikebridgeConfigError

DEFAULT_EDGES = (1, 2, 3, 4, 5, 6, 8, 10, 15, 20, 30, 50, 100, 200)


def lag_categories(raster: np.ndarray, edges: tuple[int, ...]) -> np.ndarray:
    """Category of the time since each unit's last spike, for every bin.

    Parameters
    ----------
    raster : ndarray, shape (T, N), bool
    edges : tuple of int, increasing
        Category k holds lags in (edges[k-1], edges[k]]; category len(edges) holds longer lags and bins
        before the unit's first spike.

    Returns
    -------
    categories : ndarray, shape (T, N), int16
    """
    t_idx = np.arange(raster.shape[0], dtype=np.int64)[:, None]
    last = np.maximum.accumulate(np.where(raster, t_idx, -1), axis=0)  # (T, N) last spike bin, -1 if none
    lag = np.where(last >= 0, t_idx - last + 1, np.iinfo(np.int64).max)
    return np.searchsorted(np.asarray(edges), lag, side="left").astype(np.int16)


class OwnHistoryBaseline(Baseline):
    """P(spike at t + 1 | time since the unit's own last spike at or before t), per unit.

    Parameters
    ----------
    edges : tuple of int
        Upper edges (in bins) of the time-since-last-spike categories.
    prior : float
        Pseudo-bins of shrinkage towards the unit's training rate.
    chunk_units : int
        Units processed at once (bounds memory).
    floor, seed : see ``Baseline``.
    """

    name = "history"

    def __init__(self, edges=DEFAULT_EDGES, prior: float = 10.0, chunk_units: int = 32, floor=1e-6, seed=0):
        super().__init__(floor=floor, seed=seed)
        edges = tuple(int(e) for e in edges)
        if not edges or edges[0] < 1 or any(b <= a for a, b in zip(edges[:-1], edges[1:], strict=True)):
            raise SpikebridgeConfigError(f"edges must be increasing positive integers, got {edges}")
        if prior < 0:
            raise SpikebridgeConfigError(f"prior must be >= 0, got {prior}")
        self.edges, self.prior, self.chunk_units = edges, float(prior), int(chunk_units)

    @property
    def config(self) -> dict:
        return {**super().config, "edges": list(self.edges), "prior": self.prior}

    def _chunks(self, n_units: int):
        for start in range(0, n_units, self.chunk_units):
            yield slice(start, min(start + self.chunk_units, n_units))

    def _fit(self, train: np.ndarray) -> None:
        n_cat = len(self.edges) + 1
        T, N = train.shape
        rates = train.mean(axis=0)
        table = np.empty((n_cat, N))
        for sl in self._chunks(N):
            cat = lag_categories(train[:-1, sl], self.edges).astype(np.int64)  # (T - 1, n) inputs
            code = cat + n_cat * np.arange(cat.shape[1])[None, :]  # (T - 1, n) unit-specific category
            size = n_cat * cat.shape[1]
            bins = np.bincount(code.ravel(), minlength=size).reshape(-1, n_cat)
            spikes = np.bincount(code.ravel(), weights=train[1:, sl].ravel(), minlength=size).reshape(
                -1, n_cat
            )
            prior_rate = rates[sl][:, None]
            table[:, sl] = ((spikes + self.prior * prior_rate) / np.maximum(bins + self.prior, 1e-12)).T
        table[:, rates == 0] = 0.0  # silent units: the floor
        self.table_ = table  # (n_cat, N) P(spike at t + 1 | category at t)

    def _predict(self, raster: np.ndarray) -> np.ndarray:
        out = np.empty((raster.shape[0] - 1, raster.shape[1]))
        for sl in self._chunks(raster.shape[1]):
            cat = lag_categories(raster[:-1, sl], self.edges)  # (T - 1, n)
            out[:, sl] = np.take_along_axis(self.table_[:, sl], cat.astype(np.intp), axis=0)
        return out
