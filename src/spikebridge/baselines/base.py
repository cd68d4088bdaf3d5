"""The contract shared by all non-neural baselines.

``fit(train, unit_mask)`` learns from a training raster (T, N) bool; ``predict_proba(raster)`` returns
(T - 1, N) probabilities where row t is P(spike at bin t + 1 | bins <= t), the same alignment as the
transformer's teacher-forced output (targets are ``raster[1:]``). Padding columns (``unit_mask`` False)
and units without a training spike get the probability ``floor``.
"""

from __future__ import annotations

from abc import ABC, abstractmethod

import numpy as np

from spikebridge.errors import SpikebridgeConfigError, SpikebridgeDataError


def check_raster(raster: np.ndarray, name: str = "raster", n_units: int | None = None) -> np.ndarray:
    """Return ``raster`` as a (T, N) bool array, refusing other shapes or non-binary values."""
    raster = np.asarray(raster)
    if raster.ndim != 2 or raster.shape[0] < 2:
        raise SpikebridgeDataError(f"{name} must be (T, N) with T >= 2, got shape {raster.shape}")
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

    @abstractmethod
    def _fit(self, train: np.ndarray) -> None:
        """Learn from ``train`` (T, N) bool with padding columns zeroed."""

    @abstractmethod
    def _predict(self, raster: np.ndarray) -> np.ndarray:
        """Return (T - 1, N) probabilities for ``raster`` (T, N) bool with padding columns zeroed."""
