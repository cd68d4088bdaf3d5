"""Checkpoints: model weights with their configs, package version, git commit and data hash.

A checkpoint is a ``torch.save`` file holding a dictionary::

    {"format": "spikebridge-checkpoint", "format_version": 1, "model_class": str,
     "model_config": dict, "train_config": dict, "package_version": str, "git_commit": str | None,
     "data_hash": str, "state_dict": dict[str, Tensor], "extra": dict}

Writes are atomic: the file is written to a temporary file in the same directory, flushed to disk and
moved over the target with :func:`os.replace`, so a crash never leaves a half-written checkpoint.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch

from spikebridge import __version__
from spikebridge.atomic import atomic_path
from spikebridge.errors import SpikebridgeDataError
from spikebridge.provenance import git_commit

FORMAT = "spikebridge-checkpoint"
FORMAT_VERSION = 1


@dataclass(frozen=True)
class Checkpoint:
    """A loaded checkpoint (see the module docstring for the fields)."""

    path: str
    model_class: str
    model_config: dict[str, Any]
    train_config: dict[str, Any]
    package_version: str
    git_commit: str | None
    data_hash: str
    state_dict: dict[str, torch.Tensor]
    extra: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        """Metadata without the weights."""
        return {"path": self.path, "model_class": self.model_class, "model_config": self.model_config,
                "train_config": self.train_config, "package_version": self.package_version,
                "git_commit": self.git_commit, "data_hash": self.data_hash, "extra": self.extra}  # fmt: skip


def save_checkpoint(
    path: str | os.PathLike,
    model: torch.nn.Module,
    model_config: dict[str, Any],
    train_config: dict[str, Any] | None = None,
    data_hash: str = "",
    extra: dict[str, Any] | None = None,
) -> Path:
    """Write a checkpoint atomically.

    Parameters
    ----------
    path : path-like
        Target file; its directory is created if missing.
    model : nn.Module
        Its ``state_dict()`` is saved (moved to CPU).
    model_config, train_config : dict
        JSON-like dictionaries (e.g. ``config.to_dict()``).
    data_hash : str
        Hash of the training data.
    extra : dict, optional
        Anything else JSON-like (epoch, validation loss, ...).

    Returns
    -------
    Path of the written file.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    payload = {
        "format": FORMAT,
        "format_version": FORMAT_VERSION,
        "model_class": type(model).__name__,
        "model_config": dict(model_config),
        "train_config": dict(train_config or {}),
        "package_version": __version__,
        "git_commit": git_commit(),
        "data_hash": data_hash,
        "state_dict": {k: v.detach().cpu() for k, v in model.state_dict().items()},
        "extra": dict(extra or {}),
    }
    with atomic_path(path, suffix=".tmp") as tmp, open(tmp, "wb") as fh:
        torch.save(payload, fh)
        fh.flush()
        os.fsync(fh.fileno())
    return path


def _major_minor(version: str) -> tuple[str, ...]:
    return tuple(version.split(".")[:2])


def load_checkpoint(path: str | os.PathLike) -> Checkpoint:
    """Read a checkpoint written by :func:`save_checkpoint`.

    Raises
    ------
    SpikebridgeDataError
        Missing, truncated or corrupt file, not a spikebridge checkpoint, or written by another
        major.minor package version; the message names the file.
    """
    path = Path(path)
    if not path.is_file():
        raise SpikebridgeDataError(f"{path}: checkpoint file not found")
    try:
        payload = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:  # torch raises many types for corrupt files
        raise SpikebridgeDataError(f"{path}: corrupt or truncated checkpoint ({type(exc).__name__})") from exc
    if not isinstance(payload, dict) or payload.get("format") != FORMAT:
        raise SpikebridgeDataError(f"{path}: not a spikebridge checkpoint")
    version = str(payload.get("package_version", ""))
    if _major_minor(version) != _major_minor(__version__):
        raise SpikebridgeDataError(
            f"{path}: checkpoint written by spikebridge {version or '?'}, incompatible with {__version__}"
        )
    try:
        return Checkpoint(
            path=str(path),
            model_class=payload["model_class"],
            model_config=payload["model_config"],
            train_config=payload["train_config"],
            package_version=version,
            git_commit=payload["git_commit"],
            data_hash=payload["data_hash"],
            state_dict=payload["state_dict"],
            extra=payload.get("extra", {}),
        )
    except KeyError as exc:
        raise SpikebridgeDataError(f"{path}: checkpoint lacks field {exc.args[0]!r}") from exc
