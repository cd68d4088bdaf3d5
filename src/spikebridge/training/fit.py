"""Train a stateless model (the spike transformer) with Lightning: random training windows, fixed
validation windows, per-epoch CSV metrics, early stopping and the best checkpoint chosen on validation
only. :func:`fit_network` trains any registered architecture with its own pipeline.
"""

from __future__ import annotations

import csv
import logging
import math
import os
import time
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path
from typing import Any

import lightning as L
import numpy as np
from lightning.pytorch.callbacks import Callback, EarlyStopping
from torch.utils.data import DataLoader

from spikebridge.atomic import atomic_path
from spikebridge.errors import SpikebridgeConfigError, SpikebridgeDataError, SpikebridgeError
from spikebridge.models.spike_transformer import SpikeTransformerConfig
from spikebridge.training.checkpoint import save_checkpoint
from spikebridge.training.data import FixedWindows, RandomWindows, check_raster
from spikebridge.training.losses import get_loss
from spikebridge.training.module import SpikeTransformerModule

# Lightning's start-up banner (accelerator lines, tips) adds nothing to our own summary.
for _name in ("lightning.pytorch.utilities.rank_zero", "lightning.pytorch.accelerators.cuda"):
    logging.getLogger(_name).setLevel(logging.WARNING)

SELECT_ON = ("val_loss", "val_auc", "val_auc_unit_mean")
CSV_COLUMNS = ("epoch", "train_loss", "val_loss", "val_auc", "val_auc_unit_mean", "n_units_scored",
               "n_units_skipped")  # fmt: skip


@dataclass(frozen=True)
class TrainConfig:
    """Optimisation settings (the architecture lives in its own config, e.g. :class:`SpikeTransformerConfig`).

    Attributes
    ----------
    loss : {"dice", "focal", "bce", "wbce"}
    loss_kwargs : dict
        Arguments of the loss (``smooth``, ``gamma``/``alpha``, ``pos_weight``). ``pos_weight=None``
        (wbce) is replaced by the ratio of silent to spike bins of the training raster (masked units).
    lr, weight_decay : float
        AdamW learning rate and weight decay.
    batch_size : int
        Windows per step.
    window : int
        Training context in bins (<= the model's ``max_context``).
    windows_per_epoch : int
        Random training windows drawn per epoch.
    max_epochs, patience : int
        Epoch limit; early stopping after ``patience`` epochs without a lower validation loss.
    seed : int
    accelerator : {"auto", "cpu", "gpu"}
    precision : {"32", "16-mixed", "bf16-mixed"}
    val_windows : int
        Fixed, non-overlapping validation windows (evenly spread over the validation raster).
    init_bias_from_rates : bool or None
        Start each unit's output bias at the logit of its training spike probability. None (default):
        yes for the probabilistic losses, no for Dice, whose optimum is not the spike probability and
        whose gradient is nearly flat from such a start (measured on the slice: worse per-unit ROC-AUC).
    select_on : {"val_loss", "val_auc", "val_auc_unit_mean"}
        Validation quantity that picks the best epoch and drives early stopping (validation only).
    """

    loss: str = "dice"
    loss_kwargs: dict[str, Any] = field(default_factory=dict)
    lr: float = 1e-3
    weight_decay: float = 0.01
    batch_size: int = 16
    window: int = 256
    windows_per_epoch: int = 512
    max_epochs: int = 50
    patience: int = 5
    seed: int = 0
    accelerator: str = "auto"
    precision: str = "32"
    val_windows: int = 32
    init_bias_from_rates: bool | None = None
    select_on: str = "val_loss"

    def __post_init__(self) -> None:
        if self.select_on not in SELECT_ON:
            raise SpikebridgeConfigError(f"select_on must be one of {SELECT_ON}, got {self.select_on!r}")
        get_loss(self.loss, **self.loss_kwargs)  # validates name and arguments
        for name in ("batch_size", "window", "windows_per_epoch", "max_epochs", "patience", "val_windows"):
            value = getattr(self, name)
            if not isinstance(value, int) or value < 1:
                raise SpikebridgeConfigError(f"{name} must be a positive integer, got {value!r}")
        if not self.lr > 0 or not self.weight_decay >= 0:
            raise SpikebridgeConfigError(
                f"need lr > 0 and weight_decay >= 0, got {self.lr}, {self.weight_decay}"
            )
        if self.accelerator not in ("auto", "cpu", "gpu"):
            raise SpikebridgeConfigError(f"accelerator must be auto, cpu or gpu, got {self.accelerator!r}")
        if self.precision not in ("32", "16-mixed", "bf16-mixed"):
            raise SpikebridgeConfigError(
                f"precision must be 32, 16-mixed or bf16-mixed, got {self.precision!r}"
            )

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> TrainConfig:
        unknown = sorted(set(data) - {f.name for f in fields(cls)})
        if unknown:
            raise SpikebridgeConfigError(f"unknown TrainConfig field(s): {', '.join(unknown)}")
        return cls(**data)


