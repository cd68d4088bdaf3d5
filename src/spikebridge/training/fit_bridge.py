"""Train a bridge model with Lightning: feature-bank windows, per-epoch CSV metrics, early stopping and
the best checkpoint chosen on the validation part only (as :func:`~spikebridge.training.fit.fit_transformer`).
"""

from __future__ import annotations

import math
import os
import time
from dataclasses import dataclass
from pathlib import Path

import lightning as L
import numpy as np
from lightning.pytorch.callbacks import EarlyStopping
from torch.utils.data import DataLoader

from spikebridge.errors import SpikebridgeConfigError, SpikebridgeDataError, SpikebridgeError
from spikebridge.models.bridge import BridgeModel
from spikebridge.models.bridge_config import BridgeConfig
from spikebridge.training.bridge_calibration import (
    SHRINK_GRID,
    calibrate_columns,
    check_shrink_grid,
    training_anchor,
)
from spikebridge.training.bridge_data import BankWindows, FeatureBank
from spikebridge.training.bridge_module import BridgeModule
from spikebridge.training.bridge_warm import SOLVE_BINS, SOLVE_ITERATIONS, solve_columns
from spikebridge.training.checkpoint import load_checkpoint, save_checkpoint
from spikebridge.training.data import check_raster
from spikebridge.training.fit import FitResult, TrainConfig, _RecordBest, _resolve_loss_kwargs


@dataclass(frozen=True)
class BridgeTrainConfig(TrainConfig):
    """:class:`~spikebridge.training.fit.TrainConfig` plus the bridge model's own settings.

    ``window`` is the number of bins per training window, ``batch_size`` the windows per step and
    ``windows_per_epoch`` the windows drawn per epoch (None: one pass over the training part).

    Attributes
    ----------
    column_lr : float
        Learning rate of the per-column parameters (they see far fewer examples each than the shared
        parameters do).
    column_prior : float
        Scale (logits) of the Gaussian prior on per-column parameters.
    shared_loss_weight : float
        Weight of the loss of the shared part alone, >= 0.
    column_solve : tuple of float
        Prior path (standard deviations, strongest first) of the full-batch solve of the per-column part
        before gradient training (:func:`~spikebridge.training.bridge_warm.solve_columns`); each unit
        keeps the prior its validation bins choose, in the solve and in gradient training. Empty: no
        solve, one prior ``column_prior`` for every unit.
    solve_bins : int
        Fit bins the solve reads at most.
    solve_iterations : int
        L-BFGS function evaluations per prior of the path.
    calibrate : tuple of float
        Grid of shrinkages of each unit's logits towards its training rate, one chosen per unit on the
        validation bins after training (:mod:`~spikebridge.training.bridge_calibration`). Empty: none.
    """

    windows_per_epoch: int | None = None
    column_lr: float = 1e-2
    column_prior: float = 1.0
    shared_loss_weight: float = 0.5
    column_solve: tuple[float, ...] = ()
    solve_bins: int = SOLVE_BINS
    solve_iterations: int = SOLVE_ITERATIONS
    calibrate: tuple[float, ...] = SHRINK_GRID

    def __post_init__(self) -> None:
        wpe = self.windows_per_epoch
        object.__setattr__(self, "windows_per_epoch", 1 if wpe is None else wpe)
        super().__post_init__()  # validates the inherited fields
        object.__setattr__(self, "windows_per_epoch", wpe)
        object.__setattr__(self, "column_solve", tuple(float(v) for v in self.column_solve))
        object.__setattr__(self, "calibrate", check_shrink_grid(self.calibrate))
        if any(not v > 0 for v in self.column_solve) or self.solve_bins < 1 or self.solve_iterations < 1:
            raise SpikebridgeConfigError(
                f"need positive column_solve priors, solve_bins and solve_iterations, got {self.column_solve}, "
                f"{self.solve_bins}, {self.solve_iterations}"
            )
        if not self.column_lr > 0 or not self.column_prior > 0 or not self.shared_loss_weight >= 0:
            raise SpikebridgeConfigError(
                f"need column_lr > 0, column_prior > 0 and shared_loss_weight >= 0, got {self.column_lr}, "
                f"{self.column_prior}, {self.shared_loss_weight}"
            )


def init_bridge_bias(
    model: BridgeModel, train: np.ndarray, unit_mask: np.ndarray, floor: float = 1e-4
) -> None:
    """Start the shared intercept at the logit of the training spike probability of the real units."""
    import torch

    rate = float(np.clip(train[:, unit_mask].mean(), floor, 1 - floor))
    with torch.no_grad():
        model.bias.fill_(math.log(rate / (1 - rate)))


