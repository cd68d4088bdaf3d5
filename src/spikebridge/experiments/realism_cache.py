"""Reuse a realism run when nothing it depends on changed (the study's realism stage).

A run is keyed by the hash of everything that decides its numbers: the model checkpoint's bytes, the
recording's data hash (prepared parts and preparation config), the generation request (seconds,
trials, temperature, seed, chunk, engine, rate anchoring), the baselines and their fitted files, the
realism statistics' settings and :data:`RECIPE` (bumped when the realism code changes what it
computes). ``out/realism_{target}.key.json`` records the key, its parts, the result JSON and the
figures; a later run with the same key reads them back and computes nothing.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from spikebridge.atomic import write_text_atomic
from spikebridge.experiments.realism import RealismResult
from spikebridge.provenance import file_hash

RECIPE = 2  # 2: bridge models generated through the numpy engine with rate anchoring


@dataclass(frozen=True)
class RealismKey:
    """What a realism run depends on; ``digest`` is its hash."""

    checkpoint_hash: str
    data_hash: str
    generation: dict[str, Any]
    baselines: dict[str, str]
    realism: dict[str, Any]
    recipe: int = RECIPE

    def to_dict(self) -> dict[str, Any]:
        return {"checkpoint_hash": self.checkpoint_hash, "data_hash": self.data_hash,
                "generation": self.generation, "baselines": self.baselines, "realism": self.realism,
                "recipe": self.recipe}  # fmt: skip

    @property
    def digest(self) -> str:
        text = json.dumps(self.to_dict(), sort_keys=True, default=str)
        return hashlib.sha256(text.encode()).hexdigest()[:16]


def record_path(out_dir: Path, target: str) -> Path:
    return Path(out_dir) / f"realism_{target}.key.json"


def load_cached(out_dir: Path, target: str, key: RealismKey) -> tuple[RealismResult, list[Path]] | None:
    """The stored result and figure paths of ``target`` when its record has ``key`` and its files exist."""
    path = record_path(out_dir, target)
    try:
        record = json.loads(path.read_text())
    except (OSError, ValueError):
        return None
    files = [Path(out_dir) / f for f in [record.get("result", ""), *record.get("figures", [])]]
    if record.get("key") != key.digest or not all(f.is_file() for f in files):
        return None
    try:
        result = RealismResult.from_dict(json.loads(files[0].read_text()))
    except (OSError, ValueError, KeyError, TypeError):
        return None
    return result, files[1:]


def store_cached(out_dir: Path, target: str, key: RealismKey, result_json: Path, figures: list[Path]) -> Path:
    """Write the record of a finished run (paths stored relative to ``out_dir``)."""
    out_dir = Path(out_dir)
    record = {"key": key.digest, "parts": key.to_dict(),
              "result": str(Path(result_json).relative_to(out_dir)),
              "figures": [str(Path(f).relative_to(out_dir)) for f in figures]}  # fmt: skip
    path = record_path(out_dir, target)
    write_text_atomic(path, json.dumps(record, indent=1, default=str))
    return path


def realism_key(request, data_hash: str, models_root: Path, target: str,
                baselines: tuple[str, ...] = ("rate", "glm"), seed: int = 0, config=None) -> RealismKey:  # fmt: skip
    """The key of a study realism run: ``request`` (a GenerationRequest) on recording ``target`` with
    ``data_hash``, its baselines fitted in the model store under ``models_root``, ``seed`` and the
    realism ``config`` (default settings when None)."""
    from spikebridge.evaluation.realism import RealismConfig
    from spikebridge.experiments.generation import STATEFUL_PREFIX_BINS
    from spikebridge.experiments.realism import PREFIX_BINS
    from spikebridge.experiments.zoo import ModelSpec, fitted_model_dir

    generation = {k: v for k, v in request.to_dict().items() if k != "checkpoint"}
    generation["prefix_bins"] = STATEFUL_PREFIX_BINS
    fitted = {}
    for name in baselines:
        folder = fitted_model_dir(models_root, target, ModelSpec.parse(name, seed=seed))
        fitted[name] = file_hash(folder / "baseline.pkl")
    realism = {"baselines": list(baselines), "seed": seed, "baseline_prefix_bins": PREFIX_BINS,
               "config": (config or RealismConfig()).to_dict()}  # fmt: skip
    return RealismKey(file_hash(Path(request.checkpoint)), data_hash, generation, fitted, realism)
