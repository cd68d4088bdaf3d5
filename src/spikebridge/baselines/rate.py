"""Per-unit rate baseline: every bin gets the unit's training spike probability."""

from __future__ import annotations

import numpy as np

from spikebridge.baselines.base import Baseline


class RateBaseline(Baseline):
    """Predict each unit's training spike fraction (spike bins / bins) in every bin.

    Its per-unit ROC-AUC is exactly 0.5 (a constant per unit), yet its pooled ROC-AUC can be high,
    because pooling rewards ranking active units above quiet ones. Every table shows it for that reason.
    Run free (``simulate``), it is an independent Bernoulli process at each unit's training rate: the
    "Poisson" floor of realism comparisons.
    """

    name = "rate"

    def _fit(self, train: np.ndarray) -> None:
        self.rates_ = train.mean(axis=0)  # (N,) spike probability per bin

    def _predict(self, raster: np.ndarray) -> np.ndarray:
        return np.broadcast_to(self.rates_, (raster.shape[0] - 1, raster.shape[1])).copy()

    # free-running simulation: a Bernoulli process at each unit's training rate (no state)
    def _sim_start(self, prefix: np.ndarray) -> None:
        return None

    def _sim_proba(self, state) -> np.ndarray:
        return self.rates_.copy()

    def _sim_push(self, state, spikes: np.ndarray) -> None:
        return None