@dataclass(frozen=True)
class FitResult:
    """Outcome of :func:`fit_transformer`.

    Attributes
    ----------
    checkpoint_path : str
        The best checkpoint (lowest validation loss).
    best_epoch, epochs_run : int
    best_val_loss : float
    history : list of dict
        One row per epoch with the CSV columns.
    seconds : float
        Wall-clock training time.
    """

    checkpoint_path: str
    best_epoch: int
    epochs_run: int
    best_val_loss: float
    history: list[dict[str, float]]
    seconds: float

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def _write_csv(path: Path, rows: list[dict[str, float]]) -> None:
    """Rewrite the metrics CSV atomically."""
    with atomic_path(path, suffix=".tmp") as tmp, open(tmp, "w", newline="") as fh:
        writer = csv.DictWriter(fh, fieldnames=CSV_COLUMNS, extrasaction="ignore")
        writer.writeheader()
        writer.writerows(rows)


class _RecordBest(Callback):
    """After each validation: append the metrics row, rewrite the CSV, save the checkpoint if best."""

    def __init__(
        self,
        out_dir: Path,
        model_config: dict,
        train_config: dict,
        data_hash: str,
        select_on: str = "val_loss",
    ) -> None:
        self.out_dir, self.model_config, self.train_config = out_dir, model_config, train_config
        self.data_hash, self.select_on = data_hash, select_on
        self.sign = 1.0 if select_on == "val_loss" else -1.0  # minimise the loss, maximise an AUC
        self.history: list[dict[str, float]] = []
        self.best_loss, self.best_epoch, self.best_score = math.inf, -1, math.inf

    def on_validation_end(self, trainer: L.Trainer, pl_module: SpikeTransformerModule) -> None:
        if trainer.sanity_checking or not pl_module.epoch_metrics:
            return
        row = dict(pl_module.epoch_metrics)
        self.history.append(row)
        _write_csv(self.out_dir / "metrics.csv", self.history)
        if not math.isfinite(row["val_loss"]):
            raise SpikebridgeError(f"validation loss became {row['val_loss']} at epoch {row['epoch']}")
        score = self.sign * row[self.select_on]
        if math.isfinite(score) and score < self.best_score:
            self.best_score, self.best_loss, self.best_epoch = score, row["val_loss"], int(row["epoch"])
            save_checkpoint(self.out_dir / "best.ckpt", pl_module.model, self.model_config, self.train_config,
                            self.data_hash, extra={"epoch": self.best_epoch, "val_loss": self.best_loss})  # fmt: skip


def _resolve_loss_kwargs(cfg: TrainConfig, train: np.ndarray, unit_mask: np.ndarray) -> dict[str, Any]:
    """Loss arguments with ``pos_weight=None`` replaced by silent/spike bin ratio of ``train`` (masked units)."""
    kwargs = dict(cfg.loss_kwargs)
    if cfg.loss == "wbce" and kwargs.get("pos_weight", 1.0) is None:
        n_pos = int(train[:, unit_mask].sum())
        n_all = train.shape[0] * int(unit_mask.sum())
        kwargs["pos_weight"] = (n_all - n_pos) / n_pos if n_pos else 1.0
    return kwargs


def init_output_bias(model, train: np.ndarray, floor: float = 1e-4) -> None:
    """Start every unit's output at its training spike probability: bias = logit(rate).

    The network then begins as the per-unit rate model and spends its training on the
    structure in time instead of on learning 128 firing rates. Models without a per-unit output
    layer ``head`` are left as they are.
    """
    import torch

    if not isinstance(getattr(model, "head", None), torch.nn.Linear):
        return
    rates = np.clip(train.mean(axis=0), floor, 1 - floor)  # (N,)
    with torch.no_grad():
        model.head.bias.copy_(torch.as_tensor(np.log(rates / (1 - rates)), dtype=model.head.bias.dtype))


