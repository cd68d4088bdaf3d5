"""The models of the study under one name space: fit on a prepared recording, predict any raster.

A model is a typed :class:`ModelSpec`: an architecture (a neural one from
:data:`spikebridge.models.registry.ARCHITECTURES`, or a baseline from :data:`BASELINES`), a loss
(neural only), a size profile and a seed. Its canonical name, used in tables, stores and folders, is
``<architecture>-<loss>`` (``bridge-bce``, ``paper-dice``) or the baseline's name (``rate``,
``history``, ``glm``); :meth:`ModelSpec.parse` reads such a name back at the command line.

:func:`fit_model` writes the fitted model to a folder and returns a small payload;
:func:`load_predictor` turns that folder back into a ``raster -> probabilities`` function with the
same alignment for every model: row t of the output is P(spike at bin t+1 | bins <= t).
"""

from __future__ import annotations

import json
import pickle
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, fields
from importlib import import_module
from pathlib import Path
from typing import Any

import numpy as np

from spikebridge.errors import SpikebridgeConfigError, SpikebridgeDataError
from spikebridge.models.registry import ARCHITECTURES, architecture
from spikebridge.preprocess.prepare import PreparedRecording
from spikebridge.provenance import file_hash

LOSSES = ("dice", "focal", "bce", "wbce")
BASELINES = {
    "rate": "spikebridge.baselines.rate:RateBaseline",
    "history": "spikebridge.baselines.history:OwnHistoryBaseline",
    "glm": "spikebridge.baselines.glm:CoupledGLMBaseline",
}
LEGACY_ARCHITECTURES = {"transformer": "paper"}  # names of earlier releases
Predictor = Callable[[np.ndarray], np.ndarray]

# Training settings per training pipeline (see the registry) and profile. The paper model's quick budget
# (12 epochs) is where its validation loss flattens: over the 12 quick fits of a 20-epoch study (10
# recordings, Dice and focal), the best validation loss of the first 12 epochs was within 0.7% of the best
# of all epochs in 11 fits and within 2.9% in the last (validation curves only; test parts never looked at).
TRAIN_PROFILES: dict[str, dict[str, dict[str, Any]]] = {
    "windows": {
        "paper": dict(window=5000, batch_size=4, windows_per_epoch=128, max_epochs=200, patience=20, lr=1e-3),
        "quick": dict(window=256, batch_size=32, windows_per_epoch=512, max_epochs=12, patience=5, lr=5e-3,
                      val_windows=100),
        "tiny": dict(window=64, batch_size=16, windows_per_epoch=64, max_epochs=2, patience=2, lr=3e-3,
                     val_windows=8),
    },
    "features": {
        "full": dict(window=256, batch_size=16, max_epochs=8, patience=2, lr=3e-3),
        "quick": dict(window=256, batch_size=16, windows_per_epoch=512, max_epochs=10, patience=2, lr=3e-3),
        "tiny": dict(window=64, batch_size=8, windows_per_epoch=64, max_epochs=2, patience=2, lr=1e-2),
        # per-column part solved full-batch (prior path chosen per unit on validation), then the shared
        # part trained on what it leaves; the solved columns move only as far as column_lr lets them
        "exact": dict(window=256, batch_size=16, windows_per_epoch=512, max_epochs=2, patience=2, lr=3e-3,
                      column_solve=(0.1, 0.3, 1.0), column_lr=1e-5, shared_loss_weight=0.0),
    },
}  # fmt: skip


@dataclass(frozen=True)
class ModelSpec:
    """What to fit: architecture, loss, size profile, seed (and the trainer's device settings).

    Attributes
    ----------
    architecture : str
        A key of the architecture registry (``"bridge"``, ``"paper"``) or of :data:`BASELINES`.
    loss : str or None
        ``dice``, ``focal``, ``bce`` or ``wbce`` for a neural architecture; None for a baseline.
    profile : str
        Size profile of a neural architecture (its registry entry lists them); baselines ignore it.
    seed, max_epochs, accelerator, precision
        Training seed, epoch limit (None: the profile's), Lightning accelerator and precision.
    """

    architecture: str
    loss: str | None = None
    profile: str = "quick"
    seed: int = 0
    max_epochs: int | None = None
    accelerator: str = "auto"
    precision: str = "32"

    def __post_init__(self) -> None:
        if self.architecture in BASELINES:
            if self.loss is not None:
                raise SpikebridgeConfigError(
                    f"baseline {self.architecture!r} takes no loss, got {self.loss!r}"
                )
            return
        if self.architecture not in ARCHITECTURES:
            raise SpikebridgeConfigError(
                f"unknown model {self.architecture!r}; known: {', '.join(model_names())}"
            )
        if self.loss not in LOSSES:
            raise SpikebridgeConfigError(f"loss must be one of {', '.join(LOSSES)}, got {self.loss!r}")
        architecture(self.architecture).make_config(self.profile)  # validates the profile

    @property
    def is_neural(self) -> bool:
        return self.architecture in ARCHITECTURES

    @property
    def name(self) -> str:
        """Canonical name: ``bridge-bce``, ``paper-dice``, ``glm``."""
        return f"{self.architecture}-{self.loss}" if self.is_neural else self.architecture

    @classmethod
    def parse(cls, name: str, **settings: Any) -> ModelSpec:
        """The spec of a canonical name (``bridge-bce``, ``paper-focal``, ``history``) with ``settings``."""
        name = name.strip()
        if name in BASELINES:
            return cls(name, None, **settings)
        arch, sep, loss = name.rpartition("-")
        arch = LEGACY_ARCHITECTURES.get(arch, arch)
        if not sep or arch not in ARCHITECTURES:
            raise SpikebridgeConfigError(f"unknown model {name!r}; known: {', '.join(model_names())}")
        return cls(arch, loss, **settings)

    def to_dict(self) -> dict[str, Any]:
        return {**asdict(self), "name": self.name}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> ModelSpec:
        return cls(**{f.name: data[f.name] for f in fields(cls) if f.name in data})


