"""The coupled GLM's coupling weights as a ``[pre, post]`` matrix: the baseline for model influence.

One adapter, so that the GLM's own summary replaces it when the baseline offers one: a fitted GLM with a
``coupling_kernel(n_lags)`` method (``(n_lags, N, N)``, entry ``[lag - 1, pre, post]``) is summed over the
same lags as the influence; otherwise the summary is computed here from ``coef_``. ``CoupledGLMBaseline`` features are, per real unit: its spike in the last bin (lag 1), in the
bin before (lag 2), and one exponential trace per time constant ``tau`` of older spikes, where a spike
``lag >= 3`` bins before the predicted bin enters with weight ``exp(-(lag - 1) / tau)``. The effective
coupling kernel of unit ``i`` onto unit ``j`` is therefore
``k(1) = w1, k(2) = w2, k(lag) = sum_tau w_tau exp(-(lag - 1) / tau)`` (log-odds per spike), and the
summary is ``sum_{lag = 1 .. max_lag} k(lag)``, the GLM's counterpart of the summed model influence.
"""

from __future__ import annotations

import numpy as np

from spikebridge.errors import SpikebridgeDataError


def glm_kernels(glm, max_lag: int) -> np.ndarray:
    """Effective coupling kernels ``(max_lag, N, N)`` ``[lag - 1, pre, post]`` of a fitted coupled GLM.

    Padding units and units without a fitted model have zero kernels.
    """
    coef = getattr(glm, "coef_", None)
    mask = getattr(glm, "unit_mask_", None)
    taus = getattr(glm, "taus", None)
    if coef is None or mask is None or taus is None:
        raise SpikebridgeDataError(f"{type(glm).__name__} is not a fitted coupled GLM (no coef_/taus)")
    real = np.flatnonzero(mask)
    r = real.size
    coef = np.asarray(coef)
    if coef.shape != ((2 + len(taus)) * r, r):
        raise SpikebridgeDataError(
            f"GLM coefficients {coef.shape} do not have the lag-1, lag-2 and trace layout of {r} units"
        )
    blocks = coef.reshape(2 + len(taus), r, r)  # (blocks, pre, post) over real units
    lags = np.arange(1, max_lag + 1)
    kern = np.zeros((max_lag, r, r))
    kern[0] = blocks[0]
    if max_lag >= 2:
        kern[1] = blocks[1]
    for k, tau in enumerate(taus):
        decay = np.exp(-(lags[2:] - 1) / float(tau))  # (max_lag - 2,)
        kern[2:] += decay[:, None, None] * blocks[2 + k][None]
    out = np.zeros((max_lag, mask.size, mask.size))
    out[:, real[:, None], real[None, :]] = kern
    return out


def glm_coupling(glm, max_lag: int = 16) -> np.ndarray:
    """Coupling ``(N, N)`` ``[pre, post]`` of a fitted GLM summed over lags ``1 .. max_lag``.

    Uses the GLM's own ``coupling_kernel`` when it has one (NaN stays on padding rows and columns).
    """
    own = getattr(glm, "coupling_kernel", None)
    if callable(own):
        return np.asarray(own(max_lag), dtype=float).sum(0)
    return glm_kernels(glm, max_lag).sum(0)
