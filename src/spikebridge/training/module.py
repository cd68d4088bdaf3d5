"""Lightning module training a stateless model (``forward(x) -> logits``) on raster windows, and validation metrics."""

from __future__ import annotations

import math
from typing import Any

import lightning as L
import numpy as np
import torch

from spikebridge.errors import SpikebridgeError
from spikebridge.evaluation.metrics import per_unit_roc_auc, pooled_roc_auc
from spikebridge.models.registry import by_config
from spikebridge.training.losses import get_loss


def auc_metrics(probs: np.ndarray, targets: np.ndarray, unit_mask: np.ndarray) -> dict[str, float]:
    """Pooled and per-unit ROC-AUC over the masked units.

    Parameters
    ----------
    probs, targets : ndarray ``(T, N)``
        Predicted probabilities and 0/1 targets.
    unit_mask : ndarray ``(N,)`` bool

    Returns
    -------
    dict with ``val_auc`` (pooled over bins and units), ``val_auc_unit_mean`` (mean over units having
    both spikes and silences), ``n_units_scored`` and ``n_units_skipped``; AUCs are NaN when undefined.
    """
    unit_mask = np.asarray(unit_mask, dtype=bool)
    per_unit = per_unit_roc_auc(probs, targets, unit_mask)[unit_mask]
    scored = per_unit[np.isfinite(per_unit)]
    return {
        "val_auc": float(pooled_roc_auc(probs, targets, unit_mask)),
        "val_auc_unit_mean": float(scored.mean()) if scored.size else math.nan,
        "n_units_scored": int(scored.size),
        "n_units_skipped": int(unit_mask.sum() - scored.size),
    }


class SpikeTransformerModule(L.LightningModule):
    """Trains a registered stateless model (the spike transformer) on ``(inputs, targets)`` windows ``(B, W, N)``.

    Parameters
    ----------
    model_config : frozen config of a registered architecture (e.g. ``SpikeTransformerConfig``)
    loss, loss_kwargs : str, dict
        Loss name and arguments for :func:`~spikebridge.training.losses.get_loss`.
    lr, weight_decay : float
        AdamW settings.
    unit_mask : ndarray ``(N,)`` bool
        Units counted by the loss and the metrics.
    """

    def __init__(
        self,
        model_config,
        loss: str,
        loss_kwargs: dict[str, Any],
        lr: float,
        weight_decay: float,
        unit_mask: np.ndarray,
    ) -> None:
        super().__init__()
        self.model = by_config(model_config).build(model_config)
        self.loss_fn = get_loss(loss, **loss_kwargs)
        self.lr, self.weight_decay = lr, weight_decay
        self.register_buffer("unit_mask", torch.as_tensor(np.asarray(unit_mask, dtype=bool)))
        self._train_sum, self._train_count = 0.0, 0
        self._val_sum, self._val_count = 0.0, 0
        self._val_probs: list[np.ndarray] = []
        self._val_targets: list[np.ndarray] = []
        self.epoch_metrics: dict[str, float] = {}

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Logits ``(B, T, N)`` for raster ``(B, T, N)``."""
        return self.model(x)

    def training_step(self, batch: tuple[torch.Tensor, torch.Tensor], batch_idx: int) -> torch.Tensor:
        x, y = batch  # (B, W, N) each
        loss = self.loss_fn(self.model(x).float(), y, self.unit_mask)
        if not torch.isfinite(loss):
            raise SpikebridgeError(
                f"training loss became {loss.item()} at epoch {self.current_epoch}, batch {batch_idx}; "
                "lower the learning rate or use precision '32' (the best checkpoint was kept)"
            )
        self._train_sum += loss.item() * len(x)
        self._train_count += len(x)
        self.log("train_loss", loss, prog_bar=True, on_step=True, on_epoch=False)
        return loss

    def validation_step(self, batch: tuple[torch.Tensor, torch.Tensor], batch_idx: int) -> None:
        x, y = batch  # (B, W, N) each
        logits = self.model(x).float()
        loss = self.loss_fn(logits, y, self.unit_mask)
        self._val_sum += loss.item() * len(x)
        self._val_count += len(x)
        n = y.shape[-1]
        self._val_probs.append(torch.sigmoid(logits).reshape(-1, n).cpu().numpy())  # (B*W, N)
        self._val_targets.append(y.reshape(-1, n).cpu().numpy())  # (B*W, N)

    def on_validation_epoch_end(self) -> None:
        if self.trainer.sanity_checking:
            self._reset_validation()
            return
        val_loss = self._val_sum / max(self._val_count, 1)
        metrics = auc_metrics(
            np.concatenate(self._val_probs), np.concatenate(self._val_targets), self.unit_mask.cpu().numpy()
        )
        train_loss = self._train_sum / self._train_count if self._train_count else math.nan
        self.epoch_metrics = {"epoch": self.current_epoch, "train_loss": train_loss, "val_loss": val_loss,
                              **metrics}  # fmt: skip
        self.log("val_loss", val_loss, prog_bar=True)
        self.log("val_auc", metrics["val_auc"], prog_bar=True)
        self.log("val_auc_unit_mean", metrics["val_auc_unit_mean"], prog_bar=True)
        self._reset_validation()
        self._train_sum, self._train_count = 0.0, 0

    def _reset_validation(self) -> None:
        self._val_sum, self._val_count = 0.0, 0
        self._val_probs, self._val_targets = [], []

    def configure_optimizers(self) -> torch.optim.Optimizer:
        return torch.optim.AdamW(self.model.parameters(), lr=self.lr, weight_decay=self.weight_decay)
