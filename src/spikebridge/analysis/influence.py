"""Unit-to-unit influence read from a trained model, scored against known connections.

Influence
---------
For a window of ``T`` bins ending at bin ``t``, the model's logit for unit ``j`` at bin ``t + 1`` is
differentiated with respect to every input ``x[t + 1 - lag, i]``, ``lag = 1 .. max_lag``. Averaged over
windows this gives a lag-resolved Jacobian ``J[lag, i, j]`` and the influence matrix
``influence[i, j] = sum_lag J[lag, i, j]`` (row = the influencing unit, column = the influenced unit,
the orientation of a connectivity matrix ``[pre, post]``). Only the last position of each window is
read, so every lag is measured at the position that predicts the next bin. The default
window, ``min(max_context, 256)`` bins, puts that position where teacher-forced prediction reads it;
a stateful model (the bridge model) starts each window from the state it reached reading the raster up
to it (:class:`~spikebridge.analysis.protocol.WindowRunner`), and its influence is by default the logit
change one added spike makes (``method="spike"``, :mod:`spikebridge.analysis.perturbation`): its
log-rate features make gradients at a binary input reflect the logarithm's floor, not a spike.

Scoring
-------
Ground truth is a label matrix ``[pre, post]`` with +1 (excitatory), -1 (inhibitory) and 0 (no
connection). Over ordered pairs of distinct real units, :func:`connection_auc` reports ROC-AUC for
``excitatory`` (+1 vs 0, score = influence), ``inhibitory`` (-1 vs 0, score = -influence), ``any``
(nonzero vs 0, score = |influence|) and ``sign`` (+1 vs -1, score = influence). A kind whose classes are
empty is reported with AUC NaN and its counts.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from spikebridge.analysis.attention import window_starts
from spikebridge.analysis.perturbation import WindowEffects, window_effects
from spikebridge.analysis.protocol import (
    WindowRunner,
    default_context,
    frozen_weights,
    is_stateful,
    model_dims,
)
from spikebridge.errors import SpikebridgeConfigError, SpikebridgeDataError

KINDS = ("excitatory", "inhibitory", "any", "sign")
METHODS = ("gradient", "spike")


def _num(x: float) -> float | None:
    return float(x) if np.isfinite(x) else None


@dataclass(frozen=True)
class ConnectionScore:
    """ROC-AUC of one score matrix for one kind of connection (see the module docstring)."""

    method: str
    kind: str
    auc: float
    n_positive: int
    n_negative: int

    def to_dict(self) -> dict:
        return {"method": self.method, "kind": self.kind, "auc": _num(self.auc),
                "n_positive": self.n_positive, "n_negative": self.n_negative}  # fmt: skip


@dataclass(frozen=True)
class InfluenceResult:
    """Model influence between units.

    Attributes
    ----------
    matrix : ndarray ``(N, N)``
        ``matrix[i, j]``: summed-over-lags gradient of unit j's next-bin logit with respect to unit i's
        inputs (NaN on padding rows and columns).
    lagged : ndarray ``(max_lag, N, N)``
        The same per lag (``lagged[lag - 1]``).
    lag_profile : ndarray ``(max_lag,)``
        Mean ``|lagged|`` over ordered pairs of distinct real units.
    peak_lag : int
    context, n_windows : int
    scores : tuple of ConnectionScore
        Filled by :meth:`with_scores` when ground truth is known.
    method : {"gradient", "spike"}
        Input Jacobian, or the logit change of one added spike.
    """

    matrix: np.ndarray
    lagged: np.ndarray
    lag_profile: np.ndarray
    peak_lag: int
    context: int
    n_windows: int
    scores: tuple[ConnectionScore, ...] = ()
    method: str = "gradient"

    def with_scores(self, scores: tuple[ConnectionScore, ...]) -> InfluenceResult:
        from dataclasses import replace

        return replace(self, scores=tuple(scores))

    def to_dict(self) -> dict:
        return {
            "lag_profile": self.lag_profile.tolist(),
            "peak_lag": self.peak_lag,
            "context": self.context,
            "n_windows": self.n_windows,
            "method": self.method,
            "scores": [s.to_dict() for s in self.scores],
        }


def _window_jacobian(
    runner: WindowRunner, x: torch.Tensor, starts, real: np.ndarray, max_lag: int
) -> torch.Tensor:
    """Sum over the batch of d logit[b, -1, j] / d x[b, T - lag, i] -> ``(max_lag, N, N)`` [lag, i, j]."""
    b, t, n = x.shape
    x = x.clone().requires_grad_(True)
    with frozen_weights(runner.model):
        last = runner.logits(x, starts)[:, -1, :]  # (B, N)
        jac = torch.zeros(max_lag, n, n)
        for j in real:
            (grad,) = torch.autograd.grad(last[:, j].sum(), x, retain_graph=True)  # (B, T, N)
            recent = grad[:, t - max_lag :, :].sum(0).flip(0)  # (max_lag, N): row 0 = lag 1
            jac[:, :, j] = recent
    return jac


def influence_matrix(
    model: torch.nn.Module,
    raster: np.ndarray,
    unit_mask: np.ndarray,
    context: int | None = None,
    n_windows: int = 64,
    max_lag: int = 16,
    batch_size: int = 32,
    columns: bool = True,
    method: str | None = None,
    effects: WindowEffects | None = None,
) -> InfluenceResult:
    """Gradient influence of every unit's recent input on every unit's next-bin logit.

    Parameters
    ----------
    model : torch.nn.Module
        An explainable model (see :mod:`spikebridge.analysis.protocol`).
    raster : ndarray ``(T_total, N)`` bool
        Bins the windows are drawn from (e.g. a test part), evenly spread.
    unit_mask : ndarray ``(N,)`` bool
        Real units; padding rows and columns of the result are NaN.
    context : int, optional
        Window length in bins (default ``min(max_context, 256)``, or ``max_lag`` for a stateful model,
        whose warm state already holds the earlier bins; capped at ``max_context``).
    n_windows : int
    max_lag : int
        Lags 1 .. max_lag are summed (at most ``context``).
    batch_size : int
    columns : bool
        A stateful model's per-column parameters are used (see :class:`WindowRunner`).
    method : {"gradient", "spike"}, optional
        ``"gradient"``: the input Jacobian (the paper's measure); ``"spike"``: the logit change one
        added spike makes (:mod:`spikebridge.analysis.perturbation`). Default: gradient for a stateless
        model, spike for a stateful one (its log-rate features make gradients at binary inputs
        meaningless).
    effects : WindowEffects, optional
        Spike effects already computed on the same windows (:func:`~spikebridge.analysis.perturbation.
        window_effects`, e.g. shared with :func:`~spikebridge.analysis.importance.input_importance`);
        method ``"spike"`` only.

    Returns
    -------
    InfluenceResult
    """
    n_units, max_context = model_dims(model)
    raster = np.asarray(raster, dtype=bool)
    if raster.ndim != 2 or raster.shape[1] != n_units:
        raise SpikebridgeDataError(f"raster must be (T, {n_units}), got {raster.shape}")
    if (
        context is None
    ):  # a stateful model's state holds the earlier bins: max_lag bins give the same gradients
        context = max_lag if is_stateful(model) else default_context(model)
    context = min(int(context), max_context)
    if not 1 <= max_lag <= context:
        raise SpikebridgeConfigError(f"max_lag must be in 1..{context}, got {max_lag}")
    method = method or ("spike" if is_stateful(model) else "gradient")
    if method not in METHODS:
        raise SpikebridgeConfigError(f"influence method must be one of {', '.join(METHODS)}, got {method!r}")
    mask = np.asarray(unit_mask, dtype=bool)
    real = np.flatnonzero(mask)
    starts = window_starts(raster.shape[0], context, n_windows)
    runner = WindowRunner(model, raster, mask, columns)  # padding columns are silent already
    was_training = model.training
    model.eval()
    total = torch.zeros(max_lag, n_units, n_units)
    if method == "spike":
        effects = effects or window_effects(runner, starts, context, torch.from_numpy(real), max_lag)
        effects.check(starts, context, max_lag)
        total = effects.effect_sum.clone()
    for i in range(0, len(starts), batch_size) if method == "gradient" else ():
        batch = starts[i : i + batch_size]
        total += _window_jacobian(runner, runner.windows(batch, context), batch, real, max_lag)  # (B, T, N)
    model.train(was_training)
    lagged = (total / len(starts)).numpy().astype(np.float64)  # (L, N, N)
    lagged[:, ~mask, :] = np.nan
    lagged[:, :, ~mask] = np.nan
    off = _pair_mask(mask)
    profile = np.array([np.abs(lag[off]).mean() for lag in lagged])
    return InfluenceResult(lagged.sum(0), lagged, profile, int(profile.argmax() + 1), context, len(starts),
                           method=method)  # fmt: skip


def _pair_mask(valid: np.ndarray) -> np.ndarray:
    """Ordered pairs of distinct valid units ``(N, N)`` bool."""
    pairs = np.outer(valid, valid)
    np.fill_diagonal(pairs, False)
    return pairs


def connection_auc(
    scores: np.ndarray, labels: np.ndarray, valid: np.ndarray, method: str = "influence"
) -> tuple[ConnectionScore, ...]:
    """ROC-AUC of a ``[pre, post]`` score matrix against +1/-1/0 labels, for every kind in ``KINDS``.

    Parameters
    ----------
    scores : ndarray ``(N, N)``
        Signed evidence that row unit drives column unit (positive: excitation).
    labels : ndarray ``(N, N)`` int
        Ground truth in the same orientation and column order.
    valid : ndarray ``(N,)`` bool
        Units taking part (real units with a known label); the diagonal is always excluded.
    method : str
        Name stored in the scores.
    """
    from sklearn.metrics import roc_auc_score

    scores, labels = np.asarray(scores, dtype=float), np.asarray(labels)
    if scores.shape != labels.shape or scores.shape != (valid.size, valid.size):
        raise SpikebridgeDataError(
            f"scores {scores.shape}, labels {labels.shape} and valid {valid.shape} disagree"
        )
    pairs = _pair_mask(np.asarray(valid, dtype=bool)) & np.isfinite(scores)
    s, y = scores[pairs], labels[pairs]
    setups = {
        "excitatory": (y > 0, y == 0, s),
        "inhibitory": (y < 0, y == 0, -s),
        "any": (y != 0, y == 0, np.abs(s)),
        "sign": (y > 0, y < 0, s),
    }
    out = []
    for kind in KINDS:
        pos, neg, score = setups[kind]
        n_pos, n_neg = int(pos.sum()), int(neg.sum())
        auc = np.nan
        if n_pos and n_neg:
            keep = pos | neg
            auc = float(roc_auc_score(pos[keep], score[keep]))
        out.append(ConnectionScore(method, kind, auc, n_pos, n_neg))
    return tuple(out)


def align_connections(labels: np.ndarray, index: np.ndarray, transpose: bool = False) -> np.ndarray:
    """Reorder a source-unit label matrix to the model's columns.

    Parameters
    ----------
    labels : ndarray ``(S, S)`` int
        ``labels[a, b]`` for source units ``a`` (pre) and ``b`` (post), in the recording's unit order.
    index : ndarray ``(C,)`` int
        Source unit of every column, -1 for padding (``PreparedRecording.selection.index``).
    transpose : bool
        The file stores ``[post, pre]``: transpose first.

    Returns
    -------
    ndarray ``(C, C)`` int8: ``out[c, d] = labels[index[c], index[d]]``; 0 where either column is padding
    (callers exclude padding through the unit mask).
    """
    labels = np.asarray(labels)
    if labels.ndim != 2 or labels.shape[0] != labels.shape[1]:
        raise SpikebridgeDataError(f"connection labels must be a square matrix, got shape {labels.shape}")
    if transpose:
        labels = labels.T
    index = np.asarray(index, dtype=np.int64)
    if index.max(initial=-1) >= labels.shape[0]:
        raise SpikebridgeDataError(
            f"connection labels cover {labels.shape[0]} units but column {int(index.argmax())} is source unit "
            f"{int(index.max())}"
        )
    real = index >= 0
    out = np.zeros((index.size, index.size), dtype=np.int8)
    out[np.ix_(real, real)] = np.sign(labels[np.ix_(index[real], index[real])])
    return out
