"""Ablations of a trained model (Fig. 4g): recent inputs shuffled across units, attention switched off,
and the depth variants at a matched parameter budget.

Shuffled inputs
---------------
The paper shuffles the input "across cells within each time slice" over the most recent 50% or 95% of
the window, the shuffled span growing from the present into the past. Every prediction must see its own
shuffled span, so predictions are made at ``n_queries`` query bins ``q`` spread evenly over the raster:
the model reads the ``context`` bins ending at ``q`` (the most recent ``round(fraction * context)`` of
them permuted across real units, each bin with its own permutation) and its last output is
P(spike at ``q + 1``). The intact model is scored at the same queries (``fraction = 0``), so conditions
are paired bin by bin and unit by unit. Padding columns are never shuffled in.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable

import numpy as np
import torch

from spikebridge.analysis.protocol import WindowRunner, default_context, is_stateful, model_dims
from spikebridge.errors import SpikebridgeConfigError, SpikebridgeDataError


def query_bins(n_bins: int, context: int, n_queries: int) -> np.ndarray:
    """Up to ``n_queries`` query bins spread evenly over ``[context - 1, n_bins - 2]`` (each has a target)."""
    first, last = context - 1, n_bins - 2
    if last < first:
        raise SpikebridgeDataError(f"raster of {n_bins} bins is too short for a context of {context}")
    return np.unique(np.linspace(first, last, min(n_queries, last - first + 1)).round().astype(np.int64))


def shuffle_recent(
    windows: np.ndarray, fraction: float, unit_mask: np.ndarray, rng: np.random.Generator
) -> np.ndarray:
    """Permute the real units independently in each of the most recent ``fraction`` of every window's bins.

    Parameters
    ----------
    windows : ndarray ``(B, T, N)``
    fraction : float
        In [0, 1]; ``round(fraction * T)`` bins ending at the last one are shuffled.
    unit_mask : ndarray ``(N,)`` bool
    rng : numpy Generator

    Returns
    -------
    ndarray ``(B, T, N)``: a shuffled copy (spike counts per bin are kept).
    """
    if not 0.0 <= fraction <= 1.0:
        raise SpikebridgeConfigError(f"shuffle fraction must be in [0, 1], got {fraction}")
    out = np.array(windows, copy=True)
    b, t, _ = out.shape
    span = int(round(fraction * t))
    if span == 0:
        return out
    real = np.flatnonzero(unit_mask)
    keys = rng.random((b, span, real.size))
    order = real[np.argsort(keys, axis=-1)]  # (B, span, R): a permutation of the real columns per bin
    recent = out[:, t - span :, :]
    out[:, t - span :, real] = np.take_along_axis(recent, order, axis=-1)
    return out


def query_predictions(
    model: torch.nn.Module,
    raster: np.ndarray,
    queries: np.ndarray,
    unit_mask: np.ndarray,
    context: int | None = None,
    fraction: float = 0.0,
    seed: int = 0,
    batch_size: int = 64,
    columns: bool = True,
) -> np.ndarray:
    """P(spike at ``q + 1``) for every query bin ``q``, with the recent inputs shuffled by ``fraction``.

    Parameters
    ----------
    model : torch.nn.Module
        An explainable model (see :mod:`spikebridge.analysis.protocol`).
    raster : ndarray ``(T, N)`` bool
    queries : ndarray ``(M,)`` int
        Query bins, each ``>= context - 1`` and ``<= T - 2`` (see :func:`query_bins`).
    unit_mask : ndarray ``(N,)`` bool
    context : int, optional
        Bins per window (default: the model's ``max_context``; 256 for a stateful model, which starts
        each window from the state it reached reading the intact raster up to it, so only the shuffled
        part of its window is read again: the same predictions at a fraction of the cost).
    fraction : float
        Share of the most recent bins shuffled across units (0: intact).
    seed : int
        Seed of the permutations.
    columns : bool
        A stateful model's per-column parameters are used (see ``WindowRunner``).

    Returns
    -------
    ndarray ``(M, N)`` float32; targets are ``raster[queries + 1]``.
    """
    n_units, max_context = model_dims(model)
    context = (
        (default_context(model) if is_stateful(model) else max_context) if context is None else int(context)
    )
    if not 1 <= context <= max_context:
        raise SpikebridgeConfigError(f"context must be in 1..{max_context}, got {context}")
    queries = np.asarray(queries, dtype=np.int64)
    if queries.min() < context - 1 or queries.max() > raster.shape[0] - 2:
        raise SpikebridgeDataError("query bins must lie in [context - 1, T - 2]")
    rng = np.random.default_rng(seed)
    mask = np.asarray(unit_mask, dtype=bool)
    out = np.zeros((queries.size, n_units), dtype=np.float32)
    length = context
    if is_stateful(model):  # the warm state already holds the intact bins before the shuffled span
        shuffled = int(round(fraction * context))
        length, fraction = max(shuffled, 1), 1.0 if shuffled else 0.0
    offsets = np.arange(-length + 1, 1)
    runner = WindowRunner(model, raster, mask, columns)
    was_training = model.training
    model.eval()
    with torch.no_grad():
        for i in range(0, queries.size, batch_size):
            idx = queries[i : i + batch_size, None] + offsets[None, :]  # (B, T) bins of each window
            windows = shuffle_recent(runner.raster[idx], fraction, mask, rng).astype(np.float32)  # (B, T, N)
            logits = runner.logits(torch.from_numpy(windows), idx[:, 0])[:, -1, :]  # (B, N)
            out[i : i + batch_size] = torch.sigmoid(logits.float()).numpy()
    model.train(was_training)
    return out


def matched_depth_config(config, depth: int, count: Callable[[object], int], target: int | None = None):
    """A copy of ``config`` with ``n_layers = depth`` whose parameter count is closest to ``target``.

    ``d_model`` runs over multiples of ``n_heads`` (keeping the head dimension even when the position
    encoding is rotary) with the original ``d_ff / d_model`` ratio until the count reaches the target; for
    the two widths around that point ``d_ff`` is then solved from the (linear in ``d_ff``) count, and the
    candidate within 2% of the target whose ``d_ff / d_model`` ratio is nearest the original's wins.

    Parameters
    ----------
    config : frozen dataclass
        With fields ``n_layers``, ``d_model``, ``n_heads``, ``d_ff`` (e.g. ``SpikeTransformerConfig``).
    depth : int
    count : callable
        ``config -> number of parameters`` (e.g. builds the model and counts).
    target : int, optional
        Parameter budget (default: the count of ``config``).
    """
    target = count(config) if target is None else int(target)
    if depth == config.n_layers:
        return config
    ratio = config.d_ff / config.d_model
    step = config.n_heads * (2 if getattr(config, "pos_encoding", "") == "rotary" else 1)
    widths = [step]
    while count(dataclasses.replace(config, n_layers=depth, d_model=widths[-1],
                                    d_ff=max(1, round(ratio * widths[-1])))) < target:  # fmt: skip
        widths.append(widths[-1] + step)
    best, best_key = None, None
    for d_model in widths[-2:]:
        trial = dataclasses.replace(config, n_layers=depth, d_model=d_model, d_ff=1)
        base, slope = count(trial), count(dataclasses.replace(trial, d_ff=2)) - count(trial)
        d_ff = max(1, int(round(1 + (target - base) / slope)))
        cand = dataclasses.replace(trial, d_ff=d_ff)
        err = abs(count(cand) - target) / target
        key = (err > 0.02, abs(np.log(d_ff / d_model / ratio)), err)
        if best_key is None or key < best_key:
            best, best_key = cand, key
    return best
