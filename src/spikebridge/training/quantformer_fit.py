"""Fit QuantFormer's stages and the LSTM baseline with Lightning; predict with the fitted models.

Every stage trains on the train part only and is selected on the validation part only: the
checkpoint kept is the epoch with the lowest validation loss, and early stopping watches the same
quantity. The test part is not an argument of any function here. Predictions always run the
models in ``eval()`` mode under ``torch.no_grad()``, so the quantizer's codebook never changes at
inference.
"""

from __future__ import annotations

import csv
import logging
import math
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import lightning as L
import numpy as np
import torch
from lightning.pytorch.callbacks import Callback, EarlyStopping

from spikebridge.atomic import atomic_path
from spikebridge.baselines.traces import balanced_threshold
from spikebridge.errors import SpikebridgeDataError, SpikebridgeError
from spikebridge.models.quantformer import (
    QuantFormer,
    QuantFormerClassifier,
    QuantFormerConfig,
    QuantFormerForecaster,
)
from spikebridge.models.trace_lstm import TraceLSTM, TraceLSTMConfig
from spikebridge.preprocess.calcium import Observations
from spikebridge.training.checkpoint import load_checkpoint, save_checkpoint
from spikebridge.training.quantformer import (
    ClassifierModule,
    ForecasterModule,
    LSTMModule,
    ObsBatches,
    PretrainModule,
    QFTrainConfig,
    batch_loader,
    class_balance,
    evenly_spaced,
)

for _name in ("lightning.pytorch.utilities.rank_zero", "lightning.pytorch.accelerators.cuda"):
    logging.getLogger(_name).setLevel(logging.WARNING)


@dataclass(frozen=True)
class StageResult:
    """Outcome of one training stage: the kept checkpoint (best validation score), its validation loss, the history."""

    stage: str
    checkpoint: str
    best_epoch: int
    epochs_run: int
    best_val_loss: float
    history: list[dict[str, float]]
    seconds: float
    extra: dict[str, Any]

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


class _KeepBest(Callback):
    """After each validation: append the epoch row to the CSV; save the model when ``val_select`` is lowest."""

    def __init__(
        self, path: Path, model_config: dict, train_config: dict, data_hash: str, extra: dict
    ) -> None:
        self.path, self.model_config, self.train_config = path, model_config, train_config
        self.data_hash, self.extra = data_hash, extra
        self.history: list[dict[str, float]] = []
        self.best, self.best_epoch, self.best_loss = math.inf, -1, math.inf

    def on_validation_end(self, trainer: L.Trainer, module) -> None:
        if trainer.sanity_checking or not module.epoch_metrics:
            return
        row = dict(module.epoch_metrics)
        self.history.append(row)
        _write_csv(self.path.with_suffix(".csv"), self.history)
        if row["val_select"] < self.best:
            self.best, self.best_epoch, self.best_loss = row["val_select"], int(row["epoch"]), row["val_loss"]
            save_checkpoint(self.path, module.model, self.model_config, self.train_config, self.data_hash,
                            extra={**self.extra, "epoch": self.best_epoch, "val_loss": self.best_loss,
                                   "val_select": self.best})  # fmt: skip


def _write_csv(path: Path, rows: list[dict[str, float]]) -> None:
    keys = list(dict.fromkeys(k for row in rows for k in row))
    with atomic_path(path, suffix=".tmp") as tmp, open(tmp, "w", newline="") as fh:
        writer = csv.DictWriter(fh, fieldnames=keys)
        writer.writeheader()
        writer.writerows(rows)


def input_scale(train: Observations) -> float:
    """Standard deviation of the train part's windows (the models' unit of input); 1 when flat."""
    scale = float(np.std(train.full()))
    return scale if scale > 1e-8 else 1.0


def _run(module, stage: str, train: Observations, val: Observations, cfg: QFTrainConfig, epochs: int,
         out_dir: Path, model_config: dict, data_hash: str, extra: dict, progress: bool) -> StageResult:  # fmt: skip
    """Train ``module`` and load the weights of its best validation epoch back into ``module.model``."""
    if train.n == 0 or val.n == 0:
        raise SpikebridgeDataError(f"{train.source}: {stage} needs training and validation observations")
    out_dir.mkdir(parents=True, exist_ok=True)
    L.seed_everything(cfg.seed, workers=True, verbose=False)
    keeper = _KeepBest(out_dir / f"{stage}.ckpt", model_config, cfg.to_dict(), data_hash, extra)
    train_loader = batch_loader(train, cfg.batch_size, True, cfg.samples_per_epoch, cfg.seed)
    val_loader = batch_loader(val.select(evenly_spaced(val.n, cfg.val_samples)), 2 * cfg.batch_size, False)
    trainer = L.Trainer(
        accelerator=cfg.accelerator, devices=1, max_epochs=epochs, logger=False, enable_checkpointing=False,
        callbacks=[keeper, EarlyStopping("val_select", patience=cfg.patience, mode="min")],
        enable_progress_bar=progress, enable_model_summary=False, num_sanity_val_steps=0, log_every_n_steps=1,
        default_root_dir=str(out_dir),
    )  # fmt: skip
    start = time.perf_counter()
    trainer.fit(module, train_loader, val_loader)
    seconds = time.perf_counter() - start
    if keeper.best_epoch < 0:
        raise SpikebridgeError(f"{stage}: training ended before any validation; no checkpoint was written")
    module.model.load_state_dict(load_checkpoint(keeper.path).state_dict)
    module.model.eval()
    return StageResult(stage, str(keeper.path), keeper.best_epoch, len(keeper.history), keeper.best_loss, keeper.history,
                       seconds, dict(extra))  # fmt: skip


