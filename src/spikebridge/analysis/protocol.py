"""What the analyses need from a trained spike model, and the hooks they attach to it.

The protocol
------------
A model can be explained when it is a ``torch.nn.Module`` that

* maps a binary raster ``x`` ``(B, T, N)`` float to next-bin logits ``(B, T, N)`` with ``model(x)``,
  causally (``logits[:, t]`` predicts bin ``t + 1`` from bins ``<= t``), differentiably in ``x``, and
* has a ``config`` with ``n_units`` (N) and either ``max_context`` (longest T: a stateless model such
  as the paper's transformer, which sees only its window) or no context limit and a carried state
  (``init_state(batch)`` and ``run(x, state, unit_mask, columns) -> (logits, state)``: a stateful
  model such as :class:`~spikebridge.models.bridge.BridgeModel`, whose memory reaches back beyond any
  window).

:class:`WindowRunner` hides the difference: a stateless model reads each analysed window alone; a
stateful one continues from the state it reached reading the raster up to the window's first bin
(warm start), so every window is seen as teacher-forced prediction sees it. Influence, input-gradient
importance, input shuffles and scoring need nothing more. The attention analyses (maps, lag profile,
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

import numpy as np
import torch
from torch import nn

from spikebridge.errors import SpikebridgeConfigError

DEFAULT_CONTEXT = 256  # bins of an analysed window when the model sets no shorter limit
UNBOUNDED = 1 << 30  # the "max_context" of a stateful model (no window limit)
State = dict[str, torch.Tensor]


def is_stateful(model: nn.Module) -> bool:
    """True for models that carry a state from bin to bin (``init_state`` and ``run``)."""
    return callable(getattr(model, "init_state", None)) and callable(getattr(model, "run", None))


def model_dims(model: nn.Module) -> tuple[int, int]:
    """``(n_units, max_context)`` of an explainable model (:data:`UNBOUNDED` for a stateful model).

    Raises
    ------
    SpikebridgeConfigError
        The model lacks ``config.n_units``, or is stateless and lacks ``config.max_context``.
    """
    config = getattr(model, "config", None)
    try:
        n_units = int(config.n_units)
        return n_units, UNBOUNDED if is_stateful(model) else int(config.max_context)
    except AttributeError as exc:
        raise SpikebridgeConfigError(
            f"{type(model).__name__} is not explainable: it needs config.n_units and, without a carried "
            "state, config.max_context"
        ) from exc


def default_context(model: nn.Module) -> int:
    """Default analysed window: ``min(max_context, DEFAULT_CONTEXT)`` bins."""
    return min(model_dims(model)[1], DEFAULT_CONTEXT)


def has_columns(model: nn.Module) -> bool:
    """Whether the model has per-column parameters (which describe its training recording's units)."""
    return bool(getattr(getattr(model, "config", None), "columns", False))


class WindowRunner:
    """Logits of an explainable model on windows of one raster, as teacher-forced prediction sees them.

    Parameters
    ----------
    model : nn.Module
        An explainable model (see the module docstring).
    raster : ndarray ``(T, N)`` bool
        The raster the windows come from (columns outside ``unit_mask`` are zeroed).
    unit_mask : ndarray ``(N,)`` bool, optional
        Columns read (default: every column); a stateful model counts only these in its population
        features.
    columns : bool
        A stateful model's per-column parameters are used (its own training recording) or not (any
        other recording: the unit-agnostic part only).

    Windows must be requested in ascending order of their first bin: a stateful model's state walks
    forward through the raster once (in blocks, without gradients).
    """

    def __init__(self, model: nn.Module, raster, unit_mask=None, columns: bool = True) -> None:
        self.model, self.columns = model, columns
        raster = np.asarray(raster, dtype=bool)
        mask = np.ones(raster.shape[1], bool) if unit_mask is None else np.asarray(unit_mask, dtype=bool)
        self.raster = raster & mask[None, :]
        self.mask = torch.from_numpy(mask)
        self.stateful = is_stateful(model)
        self._pos, self._state = 0, None
        config = model.config
        self._block = config.attention_span if getattr(config, "attention", False) and self.stateful else 4096

    def windows(self, starts, length: int):
        """The raster's windows ``(B, length, N)`` float32 starting at ``starts``."""
        return torch.from_numpy(np.stack([self.raster[s : s + length] for s in starts]).astype(np.float32))

    def logits(self, x: torch.Tensor, starts, return_attention: bool = False):
        """Logits ``(B, T, N)`` of windows ``x`` ``(B, T, N)`` whose first bins are ``starts``.

        With ``return_attention`` also the list of each layer's attention maps ``(B, H, T, T)``
        among the window's bins.
        """
        if not self.stateful:
            return self.model(x, return_attention=True) if return_attention else self.model(x)
        state = self.states(starts)
        x = x * self.mask.to(x.dtype)
        if not return_attention:
            return self.model.run(x, state, self.mask, self.columns)[0]
        logits, _, probs = self.model.run(x, state, self.mask, self.columns, return_attention=True)
        return logits, [] if probs is None else [probs[..., probs.shape[-1] - x.shape[1] :]]

    def last_logits(self, x: torch.Tensor, state: State | None = None) -> torch.Tensor:
        """Logits ``(B, N)`` of the last position of windows ``x`` ``(B, T, N)``, continuing ``state``
        (a batched state of a stateful model, e.g. from :meth:`states`; ignored by a stateless one)."""
        if not self.stateful:
            return self.model(x)[:, -1]
        x = x * self.mask.to(x.dtype)
        return self.model.run(x, state, self.mask, self.columns)[0][:, -1]

    def advance(self, x: torch.Tensor, state: State) -> tuple[torch.Tensor, State]:
        """A stateful model's logits ``(B, N)`` at the last bin of ``x`` ``(B, T, N)`` and its state after
        it, continuing ``state``, stepped one bin at a time (for a few bins far cheaper than one block:
        a one-bin step updates the traces by their recurrence instead of a chunked scan)."""
        x = x * self.mask.to(x.dtype)
        logits = None
        for s in range(x.shape[1]):
            logits, state = self.model.run(x[:, s : s + 1], state, self.mask, self.columns)
        return logits[:, -1], state

    def states(self, starts) -> State:
        """The stateful model's batched state after reading the raster up to each of ``starts``."""
        model, out = self.model, []
        if self._state is None:
            self._state = model.init_state(1)
        with torch.no_grad():
            for start in (int(s) for s in starts):
                if start < self._pos:
                    raise SpikebridgeConfigError(
                        f"windows must come in ascending order, got {start} < {self._pos}"
                    )
                while self._pos < start:
                    stop = min(start, self._pos + self._block)
                    x = torch.from_numpy(self.raster[self._pos : stop].astype("float32"))[None]  # (1, L, N)
                    self._state = model.run(x, self._state, self.mask, self.columns)[1]
                    self._pos = stop
                out.append(self._state)
        return {key: torch.cat([s[key] for s in out]) for key in out[0]}


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
