"""The contract shared by all non-neural baselines.

``fit(train, unit_mask)`` learns from a training raster (T, N) bool; ``predict_proba(raster)`` returns
(T - 1, N) probabilities where row t is P(spike at bin t + 1 | bins <= t), the same alignment as the
transformer's teacher-forced output (targets are ``raster[1:]``). Padding columns (``unit_mask`` False)
and units without a training spike get the probability ``floor``.

``simulate(prefix, n_steps)`` runs the baseline free: seeded with a real prefix, each next bin is sampled
from the baseline's own probabilities given everything before it and fed back. Subclasses keep an
incremental state (``_sim_start`` / ``_sim_proba`` / ``_sim_push``) so every step costs the same work.
"""

from __future__ import annotations

from abc import ABC, abstractmethod

import numpy as np
from scipy.special import expit, logit

from spikebridge.errors import SpikebridgeConfigError, SpikebridgeDataError


def check_raster(
    raster: np.ndarray, name: str = "raster", n_units: int | None = None, min_bins: int = 2
) -> np.ndarray:
    """Return ``raster`` as a (T, N) bool array with T >= ``min_bins``, refusing other shapes or values."""
    raster = np.asarray(raster)
    if raster.ndim != 2 or raster.shape[0] < min_bins:
        raise SpikebridgeDataError(f"{name} must be (T, N) with T >= {min_bins}, got shape {raster.shape}")
    if n_units is not None and raster.shape[1] != n_units:
        raise SpikebridgeDataError(
            f"{name} has {raster.shape[1]} units, the baseline was fitted on {n_units}"
        )
    if raster.dtype != bool:
        if not np.isin(raster, (0, 1)).all():
            raise SpikebridgeDataError(f"{name} must be binary (bool or 0/1)")
        raster = raster.astype(bool)
    return raster