def pretrain(train: Observations, val: Observations, model_cfg: QuantFormerConfig, cfg: QFTrainConfig,
             out_dir: Path, data_hash: str = "", progress: bool = False) -> tuple[QuantFormer, StageResult]:  # fmt: skip
    """Masked, quantized auto-encoding pre-training on whole windows (the labels only weigh the loss)."""
    _check_lengths(train, model_cfg)
    L.seed_everything(cfg.seed, workers=True, verbose=False)
    model = QuantFormer(model_cfg)
    model.set_input_scale(input_scale(train))
    beta = cfg.beta if cfg.beta is not None else class_balance(train.active) - 1.0
    module = PretrainModule(model, cfg, beta)
    extra = {"beta": beta, "input_scale": float(model.patches.input_scale)}
    result = _run(module, "pretrain", train, val, cfg, cfg.pretrain_epochs, Path(out_dir), model_cfg.to_dict(),
                  data_hash, extra, progress)  # fmt: skip
    return model, result


def _freeze_for_mode(model, mode: str) -> None:
    keep = {id(p) for p in (model.prompt_parameters() if mode == "prompt" else model.parameters())}
    for p in model.parameters():
        p.requires_grad_(id(p) in keep)
    if isinstance(model, QuantFormerForecaster):
        model.backbone.requires_grad_(False)


def fit_classifier(backbone: QuantFormer, train: Observations, val: Observations, cfg: QFTrainConfig,
                   out_dir: Path, data_hash: str = "", progress: bool = False) -> tuple[QuantFormerClassifier, StageResult]:  # fmt: skip
    """Tune the [CLS]/[NEURON]/[STIM] classifier; its threshold maximises balanced accuracy on validation."""
    L.seed_everything(cfg.seed, workers=True, verbose=False)
    model = QuantFormerClassifier(backbone.cfg, train.n_neurons, train.n_stimuli)
    model.load_backbone(backbone)
    _freeze_for_mode(model, cfg.mode)
    pos_weight = class_balance(train.active)
    extra = {
        "n_neurons": train.n_neurons,
        "n_stimuli": train.n_stimuli,
        "mode": cfg.mode,
        "pos_weight": pos_weight,
    }
    result = _run(ClassifierModule(model, cfg, pos_weight), "classify", train, val, cfg, cfg.finetune_epochs,
                  Path(out_dir), backbone.cfg.to_dict(), data_hash, extra, progress)  # fmt: skip
    threshold = balanced_threshold(predict_active_proba(model, val), val.active)
    model.threshold = threshold
    result = _with_extra(result, threshold=threshold)
    ckpt = load_checkpoint(result.checkpoint)
    save_checkpoint(result.checkpoint, model, ckpt.model_config, ckpt.train_config, ckpt.data_hash,
                    extra={**ckpt.extra, "threshold": threshold})  # fmt: skip
    return model, result


def fit_forecaster(backbone: QuantFormer, train: Observations, val: Observations, cfg: QFTrainConfig,
                   out_dir: Path, data_hash: str = "", progress: bool = False) -> tuple[QuantFormerForecaster, StageResult]:  # fmt: skip
    """Tune the forecaster: codes of the masked response patches, decoded by the frozen backbone."""
    L.seed_everything(cfg.seed, workers=True, verbose=False)
    model = QuantFormerForecaster(backbone.cfg, train.n_neurons, train.n_stimuli)
    model.load_backbone(backbone)
    _freeze_for_mode(model, cfg.mode)
    beta = class_balance(train.active) - 1.0 if cfg.weight_active_codes else 0.0
    extra = {"n_neurons": train.n_neurons, "n_stimuli": train.n_stimuli, "mode": cfg.mode, "beta": beta}
    result = _run(ForecasterModule(model, cfg, beta), "forecast", train, val, cfg, cfg.finetune_epochs, Path(out_dir),
                  backbone.cfg.to_dict(), data_hash, extra, progress)  # fmt: skip
    return model, result


def fit_lstm(train: Observations, val: Observations, cfg: QFTrainConfig, out_dir: Path, data_hash: str = "",
             progress: bool = False) -> tuple[TraceLSTM, StageResult]:  # fmt: skip
    """Train the LSTM baseline (MSE), keeping its best validation epoch."""
    L.seed_everything(cfg.seed, workers=True, verbose=False)
    lstm_cfg = TraceLSTMConfig(response_len=train.response_len, hidden=cfg.lstm_hidden)
    model = TraceLSTM(lstm_cfg)
    model.set_input_scale(input_scale(train))
    return model, _run(LSTMModule(model, cfg), "lstm", train, val, cfg, cfg.finetune_epochs, Path(out_dir),
                       lstm_cfg.to_dict(), data_hash, {}, progress)  # fmt: skip


