"""Lightning modules of QuantFormer's three stages (pre-training, classification, forecasting) and of
the LSTM baseline, their training configuration and batch loaders over observations.

Losses (B observations of a batch; frames of the window in the model's scaled units):

- pre-training (paper eq. 2 plus the VQ terms)::

      L = mean_b (1 + a_b beta) [alpha MSE(masked frames) + MSE(unmasked frames)]
          + codebook_weight L_codebook + commitment_weight L_commit

  with ``a_b`` the observation's active label and ``beta = n_inactive / n_active - 1`` on the train
  part unless given (so active observations weigh as much as inactive ones in total);
- classification: binary cross-entropy with ``pos_weight = n_inactive / n_active`` of the train part;
- forecasting (paper eq. 4): the cross-entropy of the code of every masked response patch, summed
  over the patches and averaged over the batch; targets are the frozen pre-trained encoder's codes;
- LSTM: mean squared error of the forecast.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, fields
from typing import Any

import lightning as L
import numpy as np
import torch
import torch.nn.functional as F

from spikebridge.errors import SpikebridgeConfigError, SpikebridgeError
from spikebridge.preprocess.calcium import Observations

MODES = ("fine", "prompt")


@dataclass(frozen=True)
class QFTrainConfig:
    """Optimisation of the three stages (paper: Adam; pre-training 50 epochs at 1e-4, batch 32;
    downstream 100 epochs at 1e-3; mask ratio 0.2; alpha 2).

    Attributes
    ----------
    pretrain_epochs, pretrain_lr : int, float
    finetune_epochs, finetune_lr : int, float
        Downstream heads (classifier and forecaster) and the LSTM baseline.
    batch_size, patience : int
        Observations per step; epochs without a lower validation loss before stopping.
    mask_ratio, alpha : float
        Bernoulli probability of masking a patch; weight of the masked frames' error.
    beta : float or None
        Extra weight of active observations; None: ``n_inactive / n_active - 1`` of the train part.
    codebook_weight, commitment_weight : float
    mode : {"fine", "prompt"}
        Fine-tune the encoder copy with the prompts and head, or tune the prompts and head only.
    weight_active_codes : bool
        Forecasting: weigh each observation's code cross-entropy by ``1 + a beta`` as the paper's
        eq. 2 does for pre-training (an extension: the paper states it for pre-training only).
    encoder_lr_scale : float
        Fine-tuning: the pre-trained parts (patch embedding, encoder) learn at ``finetune_lr`` times
        this; the new prompts and heads at ``finetune_lr``.
    samples_per_epoch : int or None
        Training observations drawn (without replacement) per epoch; None: all.
    val_samples : int or None
        Validation observations used (a fixed, evenly spaced subset); None: all.
    lstm_hidden, lstm_lr : int, float
        Width and learning rate of the LSTM baseline.
    seed : int
    accelerator : {"cpu", "gpu", "auto"}
    """

    pretrain_epochs: int = 50
    pretrain_lr: float = 1e-4
    finetune_epochs: int = 100
    finetune_lr: float = 1e-3
    batch_size: int = 32
    patience: int = 10
    mask_ratio: float = 0.2
    alpha: float = 2.0
    beta: float | None = None
    codebook_weight: float = 1.0
    commitment_weight: float = 0.25
    mode: str = "fine"
    weight_active_codes: bool = False
    encoder_lr_scale: float = 1.0
    samples_per_epoch: int | None = None
    val_samples: int | None = None
    lstm_hidden: int = 64
    lstm_lr: float = 1e-3
    seed: int = 0
    accelerator: str = "cpu"

    def __post_init__(self) -> None:
        for name in ("pretrain_epochs", "finetune_epochs", "batch_size", "patience", "lstm_hidden"):
            value = getattr(self, name)
            if not isinstance(value, int) or value < 1:
                raise SpikebridgeConfigError(
                    f"QFTrainConfig.{name} must be a positive integer, got {value!r}"
                )
        for name in ("samples_per_epoch", "val_samples"):
            value = getattr(self, name)
            if value is not None and (not isinstance(value, int) or value < 1):
                raise SpikebridgeConfigError(
                    f"QFTrainConfig.{name} must be a positive integer or None, got {value!r}"
                )
        if not 0 < self.mask_ratio < 1:
            raise SpikebridgeConfigError(
                f"QFTrainConfig.mask_ratio must lie in (0, 1), got {self.mask_ratio}"
            )
        if not (self.pretrain_lr > 0 and self.finetune_lr > 0 and self.lstm_lr > 0 and self.alpha > 0):
            raise SpikebridgeConfigError("QFTrainConfig needs positive learning rates and alpha")
        if not self.encoder_lr_scale > 0:
            raise SpikebridgeConfigError(
                f"QFTrainConfig.encoder_lr_scale must be positive, got {self.encoder_lr_scale}"
            )
        if self.beta is not None and self.beta < 0:
            raise SpikebridgeConfigError(f"QFTrainConfig.beta must be >= 0 or None, got {self.beta}")
        if self.mode not in MODES:
            raise SpikebridgeConfigError(f"QFTrainConfig.mode must be one of {MODES}, got {self.mode!r}")
        if self.accelerator not in ("cpu", "gpu", "auto"):
            raise SpikebridgeConfigError(
                f"QFTrainConfig.accelerator must be cpu, gpu or auto, got {self.accelerator!r}"
            )

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> QFTrainConfig:
        unknown = sorted(set(data) - {f.name for f in fields(cls)})
        if unknown:
            raise SpikebridgeConfigError(f"unknown QFTrainConfig field(s): {', '.join(unknown)}")
        return cls(**data)

    @classmethod
    def profile(cls, name: str, **overrides: Any) -> QFTrainConfig:
        """``tiny`` (tests, seconds), ``quick`` (CPU, about a minute per stage) or ``paper``."""
        budgets = {
            "tiny": dict(pretrain_epochs=2, finetune_epochs=2, batch_size=64, patience=2, pretrain_lr=2e-3,
                         finetune_lr=2e-3, samples_per_epoch=256, val_samples=128, lstm_hidden=16),
            "quick": dict(pretrain_epochs=20, finetune_epochs=60, batch_size=128, patience=8, pretrain_lr=1e-3,
                          finetune_lr=1e-2, encoder_lr_scale=0.1, lstm_lr=3e-3, samples_per_epoch=2048,
                          val_samples=1024, lstm_hidden=32),
            "paper": {},
        }  # fmt: skip
        if name not in budgets:
            raise SpikebridgeConfigError(f"profile must be one of {tuple(budgets)}, got {name!r}")
        return cls(**{**budgets[name], **overrides})


def class_balance(active: np.ndarray) -> float:
    """``n_inactive / n_active`` of a label vector (1.0 when a class is missing)."""
    n_pos = int(np.count_nonzero(active))
    n_neg = int(active.size - n_pos)
    return n_neg / n_pos if n_pos and n_neg else 1.0


class ObsBatches(torch.utils.data.Dataset):
    """Observations as tensors; indexing with a list of positions returns a whole batch at once."""

    def __init__(self, obs: Observations) -> None:
        self.baseline = torch.from_numpy(np.ascontiguousarray(obs.baseline, dtype=np.float32))
        self.response = torch.from_numpy(np.ascontiguousarray(obs.response, dtype=np.float32))
        self.neuron = torch.from_numpy(obs.neuron.astype(np.int64))
        self.stimulus = torch.from_numpy(obs.stimulus.astype(np.int64))
        self.active = torch.from_numpy(obs.active.astype(np.float32))
        self.positions = torch.arange(len(self.baseline))  # each observation's position in ``obs``

    def __len__(self) -> int:
        return len(self.baseline)

    def __getitem__(self, index) -> dict[str, torch.Tensor]:
        return {"baseline": self.baseline[index], "response": self.response[index], "neuron": self.neuron[index],
                "stimulus": self.stimulus[index], "active": self.active[index],
                "index": self.positions[index]}  # fmt: skip


def batch_loader(
    obs: Observations, batch_size: int, shuffle: bool, n_samples: int | None = None, seed: int = 0
):
    """A DataLoader of whole batches: shuffled draws of ``n_samples`` per epoch, or every observation in order."""
    from torch.utils.data import BatchSampler, DataLoader, RandomSampler, SequentialSampler

    data = ObsBatches(obs)
    if shuffle:
        generator = torch.Generator().manual_seed(seed)
        n = min(n_samples or len(data), len(data))
        base = RandomSampler(data, replacement=False, num_samples=n, generator=generator)
    else:
        base = SequentialSampler(data)
    return DataLoader(data, sampler=BatchSampler(base, batch_size, drop_last=False), batch_size=None)


def evenly_spaced(n: int, k: int | None) -> np.ndarray:
    """Positions of at most ``k`` evenly spaced items out of ``n`` (all when ``k`` is None)."""
    if k is None or k >= n:
        return np.arange(n)
    return np.unique(np.linspace(0, n - 1, k).round().astype(np.int64))


class _Stage(L.LightningModule):
    """Shared bookkeeping: epoch means of the training and validation losses, Adam, finite-loss guard.

    ``val_select`` is the validation quantity that picks the kept epoch and drives early stopping
    (lower is better): the validation loss, unless a stage sets ``_select`` (the classifier: minus
    its validation balanced accuracy).
    """

    def __init__(self, lr: float) -> None:
        super().__init__()
        self.lr = lr
        self._sums = {"train": [0.0, 0], "val": [0.0, 0]}
        self.epoch_metrics: dict[str, float] = {}
        self._extra: dict[str, float] = {}
        self._select: float | None = None

    def _track(self, part: str, loss: torch.Tensor, n: int) -> None:
        if not torch.isfinite(loss):
            raise SpikebridgeError(
                f"{part} loss became {loss.item()} at epoch {self.current_epoch}; lower the learning rate"
            )
        self._sums[part][0] += loss.item() * n
        self._sums[part][1] += n

    def on_validation_epoch_end(self) -> None:
        if self.trainer.sanity_checking:
            self._sums["val"] = [0.0, 0]
            return
        mean = {k: (s / c if c else math.nan) for k, (s, c) in self._sums.items()}
        select = mean["val"] if self._select is None else self._select
        self.epoch_metrics = {"epoch": self.current_epoch, "train_loss": mean["train"], "val_loss": mean["val"],
                              **self._extra, "val_select": select}  # fmt: skip
        self.log("val_select", select, prog_bar=True)
        self._sums = {"train": [0.0, 0], "val": [0.0, 0]}
        self._extra, self._select = {}, None

    def param_groups(self) -> list[dict]:
        """Adam parameter groups: pre-trained parts at ``lr * encoder_lr_scale``, new ones at ``lr``."""
        new = {id(p) for p in getattr(self.model, "prompt_parameters", list)()}
        scale = getattr(self.cfg, "encoder_lr_scale", 1.0) if new else 1.0
        trainable = [p for p in self.model.parameters() if p.requires_grad]
        groups = [{"params": [p for p in trainable if id(p) in new], "lr": self.lr},
                  {"params": [p for p in trainable if id(p) not in new], "lr": self.lr * scale}]  # fmt: skip
        return [g for g in groups if g["params"]]

    def configure_optimizers(self) -> torch.optim.Optimizer:
        return torch.optim.Adam(self.param_groups())


class PretrainModule(_Stage):
    """Masked, quantized auto-encoding of whole windows (baseline + response)."""

    def __init__(self, model, cfg: QFTrainConfig, beta: float, val_seed: int = 12345) -> None:
        super().__init__(cfg.pretrain_lr)
        self.model, self.cfg, self.beta, self.val_seed = model, cfg, float(beta), val_seed
        self._val_codes: list[torch.Tensor] = []

    def _mask(self, n: int, generator: torch.Generator | None = None) -> torch.Tensor:
        p = self.model.cfg.n_patches
        return torch.rand(n, p, generator=generator, device="cpu").to(self.device) < self.cfg.mask_ratio

    def _frame_mask(self, mask: torch.Tensor) -> torch.Tensor:
        """Patch mask (B, P) -> frame mask (B, L_b + L_f), cropped like the reconstruction."""
        c = self.model.cfg
        frames = mask.repeat_interleave(c.patch_size, dim=1)  # (B, P * patch)
        left = c.baseline_patches * c.patch_size - c.baseline_len
        return frames[:, left : left + c.baseline_len + c.response_len]

    def loss(self, batch: dict[str, torch.Tensor], mask: torch.Tensor):
        rec, q = self.model(batch["baseline"], batch["response"], mask)
        scale = self.model.patches.input_scale
        target = torch.cat([batch["baseline"], batch["response"]], dim=1)
        err = ((rec - target) / scale) ** 2  # (B, L)
        fm = self._frame_mask(mask).float()
        masked = (err * fm).sum(1) / fm.sum(1).clamp(min=1)
        unmasked = (err * (1 - fm)).sum(1) / (1 - fm).sum(1).clamp(min=1)
        weight = 1.0 + batch["active"] * self.beta
        rec_loss = (weight * (self.cfg.alpha * masked + unmasked)).mean()
        total = (
            rec_loss
            + self.cfg.codebook_weight * q.codebook_loss
            + self.cfg.commitment_weight * q.commitment_loss
        )
        return total, q

    def training_step(self, batch, batch_idx):
        loss, q = self.loss(batch, self._mask(len(batch["baseline"])))
        self._track("train", loss, len(batch["baseline"]))
        return loss

    def on_validation_epoch_start(self) -> None:
        self._val_gen = torch.Generator().manual_seed(self.val_seed)  # the same masks every epoch
        self._val_codes = []

    def validation_step(self, batch, batch_idx):
        loss, q = self.loss(batch, self._mask(len(batch["baseline"]), self._val_gen))
        self._track("val", loss, len(batch["baseline"]))
        self._val_codes.append(q.indices.flatten().cpu())

    def on_validation_epoch_end(self) -> None:
        if self._val_codes:
            counts = torch.bincount(
                torch.cat(self._val_codes), minlength=self.model.cfg.codebook_size
            ).double()
            p = counts / counts.sum()
            self._extra = {"val_perplexity": float(torch.exp(-(p[p > 0] * p[p > 0].log()).sum())),
                           "val_dead_codes": int((counts == 0).sum())}  # fmt: skip
        super().on_validation_epoch_end()


class ClassifierModule(_Stage):
    """Active / inactive classification from the baseline, neuron and stimulus."""

    def __init__(self, model, cfg: QFTrainConfig, pos_weight: float) -> None:
        super().__init__(cfg.finetune_lr)
        self.model, self.cfg = model, cfg
        self.register_buffer("pos_weight", torch.tensor(float(pos_weight)))
        self._val_scores: list[torch.Tensor] = []
        self._val_labels: list[torch.Tensor] = []

    def loss(self, batch, logits=None):
        logits = (
            self.model(batch["baseline"], batch["neuron"], batch["stimulus"]) if logits is None else logits
        )
        return F.binary_cross_entropy_with_logits(logits, batch["active"], pos_weight=self.pos_weight)

    def training_step(self, batch, batch_idx):
        loss = self.loss(batch)
        self._track("train", loss, len(batch["baseline"]))
        return loss

    def validation_step(self, batch, batch_idx):
        logits = self.model(batch["baseline"], batch["neuron"], batch["stimulus"])
        self._track("val", self.loss(batch, logits), len(batch["baseline"]))
        self._val_scores.append(logits.detach().cpu())
        self._val_labels.append(batch["active"].cpu())

    def on_validation_epoch_end(self) -> None:
        """Select epochs on validation balanced accuracy (at the validation-chosen threshold)."""
        from spikebridge.baselines.traces import balanced_accuracy, balanced_threshold

        if self._val_scores and not self.trainer.sanity_checking:
            scores, labels = torch.cat(self._val_scores).numpy(), torch.cat(self._val_labels).numpy() > 0.5
            ba = balanced_accuracy(scores >= balanced_threshold(scores, labels), labels)
            self._extra, self._select = {"val_balanced_accuracy": ba}, -ba
        self._val_scores, self._val_labels = [], []
        super().on_validation_epoch_end()


class ForecasterModule(_Stage):
    """Classification of the codes of the masked response patches (paper eq. 4).

    The targets come from the frozen backbone (always in eval mode), so an observation's target codes
    never change during tuning: each is computed the first time its observation is drawn and kept
    (per part, by the observation's position), instead of once per draw.
    """

    def __init__(self, model, cfg: QFTrainConfig, beta: float = 0.0) -> None:
        super().__init__(cfg.finetune_lr)
        self.model, self.cfg, self.beta = model, cfg, float(beta)
        self._targets: dict[str, dict[int, torch.Tensor]] = {"train": {}, "val": {}}

    def targets(self, batch, part: str) -> torch.Tensor:
        """Target codes (B, P_f) of a batch, computed only for observations not seen before in ``part``."""
        known = self._targets[part]
        index = batch["index"].tolist()
        new = [i for i, k in enumerate(index) if k not in known]
        if new:
            pick = torch.as_tensor(new, device=batch["baseline"].device)
            codes = self.model.target_codes(batch["baseline"][pick], batch["response"][pick])  # (b, P_f)
            known.update(zip((index[i] for i in new), codes, strict=True))
        return torch.stack([known[k] for k in index])

    def loss(self, batch, part: str):
        logits = self.model(batch["baseline"], batch["neuron"], batch["stimulus"])  # (B, P_f, K)
        targets = self.targets(batch, part)  # (B, P_f)
        ce = F.cross_entropy(logits.reshape(-1, logits.shape[-1]), targets.reshape(-1), reduction="none")
        weight = 1.0 + batch["active"] * self.beta  # (B,)
        return (weight * ce.reshape(targets.shape).sum(dim=1)).mean()

    def training_step(self, batch, batch_idx):
        loss = self.loss(batch, "train")
        self._track("train", loss, len(batch["baseline"]))
        return loss

    def validation_step(self, batch, batch_idx):
        self._track("val", self.loss(batch, "val"), len(batch["baseline"]))


class LSTMModule(_Stage):
    """Mean squared error of the LSTM's forecast, in the model's scaled units."""

    def __init__(self, model, cfg: QFTrainConfig) -> None:
        super().__init__(cfg.lstm_lr)
        self.model, self.cfg = model, cfg

    def loss(self, batch):
        scale = self.model.input_scale
        return F.mse_loss(self.model(batch["baseline"]) / scale, batch["response"] / scale)

    def training_step(self, batch, batch_idx):
        loss = self.loss(batch)
        self._track("train", loss, len(batch["baseline"]))
        return loss

    def validation_step(self, batch, batch_idx):
        self._track("val", self.loss(batch), len(batch["baseline"]))
