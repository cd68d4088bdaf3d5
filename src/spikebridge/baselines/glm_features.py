"""History features of the coupled GLM, in batches and one bin at a time (numpy and scipy only).

Every feature of bin t uses bins <= t only. With ``s_i[t]`` the spike of real unit i in bin t and
``a = exp(-1 / tau)``, a trace is ``x[t] = a * x[t - 1] + s[t]`` (``sum_k a**k s[t - k]``, bin t included).

* shared block (the same for every target unit), columns in this order:
  ``s_i[t]`` for every unit i (if ``lag1``), then one block of R unit traces per ``coupling_taus`` entry,
  then one trace of the population count ``sum_i s_i[t]`` per ``population_taus`` entry;
* own block of each unit: the category of the time since its own last spike (the history baseline's
  ``edges``, one-hot) and its own traces at ``own_taus`` (milliseconds to seconds).

:class:`HistoryState` carries the trace values and lags across calls, so a long raster can be processed
in chunks and a simulation can advance one bin at a time with the same numbers.
"""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

import numpy as np
from scipy.signal import lfilter

from spikebridge.baselines.history import DEFAULT_EDGES, categories_of, check_edges, lags_since_spike
from spikebridge.errors import SpikebridgeConfigError

# Units whose traces are filtered together: whole (R, T) float64 arrays of long rasters cost more in
# fresh memory pages than in filtering (about 6x slower for 128 units and 270 000 bins).
_UNIT_BLOCK = 8


def _taus(name: str, values) -> tuple[float, ...]:
    taus = tuple(float(t) for t in values)
    if any(not t > 0 for t in taus):
        raise SpikebridgeConfigError(f"{name} must be positive time constants in bins, got {taus}")
    return taus


@dataclass(frozen=True)
class FeatureSpec:
    """Which history features the coupled GLM sees (time constants in bins: ms at 1 ms binning).

    Attributes
    ----------
    lag1 : bool
        Include every unit's spike in the current bin as a coupling feature.
    coupling_taus : tuple of float
        Time constants of the per-unit traces that couple units.
    population_taus : tuple of float
        Time constants of the traces of the summed population count (network state).
    own_taus : tuple of float
        Time constants of each unit's traces of its own spikes.
    edges : tuple of int
        Time-since-last-spike categories of the own block (as ``OwnHistoryBaseline``).
    """

    lag1: bool = True
    coupling_taus: tuple[float, ...] = (4.0, 16.0)
    population_taus: tuple[float, ...] = (10.0, 100.0, 1000.0)
    own_taus: tuple[float, ...] = (16.0, 100.0, 1000.0)
    edges: tuple[int, ...] = DEFAULT_EDGES

    def __post_init__(self) -> None:
        for name in ("coupling_taus", "population_taus", "own_taus"):
            object.__setattr__(self, name, _taus(name, getattr(self, name)))
        object.__setattr__(self, "edges", check_edges(self.edges))
        object.__setattr__(self, "lag1", bool(self.lag1))
        if not self.lag1 and not self.coupling_taus:
            raise SpikebridgeConfigError("coupling features: set lag1 or give coupling_taus")

    @property
    def n_blocks(self) -> int:
        """Coupling columns per unit in the shared block."""
        return int(self.lag1) + len(self.coupling_taus)

    @property
    def n_categories(self) -> int:
        return len(self.edges) + 1

    def n_shared(self, n_units: int) -> int:
        """Columns of the shared block for ``n_units`` real units."""
        return self.n_blocks * n_units + len(self.population_taus)

    def to_dict(self) -> dict:
        return {
            "lag1": self.lag1,
            "coupling_taus": list(self.coupling_taus),
            "population_taus": list(self.population_taus),
            "own_taus": list(self.own_taus),
            "edges": list(self.edges),
        }


@dataclass(frozen=True)
class Features:
    """Features of T consecutive bins of R real units, time along the last axis (filters run along
    contiguous rows and nothing is transposed).

    Attributes
    ----------
    shared : ndarray, shape (F_shared, T), float32
    categories : ndarray, shape (R, T), int16
    own : ndarray, shape (n_own, R, T), float32
    """

    shared: np.ndarray
    categories: np.ndarray
    own: np.ndarray