def model_names() -> tuple[str, ...]:
    """Every canonical model name."""
    return tuple(f"{a}-{loss}" for a in ARCHITECTURES for loss in LOSSES) + tuple(BASELINES)


def is_neural(name: str) -> bool:
    """Whether a canonical model name (``bridge-bce``, ``paper-dice``, ``glm``) is a neural model; False
    for names that are not models of the zoo."""
    try:
        return ModelSpec.parse(name).is_neural
    except SpikebridgeConfigError:
        return False


def parse_models(names: str | list[str] | tuple[str, ...], **settings: Any) -> tuple[ModelSpec, ...]:
    """Specs of comma-separated (or listed) model names, in order, without duplicates."""
    items = names.split(",") if isinstance(names, str) else list(names)
    specs = [ModelSpec.parse(n, **settings) for n in items if n.strip()]
    return tuple(dict.fromkeys(specs))


def training_budget(spec: ModelSpec) -> dict[str, Any] | None:
    """The profile's training settings of a neural spec (window, batch, epochs, ...); None for a baseline.

    Recorded in ``model.json``: a stored model is reused only when it was trained with the same budget.
    """
    if not spec.is_neural:
        return None
    arch = architecture(spec.architecture)
    base = dict(TRAIN_PROFILES[arch.training][arch.resolve_profile(spec.profile)])
    if spec.max_epochs is not None:
        base["max_epochs"] = spec.max_epochs
    return base


def train_config(spec: ModelSpec):
    """The training configuration of a neural spec (the profile decides its size and budget)."""
    from spikebridge.training.fit import TrainConfig
    from spikebridge.training.fit_bridge import BridgeTrainConfig

    pipeline = architecture(spec.architecture).training
    base = training_budget(spec)
    loss_kwargs = {"pos_weight": None} if spec.loss == "wbce" else {}
    cls = BridgeTrainConfig if pipeline == "features" else TrainConfig
    return cls(loss=spec.loss, loss_kwargs=loss_kwargs, seed=spec.seed, accelerator=spec.accelerator,
               precision=spec.precision, **base)  # fmt: skip


def model_config(spec: ModelSpec, n_units: int):
    """The architecture configuration of a neural spec for ``n_units`` columns."""
    return architecture(spec.architecture).make_config(spec.profile, n_units=n_units)


def make_baseline(name: str, seed: int = 0):
    module, cls = BASELINES[name].split(":")
    return getattr(import_module(module), cls)(seed=seed)


def fit_model(
    spec: ModelSpec, prep: PreparedRecording, out_dir: Path, progress: bool = False
) -> dict[str, Any]:
    """Fit ``spec`` on the fit part of ``prep`` (validation part for model selection); write it to ``out_dir``.

    The payload (also written as ``model.json``) records the spec, the source recording, its data
    hash and its real columns (``unit_mask``), which :func:`load_predictor` uses on other recordings.
    """
    from spikebridge.atomic import atomic_path, write_text_atomic

    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    start = time.perf_counter()
    payload: dict[str, Any] = {"spec": spec.to_dict(), "source": prep.info.name, "data_hash": prep.data_hash(),
                               "unit_mask": prep.unit_mask.tolist(), "training": training_budget(spec)}  # fmt: skip
    if spec.is_neural:
        from spikebridge.training.fit import fit_network

        result = fit_network(prep.fit.data, prep.val.data, prep.unit_mask,
                             model_config(spec, prep.selection.n_columns), train_config(spec), out_dir,
                             data_hash=prep.data_hash(), progress=progress)  # fmt: skip
        payload.update(artifact="best.ckpt", fit=result.to_dict())
    else:
        model = make_baseline(spec.architecture, spec.seed).fit(prep.fit.data, prep.unit_mask)
        with atomic_path(out_dir / "baseline.pkl") as tmp:
            tmp.write_bytes(pickle.dumps(model))
        payload.update(artifact="baseline.pkl", fit={"config": getattr(model, "config", {})})
    payload["seconds"] = time.perf_counter() - start
    write_text_atomic(out_dir / "model.json", json.dumps(payload, indent=2, default=str))
    return payload


