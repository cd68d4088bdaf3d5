"""Spike-perturbation effects: what one added spike changes in the next-bin prediction, for any model.

Input gradients are the paper's measure of influence and importance, and they suit the transformer,
whose input is a linear embedding of the binary raster. A model that reads the raster through
log-rate features (the bridge model) has gradients at a binary input that are dominated by the
logarithm's floor, not by what a spike does. The measure that keeps its meaning for every model is the
difference a spike makes: for a window ending at bin ``t`` and a bin ``t + 1 - lag`` of unit ``i``,

* ``effect[lag, i, j] = logit_j(spike) - logit_j(no spike)``, the change of unit ``j``'s next-bin logit,
  all other inputs as they were (the influence of :mod:`spikebridge.analysis.influence`), and
* ``|nll(spike) - nll(no spike)|``, the change of the Bernoulli negative log-likelihood of the bin after
  the window summed over real units (the importance of :mod:`spikebridge.analysis.importance`; one of
  the two is the window as it was, so this is what toggling that input bin changes).

A stateful model reads each window from the state it reached before it, so only the last ``max_lag``
bins need to be in the window.

Cost
----
Of each pair one input is the window as it was, so the window's own logits are computed once and each
(unit, lag) costs one forward pass of the toggled window. A stateful model is stepped from the state it
had just before the toggled bin through the few bins after it (a one-bin step of the bridge model costs
about 1/60 of a 16-bin block, whose trace scans work on 32-bin chunks), instead of re-reading the whole
window for every toggle.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F

from spikebridge.analysis.protocol import State, WindowRunner
from spikebridge.errors import SpikebridgeConfigError

UNIT_CHUNK = 64  # units perturbed per forward pass


def _repeat(state: State | None, times: int) -> State | None:
    """Each batched state tensor tiled ``times`` times along the batch (copy ``c`` of item ``b`` at ``c * B + b``)."""
    if state is None:
        return None
    return {k: v.repeat(times, *([1] * (v.dim() - 1))) for k, v in state.items()}


def _nll(logits: torch.Tensor, target: torch.Tensor, weight: torch.Tensor) -> torch.Tensor:
    """Bernoulli negative log-likelihood of ``target`` summed over weighted units, ``(...,)``."""
    loss = F.binary_cross_entropy_with_logits(logits, target.expand_as(logits), reduction="none")
    return (loss * weight).sum(-1)


def _walk(runner: WindowRunner, x: torch.Tensor, starts, max_lag: int) -> tuple[torch.Tensor, list]:
    """The window's own last logits ``(B, N)`` and, for a stateful model, the state just before each of
    its last ``max_lag`` bins (``[k]``: before bin ``T - 1 - k``; None for a stateless model)."""
    t = x.shape[1]
    if not runner.stateful:
        return runner.last_logits(x), [None] * max_lag
    state = runner.states(starts)
    if t > max_lag:
        state = runner.advance(x[:, : t - max_lag], state)[1]
    before = []
    for p in range(t - max_lag, t):
        before.append(state)
        logits, state = runner.advance(x[:, p : p + 1], state)
    return logits, before[::-1]


def _toggled_logits(runner, x, p: int, chunk, was, before: State | None) -> torch.Tensor:
    """Last logits ``(U, B, N)`` of the windows with unit ``chunk[c]``'s bin ``p`` toggled (copy ``c``)."""
    u, (b, t, n) = len(chunk), x.shape
    idx = torch.arange(u)
    if before is None:  # stateless: the whole window again
        xs = x[None].repeat(u, 1, 1, 1)  # (U, B, T, N)
        xs[idx, :, p, chunk] = 1.0 - was
        return runner.last_logits(xs.reshape(u * b, t, n)).reshape(u, b, n)
    xs = x[None, :, p:].repeat(u, 1, 1, 1)  # (U, B, T - p, N): the toggled bin and the ones after it
    xs[idx, :, 0, chunk] = 1.0 - was
    return runner.advance(xs.reshape(u * b, t - p, n), _repeat(before, u))[0].reshape(u, b, n)


