"""Input-gradient importance: how much each past bin matters to the next-bin loss, for any model.

The paper's gradient importance is taken at the attention heads' outputs and exists only for a model
with attention (:mod:`spikebridge.analysis.attention`). This is its model-agnostic counterpart, taken
at the input itself, so it applies to the paper's transformer and to models without attention (the
bridge model's quick profile) alike.

Definition
----------
For a window of ``T`` bins ending at bin ``t`` and the model's training loss ``L`` of its prediction of
bin ``t + 1`` (the window's last position only), the importance of the bin ``lag`` bins before the
predicted one is ``I[lag] = sum_i |dL / dx[t + 1 - lag, i]|`` over real units ``i`` (lag 1 = the most
recent input bin). Averaged over windows this gives a lag profile and its peak. Within each window,
``I`` over all ``T`` bins is correlated (Pearson) with the bins' input rate (fraction of active real
units); the per-window Fisher z values are tested across windows with a two-sided one-sample t-test
(:func:`~spikebridge.analysis.significance.z_t_test`). A stateful model starts each window from the
state it reached reading the raster up to it (:class:`~spikebridge.analysis.protocol.WindowRunner`),
and by default its importance is the likelihood change of toggling each recent input bin
(``method="spike"``, :mod:`spikebridge.analysis.perturbation`), correlated with the rate over those
``max_lag`` bins.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from spikebridge.analysis.attention import masked_pearson, window_starts
from spikebridge.analysis.perturbation import WindowEffects, window_effects
from spikebridge.analysis.protocol import (
    WindowRunner,
    default_context,
    frozen_weights,
    is_stateful,
    model_dims,
)
from spikebridge.analysis.significance import CorrelationTest, fisher_z, z_t_test
from spikebridge.errors import SpikebridgeConfigError, SpikebridgeDataError

RATE_TEST = "input_importance|time|input"


@dataclass(frozen=True)
class InputImportance:
    """Input-gradient importance of the past bins (see the module docstring).

    Attributes
    ----------
    lags : ndarray ``(K,)``
        1 .. K bins before the predicted bin.
    profile, profile_sem : ndarray ``(K,)``
        Mean over windows of ``I[lag]`` and its standard error.
    peak_lag : int
        Lag of the profile's maximum.
    context, n_windows : int
    loss : str
        Loss whose gradient is taken (``"gradient"``), or ``"bernoulli nll"`` (``"spike"``).
    method : str
    window_z : ndarray ``(n_windows,)``
        Per-window Fisher z of the correlation of ``I`` with the input rate over the window's bins.
    rate_correlation : CorrelationTest
        Two-sided t-test of ``window_z`` across windows.
    """

    lags: np.ndarray
    profile: np.ndarray
    profile_sem: np.ndarray
    peak_lag: int
    context: int
    n_windows: int
    loss: str
    window_z: np.ndarray
    rate_correlation: CorrelationTest
    method: str = "gradient"

    def to_dict(self) -> dict:
        return {
            "lags": self.lags.tolist(),
            "profile": self.profile.tolist(),
            "profile_sem": self.profile_sem.tolist(),
            "peak_lag": self.peak_lag,
            "context": self.context,
            "n_windows": self.n_windows,
            "loss": self.loss,
            "method": self.method,
            "rate_correlation": self.rate_correlation.to_dict(),
        }


def _window_importance(
    runner: WindowRunner, seg: torch.Tensor, starts, mask: torch.Tensor, loss_fn
) -> torch.Tensor:
    """``|dL/dx|`` summed over real units, ``(B, T)``, for windows ``seg`` ``(B, T + 1, N)``."""
    x = seg[:, :-1].clone().requires_grad_(True)  # (B, T, N)
    target = seg[:, -1:]  # (B, 1, N): the predicted bin
    with frozen_weights(runner.model):
        last = runner.logits(x, starts)[:, -1:].float()  # (B, 1, N)
        loss = sum(loss_fn(last[b : b + 1], target[b : b + 1], mask) for b in range(len(x)))
        (grad,) = torch.autograd.grad(loss, x)
    return grad[..., mask].abs().sum(-1)  # (B, T)


def input_importance(
    model: torch.nn.Module,
    raster: np.ndarray,
    unit_mask: np.ndarray,
    loss_fn,
    loss_name: str = "",
    context: int | None = None,
    n_windows: int = 64,
    max_lag: int = 16,
    batch_size: int = 16,
    columns: bool = True,
    method: str | None = None,
    effects: WindowEffects | None = None,
) -> InputImportance:
    """Input-gradient importance of every past bin for the next-bin loss, on windows of ``raster``.

    Parameters
    ----------
    model : torch.nn.Module
        An explainable model (see :mod:`spikebridge.analysis.protocol`).
    raster : ndarray ``(T_total, N)`` bool
        The analysed bins; windows of ``context + 1`` bins (the last one is the target) are spread
        evenly over it.
    unit_mask : ndarray ``(N,)`` bool
        Real units (the loss, the importance and the rate use only these).
    loss_fn : callable ``(logits, targets, unit_mask) -> scalar``
        The model's training loss.
    loss_name : str
    context : int, optional
        Window length (default ``min(max_context, 256)``).
    n_windows : int
    max_lag : int
        Longest lag of the profile (at most ``context``).
    batch_size : int
    columns : bool
        A stateful model's per-column parameters are used (see ``WindowRunner``).
    method : {"gradient", "spike"}, optional
        ``"gradient"``: ``|dL/dx|`` over the whole window; ``"spike"``: the change of the next bin's
        Bernoulli likelihood when each of the last ``max_lag`` input bins is toggled, correlated with
        the rate over those bins (:mod:`spikebridge.analysis.perturbation`). Default: gradient for a
        stateless model, spike for a stateful one.
    effects : WindowEffects, optional
        Spike effects already computed on the same windows (e.g. shared with the influence matrix);
        method ``"spike"`` only.

    Returns
    -------
    InputImportance
    """
    n_units, max_context = model_dims(model)
    raster = np.asarray(raster, dtype=bool)
    if raster.ndim != 2 or raster.shape[1] != n_units:
        raise SpikebridgeDataError(f"raster must be (T, {n_units}), got {raster.shape}")
    method = method or ("spike" if is_stateful(model) else "gradient")
    if method not in ("gradient", "spike"):
        raise SpikebridgeConfigError(f"importance method must be 'gradient' or 'spike', got {method!r}")
    if context is None:
        context = max_lag if method == "spike" and is_stateful(model) else default_context(model)
    context = min(int(context), max_context)
    if not 1 <= max_lag <= context:
        raise SpikebridgeConfigError(f"max_lag must be in 1..{context}, got {max_lag}")
    mask = np.asarray(unit_mask, dtype=bool)
    mask_t = torch.from_numpy(mask)
    real = torch.from_numpy(np.flatnonzero(mask))
    starts = window_starts(raster.shape[0], context, n_windows)
    runner = WindowRunner(model, raster, mask, columns)
    was_training = model.training
    model.eval()
    parts, rates = [], []
    if method == "spike":
        effects = effects or window_effects(runner, starts, context, real, max_lag, batch_size)
        effects.check(starts, context, max_lag)
        parts, rates = [effects.nll], [effects.rate]  # (W, L) in time order, like the gradient's (W, T)
    for i in range(0, len(starts), batch_size) if method == "gradient" else ():
        batch = starts[i : i + batch_size]
        seg = runner.windows(batch, context + 1)  # (B, T + 1, N)
        parts.append(_window_importance(runner, seg, batch, mask_t, loss_fn))
        rates.append(seg[:, :-1][..., mask_t].mean(-1))  # (B, T) fraction of active real units
    model.train(was_training)
    imp, rate = torch.cat(parts), torch.cat(rates)  # (W, T) each (T = max_lag for "spike")
    by_lag = imp.flip(-1)[:, :max_lag].double().numpy()  # (W, K): column 0 = lag 1
    sem = by_lag.std(0, ddof=1) / np.sqrt(len(by_lag)) if len(by_lag) > 1 else np.zeros(max_lag)
    r = masked_pearson(imp, rate, torch.ones_like(imp, dtype=torch.bool), dim=-1)  # (W,)
    z = fisher_z(r.numpy())
    profile = by_lag.mean(0)
    loss_name = loss_name if method == "gradient" else "bernoulli nll"
    return InputImportance(np.arange(1, max_lag + 1), profile, sem, int(profile.argmax() + 1), context,
                           len(starts), loss_name, z, z_t_test(z, RATE_TEST), method)  # fmt: skip