def scored_columns(payload: dict, target: PreparedRecording) -> np.ndarray:
    """Columns that are real both in the model's training recording and in ``target``, ``(N,)`` bool."""
    source = np.asarray(payload.get("unit_mask", np.ones_like(target.unit_mask)), dtype=bool)
    if source.shape != target.unit_mask.shape:
        raise SpikebridgeDataError(
            f"the model has {source.size} columns but the target {target.info.name} has {target.unit_mask.size}"
        )
    return source & target.unit_mask


def fitted_model_dir(root: Path, source_key: str, spec: ModelSpec) -> Path:
    """Folder of one fitted model in the model store under ``root``: ``root/models/SOURCE/NAME-PROFILE-sSEED``.

    Every stage of a study (evaluation, matrix, realism, explanation) reads and writes this one
    layout, so a model is fitted once per study; :func:`fit_or_reuse` checks that a stored model
    matches the specification and the data.
    """
    return Path(root) / "models" / source_key / f"{spec.name}-{spec.profile}-s{spec.seed}"


def stored_fit(spec: ModelSpec, data_hash: str, model_dir: Path) -> dict | None:
    """The payload of the model in ``model_dir`` when it was fitted with ``spec`` on data ``data_hash``, else None."""
    meta = Path(model_dir) / "model.json"
    if not meta.is_file():
        return None
    payload = json.loads(meta.read_text())
    if payload.get("spec") != spec.to_dict() or payload.get("data_hash") != data_hash:
        return None
    budget = training_budget(spec)
    if "training" in payload:
        return payload if payload["training"] == budget else None
    # model.json of earlier releases: accept a model that trained within the current epoch budget
    epochs_run = payload.get("fit", {}).get("epochs_run", 0)
    return payload if budget is None or epochs_run <= budget["max_epochs"] else None


def model_fingerprint(model_dir: Path) -> str:
    """Hash of a fitted model's ``model.json`` (a refit writes a new one): results scored with it name it."""
    return file_hash(Path(model_dir) / "model.json")


def fit_or_reuse(spec: ModelSpec, prep: PreparedRecording, model_dir: Path, recompute: bool = False) -> dict:
    """The payload of the model in ``model_dir`` when it was fitted with ``spec`` on ``prep``'s data (with
    ``"reused": True``, so callers can tell a stored fit from a new one); else fit it."""
    payload = None if recompute else stored_fit(spec, prep.data_hash(), model_dir)
    if payload is not None:
        return {**payload, "reused": True}
    return fit_model(spec, prep, Path(model_dir), progress=False)


def load_predictor(
    model_dir: Path,
    target: PreparedRecording | None = None,
    device: str = "cpu",
    progress: bool = False,
    target_hash: str | None = None,
) -> tuple[Predictor, dict]:
    """A ``raster (T, N) -> probabilities (T-1, N)`` function for a folder written by :func:`fit_model`.

    With ``target``, the function reads only the columns real in both recordings (the others are
    zeroed: a source's padding columns never learned anything), and a model with per-column
    parameters uses them only when ``target`` is its own training recording. ``target_hash`` is
    ``target.data_hash()`` when the caller has it already (it hashes every raster of the target).
    """
    model_dir = Path(model_dir)
    meta_path = model_dir / "model.json"
    if not meta_path.is_file():
        raise SpikebridgeDataError(f"{model_dir}: no fitted model here (model.json missing)")
    payload = json.loads(meta_path.read_text())
    artifact = model_dir / payload["artifact"]
    mask = None if target is None else scored_columns(payload, target)
    own_recording = target is None or (target_hash or target.data_hash()) == payload["data_hash"]
    if payload["artifact"] == "best.ckpt":
        from spikebridge.training.predict import load_model, predict_proba

        model = load_model(artifact, device=device)
        return (lambda raster: predict_proba(model, raster, device=device, progress=progress, unit_mask=mask,
                                             columns=own_recording)), payload  # fmt: skip
    try:
        model = pickle.loads(artifact.read_bytes())
    except Exception as exc:
        raise SpikebridgeDataError(f"{artifact}: cannot load the fitted baseline ({exc})") from exc
    if mask is None:
        return model.predict_proba, payload
    return (lambda raster: model.predict_proba(np.asarray(raster, dtype=bool) & mask[None, :])), payload
