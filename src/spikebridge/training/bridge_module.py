"""Lightning module training a :class:`~spikebridge.models.bridge.BridgeModel` on feature-bank windows.

Objective: the chosen loss of the full model, plus ``shared_loss_weight`` times the loss of its shared
part alone (so the unit-agnostic part is a complete model of its own for other recordings), plus a
Gaussian prior of scale ``column_prior`` (logits; one for all columns, or one per column as chosen by the
full-batch solve of :mod:`spikebridge.training.bridge_warm`) on every per-column parameter. The prior is
written per training element, like the losses (a mean over bins and units), so its weight is that of
``0.5 / column_prior^2`` pseudo-observations per parameter on the whole training part.
"""

from __future__ import annotations

import math
from typing import Any

import lightning as L
import numpy as np
import torch

from spikebridge.errors import SpikebridgeError
from spikebridge.models.bridge import BridgeModel
from spikebridge.models.bridge_config import BridgeConfig
from spikebridge.training.losses import get_loss
from spikebridge.training.module import auc_metrics


class BridgeModule(L.LightningModule):
    """Trains a bridge model on window dictionaries from :class:`~spikebridge.training.bridge_data.BankWindows`.

    Parameters
    ----------
    model : BridgeModel
    loss, loss_kwargs : str, dict
    lr, column_lr : float
        AdamW learning rates of the shared and of the per-column parameters.
    weight_decay : float
        AdamW weight decay of the shared parameters.
    unit_mask : ndarray ``(N,)`` bool
    column_prior : float or ndarray ``(N,)``
        Scale (logits) of the Gaussian prior on per-column parameters, one for all columns or one per
        column (parameters shared by all columns, such as the population MLP's hidden layers, take the
        mean of the real columns' weights).
    shared_loss_weight : float
        Weight of the shared part's own loss.
    n_train_elements : int
        Training bins x real units (the scale of the prior).
    total_steps : int
        Optimiser steps of the one-cycle learning-rate schedule.
    """

    def __init__(self, model: BridgeModel, loss: str, loss_kwargs: dict[str, Any], lr: float, column_lr: float,
                 weight_decay: float, unit_mask: np.ndarray, column_prior: float, shared_loss_weight: float,
                 n_train_elements: int, total_steps: int) -> None:  # fmt: skip
        super().__init__()
        self.model = model
        self.loss_fn = get_loss(loss, **loss_kwargs)
        self.lr, self.column_lr, self.weight_decay = lr, column_lr, weight_decay
        scale = np.broadcast_to(np.asarray(column_prior, dtype=float), np.shape(unit_mask))
        self.register_buffer("prior_weight", torch.as_tensor(0.5 / (scale**2 * max(n_train_elements, 1)),
                                                             dtype=torch.float32))  # fmt: skip
        self.shared_loss_weight, self.total_steps = shared_loss_weight, total_steps
        self.register_buffer("unit_mask", torch.as_tensor(np.asarray(unit_mask, dtype=bool)))
        self._train = [0.0, 0]
        self._val: dict[str, list] = {"loss": [], "probs": [], "targets": []}
        self.epoch_metrics: dict[str, float] = {}

    @property
    def config(self) -> BridgeConfig:
        return self.model.config

    def training_step(self, batch: dict[str, torch.Tensor], batch_idx: int) -> torch.Tensor:
        shared, column, _ = self.model.parts(batch)
        y = batch["targets"]  # (B, W, N)
        full = shared if column is None else shared + column
        loss = self.loss_fn(full.float(), y, self.unit_mask)
        if column is not None:
            loss = loss + self.shared_loss_weight * self.loss_fn(shared.float(), y, self.unit_mask)
            loss = loss + self._prior()
        if not torch.isfinite(loss):
            raise SpikebridgeError(
                f"training loss became {loss.item()} at epoch {self.current_epoch}, batch {batch_idx}; "
                "lower the learning rate (the best checkpoint was kept)"
            )
        self._train[0] += loss.item()
        self._train[1] += 1
        self.log("train_loss", loss, prog_bar=True, on_step=True, on_epoch=False)
        return loss

    def _prior(self) -> torch.Tensor:
        """Gaussian prior on the per-column parameters, each column with its own weight."""
        weight, mean = self.prior_weight, self.prior_weight[self.unit_mask].mean()
        total = torch.zeros((), device=weight.device)
        for p, axis in self.model.column_parameters_by_column():
            sq = p**2
            if axis is None:
                total = total + mean * sq.sum()
            else:
                other = tuple(d for d in range(p.dim()) if d != axis)
                total = total + (weight * (sq.sum(other) if other else sq)).sum()
        return total

    def validation_step(self, batch: dict[str, torch.Tensor], batch_idx: int) -> None:
        shared, column, _ = self.model.parts(batch)
        logits = (shared if column is None else shared + column).float()
        y = batch["targets"]
        self._val["loss"].append((self.loss_fn(logits, y, self.unit_mask).item(), len(y)))
        n = y.shape[-1]
        self._val["probs"].append(torch.sigmoid(logits).reshape(-1, n).cpu().numpy())  # (B*W, N)
        self._val["targets"].append(y.reshape(-1, n).cpu().numpy())

    def on_validation_epoch_end(self) -> None:
        if self.trainer.sanity_checking or not self._val["loss"]:
            self._val = {"loss": [], "probs": [], "targets": []}
            return
        weights = np.array([w for _, w in self._val["loss"]], dtype=float)
        val_loss = float(np.dot([v for v, _ in self._val["loss"]], weights) / weights.sum())
        metrics = auc_metrics(np.concatenate(self._val["probs"]), np.concatenate(self._val["targets"]),
                              self.unit_mask.cpu().numpy())  # fmt: skip
        train_loss = self._train[0] / self._train[1] if self._train[1] else math.nan
        self.epoch_metrics = {
            "epoch": self.current_epoch,
            "train_loss": train_loss,
            "val_loss": val_loss,
            **metrics,
        }
        for key in ("val_loss", "val_auc", "val_auc_unit_mean"):
            self.log(key, self.epoch_metrics[key], prog_bar=True)
        self._val = {"loss": [], "probs": [], "targets": []}
        self._train = [0.0, 0]

    def configure_optimizers(self):
        columns = {id(p) for p in self.model.column_parameters()}
        shared = [p for p in self.model.parameters() if id(p) not in columns]
        groups = [{"params": shared, "lr": self.lr, "weight_decay": self.weight_decay}]
        if columns:
            groups.append(
                {"params": self.model.column_parameters(), "lr": self.column_lr, "weight_decay": 0.0}
            )
        optimizer = torch.optim.AdamW(groups)
        schedule = torch.optim.lr_scheduler.OneCycleLR(
            optimizer, max_lr=[g["lr"] for g in groups], total_steps=max(self.total_steps, 2), pct_start=0.1
        )
        return {"optimizer": optimizer, "lr_scheduler": {"scheduler": schedule, "interval": "step"}}