class HistoryState:
    """Trace values and lags after the bins consumed so far.

    Initially no unit has spiked (lags beyond the last edge) and every trace sits at its stationary mean
    for the given per-bin spike ``rates`` (``rate / (1 - a)``; zero without rates), so that predicting a
    raster from its own past does not start from traces that have forgotten seconds of activity.

    Parameters
    ----------
    spec : FeatureSpec
    n_units : int
        Real units R.
    rates : ndarray, shape (R,), optional
        Spike probability per bin of each unit (training rates).
    """

    def __init__(self, spec: FeatureSpec, n_units: int, rates: np.ndarray | None = None):
        self.spec, self.n_units = spec, int(n_units)
        unit_taus = sorted(set(spec.coupling_taus) | set(spec.own_taus))
        self.unit_taus = np.array(unit_taus, dtype=float)  # (K,)
        self.pop_taus = np.array(spec.population_taus, dtype=float)  # (P,)
        rates = np.zeros(self.n_units) if rates is None else np.asarray(rates, dtype=float)
        gain_unit = 1.0 / -np.expm1(-1.0 / self.unit_taus)  # (K,) 1 / (1 - a)
        self.unit_traces = gain_unit[:, None] * rates[None, :]  # (K, R)
        self.pop_traces = rates.sum() / -np.expm1(-1.0 / self.pop_taus)  # (P,)
        self.last = np.zeros(self.n_units, bool)  # (R,) spikes of the latest bin
        self.since = np.full(self.n_units, spec.edges[-1] + 1, np.int64)  # (R,) lag, capped
        self._coupling_idx = [unit_taus.index(t) for t in spec.coupling_taus]
        self._own_idx = [unit_taus.index(t) for t in spec.own_taus]
        self._decay_unit = np.exp(-1.0 / self.unit_taus)[:, None]  # (K, 1)
        self._decay_pop = np.exp(-1.0 / self.pop_taus)  # (P,)
        cap = spec.edges[-1] + 1
        self._cat_of_lag = categories_of(np.arange(cap + 1), spec.edges)  # lag (capped) -> category

    def consume(self, raster: np.ndarray) -> None:
        """Advance the state over ``raster`` (T, R) bool without building features: O(T R) work."""
        raster = np.asarray(raster, dtype=bool)
        T = raster.shape[0]
        if T == 0:
            return
        s = raster.astype(np.float64)  # (T, R)
        age = np.arange(T - 1, -1, -1, dtype=np.float64)  # bins from each row to the last one
        unit_w = np.exp(-age[None, :] / self.unit_taus[:, None])  # (K, T)
        self.unit_traces = self._decay_unit**T * self.unit_traces + unit_w @ s
        pop_w = np.exp(-age[None, :] / self.pop_taus[:, None])  # (P, T)
        self.pop_traces = self._decay_pop**T * self.pop_traces + pop_w @ s.sum(axis=1)
        self.since = np.minimum(lags_since_spike(raster, self.since)[-1], self.spec.edges[-1] + 1)
        self.last = raster[-1].copy()

    def advance(self, raster: np.ndarray, workers: int = 1) -> Features:
        """Features of every bin of ``raster`` (T, R) bool, continuing from this state; updates it.

        ``workers`` threads filter the unit traces (SciPy's filter releases the GIL).
        """
        raster_t = np.ascontiguousarray(np.asarray(raster, dtype=bool).T)  # (R, T)
        spec, (R, T) = self.spec, raster_t.shape
        shared = np.empty((spec.n_shared(R), T), np.float32)
        own = np.empty((len(spec.own_taus), R, T), np.float32)
        if spec.lag1:
            shared[:R] = raster_t

        categories = np.empty((R, T), self._cat_of_lag.dtype)
        since = self.since.copy()

        def unit_block(lo: int) -> None:  # a few units at a time: small buffers, reused
            rows = slice(lo, min(lo + _UNIT_BLOCK, R))
            lags = lags_since_spike(raster_t[rows], self.since[rows], axis=1)  # (B, T)
            np.minimum(lags, spec.edges[-1] + 1, out=lags)
            categories[rows] = self._cat_of_lag[lags]
            if T:
                since[rows] = lags[:, -1]
            s = raster_t[rows].astype(np.float64)  # (B, T)
            for k in range(self.unit_taus.size):
                trace = self._trace(s, self.unit_taus[k], self.unit_traces[k, rows])  # (B, T)
                for block, j in enumerate(self._coupling_idx, start=int(spec.lag1)):
                    if j == k:
                        shared[block * R + rows.start : block * R + rows.stop] = trace
                for slot, j in enumerate(self._own_idx):
                    if j == k:
                        own[slot, rows] = trace
                if T:
                    self.unit_traces[k, rows] = trace[:, -1]

        with ThreadPoolExecutor(max(1, int(workers))) as pool:
            list(pool.map(unit_block, range(0, R, _UNIT_BLOCK)))
        count = raster_t.sum(axis=0, dtype=np.float64)[None, :]  # (1, T) population count
        for k, tau in enumerate(self.pop_taus):
            trace = self._trace(count, tau, self.pop_traces[k : k + 1])[0]  # (T,)
            shared[spec.n_blocks * R + k] = trace
            if T:
                self.pop_traces[k] = trace[-1]
        self.since = since
        if T:
            self.last = raster_t[:, -1].copy()
        return Features(shared, categories, own)

    def step(self, spikes: np.ndarray) -> None:
        """Consume one bin of ``spikes`` (R,) bool: constant work per bin."""
        s = np.asarray(spikes, dtype=np.float64)
        self.unit_traces = self._decay_unit * self.unit_traces + s
        self.pop_traces = self._decay_pop * self.pop_traces + s.sum()
        self.last = np.asarray(spikes, bool).copy()
        self.since = np.minimum(np.where(self.last, 1, self.since + 1), self.spec.edges[-1] + 1)

    def current(self) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Features of the latest consumed bin: shared (F_shared,), categories (R,), own (n_own, R)."""
        blocks = ([self.last.astype(np.float64)] if self.spec.lag1 else []) + [
            self.unit_traces[k] for k in self._coupling_idx
        ]
        shared = np.concatenate([*blocks, self.pop_traces])
        categories = self._cat_of_lag[self.since]
        return shared, categories, self.unit_traces[self._own_idx]

    @staticmethod
    def _trace(s: np.ndarray, tau: float, previous: np.ndarray) -> np.ndarray:
        """``x[t] = a x[t-1] + s[t]`` along the rows of ``s`` (C, T), starting from ``previous`` (C,)."""
        a = np.exp(-1.0 / tau)
        out, _ = lfilter([1.0], [1.0, -a], s, axis=1, zi=(a * previous)[:, None])
        return out
