"""Read a fitted transformer's per-epoch log (``metrics.csv``) without importing torch or Lightning."""

from __future__ import annotations

import csv
import json
import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from spikebridge.errors import SpikebridgeDataError

NEEDED = ("epoch", "train_loss", "val_loss", "val_auc")


@dataclass(frozen=True)
class TrainingHistory:
    """Per-epoch training record of one fitted model.

    Attributes
    ----------
    epochs : tuple of int
    train_loss, val_loss : tuple of float
        Mean training loss of the epoch and validation loss (the model's own loss, unitless).
    val_auc, val_auc_unit_mean : tuple of float
        Validation ROC-AUC pooled over units and bins, and its mean over units (NaN when not logged).
    best_epoch : int or None
        The epoch whose checkpoint was kept (chosen on validation), when known.
    """

    epochs: tuple[int, ...]
    train_loss: tuple[float, ...]
    val_loss: tuple[float, ...]
    val_auc: tuple[float, ...]
    val_auc_unit_mean: tuple[float, ...]
    best_epoch: int | None = None

    def to_dict(self) -> dict[str, Any]:
        def clean(values):
            return [v if math.isfinite(v) else None for v in values]

        return {
            "epochs": list(self.epochs),
            "train_loss": clean(self.train_loss),
            "val_loss": clean(self.val_loss),
            "val_auc": clean(self.val_auc),
            "val_auc_unit_mean": clean(self.val_auc_unit_mean),
            "best_epoch": self.best_epoch,
        }


def _float(text: str | None) -> float:
    try:
        return float(text) if text not in (None, "") else math.nan
    except ValueError:
        return math.nan


def read_history(model_dir: str | Path) -> TrainingHistory:
    """The history in ``model_dir/metrics.csv``, with the best epoch from ``model.json`` when present.

    Raises
    ------
    SpikebridgeDataError
        If the CSV is missing, lacks a needed column or has no epoch.
    """
    model_dir = Path(model_dir)
    path = model_dir / "metrics.csv"
    if not path.is_file():
        raise SpikebridgeDataError(f"{path}: no per-epoch training log here")
    with open(path, newline="") as fh:
        reader = csv.DictReader(fh)
        missing = [c for c in NEEDED if c not in (reader.fieldnames or [])]
        if missing:
            raise SpikebridgeDataError(f"{path}: missing column(s) {', '.join(missing)}")
        rows = list(reader)
    if not rows:
        raise SpikebridgeDataError(f"{path}: no epoch logged")
    try:
        epochs = tuple(int(float(r["epoch"])) for r in rows)
    except ValueError as exc:
        raise SpikebridgeDataError(f"{path}: epoch column is not a number ({exc})") from exc
    return TrainingHistory(
        epochs=epochs,
        train_loss=tuple(_float(r["train_loss"]) for r in rows),
        val_loss=tuple(_float(r["val_loss"]) for r in rows),
        val_auc=tuple(_float(r["val_auc"]) for r in rows),
        val_auc_unit_mean=tuple(_float(r.get("val_auc_unit_mean")) for r in rows),
        best_epoch=_best_epoch(model_dir / "model.json"),
    )


def _best_epoch(meta: Path) -> int | None:
    if not meta.is_file():
        return None
    try:
        best = json.loads(meta.read_text()).get("fit", {}).get("best_epoch")
    except (json.JSONDecodeError, AttributeError):
        return None
    return int(best) if isinstance(best, int | float) and best >= 0 else None
