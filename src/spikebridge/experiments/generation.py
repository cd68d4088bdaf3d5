"""Generate activity from a trained checkpoint, seeded with a real prefix, and write it to a file.

The prefix is the last bins *before the test part* of the prefix recording (the end of its validation
part), prepared with the model's column count: generation never sees test data, and a generated
trial plays the role of the test part's first ``seconds`` (see :mod:`spikebridge.experiments.realism`).
The prefix recording may differ from the training recording (cross-recording generation): its columns
are its own units ordered by its own training rate, and its padding columns stay silent.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from spikebridge import __version__
from spikebridge.data.generated import GeneratedSpikes
from spikebridge.errors import SpikebridgeConfigError
from spikebridge.preprocess.prepare import PrepareConfig, PreparedRecording
from spikebridge.provenance import git_commit

STATEFUL_PREFIX_BINS = (
    20_000  # real bins read before generating with a stateful model (its long traces warm up)
)
# Rate anchoring of bridge models (spikebridge.training.bridge_engine): traces of 1 s and slower are the
# model's estimates of each unit's (and the population's) current rate, held at the prefix's values.
DEFAULT_ANCHOR_TAU = 1000.0


def prefix_bins(prep: PreparedRecording, n_bins: int) -> np.ndarray:
    """The last ``n_bins`` bins before the test part (validation part, then the fit part) ``(L, N)``."""
    before = np.concatenate([prep.fit.data[-n_bins:], prep.val.data[-n_bins:]])
    return before[-n_bins:]


@dataclass(frozen=True)
class GenerationRequest:
    """What to generate: ``trials`` x ``seconds`` from ``checkpoint`` after a prefix of ``prefix``.

    ``anchor_tau`` turns on rate anchoring (bridge models only; see
    :mod:`spikebridge.training.bridge_engine` and :data:`DEFAULT_ANCHOR_TAU`).
    """

    checkpoint: str
    prefix: str
    seconds: float
    trials: int = 1
    temperature: float = 1.0
    seed: int = 0
    chunk: int | None = None
    engine: str = "auto"
    anchor_tau: float | None = None

    def __post_init__(self) -> None:
        from spikebridge.training.engines import ENGINES
        from spikebridge.training.generate import GenerateConfig

        if not self.seconds > 0:
            raise SpikebridgeConfigError(f"seconds must be positive, got {self.seconds!r}")
        if self.engine not in ENGINES:
            raise SpikebridgeConfigError(f"engine must be one of {ENGINES}, got {self.engine!r}")
        GenerateConfig(1, self.trials, self.temperature, self.seed, self.chunk, self.engine, self.anchor_tau)

    def to_dict(self) -> dict[str, Any]:
        return dict(self.__dict__)


def _model_provenance(checkpoint: Path) -> dict[str, Any]:
    """Name, training recording and configs of the model, from the checkpoint and its model.json."""
    from spikebridge.training.checkpoint import load_checkpoint

    ckpt = load_checkpoint(checkpoint)
    meta_path = checkpoint.parent / "model.json"
    meta = json.loads(meta_path.read_text()) if meta_path.is_file() else {}
    loss = ckpt.train_config.get("loss")
    return {
        "model": meta.get("spec", {}).get("name") or _model_name(ckpt.model_class, loss),
        "model_class": ckpt.model_class,
        "model_source": meta.get("source", ""),
        "model_config": ckpt.model_config,
        "train_config": ckpt.train_config,
        "model_data_hash": ckpt.data_hash,
        "model_git_commit": ckpt.git_commit,
    }


def _model_name(model_class: str, loss: str | None) -> str:
    """Canonical name of a checkpoint without a model.json (``paper-bce``), or its class name."""
    from spikebridge.models.registry import ARCHITECTURES

    arch = next((a for a in ARCHITECTURES.values() if a.model.endswith(f":{model_class}")), None)
    return f"{arch.name}-{loss}" if arch is not None and loss else model_class


def generate_recording(
    request: GenerationRequest, data_root: Path | None = None, progress: bool = False
) -> GeneratedSpikes:
    """Run a generation request; the result carries its provenance in ``metadata``."""
    from spikebridge.experiments.prepared import get_prepared, recording_key
    from spikebridge.training.generate import generate
    from spikebridge.training.predict import load_model

    checkpoint = Path(request.checkpoint)
    model = load_model(checkpoint)
    prep, _ = get_prepared(request.prefix, PrepareConfig(n_units=model.config.n_units), data_root=data_root)
    n_steps = int(round(request.seconds / prep.test.bin_size))
    context = getattr(model.config, "max_context", None) or STATEFUL_PREFIX_BINS  # stateful: no context limit
    prefix = prefix_bins(prep, context)
    run = generate(
        model, prefix, n_steps, request.trials, request.temperature, request.seed, prep.unit_mask,
        request.chunk, request.engine, progress=progress, anchor_tau=request.anchor_tau,
    )  # fmt: skip
    provenance = {
        **_model_provenance(checkpoint),
        "checkpoint": str(checkpoint.resolve()),
        "prefix_recording": recording_key(request.prefix),
        "prefix_data_hash": prep.data_hash(),
        "prefix_span_s": [prep.val.t_stop - prefix.shape[0] * prep.val.bin_size, prep.val.t_stop],
        "seed": request.seed,
        "temperature": request.temperature,
        "trials": request.trials,
        "seconds": request.seconds,
        "context": run.context,
        "chunk": run.chunk,
        "engine": request.engine,
        "anchor_tau": request.anchor_tau,
        "package_version": __version__,
        "git_commit": git_commit(),
    }
    info = prep.info.with_extra(generated_from=provenance["model"])
    return GeneratedSpikes(
        run.spikes, prep.test.bin_size, info, prep.unit_mask, prep.fit.unit_ids, provenance
    )
