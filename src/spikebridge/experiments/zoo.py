"""The models of the study under one name space: fit on a prepared recording, predict any raster.

Names: ``transformer-<loss>`` (loss in dice, focal, bce, wbce) and the baselines ``rate``,
``history`` and ``glm``. :func:`fit_model` writes the fitted model to a folder and returns a small
payload; :func:`load_predictor` turns that folder back into a ``raster -> probabilities`` function
with the same alignment for every model: row t of the output is P(spike at bin t+1 | bins <= t).
"""

from __future__ import annotations

import json
import pickle
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from spikebridge.errors import SpikebridgeConfigError, SpikebridgeDataError
from spikebridge.preprocess.prepare import PreparedRecording

LOSSES = ("dice", "focal", "bce", "wbce")
BASELINES = ("rate", "history", "glm")
PROFILES = ("tiny", "quick", "paper")
Predictor = Callable[[np.ndarray], np.ndarray]


@dataclass(frozen=True)
class ModelSpec:
    """What to fit: a model name, a size profile (transformers) and a seed."""

    name: str
    profile: str = "quick"
    seed: int = 0
    max_epochs: int | None = None
    accelerator: str = "auto"
    precision: str = "32"

    def __post_init__(self) -> None:
        if self.name not in model_names():
            raise SpikebridgeConfigError(f"unknown model {self.name!r}; known: {', '.join(model_names())}")
        if self.profile not in PROFILES:
            raise SpikebridgeConfigError(f"profile must be one of {PROFILES}, got {self.profile!r}")

    @property
    def is_transformer(self) -> bool:
        return self.name.startswith("transformer-")

    @property
    def loss(self) -> str:
        return self.name.split("-", 1)[1]

    def to_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "profile": self.profile,
            "seed": self.seed,
            "max_epochs": self.max_epochs,
            "accelerator": self.accelerator,
            "precision": self.precision,
        }


def model_names() -> tuple[str, ...]:
    return tuple(f"transformer-{loss}" for loss in LOSSES) + BASELINES


def train_config(spec: ModelSpec):
    """The training configuration of a transformer spec (the profile decides its size and budget)."""
    from spikebridge.training.fit import TrainConfig

    if spec.profile == "paper":
        base = dict(window=5000, batch_size=4, windows_per_epoch=128, max_epochs=200, patience=20, lr=1e-3)
    elif spec.profile == "tiny":
        base = dict(
            window=64, batch_size=16, windows_per_epoch=64, max_epochs=2, patience=2, lr=3e-3, val_windows=8
        )
    else:
        base = dict(
            window=256,
            batch_size=32,
            windows_per_epoch=512,
            max_epochs=20,
            patience=5,
            lr=5e-3,
            val_windows=100,
        )
    if spec.max_epochs is not None:
        base["max_epochs"] = spec.max_epochs
    loss_kwargs = {"pos_weight": None} if spec.loss == "wbce" else {}
    return TrainConfig(loss=spec.loss, loss_kwargs=loss_kwargs, seed=spec.seed, **base)


def model_config(spec: ModelSpec, n_units: int):
    from spikebridge.models.spike_transformer import SpikeTransformerConfig

    return SpikeTransformerConfig.profile(spec.profile, n_units=n_units)


def make_baseline(name: str, seed: int = 0):
    from spikebridge.baselines import CoupledGLMBaseline, OwnHistoryBaseline, RateBaseline

    cls = {"rate": RateBaseline, "history": OwnHistoryBaseline, "glm": CoupledGLMBaseline}[name]
    return cls(seed=seed)


def fit_model(
    spec: ModelSpec, prep: PreparedRecording, out_dir: Path, progress: bool = False
) -> dict[str, Any]:
    """Fit ``spec`` on the fit part of ``prep`` (validation part for model selection); write it to ``out_dir``."""
    from spikebridge.atomic import atomic_path, write_text_atomic

    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    start = time.perf_counter()
    payload: dict[str, Any] = {
        "spec": spec.to_dict(),
        "source": prep.info.name,
        "data_hash": prep.data_hash(),
    }
    if spec.is_transformer:
        from spikebridge.training.fit import fit_transformer

        result = fit_transformer(
            prep.fit.data,
            prep.val.data,
            prep.unit_mask,
            model_config(spec, prep.selection.n_columns),
            train_config(spec),
            out_dir,
            data_hash=prep.data_hash(),
            progress=progress,
        )
        payload.update(artifact="best.ckpt", fit=result.to_dict())
    else:
        model = make_baseline(spec.name, spec.seed).fit(prep.fit.data, prep.unit_mask)
        with atomic_path(out_dir / "baseline.pkl") as tmp:
            tmp.write_bytes(pickle.dumps(model))
        payload.update(artifact="baseline.pkl", fit={"config": getattr(model, "config", {})})
    payload["seconds"] = time.perf_counter() - start
    write_text_atomic(out_dir / "model.json", json.dumps(payload, indent=2, default=str))
    return payload


def load_predictor(model_dir: Path, device: str = "cpu", progress: bool = False) -> tuple[Predictor, dict]:
    """A ``raster (T, N) -> probabilities (T-1, N)`` function for a folder written by :func:`fit_model`."""
    model_dir = Path(model_dir)
    meta_path = model_dir / "model.json"
    if not meta_path.is_file():
        raise SpikebridgeDataError(f"{model_dir}: no fitted model here (model.json missing)")
    payload = json.loads(meta_path.read_text())
    artifact = model_dir / payload["artifact"]
    if payload["artifact"] == "best.ckpt":
        from spikebridge.training.predict import load_model, predict_proba

        model = load_model(artifact, device=device)
        return (lambda raster: predict_proba(model, raster, device=device, progress=progress)), payload
    try:
        model = pickle.loads(artifact.read_bytes())
    except Exception as exc:
        raise SpikebridgeDataError(f"{artifact}: cannot load the fitted baseline ({exc})") from exc
    return model.predict_proba, payload