def fit_bridge(
    train: np.ndarray,
    val: np.ndarray,
    unit_mask: np.ndarray,
    model_config: BridgeConfig,
    train_config: BridgeTrainConfig,
    out_dir: str | os.PathLike,
    data_hash: str = "",
    progress: bool = True,
) -> FitResult:
    """Train a :class:`~spikebridge.models.bridge.BridgeModel` for one-step-ahead prediction.

    Parameters
    ----------
    train, val : ndarray ``(T, N)`` bool
        Training part and the validation part that follows it in time (validation bins are predicted
        with the training part as their past). ``N = model_config.n_units``.
    unit_mask : ndarray ``(N,)`` bool
        Real (True) versus padded (False) units.
    model_config : BridgeConfig
    train_config : BridgeTrainConfig
    out_dir : path-like
        Receives ``metrics.csv`` and ``best.ckpt``.
    data_hash : str
    progress : bool

    Returns
    -------
    FitResult
    """
    import torch

    cfg, n = train_config, model_config.n_units
    train = check_raster(train, "train", n, cfg.window + 2)
    val = check_raster(val, "val", n, cfg.window + 2)
    unit_mask = np.asarray(unit_mask, dtype=bool)
    if unit_mask.shape != (n,) or not unit_mask.any():
        raise SpikebridgeDataError(
            f"unit_mask must have shape ({n},) with a real unit, got {unit_mask.shape}"
        )
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    start = time.perf_counter()
    L.seed_everything(cfg.seed, workers=True, verbose=False)
    model = BridgeModel(model_config)
    model.fit_standardization(torch.from_numpy(train.astype(np.float32)), torch.from_numpy(unit_mask))
    init_bridge_bias(model, train, unit_mask)
    bank = FeatureBank(model, np.concatenate([train, val]), unit_mask)
    t_fit = train.shape[0]
    n_windows = cfg.windows_per_epoch or max(1, (t_fit - 1) // cfg.window)
    prior = np.full(n, cfg.column_prior)
    if cfg.column_solve and model_config.columns:
        solve = solve_columns(model, bank, unit_mask, (1, t_fit), (t_fit, bank.n_bins), path=cfg.column_solve,
                              max_bins=cfg.solve_bins, max_iter=cfg.solve_iterations)  # fmt: skip
        prior = solve.prior_sd
    train_set = BankWindows(bank, cfg.window, 1, t_fit, n_windows, cfg.seed)
    val_set = BankWindows(bank, cfg.window, t_fit, bank.n_bins)
    steps = cfg.max_epochs * math.ceil(n_windows / cfg.batch_size)
    loss_kwargs = _resolve_loss_kwargs(cfg, train, unit_mask)
    module = BridgeModule(model, cfg.loss, loss_kwargs, cfg.lr, cfg.column_lr, cfg.weight_decay, unit_mask,
                          prior, cfg.shared_loss_weight, t_fit * int(unit_mask.sum()), steps)  # fmt: skip
    recorder = _RecordBest(out, model_config.to_dict(), {**cfg.to_dict(), "loss_kwargs": loss_kwargs}, data_hash,
                           cfg.select_on)  # fmt: skip
    mode = "min" if cfg.select_on == "val_loss" else "max"
    trainer = L.Trainer(
        accelerator=cfg.accelerator, devices=1, precision=cfg.precision, max_epochs=cfg.max_epochs,
        callbacks=[recorder, EarlyStopping(cfg.select_on, patience=cfg.patience, mode=mode)],
        logger=False, enable_checkpointing=False, enable_progress_bar=progress, enable_model_summary=False,
        num_sanity_val_steps=0, log_every_n_steps=1, default_root_dir=str(out), deterministic=False,
    )  # fmt: skip
    trainer.fit(module, DataLoader(train_set, cfg.batch_size), DataLoader(val_set, cfg.batch_size))
    if recorder.best_epoch < 0:
        raise SpikebridgeError("training ended before any validation; no checkpoint was written")
    if cfg.calibrate and model_config.columns:
        _calibrate_best(out / "best.ckpt", model, bank, train, unit_mask, (t_fit, bank.n_bins), cfg.calibrate)
    seconds = time.perf_counter() - start
    return FitResult(str(out / "best.ckpt"), recorder.best_epoch, len(recorder.history), recorder.best_loss,
                     recorder.history, seconds)  # fmt: skip


def _calibrate_best(path: Path, model: BridgeModel, bank: FeatureBank, train: np.ndarray, unit_mask: np.ndarray,
                    val_range: tuple[int, int], grid: tuple[float, ...]) -> None:  # fmt: skip
    """Choose the per-unit shrinkage of the best checkpoint's model and write it into the checkpoint."""
    ckpt = load_checkpoint(path)
    model.load_state_dict(ckpt.state_dict)
    cal = calibrate_columns(model, bank, unit_mask, training_anchor(train, unit_mask), val_range, grid)
    real = np.asarray(unit_mask, dtype=bool)
    extra = {**ckpt.extra, "calibration": {"median_scale": float(np.median(cal.scale[real])),
                                           "shrunk_units": int((cal.scale[real] < 1).sum()),
                                           "val_gain_bits_median": float(np.median(cal.gain_bits[real]))}}  # fmt: skip
    save_checkpoint(path, model, ckpt.model_config, ckpt.train_config, ckpt.data_hash, extra)
