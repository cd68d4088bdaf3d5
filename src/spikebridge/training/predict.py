"""Teacher-forced one-step-ahead prediction with any registered model (generation: :mod:`.generate`).

Stateful models (those with ``init_state`` and ``run``, e.g. the bridge model) read the raster once,
in blocks, carrying their state: every prediction sees the whole past of the raster.

Chunking (stateless models: the spike transformer)
--------------------------------------------------
:func:`predict_proba` slides windows of ``context`` bins over the raster with a stride of ``chunk``
bins and keeps, from each window, the predictions of its last ``chunk`` positions (all positions of
the first window). The prediction for bin ``t + 1`` therefore sees bins ``<= t`` only, namely all
``t + 1`` past bins while ``t < context`` and between ``context - chunk + 1`` and ``context`` past bins
afterwards (exactly ``context`` when ``chunk == 1``). Windows start at position 0 as in training,
so absolute position encodings mean the same as during training. The cost is ``context / chunk``
forward passes per bin of output; the default ``chunk = context // 2`` guarantees at least half the
context for every prediction at twice the cost of non-overlapping windows.
"""

from __future__ import annotations

import os

import numpy as np
import torch

from spikebridge.errors import SpikebridgeConfigError, SpikebridgeDataError
from spikebridge.models.registry import by_model_class
from spikebridge.progress import progress_bar
from spikebridge.training.checkpoint import load_checkpoint

STATEFUL_BLOCK = 4096  # bins per block when a stateful model reads a raster


def load_model(checkpoint_path: str | os.PathLike, device: str = "cpu") -> torch.nn.Module:
    """Rebuild the model of a checkpoint (any registered architecture), in eval mode on ``device``.

    Raises
    ------
    SpikebridgeDataError
        The checkpoint is unreadable, incompatible, or holds an unregistered architecture.
    """
    ckpt = load_checkpoint(checkpoint_path)
    arch = by_model_class(ckpt.model_class, str(checkpoint_path))
    model = arch.build(arch.config_class().from_dict(ckpt.model_config))
    try:
        model.load_state_dict(ckpt.state_dict)
    except RuntimeError as exc:
        raise SpikebridgeDataError(f"{checkpoint_path}: weights do not match the stored config") from exc
    return model.to(device).eval()


def is_stateful(model: torch.nn.Module) -> bool:
    """True for models read with a carried state (``init_state`` / ``run``), such as the bridge model."""
    return hasattr(model, "init_state") and hasattr(model, "run")


def _check_raster(model: torch.nn.Module, raster: np.ndarray, name: str = "raster") -> np.ndarray:
    raster = np.asarray(raster)
    if raster.ndim != 2:
        raise SpikebridgeDataError(f"{name} must be 2-D (T, N), got shape {raster.shape}")
    if raster.shape[1] != model.config.n_units:
        raise SpikebridgeDataError(
            f"{name} has {raster.shape[1]} units but the model expects n_units={model.config.n_units}"
        )
    return raster


def _window_starts(n_out: int, context: int, chunk: int) -> list[tuple[int, int]]:
    """(window start, first kept position) pairs covering output positions ``0..n_out-1``."""
    if n_out <= context:
        return [(0, 0)]
    pairs = [(0, 0)]
    end = context  # output positions [0, end) are covered
    while end < n_out:
        stop = min(end + chunk, n_out)
        pairs.append((stop - context, end))
        end = stop
    return pairs


