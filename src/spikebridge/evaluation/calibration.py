"""Probability calibration of spike predictions, fitted on validation bins only.

A model trained with Dice loss outputs scores, not probabilities, so log-likelihood metrics (bits per
spike) are computed on calibrated outputs. Calibration is a monotone map fitted on the validation part
(never on test bins): isotonic regression or Platt scaling (a logistic regression on the logit of the
score). The map is pooled over real units; with ``per_unit=True`` a unit with enough validation spikes
and non-spikes gets its own map, the others use the pooled one.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
from scipy.special import expit, logit
from sklearn.isotonic import IsotonicRegression
from sklearn.linear_model import LogisticRegression

from spikebridge.errors import SpikebridgeConfigError, SpikebridgeDataError

CALIBRATION_METHODS = ("isotonic", "platt", "none")


def _check_inputs(probs: np.ndarray, targets: np.ndarray, unit_mask: np.ndarray) -> tuple:
    probs = np.asarray(probs, dtype=float)
    targets = np.asarray(targets, dtype=bool)
    unit_mask = np.asarray(unit_mask, dtype=bool)
    if probs.ndim != 2 or probs.shape != targets.shape or unit_mask.shape != (probs.shape[1],):
        raise SpikebridgeDataError(
            f"calibration needs probs (T, N), targets (T, N) and unit_mask (N,); got {probs.shape}, "
            f"{targets.shape} and {unit_mask.shape}"
        )
    return probs, targets, unit_mask


@dataclass
class _Calibrator:
    """Shared fit/transform logic; subclasses implement ``_fit_1d`` and ``_apply_1d``."""

    per_unit: bool = False
    min_spikes: int = 100
    max_cells: int = 2_000_000
    eps: float = 1e-6
    seed: int = 0
    pooled_: object = field(default=None, init=False, repr=False)
    unit_models_: dict = field(default_factory=dict, init=False, repr=False)

    method = "base"

    def fit(self, probs: np.ndarray, targets: np.ndarray, unit_mask: np.ndarray) -> _Calibrator:
        """Fit on validation predictions.

        Parameters
        ----------
        probs : ndarray, shape (T, N), float
            Validation outputs of the model (any monotone score).
        targets : ndarray, shape (T, N), bool
            Validation spikes aligned with ``probs``.
        unit_mask : ndarray, shape (N,), bool
            False marks padding columns, which are ignored.

        Returns
        -------
        self
        """
        probs, targets, unit_mask = _check_inputs(probs, targets, unit_mask)
        x, y = probs[:, unit_mask].ravel(), targets[:, unit_mask].ravel()
        if y.all() or not y.any():
            raise SpikebridgeDataError("calibration needs validation bins with and without spikes")
        if x.size > self.max_cells:  # seeded subsample keeps large validation sets fast
            keep = np.random.default_rng(self.seed).choice(x.size, self.max_cells, replace=False)
            x, y = x[keep], y[keep]
        self.pooled_ = self._fit_1d(x, y)
        self.unit_models_ = {}
        if self.per_unit:
            for n in np.flatnonzero(unit_mask):
                n_spk = int(targets[:, n].sum())
                if min(n_spk, targets.shape[0] - n_spk) >= self.min_spikes:
                    self.unit_models_[int(n)] = self._fit_1d(probs[:, n], targets[:, n])
        return self

    def transform(self, probs: np.ndarray) -> np.ndarray:
        """Map scores to calibrated spike probabilities.

        Parameters
        ----------
        probs : ndarray, shape (T, N), float

        Returns
        -------
        calibrated : ndarray, shape (T, N), float in [eps, 1 - eps]
        """
        if self.pooled_ is None:
            raise SpikebridgeConfigError(f"{type(self).__name__}.transform called before fit")
        probs = np.asarray(probs, dtype=float)
        out = self._apply_1d(self.pooled_, probs.ravel()).reshape(probs.shape)
        for n, model in self.unit_models_.items():
            out[:, n] = self._apply_1d(model, probs[:, n])
        return np.clip(out, self.eps, 1.0 - self.eps)

    def to_dict(self) -> dict:
        """JSON-friendly description of the calibrator."""
        return {
            "method": self.method,
            "per_unit": self.per_unit,
            "min_spikes": self.min_spikes,
            "n_unit_models": len(self.unit_models_),
            "eps": self.eps,
        }

    def _fit_1d(self, x: np.ndarray, y: np.ndarray) -> object:
        raise NotImplementedError

    def _apply_1d(self, model: object, x: np.ndarray) -> np.ndarray:
        raise NotImplementedError


@dataclass
class IsotonicCalibrator(_Calibrator):
    """Isotonic regression of spike on score (``sklearn.isotonic.IsotonicRegression``, clipped outside)."""

    method = "isotonic"

    def _fit_1d(self, x: np.ndarray, y: np.ndarray) -> IsotonicRegression:
        iso = IsotonicRegression(y_min=0.0, y_max=1.0, increasing=True, out_of_bounds="clip")
        return iso.fit(x, y.astype(float))

    def _apply_1d(self, model: IsotonicRegression, x: np.ndarray) -> np.ndarray:
        return model.predict(x)


@dataclass
class PlattCalibrator(_Calibrator):
    """Platt scaling: logistic regression of spike on ``logit(clip(score, eps, 1 - eps))``."""

    method = "platt"

    def _logit(self, x: np.ndarray) -> np.ndarray:
        return logit(np.clip(x, self.eps, 1.0 - self.eps))[:, None]

    def _fit_1d(self, x: np.ndarray, y: np.ndarray) -> LogisticRegression:
        return LogisticRegression(C=1e6, max_iter=1000).fit(self._logit(x), y)

    def _apply_1d(self, model: LogisticRegression, x: np.ndarray) -> np.ndarray:
        return expit(model.decision_function(self._logit(x)))


def make_calibrator(method: str, **kwargs) -> _Calibrator | None:
    """Return an unfitted calibrator for ``method`` ("isotonic", "platt") or None for "none".

    Raises
    ------
    SpikebridgeConfigError
        If ``method`` is not one of ``CALIBRATION_METHODS``.
    """
    if method == "isotonic":
        return IsotonicCalibrator(**kwargs)
    if method == "platt":
        return PlattCalibrator(**kwargs)
    if method == "none":
        return None
    raise SpikebridgeConfigError(f"calibration must be one of {CALIBRATION_METHODS}, got {method!r}")
