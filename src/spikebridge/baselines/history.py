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


def check_edges(edges) -> tuple[int, ...]:
    """``edges`` as a tuple of increasing positive ints, or a SpikebridgeConfigError naming it."""
    edges = tuple(int(e) for e in edges)
    if not edges or edges[0] < 1 or any(b <= a for a, b in zip(edges[:-1], edges[1:], strict=True)):
        raise SpikebridgeConfigError(f"edges must be increasing positive integers, got {edges}")
    return edges


def lags_since_spike(raster: np.ndarray, since: np.ndarray | None = None, axis: int = 0) -> np.ndarray:
    """Bins since each unit's last spike at or before every bin (1 = it spiked in that bin).

    Parameters
    ----------
    raster : ndarray, shape (T, N) (or (N, T) with ``axis=1``), bool
    since : ndarray, shape (N,), int, optional
        Lag at the bin just before the first one (the state carried over from earlier bins); default:
        no earlier spike, counted as a lag of 2**40 bins.
    axis : int
        The time axis of ``raster``.

    Returns
    -------
    lags : ndarray, shaped as ``raster``, int64
    """
    raster = np.moveaxis(raster, axis, 0)  # (T, N) view
    T, N = raster.shape
    start = np.full(N, 2**40, np.int64) if since is None else np.asarray(since, np.int64)
    t_idx = np.arange(T, dtype=np.int64)[:, None]
    last = np.where(raster, t_idx, -start[None, :])  # (T, N) spike bins, else before the start
    np.maximum.accumulate(last, axis=0, out=last)  # (T, N) last spike bin
    np.subtract(t_idx + 1, last, out=last)  # (T, N) lags, in place
    return np.moveaxis(last, 0, axis)


def categories_of(lags: np.ndarray, edges: tuple[int, ...]) -> np.ndarray:
    """Category of each lag (int array, >= 1): index of the first edge >= lag, len(edges) beyond them."""
    cap = edges[-1] + 1
    table = np.searchsorted(np.asarray(edges), np.arange(cap + 1), side="left").astype(np.int16)
    return table[np.minimum(lags, cap)]


def lag_categories(raster: np.ndarray, edges: tuple[int, ...], since: np.ndarray | None = None) -> np.ndarray:
    """Category of the time since each unit's last spike, for every bin.

    Parameters
    ----------
    raster : ndarray, shape (T, N), bool
    edges : tuple of int, increasing
        Category k holds lags in (edges[k-1], edges[k]]; category len(edges) holds longer lags and bins
        before the unit's first spike.
    since : ndarray, shape (N,), int, optional
        See :func:`lags_since_spike`.

    Returns
    -------
    categories : ndarray, shape (T, N), int16
    """
    return categories_of(lags_since_spike(raster, since), edges)


def category_table(
    categories: np.ndarray, targets: np.ndarray, n_cat: int, prior: float, rates: np.ndarray | None = None
) -> np.ndarray:
    """P(spike in the next bin | category), per unit, shrunk towards the unit's rate.

    Parameters
    ----------
    categories : ndarray, shape (T, N), int
        Category of every input bin.
    targets : ndarray, shape (T, N), bool
        Spike in the bin after each input bin.
    n_cat : int
    prior : float
        Pseudo-bins at the unit's rate added to every category.
    rates : ndarray, shape (N,), optional
        The units' rates (default: the mean of ``targets``).

    Returns
    -------
    table : ndarray, shape (n_cat, N)
        ``(spikes_k + prior * rate) / (bins_k + prior)``; 0 for units without a spike.
    """
    N = categories.shape[1]
    rates = targets.mean(axis=0) if rates is None else np.asarray(rates, dtype=float)
    table = np.zeros((n_cat, N))
    for n in range(N):  # one unit at a time: no (T, N) temporaries
        cat = categories[:, n].astype(np.intp)
        bins = np.bincount(cat, minlength=n_cat)
        spikes = np.bincount(cat, weights=targets[:, n], minlength=n_cat)
        if rates[n] > 0:  # silent units keep 0: the floor
            table[:, n] = (spikes + prior * rates[n]) / np.maximum(bins + prior, 1e-12)
    return table


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
        if prior < 0:
            raise SpikebridgeConfigError(f"prior must be >= 0, got {prior}")
        self.edges, self.prior, self.chunk_units = check_edges(edges), float(prior), int(chunk_units)

    @property
    def config(self) -> dict:
        return {**super().config, "edges": list(self.edges), "prior": self.prior}

    def _chunks(self, n_units: int):
        for start in range(0, n_units, self.chunk_units):
            yield slice(start, min(start + self.chunk_units, n_units))

    def _fit(self, train: np.ndarray) -> None:
        n_cat = len(self.edges) + 1
        table = np.empty((n_cat, train.shape[1]))
        for sl in self._chunks(train.shape[1]):
            cat = lag_categories(train[:-1, sl], self.edges)  # (T - 1, n) categories of the inputs
            table[:, sl] = category_table(cat, train[1:, sl], n_cat, self.prior, train[:, sl].mean(axis=0))
        self.table_ = table  # (n_cat, N) P(spike at t + 1 | category at t); silent units 0: the floor

    def _predict(self, raster: np.ndarray) -> np.ndarray:
        out = np.empty((raster.shape[0] - 1, raster.shape[1]))
        for sl in self._chunks(raster.shape[1]):
            cat = lag_categories(raster[:-1, sl], self.edges)  # (T - 1, n)
            out[:, sl] = np.take_along_axis(self.table_[:, sl], cat.astype(np.intp), axis=0)
        return out

    # free-running simulation: the state is each unit's lag since its last spike
    def _sim_start(self, prefix: np.ndarray) -> dict:
        return {"since": self._cap(lags_since_spike(prefix)[-1])}

    def _sim_proba(self, state: dict) -> np.ndarray:
        cat = categories_of(state["since"], self.edges)  # (N,)
        return self.table_[cat, np.arange(cat.size)]

    def _sim_push(self, state: dict, spikes: np.ndarray) -> None:
        state["since"] = self._cap(np.where(spikes, 1, state["since"] + 1))

    def _cap(self, lag: np.ndarray) -> np.ndarray:
        """Lags beyond the last edge all fall in the last category; capping keeps them bounded."""
        return np.minimum(lag, self.edges[-1] + 1)