def fit_transformer(
    train: np.ndarray,
    val: np.ndarray,
    unit_mask: np.ndarray,
    model_config: SpikeTransformerConfig,
    train_config: TrainConfig,
    out_dir: str | os.PathLike,
    data_hash: str = "",
    progress: bool = True,
) -> FitResult:
    """Train a :class:`SpikeTransformer` for one-step-ahead prediction.

    Parameters
    ----------
    train, val : ndarray ``(T, N)`` bool
        Training and validation rasters (1 ms bins by convention); ``N = model_config.n_units``.
    unit_mask : ndarray ``(N,)`` bool
        Real (True) versus padded (False) units; padded units count in neither loss nor metrics.
    model_config : SpikeTransformerConfig
    train_config : TrainConfig
    out_dir : path-like
        Receives ``metrics.csv`` (one row per epoch) and ``best.ckpt``.
    data_hash : str
        Stored in the checkpoint (see :func:`spikebridge.training.data.data_hash`).
    progress : bool
        Show Lightning's progress bar.

    Returns
    -------
    FitResult

    Raises
    ------
    SpikebridgeError
        A NaN/inf loss (training stops; an earlier best checkpoint is left untouched).
    """
    cfg = train_config
    if cfg.window > model_config.max_context:
        raise SpikebridgeConfigError(
            f"window {cfg.window} exceeds the model's max_context {model_config.max_context}"
        )
    n = model_config.n_units
    train = check_raster(train, "train", n, cfg.window + 1)
    val = check_raster(val, "val", n, 2)
    unit_mask = np.asarray(unit_mask, dtype=bool)
    if unit_mask.shape != (n,):
        raise SpikebridgeDataError(f"unit_mask must have shape ({n},), got {unit_mask.shape}")
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    L.seed_everything(cfg.seed, workers=True, verbose=False)
    loss_kwargs = _resolve_loss_kwargs(cfg, train, unit_mask)
    module = SpikeTransformerModule(model_config, cfg.loss, loss_kwargs, cfg.lr, cfg.weight_decay, unit_mask)
    init_bias = cfg.init_bias_from_rates if cfg.init_bias_from_rates is not None else cfg.loss != "dice"
    if init_bias:
        init_output_bias(module.model, train)
    train_loader = DataLoader(
        RandomWindows(train, cfg.window, cfg.windows_per_epoch, cfg.seed), cfg.batch_size
    )
    val_loader = DataLoader(FixedWindows(val, cfg.window, cfg.val_windows), cfg.batch_size)
    recorder = _RecordBest(
        out, model_config.to_dict(), {**cfg.to_dict(), "loss_kwargs": loss_kwargs}, data_hash, cfg.select_on
    )
    trainer = L.Trainer(
        accelerator=cfg.accelerator, devices=1, precision=cfg.precision, max_epochs=cfg.max_epochs,
        callbacks=[recorder, EarlyStopping(cfg.select_on, patience=cfg.patience, mode="min" if cfg.select_on == "val_loss" else "max")],
        logger=False, enable_checkpointing=False, enable_progress_bar=progress, enable_model_summary=False,
        num_sanity_val_steps=0, log_every_n_steps=1, default_root_dir=str(out), deterministic=False,
    )  # fmt: skip
    start = time.perf_counter()
    trainer.fit(module, train_loader, val_loader)
    seconds = time.perf_counter() - start
    if recorder.best_epoch < 0:
        raise SpikebridgeError("training ended before any validation; no checkpoint was written")
    return FitResult(str(out / "best.ckpt"), recorder.best_epoch, len(recorder.history), recorder.best_loss,
                     recorder.history, seconds)  # fmt: skip


def fit_network(
    train: np.ndarray,
    val: np.ndarray,
    unit_mask: np.ndarray,
    model_config,
    train_config: TrainConfig,
    out_dir: str | os.PathLike,
    data_hash: str = "",
    progress: bool = True,
) -> FitResult:
    """Train any registered architecture with the pipeline its registry entry names.

    ``"windows"``: :func:`fit_transformer` (raster windows, ``forward(x) -> logits``);
    ``"features"``: :func:`spikebridge.training.fit_bridge.fit_bridge` (windows of precomputed causal
    features). Arguments as :func:`fit_transformer`.
    """
    from spikebridge.models.registry import by_config

    pipeline = by_config(model_config).training
    if pipeline == "features":
        from spikebridge.training.fit_bridge import fit_bridge

        fit = fit_bridge
    else:
        fit = fit_transformer
    return fit(
        train, val, unit_mask, model_config, train_config, out_dir, data_hash=data_hash, progress=progress
    )
