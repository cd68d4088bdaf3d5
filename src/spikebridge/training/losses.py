"""Losses for binary spike prediction from logits, each respecting an optional unit mask.

Every loss takes ``logits`` and ``targets`` of the same shape ``(..., N)`` (e.g. ``(B, T, N)``: batch,
bins, units) and an optional ``unit_mask`` ``(N,)`` bool (or any shape broadcastable to ``logits``);
elements where the mask is False contribute nothing (neither to sums nor to the count of a mean).
All losses return a scalar tensor.
"""

from __future__ import annotations

import functools
from collections.abc import Callable

import torch
import torch.nn.functional as F

from spikebridge.errors import SpikebridgeConfigError

LossFn = Callable[..., torch.Tensor]


def _weights(logits: torch.Tensor, unit_mask: torch.Tensor | None) -> torch.Tensor:
    """Float weights broadcast to ``logits.shape``: 1 where counted, 0 where masked."""
    if unit_mask is None:
        return torch.ones_like(logits)
    return torch.broadcast_to(unit_mask.to(device=logits.device, dtype=logits.dtype), logits.shape)


def _masked_mean(values: torch.Tensor, weights: torch.Tensor) -> torch.Tensor:
    """Mean of ``values`` over elements of weight 1 (0 if none)."""
    return (values * weights).sum() / weights.sum().clamp_min(1.0)


def dice_loss(
    logits: torch.Tensor,
    targets: torch.Tensor,
    unit_mask: torch.Tensor | None = None,
    smooth: float = 1.0,
) -> torch.Tensor:
    """Soft Dice loss over all counted bins and units of the batch.

    ``p = sigmoid(logits)``, ``y = targets``, sums over every unmasked element (batch, bins, units)::

        L = 1 - (2 * sum(p * y) + s) / (sum(p) + sum(y) + s)

    Parameters
    ----------
    logits, targets : Tensor ``(..., N)``
    unit_mask : Tensor ``(N,)`` bool, optional
    smooth : float
        Smoothing constant ``s`` (> 0 keeps the loss defined when there are no spikes).
    """
    w = _weights(logits, unit_mask)
    p = torch.sigmoid(logits) * w
    y = targets.to(logits.dtype) * w
    return 1.0 - (2.0 * (p * y).sum() + smooth) / (p.sum() + y.sum() + smooth)


def focal_loss(
    logits: torch.Tensor,
    targets: torch.Tensor,
    unit_mask: torch.Tensor | None = None,
    gamma: float = 2.0,
    alpha: float | None = None,
) -> torch.Tensor:
    """Binary focal cross-entropy (Lin et al. 2017), mean over unmasked elements.

    With ``p_t = p`` if ``y = 1`` else ``1 - p`` and ``alpha_t = alpha`` if ``y = 1`` else ``1 - alpha``
    (``alpha_t = 1`` when ``alpha`` is None)::

        L = mean(-alpha_t * (1 - p_t)^gamma * log(p_t))

    Parameters
    ----------
    logits, targets : Tensor ``(..., N)``
    unit_mask : Tensor ``(N,)`` bool, optional
    gamma : float
        Focusing exponent (0 gives plain BCE).
    alpha : float in [0, 1], optional
        Weight of the positive class.
    """
    y = targets.to(logits.dtype)
    ce = F.binary_cross_entropy_with_logits(logits, y, reduction="none")  # -log(p_t)
    p_t = torch.exp(-ce)
    values = (1.0 - p_t) ** gamma * ce
    if alpha is not None:
        values = values * (alpha * y + (1.0 - alpha) * (1.0 - y))
    return _masked_mean(values, _weights(logits, unit_mask))


def weighted_bce_loss(
    logits: torch.Tensor,
    targets: torch.Tensor,
    unit_mask: torch.Tensor | None = None,
    pos_weight: float | None = 1.0,
) -> torch.Tensor:
    """Class-weighted binary cross-entropy, mean over unmasked elements::

        L = mean(-(pos_weight * y * log(p) + (1 - y) * log(1 - p)))

    Parameters
    ----------
    logits, targets : Tensor ``(..., N)``
    unit_mask : Tensor ``(N,)`` bool, optional
    pos_weight : float or None
        Weight of spike bins. None: the ratio of silent to spike bins among the counted elements of
        this batch (1 if the batch has no spike). :func:`~spikebridge.training.fit.fit_transformer`
        replaces None by the ratio over the whole training raster before training.
    """
    y = targets.to(logits.dtype)
    w = _weights(logits, unit_mask)
    if pos_weight is None:
        n_pos = (y * w).sum()
        pos_weight = float(((w.sum() - n_pos) / n_pos).item()) if n_pos > 0 else 1.0
    weight = torch.tensor(pos_weight, dtype=logits.dtype, device=logits.device)
    values = F.binary_cross_entropy_with_logits(logits, y, pos_weight=weight, reduction="none")
    return _masked_mean(values, w)


def bce_loss(
    logits: torch.Tensor, targets: torch.Tensor, unit_mask: torch.Tensor | None = None
) -> torch.Tensor:
    """Plain binary cross-entropy, mean over unmasked elements::

    L = mean(-(y * log(p) + (1 - y) * log(1 - p)))
    """
    return weighted_bce_loss(logits, targets, unit_mask, pos_weight=1.0)


LOSSES: dict[str, LossFn] = {
    "dice": dice_loss,
    "focal": focal_loss,
    "bce": bce_loss,
    "wbce": weighted_bce_loss,
}


def get_loss(name: str, **kwargs: float | None) -> LossFn:
    """Loss function by name with its keyword arguments bound.

    Parameters
    ----------
    name : {"dice", "focal", "bce", "wbce"}
    **kwargs
        ``smooth`` (dice), ``gamma`` and ``alpha`` (focal), ``pos_weight`` (wbce).

    Returns
    -------
    callable ``(logits, targets, unit_mask=None) -> scalar Tensor``
    """
    if name not in LOSSES:
        raise SpikebridgeConfigError(f"loss must be one of {sorted(LOSSES)}, got {name!r}")
    allowed = {"dice": {"smooth"}, "focal": {"gamma", "alpha"}, "bce": set(), "wbce": {"pos_weight"}}[name]
    bad = sorted(set(kwargs) - allowed)
    if bad:
        raise SpikebridgeConfigError(f"loss {name!r} does not accept argument(s): {', '.join(bad)}")
    return functools.partial(LOSSES[name], **kwargs)
