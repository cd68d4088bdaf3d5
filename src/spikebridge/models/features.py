"""Causal, recurrent history features of binary rasters (no learned parameters).

Every function reads a raster ``x`` of shape ``(B, T, N)`` (batch, bins, units) together with the
state left by the previous bins, and returns the feature at every bin ``t`` computed from bins
``<= t`` only, plus the state after the last bin. Running a long raster in pieces with the state
carried between them gives the same features as one pass over the whole raster, so a model built on
them can be trained on windows, run over recordings of any length, or stepped one bin at a time.

- :func:`exponential_traces`: ``E_k[t] = sum_{u <= t} a_k^(t-u) x[u]`` with ``a_k = exp(-1 / tau_k)``,
  one trace per time constant ``tau_k`` (bins). Computed in chunks of ``chunk`` bins with one matrix
  product per chunk, so the cost is ``K * chunk`` multiply-adds per (bin, unit) and not ``T``.
- :func:`time_since_spike`: bins since the unit's last spike at or before ``t`` (0 = spike at ``t``).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

NEVER = 1e7  # time since spike of a unit that has not spiked yet (bins)


def decay_matrices(taus: tuple[float, ...], chunk: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Decay factors ``a (K,)`` and within-chunk kernels ``M (K, chunk, chunk)``, ``M[k, i, j] = a_k^(i-j)``
    for ``i >= j`` and 0 above the diagonal."""
    a = torch.exp(-1.0 / torch.tensor(taus, dtype=torch.float64))  # (K,)
    lag = torch.arange(chunk)[:, None] - torch.arange(chunk)[None, :]  # (c, c)
    kernel = torch.where(lag >= 0, a[:, None, None] ** lag.clamp_min(0), torch.zeros((), dtype=a.dtype))
    return a.float(), kernel.float()


def exponential_traces(
    x: torch.Tensor, decay: torch.Tensor, kernel: torch.Tensor, init: torch.Tensor
) -> tuple[torch.Tensor, torch.Tensor]:
    """Exponentially decaying spike traces at several time constants.

    Parameters
    ----------
    x : Tensor ``(B, T, N)`` float
        Spikes (0/1) or any non-negative signal.
    decay : Tensor ``(K,)``
        Per-bin decay factors ``a_k`` (see :func:`decay_matrices`).
    kernel : Tensor ``(K, c, c)``
        Within-chunk kernels from :func:`decay_matrices`; ``c`` is the chunk length.
    init : Tensor ``(B, K, N)``
        Traces after the bin before ``x[:, 0]`` (zeros at the start of a recording).

    Returns
    -------
    traces : Tensor ``(B, T, K, N)``
        ``traces[:, t, k] = a_k * traces[:, t-1, k] + x[:, t]`` (bin ``t`` included).
    last : Tensor ``(B, K, N)``
        Traces at the last bin: the ``init`` of the next piece.
    """
    b, t, n = x.shape
    k, c, _ = kernel.shape
    if t == 1:  # one step: the recurrence itself
        last = decay[None, :, None] * init + x[:, 0, None, :]  # (B, K, N)
        return last[:, None], last
    pad = (-t) % c
    if pad:
        x = F.pad(x, (0, 0, 0, pad))
    m = x.shape[1] // c
    blocks = x.reshape(b, m, c, n).permute(2, 0, 1, 3).reshape(c, b * m * n)  # (c, B*m*N)
    local = (
        (kernel.reshape(k * c, c) @ blocks).reshape(k, c, b, m, n).permute(2, 3, 1, 0, 4)
    )  # (B, m, c, K, N)
    ends = local[:, :, -1]  # (B, m, K, N): each chunk's own contribution at its last bin
    carry_decay = (decay**c)[None, :, None]  # (1, K, 1)
    carries, state = [], init
    for j in range(m):  # sequential over chunks only
        carries.append(state)
        state = carry_decay * state + ends[:, j]
    carry = torch.stack(carries, 1)  # (B, m, K, N): traces before each chunk
    powers = decay[None, :] ** torch.arange(1, c + 1, dtype=decay.dtype, device=x.device)[:, None]  # (c, K)
    out = (local + powers[None, None, :, :, None] * carry[:, :, None]).reshape(b, m * c, k, n)
    out = out[:, :t]
    return out, out[:, -1]


def time_since_spike(x: torch.Tensor, init: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Bins since each unit's last spike at or before every bin.

    Parameters
    ----------
    x : Tensor ``(B, T, N)``
        Spikes (> 0 = spike).
    init : Tensor ``(B, N)`` float
        Time since spike at the bin before ``x[:, 0]`` (:data:`NEVER` at the start of a recording).

    Returns
    -------
    since : Tensor ``(B, T, N)`` float
        0 where the unit spiked in bin ``t``, else one more than at ``t - 1``.
    last : Tensor ``(B, N)``
    """
    t = x.shape[1]
    pos = torch.arange(t, dtype=torch.float32, device=x.device)[None, :, None]  # (1, T, 1)
    spike_pos = torch.where(x > 0, pos, torch.full_like(x, -2 * NEVER))
    last_spike = torch.cummax(spike_pos, dim=1).values  # (B, T, N) index of the last spike so far
    last_spike = torch.maximum(last_spike, (-1.0 - init)[:, None, :])  # or the one before this piece
    since = (pos - last_spike).clamp(max=NEVER)
    return since, since[:, -1]