class Baseline(ABC):
    """Base class: ``fit(train, unit_mask) -> self`` and ``predict_proba(raster) -> (T - 1, N)``.

    Parameters
    ----------
    floor : float
        Smallest (and 1 - largest) probability predicted; padding and silent units get exactly ``floor``.
    seed : int
        Seed of any randomness (subsampling); the same seed gives the same predictions.
    """

    name = "baseline"

    def __init__(self, floor: float = 1e-6, seed: int = 0):
        if not 0.0 < floor < 0.5:
            raise SpikebridgeConfigError(f"floor must be in (0, 0.5), got {floor}")
        self.floor = float(floor)
        self.seed = int(seed)
        self.unit_mask_: np.ndarray | None = None

    @property
    def config(self) -> dict:
        """Constructor arguments and the baseline name (JSON-friendly)."""
        return {"name": self.name, "floor": self.floor, "seed": self.seed}

    def fit(self, train: np.ndarray, unit_mask: np.ndarray | None = None) -> Baseline:
        """Fit on a training raster.

        Parameters
        ----------
        train : ndarray, shape (T, N), bool
            Training bins only.
        unit_mask : ndarray, shape (N,), bool, optional
            False marks padding columns; default all True.

        Returns
        -------
        self
        """
        train = check_raster(train, "train")
        mask = np.ones(train.shape[1], bool) if unit_mask is None else np.asarray(unit_mask, dtype=bool)
        if mask.shape != (train.shape[1],):
            raise SpikebridgeDataError(f"unit_mask must be ({train.shape[1]},), got {mask.shape}")
        self.unit_mask_ = mask
        self.silent_ = ~mask | ~train.any(axis=0)  # (N,) padding or no training spike: predict the floor
        self._fit(train & mask[None, :])
        return self

    def predict_proba(self, raster: np.ndarray) -> np.ndarray:
        """One-step-ahead spike probabilities.

        Parameters
        ----------
        raster : ndarray, shape (T, N), bool
            Bins of the recording to predict (its own past is the input).

        Returns
        -------
        probs : ndarray, shape (T - 1, N), float
            Row t is P(spike at bin t + 1 | bins <= t), clipped to [floor, 1 - floor]; padding columns
            and units without a training spike are exactly ``floor``.
        """
        if self.unit_mask_ is None:
            raise SpikebridgeConfigError(f"{type(self).__name__}.predict_proba called before fit")
        mask = self.unit_mask_
        raster = check_raster(raster, n_units=mask.size) & mask[None, :]
        probs = np.clip(self._predict(raster), self.floor, 1.0 - self.floor)
        probs[:, self.silent_] = self.floor
        return probs

    def simulate(
        self, prefix: np.ndarray, n_steps: int, seed: int = 0, temperature: float = 1.0
    ) -> np.ndarray:
        """Free-running generation seeded with a real prefix; see :meth:`simulate_proba`.

        Returns
        -------
        spikes : ndarray, shape (n_steps, N), bool
        """
        return self.simulate_proba(prefix, n_steps, seed=seed, temperature=temperature)[0]

    def simulate_proba(
        self, prefix: np.ndarray, n_steps: int, seed: int = 0, temperature: float = 1.0
    ) -> tuple[np.ndarray, np.ndarray]:
        """Sample ``n_steps`` bins one at a time, each from the probabilities given all bins before it.

        Parameters
        ----------
        prefix : ndarray, shape (T0, N), bool
            Real bins that seed the state (T0 >= 1); padding columns are zeroed as in ``predict_proba``.
        n_steps : int
            Bins to generate.
        seed : int
            Seed of ``numpy.random.default_rng``; the same seed gives the same spikes.
        temperature : float
            Divides the log-odds of every probability before sampling (1: the model's own; > 1 flatter).

        Returns
        -------
        spikes : ndarray, shape (n_steps, N), bool
            Generated bins; padding columns never spike.
        probs : ndarray, shape (n_steps, N), float
            The probabilities each bin was sampled from. At temperature 1, ``probs[k]`` equals row
            ``T0 - 1 + k`` of ``predict_proba(concatenate([prefix, spikes]))``.
        """
        if self.unit_mask_ is None:
            raise SpikebridgeConfigError(f"{type(self).__name__}.simulate called before fit")
        if not temperature > 0:
            raise SpikebridgeConfigError(f"temperature must be > 0, got {temperature}")
        if int(n_steps) < 0:
            raise SpikebridgeConfigError(f"n_steps must be >= 0, got {n_steps}")
        mask = self.unit_mask_
        prefix = check_raster(prefix, "prefix", mask.size, min_bins=1) & mask[None, :]
        state = self._sim_start(prefix)
        rng = np.random.default_rng(seed)
        spikes = np.zeros((int(n_steps), mask.size), bool)
        probs = np.zeros((int(n_steps), mask.size))
        for k in range(int(n_steps)):
            p = np.clip(self._sim_proba(state), self.floor, 1.0 - self.floor)
            p[self.silent_] = self.floor
            if temperature != 1.0:
                p = expit(logit(p) / temperature)
            probs[k] = p
            spikes[k] = (rng.random(mask.size) < p) & mask
            self._sim_push(state, spikes[k])
        return spikes, probs

    def _sim_start(self, prefix: np.ndarray):
        """State after consuming ``prefix`` (T0, N) bool (padding zeroed); subclasses override."""
        raise NotImplementedError(f"{type(self).__name__} does not simulate")

    def _sim_proba(self, state) -> np.ndarray:
        """(N,) probabilities of the next bin given ``state``, before clipping."""
        raise NotImplementedError(f"{type(self).__name__} does not simulate")

    def _sim_push(self, state, spikes: np.ndarray) -> None:
        """Advance ``state`` by one bin of ``spikes`` (N,) bool."""
        raise NotImplementedError(f"{type(self).__name__} does not simulate")

    @abstractmethod
    def _fit(self, train: np.ndarray) -> None:
        """Learn from ``train`` (T, N) bool with padding columns zeroed."""

    @abstractmethod
    def _predict(self, raster: np.ndarray) -> np.ndarray:
        """Return (T - 1, N) probabilities for ``raster`` (T, N) bool with padding columns zeroed."""
