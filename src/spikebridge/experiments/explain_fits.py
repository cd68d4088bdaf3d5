"""Fitted models the explanation needs, cached on disk by (prepared data hash, configuration).

* :func:`cached_variant` trains a transformer variant (the ablations' re-fitted intact reference,
  attention switched off, other depths) with :func:`~spikebridge.training.fit.fit_transformer`; its
  folder holds ``best.ckpt`` and a ``model.json`` recording the configs and the data hash, so a second run
  with the same data and configuration reuses it.
* :func:`cached_glm` fits (or reuses) the coupled GLM through :func:`~spikebridge.experiments.zoo.fit_or_reuse`.
"""

from __future__ import annotations

import hashlib
import json
import pickle
from pathlib import Path

from spikebridge.errors import SpikebridgeDataError
from spikebridge.experiments.zoo import ModelSpec, fit_or_reuse
from spikebridge.preprocess.prepare import PreparedRecording


def variant_key(model_config: dict, train_config: dict, data_hash: str) -> str:
    """Short hash naming a variant's folder."""
    blob = json.dumps({"model": model_config, "train": train_config, "data": data_hash}, sort_keys=True)
    return hashlib.sha256(blob.encode()).hexdigest()[:12]


def cached_variant(
    model_config, train_config, prep: PreparedRecording, root: Path, label: str, progress: bool = False
) -> Path:
    """Checkpoint of ``model_config`` trained with ``train_config`` on ``prep``'s fit part (validation: val).

    Parameters
    ----------
    model_config : SpikeTransformerConfig
    train_config : TrainConfig
    prep : PreparedRecording
    root : Path
        Folder of the cache; the variant lives in ``root / f"{label}-{key}"``.
    label : str
        Readable prefix of the folder (e.g. ``"depth2"``).
    progress : bool
        Show Lightning's progress bar while fitting.

    Returns
    -------
    Path of ``best.ckpt``.
    """
    from spikebridge.atomic import write_text_atomic
    from spikebridge.training.fit import fit_transformer

    mc, tc = model_config.to_dict(), train_config.to_dict()
    folder = Path(root) / f"{label}-{variant_key(mc, tc, prep.data_hash())}"
    meta = folder / "model.json"
    if meta.is_file() and (folder / "best.ckpt").is_file():
        return folder / "best.ckpt"
    result = fit_transformer(prep.fit.data, prep.val.data, prep.unit_mask, model_config, train_config, folder,
                             data_hash=prep.data_hash(), progress=progress)  # fmt: skip
    payload = {"source": prep.info.name, "data_hash": prep.data_hash(), "model_config": mc,
               "train_config": tc, "fit": result.to_dict(), "artifact": "best.ckpt"}  # fmt: skip
    write_text_atomic(meta, json.dumps(payload, indent=1, default=str))
    return folder / "best.ckpt"


def cached_glm(prep: PreparedRecording, root: Path, seed: int = 0):
    """The coupled GLM fitted on ``prep``'s fit part.

    The folder ``root / "glm-quick-s{seed}"`` is the one ``run_evaluation`` uses for the same recording,
    so pointing ``root`` at an evaluation's ``models/<recording>`` folder reuses its fit.
    """
    spec = ModelSpec("glm", seed=seed)
    folder = Path(root) / f"glm-{spec.profile}-s{seed}"
    payload = fit_or_reuse(spec, prep, folder)
    artifact = folder / payload["artifact"]
    try:
        return pickle.loads(artifact.read_bytes())
    except Exception as exc:
        raise SpikebridgeDataError(f"{artifact}: cannot load the fitted GLM ({exc})") from exc
