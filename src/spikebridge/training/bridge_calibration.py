"""Per-unit shrinkage of the bridge model's logits towards each unit's training rate, chosen on validation.

Training minimises the loss pooled over units, which the units with many spikes dominate. A unit with
few spikes and little to predict (the usual case in a slice, where most units fire at 1-3 Hz with no
structure the training part shows reliably) can then end up with time-varying probabilities that do
worse, for that unit, than its constant training rate. After training, each unit's logit ``z`` is
replaced by ``a + s (z - a)``, where ``a`` is the logit of the unit's training spike probability and
``s`` the value of a grid in ``(0, 1]`` with the highest log-likelihood on that unit's validation bins.
``s = 1`` leaves the model unchanged; small ``s`` keeps the unit close to its training rate. Since
``s > 0``, the ranking of every unit's bins (its ROC-AUC) does not change.

The shrinkage describes the training recording's units (one value per column): it applies with the
per-column part and not when the model runs on another recording (``columns=False``).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from spikebridge.errors import SpikebridgeConfigError
from spikebridge.models.bridge import BridgeModel
from spikebridge.training.bridge_data import FeatureBank
from spikebridge.training.bridge_warm import window_starts

SHRINK_GRID = (0.05, 0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9, 1.0)
RATE_FLOOR = 1e-6  # spike probability per bin below which a unit's anchor is clipped


@dataclass(frozen=True)
class Calibration:
    """Outcome of :func:`calibrate_columns`.

    Attributes
    ----------
    scale : ndarray ``(N,)``
        Chosen shrinkage of each column (1 for padding columns).
    anchor : ndarray ``(N,)``
        Logit of each column's training spike probability (0 for padding columns).
    gain_bits : ndarray ``(N,)``
        Validation log-likelihood gained by the chosen shrinkage over none, in bits per validation
        spike of the unit (0 for padding columns and units without a validation spike).
    """

    scale: np.ndarray
    anchor: np.ndarray
    gain_bits: np.ndarray


def training_anchor(train: np.ndarray, unit_mask: np.ndarray) -> np.ndarray:
    """Logit of every real unit's spike probability per bin in ``train`` ``(T, N)`` (0 for padding)."""
    rate = np.clip(np.asarray(train, dtype=bool).mean(0), RATE_FLOOR, 1 - RATE_FLOOR)
    return np.where(np.asarray(unit_mask, dtype=bool), np.log(rate) - np.log1p(-rate), 0.0)


def check_shrink_grid(grid) -> tuple[float, ...]:
    """``grid`` as a tuple of floats, or a SpikebridgeConfigError unless every value lies in (0, 1]."""
    values = tuple(float(v) for v in grid)
    if any(not 0 < v <= 1 for v in values):
        raise SpikebridgeConfigError(f"calibrate shrinkages must lie in (0, 1], got {values}")
    return values


@torch.no_grad()
def calibrate_columns(
    model: BridgeModel,
    bank: FeatureBank,
    unit_mask: np.ndarray,
    anchor: np.ndarray,
    val_range: tuple[int, int],
    grid: tuple[float, ...] = SHRINK_GRID,
    length: int = 1024,
) -> Calibration:
    """Choose each unit's shrinkage on the validation bins and write it into ``model``.

    Parameters
    ----------
    model : BridgeModel
        Trained, with per-column parameters (``config.columns``).
    bank : FeatureBank
        Features of the training and validation parts.
    unit_mask : ndarray ``(N,)`` bool
    anchor : ndarray ``(N,)``
        Logits the shrinkage pulls towards (:func:`training_anchor`).
    val_range : (int, int)
        Target bins ``[first, last)`` of the validation part in ``bank``.
    grid : tuple of float
        Candidate shrinkages, each in ``(0, 1]``; 1 (no shrinkage) is always a candidate.
    length : int
        Bins per forward pass.
    """
    if not model.config.columns:
        raise SpikebridgeConfigError("the shrinkage is per column: the model has no per-column part")
    grid_t = torch.tensor(sorted({*check_shrink_grid(grid), 1.0}), dtype=torch.float64)  # 1: unshrunk
    n = model.config.n_units
    real = torch.as_tensor(np.asarray(unit_mask, dtype=bool))
    a = torch.as_tensor(np.asarray(anchor, dtype=np.float64))
    was_training = model.training
    model.eval()
    ll = torch.zeros(grid_t.numel(), n, dtype=torch.float64)  # log-likelihood (nats) per shrinkage, unit
    spikes = torch.zeros(n, dtype=torch.float64)
    first, last = val_range
    length = min(length, last - first)
    for start in window_starts(first, last, length, last - first):
        w = bank.window(int(start), length)
        shared, column, _ = model.parts({k: v[None] for k, v in w.items()})
        z = (shared + column)[0].double()  # (W, N)
        y = w["targets"].double()
        shrunk = a + grid_t[:, None, None] * (z - a)  # (G, W, N)
        ll -= torch.nn.functional.binary_cross_entropy_with_logits(
            shrunk, y.expand_as(shrunk), reduction="none"
        ).sum(1)
        spikes += y.sum(0)
    best = ll.argmax(0)
    scale = torch.where(real, grid_t[best], torch.ones(n, dtype=torch.float64))
    gain = (ll[best, torch.arange(n)] - ll[-1]) / np.log(2) / spikes.clamp_min(1.0)
    gain = torch.where(real & (spikes > 0), gain, torch.zeros_like(gain))
    model.calibration_scale.copy_(scale.float())
    model.calibration_anchor.copy_(torch.where(real, a, torch.zeros_like(a)).float())
    model.train(was_training)
    return Calibration(scale.numpy(), model.calibration_anchor.double().numpy(), gain.numpy())