def predict_proba(
    model: torch.nn.Module,
    raster: np.ndarray,
    context: int | None = None,
    chunk: int | None = None,
    batch_size: int = 8,
    device: str = "cpu",
    progress: bool = False,
    unit_mask: np.ndarray | None = None,
    columns: bool = True,
) -> np.ndarray:
    """Teacher-forced one-step-ahead spike probabilities.

    Parameters
    ----------
    model : nn.Module
        A registered model (``SpikeTransformer``, ``BridgeModel``, ...).
    raster : ndarray ``(T, N)`` bool or 0/1
        Any length ``T >= 2``; ``N`` must equal ``model.config.n_units``.
    context : int, optional
        Stateless models: most past bins a prediction sees (default ``model.config.max_context``).
    chunk : int, optional
        Stateless models: stride between windows, 1..context (default ``max(1, context // 2)``); see
        the module docstring.
    batch_size : int
        Stateless models: windows per forward pass.
    device : str
    progress : bool
        Show a progress bar (rich).
    unit_mask : ndarray ``(N,)`` bool, optional
        Columns to read: the others are zeroed before prediction (and a stateful model leaves them
        out of its population features). Default: every column.
    columns : bool
        Stateful models with per-column parameters: use them (the recording the model was trained
        on) or run the unit-agnostic part only (any other recording).

    Returns
    -------
    ndarray ``(T - 1, N)`` float32
        Row ``t`` is P(spike in bin ``t + 1`` | bins ``<= t``), for ``t = 0 .. T-2``.
    """
    raster = _check_raster(model, raster)
    mask = np.ones(raster.shape[1], bool) if unit_mask is None else np.asarray(unit_mask, dtype=bool)
    if mask.shape != (raster.shape[1],):
        raise SpikebridgeDataError(f"unit_mask must have shape ({raster.shape[1]},), got {mask.shape}")
    raster = raster.astype(bool) & mask[None, :]
    n_out = raster.shape[0] - 1
    out = np.zeros((max(n_out, 0), raster.shape[1]), dtype=np.float32)
    if n_out <= 0:
        return out
    inputs = torch.from_numpy(raster[:n_out].astype(np.float32))  # (T-1, N): bins feeding predictions
    was_training = model.training
    model.eval().to(device)
    if is_stateful(model):
        _predict_stateful(model, inputs, mask, columns, device, progress, out)
    else:
        _predict_windows(model, inputs, context, chunk, batch_size, device, progress, out)
    model.train(was_training)
    return out


def _predict_stateful(model, inputs, mask, columns, device, progress, out) -> None:
    """Read ``inputs (T, N)`` once, block by block, carrying the model's state; fill ``out``."""
    config = model.config
    block = config.attention_span if getattr(config, "attention", False) else STATEFUL_BLOCK
    state = model.init_state(1, device)
    unit_mask = torch.from_numpy(mask).to(device)
    starts = range(0, inputs.shape[0], block)
    with torch.inference_mode(), progress_bar(progress, len(starts), "predict") as advance:
        for start in starts:
            x = inputs[start : start + block][None].to(device)  # (1, L, N)
            logits, state = model.run(x, state, unit_mask, columns)
            out[start : start + x.shape[1]] = torch.sigmoid(logits[0].float()).cpu().numpy()
            advance(1)


def _predict_windows(model, inputs, context, chunk, batch_size, device, progress, out) -> None:
    """Slide windows of ``context`` bins over ``inputs (T, N)`` (see the module docstring); fill ``out``."""
    context = model.config.max_context if context is None else int(context)
    if not 1 <= context <= model.config.max_context:
        raise SpikebridgeConfigError(f"context must be in 1..{model.config.max_context}, got {context}")
    chunk = max(1, context // 2) if chunk is None else int(chunk)
    if not 1 <= chunk <= context:
        raise SpikebridgeConfigError(f"chunk must be in 1..{context}, got {chunk}")
    n_out = inputs.shape[0]
    pairs = _window_starts(n_out, context, chunk)
    with torch.inference_mode(), progress_bar(progress, len(pairs), "predict") as advance:
        for i in range(0, len(pairs), batch_size):
            group = pairs[i : i + batch_size]
            length = min(context, n_out)
            batch = torch.stack([inputs[s : s + length] for s, _ in group]).to(device)  # (B, L, N)
            probs = torch.sigmoid(model(batch).float()).cpu().numpy()  # (B, L, N)
            for (start, keep), p in zip(group, probs, strict=True):
                out[keep : start + length] = p[keep - start :]
            advance(len(group))
