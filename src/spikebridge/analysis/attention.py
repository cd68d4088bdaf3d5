"""Attention maps, their lag profile, gradient importance and attention-weighted importance (Fig. 4a-f).

Definitions (seed paper, preprint Methods 2.3-2.4; tokens are time bins)
-----------------------------------------------------------------------
* ``A`` ``(H, T, T)``: the attention probabilities of one layer and window, ``A[h, i, j]`` the weight
  query bin ``i`` gives key bin ``j <= i`` (causal).
* Gradient importance ``I`` ``(H, T)``: the paper defines ``I_ij = sum_d |dL / dh_ijd|`` with ``h_ij`` the
  attention-weighted feature of query ``i`` attending key ``j`` (``h_ij = A_ij v_j``). The query's head
  output is ``sum_j h_ij``, so ``dL/dh_ijd`` equals the gradient of the loss with respect to the head
  output of bin ``i`` and does not depend on ``j``: ``I`` is one value per head and bin, computed from the
  ``head_outputs`` hook. ``L`` is the model's own training loss (from its checkpoint) on the window.
* Attention-weighted importance ``W = |A x I^T|`` read element-wise, ``W[h, i, j] = |A[h, i, j] * I[h, j]|``:
  the attention from ``i`` to ``j``, weighted by the importance of bin ``j``'s own attention-weighted features
  (the transpose of ``I_ij = I_i``).
* Lag: ``lag = i - j + 1`` bins before the predicted bin ``i + 1``, so lag 1 is the diagonal (the most recent
  input bin). Profiles average the diagonals over the queries of the second half of the window
  (``i >= T // 2``, the positions :func:`~spikebridge.training.predict.predict_proba` keeps), so every lag up
  to ``T // 2`` is averaged over the same queries.
* Axis correlations (Fig. 4e, 4f): along the key axis, each query row ``A[i, :i+1]`` is correlated (Pearson)
  with the firing rate of the key bins; along the query axis, each key column ``A[j:, j]`` with the rate of
  the query bins (queries ``i >= T // 2`` in both). The rate of a bin is the input's fraction of active
  real units ("input"), or the model's mean predicted spike probability at that position ("predicted").
  Row (column) correlations are averaged on the Fisher z scale to one value per window; windows are then
  tested with a two-sided one-sample t-test (:mod:`spikebridge.analysis.significance`). Rows (columns)
  with fewer than ``MIN_ENTRIES`` entries or a constant rate are skipped. (A row sum of ``A`` is 1 for every
  query, so a profile of row sums would carry no information; correlating within rows and columns does.)
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from spikebridge.analysis.protocol import (
    WindowRunner,
    attention_layers,
    captured_head_outputs,
    default_context,
    frozen_weights,
    model_dims,
)
from spikebridge.analysis.significance import CorrelationTest, fisher_z, z_t_test
from spikebridge.errors import SpikebridgeConfigError, SpikebridgeDataError

MIN_ENTRIES = 8
MATRICES = ("attention", "weighted_importance")
AXES = ("query", "key")
RATES = ("input", "predicted")


def window_starts(n_bins: int, context: int, n_windows: int) -> np.ndarray:
    """Starts of up to ``n_windows`` windows of ``context + 1`` bins spread evenly over ``n_bins`` bins.

    Windows do not overlap while ``n_windows * (context + 1) <= n_bins``; fewer are returned when the
    raster is short. Raises :class:`SpikebridgeDataError` when not even one window fits.
    """
    span = n_bins - (context + 1)
    if span < 0:
        raise SpikebridgeDataError(f"raster of {n_bins} bins is shorter than one window of {context + 1}")
    n = max(1, min(n_windows, n_bins // (context + 1)))
    return np.unique(np.linspace(0, span, n).round().astype(np.int64))


def lag_profile(maps: torch.Tensor, max_lag: int, query_start: int) -> torch.Tensor:
    """Mean of each diagonal of ``maps`` ``(..., T, T)`` over queries ``i >= query_start``.

    Returns
    -------
    Tensor ``(..., max_lag)``: entry ``k`` is the mean of ``maps[..., i, i - k]`` (lag ``k + 1``).
    """
    t = maps.shape[-1]
    if not 0 < max_lag <= t - query_start or query_start < max_lag - 1:
        raise SpikebridgeConfigError(
            f"max_lag {max_lag} must be in 1..{min(t - query_start, query_start + 1)}"
        )
    cols = []
    for k in range(max_lag):
        diag = torch.diagonal(maps, offset=-k, dim1=-2, dim2=-1)  # (..., T - k): queries k .. T-1
        cols.append(diag[..., query_start - k :].mean(-1))
    return torch.stack(cols, dim=-1)


def masked_pearson(a: torch.Tensor, b: torch.Tensor, mask: torch.Tensor, dim: int) -> torch.Tensor:
    """Pearson correlation of ``a`` and ``b`` along ``dim`` over the entries where ``mask`` is True.

    Computed in float64 and scale-free: NaN where fewer than ``MIN_ENTRIES`` entries are selected or
    either variable is constant (its centred sum of squares below ``1e-12`` of its raw one).
    """
    a, b, m = a.double(), b.double(), mask.double()
    n = m.sum(dim, keepdim=True)
    mean_a = (a * m).sum(dim, keepdim=True) / n.clamp_min(1)
    mean_b = (b * m).sum(dim, keepdim=True) / n.clamp_min(1)
    da, db = (a - mean_a) * m, (b - mean_b) * m
    ss_a, ss_b = (da * da).sum(dim), (db * db).sum(dim)
    flat_a = ss_a <= 1e-12 * (a * a * m).sum(dim)
    flat_b = ss_b <= 1e-12 * (b * b * m).sum(dim)
    r = (da * db).sum(dim) / (ss_a * ss_b).sqrt()
    bad = (n.squeeze(dim) < MIN_ENTRIES) | flat_a | flat_b
    return torch.where(bad, torch.full_like(r, float("nan")), r)


def axis_correlation_z(maps: torch.Tensor, rate: torch.Tensor, axis: str, query_start: int) -> np.ndarray:
    """Per-window mean Fisher z of the row (key axis) or column (query axis) correlations.

    Parameters
    ----------
    maps : Tensor ``(B, T, T)``
        One causal map per window (e.g. head-mean attention).
    rate : Tensor ``(B, T)``
        Rate of every bin of each window.
    axis : {"key", "query"}
    query_start : int
        First query row used.

    Returns
    -------
    ndarray ``(B,)``: NaN for a window without a defined correlation.
    """
    b, t, _ = maps.shape
    rows = torch.arange(t)[:, None]
    cols = torch.arange(t)[None, :]
    mask = (cols <= rows) & (rows >= query_start)  # (T, T)
    if axis == "key":
        r = masked_pearson(maps, rate[:, None, :].expand(b, t, t), mask, dim=-1)  # (B, T) per query
    elif axis == "query":
        r = masked_pearson(maps, rate[:, :, None].expand(b, t, t), mask, dim=-2)  # (B, T) per key
    else:
        raise SpikebridgeConfigError(f"axis must be 'key' or 'query', got {axis!r}")
    z = fisher_z(r.detach().cpu().numpy())
    with np.errstate(invalid="ignore"):
        counts = np.isfinite(z).sum(axis=1)
        means = np.where(counts > 0, np.nansum(z, axis=1) / np.maximum(counts, 1), np.nan)
    return means


@dataclass(frozen=True)
class LayerAttention:
    """Attention summaries of one layer over the analysed windows.

    Attributes
    ----------
    layer, n_heads : int
    lags : ndarray ``(K,)``
        1 .. K bins before the predicted bin.
    attention_profile, importance_profile : ndarray ``(H, K)``
        Mean over windows of the lag profile of ``A`` and of ``W``, per head.
    attention_profile_sem : ndarray ``(K,)``
        Standard error over windows of the head-mean attention profile.
    peak_lag : int
        Lag of the maximum of the head-mean attention profile.
    example_attention : ndarray ``(H, T, T)``
        ``A`` of the first window.
    mean_attention, mean_weighted : ndarray ``(T, T)``
        Head- and window-mean ``A`` and ``W``.
    window_z : dict
        ``"matrix|axis|rate"`` -> ``(n_windows,)`` per-window mean Fisher z (NaN where undefined).
    correlations : tuple of CorrelationTest
        The t-test across windows for every key of ``window_z``.
    """

    layer: int
    n_heads: int
    lags: np.ndarray
    attention_profile: np.ndarray
    importance_profile: np.ndarray
    attention_profile_sem: np.ndarray
    peak_lag: int
    example_attention: np.ndarray
    mean_attention: np.ndarray
    mean_weighted: np.ndarray
    window_z: dict
    correlations: tuple[CorrelationTest, ...]

    def to_dict(self) -> dict:
        """Profiles, peak and tests (the maps are left to the figures)."""
        return {
            "layer": self.layer,
            "n_heads": self.n_heads,
            "lags": self.lags.tolist(),
            "attention_profile_mean": self.attention_profile.mean(0).tolist(),
            "attention_profile_sem": self.attention_profile_sem.tolist(),
            "attention_profile_per_head": self.attention_profile.tolist(),
            "importance_profile_mean": self.importance_profile.mean(0).tolist(),
            "peak_lag": self.peak_lag,
            "peak_lag_per_head": [int(k) for k in self.attention_profile.argmax(1) + 1],
            "correlations": [c.to_dict() for c in self.correlations],
        }


@dataclass(frozen=True)
class AttentionAnalysis:
    """Attention, importance and their correlations with firing rates, for every layer.

    Attributes
    ----------
    context : int
        Window length T (bins).
    n_windows : int
    window_starts : ndarray ``(n_windows,)``
        First bin of every window in the analysed raster.
    query_start : int
        First query row of profiles and correlations (``T // 2``).
    loss : str
        Loss whose gradient defines the importance.
    layers : tuple of LayerAttention
    """

    context: int
    n_windows: int
    window_starts: np.ndarray
    query_start: int
    loss: str
    layers: tuple[LayerAttention, ...]

    def to_dict(self) -> dict:
        return {
            "context": self.context,
            "n_windows": self.n_windows,
            "query_start": self.query_start,
            "loss": self.loss,
            "layers": [layer.to_dict() for layer in self.layers],
        }


class _LayerAccumulator:
    """Running sums of one layer's profiles and per-window correlations."""

    def __init__(self) -> None:
        self.profiles: list[np.ndarray] = []  # (B, H, K) attention
        self.weighted: list[np.ndarray] = []  # (B, H, K) attention-weighted importance
        self.z: dict[str, list[np.ndarray]] = {}
        self.sum_a = self.sum_w = None
        self.example = None

    def add(self, a: torch.Tensor, w: torch.Tensor, rates: dict, max_lag: int, q0: int) -> None:
        """``a`` and ``w`` ``(B, H, T, T)``; ``rates``: name -> ``(B, T)``."""
        if self.example is None:
            self.example = a[0].numpy()
        self.profiles.append(lag_profile(a, max_lag, q0).numpy())
        self.weighted.append(lag_profile(w, max_lag, q0).numpy())
        mean_a, mean_w = a.mean(1), w.mean(1)  # (B, T, T) head means
        self.sum_a = mean_a.sum(0) if self.sum_a is None else self.sum_a + mean_a.sum(0)
        self.sum_w = mean_w.sum(0) if self.sum_w is None else self.sum_w + mean_w.sum(0)
        for matrix, maps in zip(MATRICES, (mean_a, mean_w), strict=True):
            for axis in AXES:
                for rate_name, rate in rates.items():
                    key = f"{matrix}|{axis}|{rate_name}"
                    self.z.setdefault(key, []).append(axis_correlation_z(maps, rate, axis, q0))

    def result(self, layer: int, n_windows: int) -> LayerAttention:
        prof, weighted = np.concatenate(self.profiles), np.concatenate(self.weighted)  # (W, H, K)
        head_mean = prof.mean(1)  # (W, K)
        sem = (
            head_mean.std(0, ddof=1) / np.sqrt(len(head_mean))
            if len(head_mean) > 1
            else np.zeros(head_mean.shape[1])
        )
        z = {key: np.concatenate(parts) for key, parts in self.z.items()}
        return LayerAttention(
            layer=layer,
            n_heads=prof.shape[1],
            lags=np.arange(1, prof.shape[2] + 1),
            attention_profile=prof.mean(0),
            importance_profile=weighted.mean(0),
            attention_profile_sem=sem,
            peak_lag=int(head_mean.mean(0).argmax() + 1),
            example_attention=self.example,
            mean_attention=(self.sum_a / n_windows).numpy(),
            mean_weighted=(self.sum_w / n_windows).numpy(),
            window_z=z,
            correlations=tuple(z_t_test(values, key) for key, values in z.items()),
        )


def _batch_maps(runner: WindowRunner, x, starts, y, mask, loss_fn) -> tuple[torch.Tensor, list, list]:
    """One forward/backward pass: logits, per-layer attention ``(B, H, T, T)`` and importance ``(B, H, T)``."""
    model = runner.model
    x = x.clone().requires_grad_(True)  # gradients reach the head outputs even with frozen weights
    with frozen_weights(model), captured_head_outputs(model) as heads:
        logits, probs = runner.logits(x, starts, return_attention=True)
        loss = sum(loss_fn(logits[b : b + 1].float(), y[b : b + 1], mask) for b in range(len(x)))
        loss.backward()
    importance = [h.grad.abs().sum(-1).detach() for h in heads]  # each (B, H, T)
    return logits.detach(), [p.detach() for p in probs], importance


def _checked(model: torch.nn.Module, raster: np.ndarray, context: int | None) -> tuple[np.ndarray, int]:
    """The raster as bool and the window length, or a one-line error naming the problem."""
    n_units, max_context = model_dims(model)
    if not attention_layers(model):
        raise SpikebridgeConfigError(f"{type(model).__name__} has no attention to analyse")
    raster = np.asarray(raster, dtype=bool)
    if raster.ndim != 2 or raster.shape[1] != n_units:
        raise SpikebridgeDataError(f"raster must be (T, {n_units}), got {raster.shape}")
    context = default_context(model) if context is None else int(context)
    if not 2 <= context <= max_context:
        raise SpikebridgeConfigError(f"context must be in 2..{max_context}, got {context}")
    return raster, context


def analyse_attention(
    model: torch.nn.Module,
    raster: np.ndarray,
    unit_mask: np.ndarray,
    loss_fn,
    loss_name: str = "",
    context: int | None = None,
    n_windows: int = 64,
    max_lag: int | None = None,
    batch_size: int = 8,
    columns: bool = True,
) -> AttentionAnalysis:
    """Attention maps, lag profiles, gradient and attention-weighted importance on windows of ``raster``.

    Parameters
    ----------
    model : torch.nn.Module
        An explainable model with attention (see :mod:`spikebridge.analysis.protocol`).
    raster : ndarray ``(T_total, N)`` bool
        The analysed bins (e.g. a test part); windows of ``context + 1`` bins are spread evenly over it.
    unit_mask : ndarray ``(N,)`` bool
        Real units (the loss and the rates ignore padding).
    loss_fn : callable ``(logits, targets, unit_mask) -> scalar``
        The loss whose gradient defines the importance (the model's training loss).
    context : int, optional
        Window length (default ``min(max_context, 256)``).
    n_windows : int
        Windows analysed.
    max_lag : int, optional
        Longest lag of the profiles (default and maximum ``context // 2``).
    batch_size : int
        Windows per forward pass.
    columns : bool
        A stateful model's per-column parameters are used (see ``WindowRunner``); a stateful model
        starts each window from the state it reached reading the raster up to it, and its maps are
        those among the window's own bins.

    Returns
    -------
    AttentionAnalysis
    """
    raster, context = _checked(model, raster, context)
    q0 = context // 2
    max_lag = q0 if max_lag is None else min(int(max_lag), q0)
    starts = window_starts(raster.shape[0], context, n_windows)
    mask = torch.as_tensor(np.asarray(unit_mask, dtype=bool))
    runner = WindowRunner(model, raster, mask.numpy(), columns)
    accs: list[_LayerAccumulator] = []
    was_training = model.training
    model.eval()
    for i in range(0, len(starts), batch_size):
        batch = starts[i : i + batch_size]
        seg = runner.windows(batch, context + 1)
        x, y = seg[:, :-1], seg[:, 1:]  # (B, T, N) each
        logits, probs, importance = _batch_maps(runner, x, batch, y, mask, loss_fn)
        rates = {"input": x[..., mask].mean(-1), "predicted": torch.sigmoid(logits[..., mask]).mean(-1)}
        for layer, (a, imp) in enumerate(zip(probs, importance, strict=True)):
            if len(accs) <= layer:
                accs.append(_LayerAccumulator())
            w = (a * imp[:, :, None, :]).abs()  # (B, H, T, T): W[h, i, j] = |A[h, i, j] I[h, j]|
            accs[layer].add(a, w, rates, max_lag, q0)
    model.train(was_training)
    layers = tuple(acc.result(k, len(starts)) for k, acc in enumerate(accs))
    return AttentionAnalysis(context, len(starts), starts, q0, loss_name, layers)
