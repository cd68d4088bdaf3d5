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
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

from spikebridge.analysis.protocol import State, WindowRunner

UNIT_CHUNK = 32  # units perturbed per forward pass


def _repeat(state: State | None, times: int) -> State | None:
    """Each batched state tensor tiled ``times`` times along the batch (copy ``c`` of item ``b`` at ``c * B + b``)."""
    if state is None:
        return None
    return {k: v.repeat(times, *([1] * (v.dim() - 1))) for k, v in state.items()}


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
        Windows (``T >= max_lag``) starting at ``starts``.
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
    state = runner.states(starts) if runner.stateful else None
    effect = torch.zeros(b, max_lag, len(units), n)
    nll = None if target is None else torch.zeros(b, max_lag, len(units))
    weight = torch.ones(n) if mask is None else mask.float()
    for c0 in range(0, len(units), UNIT_CHUNK):
        chunk = units[c0 : c0 + UNIT_CHUNK]
        u, idx = len(chunk), torch.arange(len(chunk))
        tiled = _repeat(state, u)
        for k in range(max_lag):
            pair = []
            for value in (1.0, 0.0):
                xs = x[None].repeat(u, 1, 1, 1)  # (U, B, T, N)
                xs[idx, :, t - 1 - k, chunk] = value
                pair.append(runner.last_logits(xs.reshape(u * b, t, n), tiled).reshape(u, b, n))
            effect[:, k, c0 : c0 + u] = (pair[0] - pair[1]).permute(1, 0, 2)
            if target is not None:
                losses = [(F.binary_cross_entropy_with_logits(z, target[None].expand_as(z), reduction="none")
                           * weight).sum(-1) for z in pair]  # fmt: skip
                nll[:, k, c0 : c0 + u] = (losses[0] - losses[1]).abs().T
    return effect, nll