def _with_extra(result: StageResult, **extra: Any) -> StageResult:
    return StageResult(**{**result.to_dict(), "extra": {**result.extra, **extra}})


def _check_lengths(obs: Observations, cfg: QuantFormerConfig) -> None:
    if (obs.baseline_len, obs.response_len) != (cfg.baseline_len, cfg.response_len):
        raise SpikebridgeDataError(
            f"{obs.source}: observations have {obs.baseline_len} + {obs.response_len} frames, the model "
            f"{cfg.baseline_len} + {cfg.response_len}"
        )


@torch.no_grad()
def _batched(fn, obs: Observations, batch_size: int = 1024) -> np.ndarray:
    data = ObsBatches(obs)
    outs = [fn(data[i : i + batch_size]).cpu().numpy() for i in range(0, len(data), batch_size)]
    return np.concatenate(outs) if outs else np.zeros((0,))


def predict_forecast(model: QuantFormerForecaster, obs: Observations) -> np.ndarray:
    """QuantFormer's forecasts (n, L_f) of the response windows, from the baselines only."""
    model.eval()
    return _batched(lambda b: model.forecast(b["baseline"], b["neuron"], b["stimulus"]), obs)


def predict_codes(model: QuantFormerForecaster, obs: Observations) -> tuple[np.ndarray, np.ndarray]:
    """Predicted and target codes of the response patches, each (n, P_f)."""
    model.eval()
    pred = _batched(lambda b: model(b["baseline"], b["neuron"], b["stimulus"]).argmax(-1), obs)
    target = _batched(lambda b: model.target_codes(b["baseline"], b["response"]), obs)
    return pred, target


@torch.no_grad()
def predict_forecast_codes(
    model: QuantFormerForecaster, obs: Observations, batch_size: int = 1024
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """One pass of :func:`predict_forecast` and :func:`predict_codes`: forecasts (n, L_f), predicted
    and target codes (n, P_f) each, from the same forward pass of the forecaster."""
    model.eval()
    data, parts = ObsBatches(obs), ([], [], [])
    for i in range(0, len(data), batch_size):
        b = data[i : i + batch_size]
        pred = model(b["baseline"], b["neuron"], b["stimulus"]).argmax(-1)  # (b, P_f)
        for out, value in zip(parts, (model.decode_codes(b["baseline"], pred), pred,
                                      model.target_codes(b["baseline"], b["response"])), strict=True):  # fmt: skip
            out.append(value.cpu().numpy())
    if not parts[0]:
        p_f = model.cfg.response_patches
        return np.zeros((0, obs.response_len)), np.zeros((0, p_f), int), np.zeros((0, p_f), int)
    return tuple(np.concatenate(x) for x in parts)


def window_codes(backbone: QuantFormer, obs: Observations) -> np.ndarray:
    """Codes (n, P) of whole unmasked windows (codebook usage)."""
    backbone.eval()
    return _batched(lambda b: backbone.codes(b["baseline"], b["response"]), obs)


def reconstruct(backbone: QuantFormer, obs: Observations) -> np.ndarray:
    """Reconstructions (n, L_b + L_f) of whole unmasked windows."""
    backbone.eval()
    return _batched(lambda b: backbone(b["baseline"], b["response"])[0], obs)


def predict_active_proba(model: QuantFormerClassifier, obs: Observations) -> np.ndarray:
    """P(active) (n,) from the baselines, neurons and stimuli."""
    model.eval()
    return _batched(lambda b: torch.sigmoid(model(b["baseline"], b["neuron"], b["stimulus"])), obs)


def predict_lstm(model: TraceLSTM, obs: Observations) -> np.ndarray:
    """LSTM forecasts (n, L_f)."""
    model.eval()
    return _batched(lambda b: model(b["baseline"]), obs)


def load_stage(path: str | Path):
    """Rebuild a model saved by a stage (pretrain, classify, forecast or lstm) from its checkpoint."""
    ckpt = load_checkpoint(path)
    cls = {"QuantFormer": QuantFormer, "QuantFormerClassifier": QuantFormerClassifier,
           "QuantFormerForecaster": QuantFormerForecaster, "TraceLSTM": TraceLSTM}.get(ckpt.model_class)  # fmt: skip
    if cls is None:
        raise SpikebridgeDataError(f"{path}: not a QuantFormer checkpoint (model {ckpt.model_class})")
    if cls is TraceLSTM:
        model = TraceLSTM(TraceLSTMConfig(**ckpt.model_config))
    elif cls is QuantFormer:
        model = QuantFormer(QuantFormerConfig.from_dict(ckpt.model_config))
    else:
        model = cls(
            QuantFormerConfig.from_dict(ckpt.model_config), ckpt.extra["n_neurons"], ckpt.extra["n_stimuli"]
        )
    model.load_state_dict(ckpt.state_dict)
    model.eval()
    if "threshold" in ckpt.extra:
        model.threshold = ckpt.extra["threshold"]
    return model, ckpt
