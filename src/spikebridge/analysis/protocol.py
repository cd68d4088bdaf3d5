"""What the analyses need from a trained spike model, and the hooks they attach to it.

The protocol
------------
A model can be explained when it is a ``torch.nn.Module`` that

* maps a binary raster ``x`` ``(B, T, N)`` float to next-bin logits ``(B, T, N)`` with ``model(x)``,
  causally (``logits[:, t]`` predicts bin ``t + 1`` from bins ``<= t``), and
* has a ``config`` with ``n_units`` (N) and ``max_context`` (longest T).

Influence, input shuffles and scoring need nothing more. The attention analyses (maps, lag profile,
gradient importance, attention-weighted importance, attention switched off) further need

* ``attention_modules()``: one attention module per layer (empty when attention is disabled), each
  with two identity sub-modules that forward hooks can watch: ``probs`` (attention probabilities
  ``(B, H, T, T)``) and ``head_outputs`` (per-head attention-weighted features ``(B, H, T, Dh)``);
  the module's own output is a tensor, or a tuple whose first element is the sub-layer output;
* ``model(x, return_attention=True)`` returning ``(logits, [probs of each layer])``.

:class:`~spikebridge.models.spike_transformer.SpikeTransformer` implements all of it; a newer model
plugs in by offering the same names.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

import torch
from torch import nn

from spikebridge.errors import SpikebridgeConfigError


def model_dims(model: nn.Module) -> tuple[int, int]:
    """``(n_units, max_context)`` of an explainable model; a missing attribute is a one-line error."""
    config = getattr(model, "config", None)
    try:
        return int(config.n_units), int(config.max_context)
    except AttributeError as exc:
        raise SpikebridgeConfigError(
            f"{type(model).__name__} is not explainable: it needs config.n_units and config.max_context"
        ) from exc


def attention_layers(model: nn.Module) -> list[nn.Module]:
    """The attention module of every layer (empty for a model without attention)."""
    getter = getattr(model, "attention_modules", None)
    return list(getter()) if callable(getter) else []


def count_parameters(model: nn.Module) -> int:
    """Number of trainable parameters."""
    return int(sum(p.numel() for p in model.parameters() if p.requires_grad))


@contextmanager
def frozen_weights(model: nn.Module) -> Iterator[nn.Module]:
    """Within the block no parameter requires a gradient (input gradients stay cheap); restored after."""
    params = [p for p in model.parameters() if p.requires_grad]
    for p in params:
        p.requires_grad_(False)
    try:
        yield model
    finally:
        for p in params:
            p.requires_grad_(True)


def _zero_output(module: nn.Module, args, output):
    if isinstance(output, tuple):
        return (torch.zeros_like(output[0]), *output[1:])
    return torch.zeros_like(output)


@contextmanager
def attention_switched_off(model: nn.Module) -> Iterator[nn.Module]:
    """Within the block, every attention sub-layer outputs zeros (the residual stream skips it).

    Raises
    ------
    SpikebridgeConfigError
        The model has no attention to switch off.
    """
    layers = attention_layers(model)
    if not layers:
        raise SpikebridgeConfigError(f"{type(model).__name__} has no attention layers to switch off")
    handles = [layer.register_forward_hook(_zero_output) for layer in layers]
    try:
        yield model
    finally:
        for handle in handles:
            handle.remove()


@contextmanager
def captured_head_outputs(model: nn.Module) -> Iterator[list[torch.Tensor]]:
    """Collect each layer's per-head outputs ``(B, H, T, Dh)`` of the next forward pass, gradients kept.

    The yielded list fills during the forward pass (one tensor per layer, in layer order); after
    ``loss.backward()`` each tensor's ``.grad`` holds dLoss/d(head output).
    """
    captured: list[torch.Tensor] = []

    def keep(module, args, output):
        if output.requires_grad:
            output.retain_grad()
        captured.append(output)

    handles = [layer.head_outputs.register_forward_hook(keep) for layer in attention_layers(model)]
    try:
        yield captured
    finally:
        for handle in handles:
            handle.remove()