@torch.no_grad()
def spike_effects(
    runner: WindowRunner,
    x: torch.Tensor,
    starts,
    units: torch.Tensor,
    max_lag: int,
    target: torch.Tensor | None = None,
    mask: torch.Tensor | None = None,
) -> tuple[torch.Tensor, torch.Tensor | None]:
    """Effects of a spike of each of ``units`` at each of the last ``max_lag`` bins of windows ``x``.

    Parameters
    ----------
    runner : WindowRunner
    x : Tensor ``(B, T, N)``
        Binary windows (``T >= max_lag``) starting at ``starts``.
    units : Tensor ``(U,)`` int
        Perturbed units.
    max_lag : int
    target : Tensor ``(B, N)``, optional
        The bin after each window (for the likelihood change).
    mask : Tensor ``(N,)`` bool, optional
        Units summed in the likelihood (default: all).

    Returns
    -------
    effect : Tensor ``(B, max_lag, U, N)``
        ``logit(spike) - logit(no spike)`` at the last position; ``[:, lag - 1]`` is lag ``lag``.
    nll : Tensor ``(B, max_lag, U)`` or None
        ``|nll(spike) - nll(no spike)|`` of ``target`` (None without ``target``).
    """
    b, t, n = x.shape
    x = (x > 0).to(torch.float32)
    base, before = _walk(runner, x, starts, max_lag)  # (B, N), states before the last max_lag bins
    effect = torch.zeros(b, max_lag, len(units), n)
    nll = None if target is None else torch.zeros(b, max_lag, len(units))
    weight = torch.ones(n) if mask is None else mask.float()
    base_nll = None if target is None else _nll(base, target, weight)  # (B,)
    for c0 in range(0, len(units), UNIT_CHUNK):
        chunk = units[c0 : c0 + UNIT_CHUNK]
        u = len(chunk)
        for k in range(max_lag):
            was = x[:, t - 1 - k, chunk].T  # (U, B): 1 where the unit already spiked there
            toggled = _toggled_logits(runner, x, t - 1 - k, chunk, was, before[k])  # (U, B, N)
            sign = 1.0 - 2.0 * was  # +1: the toggle added the spike; -1: it removed it
            effect[:, k, c0 : c0 + u] = ((toggled - base[None]) * sign[..., None]).permute(1, 0, 2)
            if target is not None:
                nll[:, k, c0 : c0 + u] = (_nll(toggled, target[None], weight) - base_nll[None]).abs().T
    return effect, nll


@dataclass(frozen=True)
class WindowEffects:
    """Spike effects over a set of windows of one raster: what influence and importance both read.

    Attributes
    ----------
    starts : ndarray ``(W,)`` int
        First bins of the windows (``context`` bins each; the bin after each is the likelihood's target).
    context, max_lag : int
    effect_sum : Tensor ``(max_lag, N, N)``
        ``effect`` summed over windows, ``[lag - 1, i, j]`` (rows of units not perturbed are 0).
    nll : Tensor ``(W, max_lag)``
        ``|nll(spike) - nll(no spike)|`` summed over perturbed units, in time order (last = lag 1).
    rate : Tensor ``(W, max_lag)``
        Fraction of active real units in each window's last ``max_lag`` bins, in time order.
    """

    starts: np.ndarray
    context: int
    max_lag: int
    effect_sum: torch.Tensor
    nll: torch.Tensor
    rate: torch.Tensor

    def check(self, starts, context: int, max_lag: int) -> None:
        """Raise :class:`SpikebridgeConfigError` unless these effects cover exactly these windows and lags."""
        same = self.context == context and self.max_lag == max_lag
        if not same or not np.array_equal(self.starts, np.asarray(starts)):
            raise SpikebridgeConfigError(
                f"the given spike effects cover {len(self.starts)} windows of {self.context} bins up to lag "
                f"{self.max_lag}, not the {len(starts)} windows of {context} bins up to lag {max_lag} asked for"
            )


def window_effects(
    runner: WindowRunner, starts, context: int, units: torch.Tensor, max_lag: int, batch_size: int = 16
) -> WindowEffects:
    """:func:`spike_effects` over windows of ``context`` bins starting at ``starts`` (ascending), with the
    bin after each window as the likelihood's target; sums kept, per-window effects dropped.

    The real units (``runner.mask``) are the ones summed in the likelihood and counted in the rate.
    """
    n = runner.raster.shape[1]
    mask = runner.mask
    total = torch.zeros(max_lag, n, n)
    nlls, rates = [], []
    for i in range(0, len(starts), batch_size):
        batch = starts[i : i + batch_size]
        seg = runner.windows(batch, context + 1)  # (B, T + 1, N)
        effect, nll = spike_effects(runner, seg[:, :-1], batch, units, max_lag, seg[:, -1], mask)
        total[:, units] += effect.sum(0)  # (L, U, N)
        nlls.append(nll.sum(-1).flip(-1))  # (B, L) in time order
        rates.append(seg[:, context - max_lag : context][..., mask].mean(-1))  # (B, L)
    return WindowEffects(np.asarray(starts), context, max_lag, total, torch.cat(nlls), torch.cat(rates))
