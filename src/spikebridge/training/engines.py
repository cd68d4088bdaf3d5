"""Step engines: run a trained spike model one bin at a time for free-running generation.

An engine holds the recent bins of ``B`` sequences and answers "what are the logits of the next bin?"
with two calls::

    logits = engine.start(window)   # (B, T, N) -> (B, N): forget everything, encode a window from position 0
    logits = engine.advance(x_t)    # (B, N)    -> (B, N): append one bin

``engine.held`` counts the bins held and ``engine.context`` is the most it can hold (None: unlimited).
Sliding past the context is the caller's policy (:mod:`spikebridge.training.generate`).

Three engines compute the same probabilities (tests check it):

- :class:`NumpyEngine`: the trained :class:`SpikeTransformer` weights copied into numpy arrays, with a
  key/value cache and the per-step arithmetic in numpy (torch's per-operation dispatch costs more than
  the arithmetic of one 128-unit bin). Windows given to ``start`` are encoded by the torch model.
- :class:`TorchCacheEngine`: any torch model with ``init_state(batch_size)`` and
  ``step(x_t, state) -> (logits, state)`` (and optionally ``prefill(x) -> (logits, state)``).
- :class:`RecomputeEngine`: any torch model ``(B, T, N) -> (B, T, N)``; recomputes the whole window at
  every step (no cache: the reference, and the speed benchmark's "without cache").
"""

from __future__ import annotations

import functools
import math
from typing import Any

import numpy as np

from spikebridge.errors import SpikebridgeConfigError

ENGINES = ("auto", "numpy", "torch", "recompute")


def _torch():
    import torch

    return torch


class RecomputeEngine:
    """Run ``model.forward`` over the whole held window at every step (no cache)."""

    def __init__(self, model: Any, context: int | None = None) -> None:
        self.model = model.eval()
        cfg = getattr(model, "config", None)
        self.n_units = int(cfg.n_units)
        self.context = context or getattr(cfg, "max_context", None)
        self.window = None  # (B, held, N) float32 tensor
        self.held = 0

    def _last_logits(self) -> np.ndarray:
        torch = _torch()
        with torch.inference_mode():
            return self.model(self.window)[:, -1].float().numpy()  # (B, N)

    def start(self, window: np.ndarray) -> np.ndarray | None:
        torch = _torch()
        self.window = torch.from_numpy(np.array(window, dtype=np.float32))  # (B, T, N)
        self.held = window.shape[1]
        return self._last_logits() if self.held else None

    def advance(self, x_t: np.ndarray) -> np.ndarray:
        torch = _torch()
        new = torch.from_numpy(np.asarray(x_t, dtype=np.float32))[:, None]  # (B, 1, N)
        self.window = new if self.held == 0 else torch.cat([self.window, new], dim=1)
        self.held += 1
        return self._last_logits()


class TorchCacheEngine:
    """Any torch model with the incremental ``init_state`` / ``step`` (and optional ``prefill``) API."""

    def __init__(self, model: Any, context: int | None = None) -> None:
        for name in ("init_state", "step"):
            if not callable(getattr(model, name, None)):
                raise SpikebridgeConfigError(f"{type(model).__name__} has no incremental {name}() method")
        self.model = model.eval()
        cfg = getattr(model, "config", None)
        self.n_units = int(cfg.n_units)
        self.context = context or getattr(cfg, "max_context", None)
        self.state = None
        self.held = 0

    def start(self, window: np.ndarray) -> np.ndarray | None:
        torch = _torch()
        x = torch.from_numpy(np.array(window, dtype=np.float32))  # (B, T, N)
        self.held = x.shape[1]
        with torch.inference_mode():
            if hasattr(self.model, "prefill") and self.held:
                logits, self.state = self.model.prefill(x)
                return logits[:, -1].float().numpy()
            self.state = self.model.init_state(x.shape[0])
            logits = None
            for t in range(self.held):
                logits, self.state = self.model.step(x[:, t], self.state)
        return None if logits is None else logits.float().numpy()

    def advance(self, x_t: np.ndarray) -> np.ndarray:
        torch = _torch()
        with torch.inference_mode():
            logits, self.state = self.model.step(
                torch.from_numpy(np.asarray(x_t, dtype=np.float32)), self.state
            )
        self.held += 1
        return logits.float().numpy()


def _layer_norm_folded(norm, linear) -> tuple[np.ndarray, np.ndarray]:
    """Fold ``LayerNorm`` gain and bias into the following ``Linear``: ``(W' (D, out), b' (out,))``.

    ``linear(norm(h)) = z @ W' + b'`` with ``z = (h - mean(h)) / sqrt(var(h) + eps)``.
    """
    w = linear.weight.detach().double().numpy().T  # (D, out)
    gain = norm.weight.detach().double().numpy()
    shift = norm.bias.detach().double().numpy()
    bias = linear.bias.detach().double().numpy() + shift @ w
    return (gain[:, None] * w).astype(np.float32), bias.astype(np.float32)


class _Layer:
    """One transformer block's weights in numpy (LayerNorms folded into the next linear map)."""

    def __init__(self, block, n_heads: int) -> None:
        self.attention = block.attn is not None
        if self.attention:
            attn = block.attn
            self.eps_attn = float(block.norm_attn.eps)
            self.w_qkv, self.b_qkv = _layer_norm_folded(block.norm_attn, attn.qkv)  # (D, 3D), (3D,)
            d = self.w_qkv.shape[0]
            scale = 1.0 / math.sqrt(d // n_heads)  # fold the attention scale into the queries
            self.w_qkv[:, :d] *= scale
            self.b_qkv[:d] *= scale
            self.w_out = attn.out.weight.detach().numpy().T.copy()  # (D, D)
            self.b_out = attn.out.bias.detach().numpy().copy()
            self.rotary = None
            if attn.rotary is not None:
                self.rotary = (attn.rotary.cos.numpy().copy(), attn.rotary.sin.numpy().copy())  # (C, Dh/2)
        self.eps_ff = float(block.norm_ff.eps)
        self.w_ff1, self.b_ff1 = _layer_norm_folded(block.norm_ff, block.ff[0])  # (D, F), (F,)
        root_half = np.float32(1.0 / math.sqrt(2.0))  # see _gelu_scaled
        self.w_ff1 *= root_half
        self.b_ff1 *= root_half
        self.w_ff2 = block.ff[2].weight.detach().numpy().T * root_half  # (F, D)
        self.b_ff2 = block.ff[2].bias.detach().numpy().copy()


def _norm_linear(h: np.ndarray, mean_op: np.ndarray, w: np.ndarray, b: np.ndarray, eps: float) -> np.ndarray:
    """``LayerNorm`` (epsilon ``eps``) then ``Linear``, folded by :func:`_layer_norm_folded` into ``w``, ``b``.

    ``mean_op`` is a ``(D, 1)`` column of ``1 / D``: means over the last axis as one matrix product
    (cheaper than ``ndarray.mean`` on one row). ``h`` is ``(B, D)``; returns ``(B, out)``. Products of
    2-D arrays use ``ndarray.dot``: on one row it costs half of ``@`` (``matmul``'s dispatch).
    """
    centred = h - h.dot(mean_op)  # (B, D)
    norm = (centred * centred).dot(mean_op)  # (B, 1) variance
    norm += eps
    np.sqrt(norm, out=norm)
    out = centred.dot(w)
    out /= norm
    out += b
    return out


@functools.cache
def _erf():
    """scipy's ``erf`` ufunc (imported once, on first use: scipy stays out of ``import spikebridge``)."""
    from scipy.special import erf

    return erf


def _gelu_scaled(y: np.ndarray) -> np.ndarray:
    """``y * (1 + erf(y))`` in place: ``sqrt(2) * GELU(x)`` for ``y = x / sqrt(2)`` (exact erf GELU).

    The engine folds ``1 / sqrt(2)`` into the first feed-forward map and ``1 / sqrt(2)`` into the
    second, so the step needs three array operations for the activation.
    """
    out = _erf()(y)
    out += 1.0
    out *= y
    return out


_TORCH_EXP_FROM = 16384  # elements from which torch's exp beats numpy's (measured: x1.7 at 120k float32)


def _exp_inplace(x: np.ndarray) -> None:
    """``x = exp(x)`` in place; large arrays go through torch's vectorised exp on the same memory."""
    if x.size >= _TORCH_EXP_FROM:
        _torch().from_numpy(x).exp_()
    else:
        np.exp(x, out=x)


def _rotate(x: np.ndarray, cos: np.ndarray, sin: np.ndarray) -> np.ndarray:
    """Rotary rotation of ``x`` ``(..., Dh)`` at one position (``cos``/``sin`` ``(Dh/2,)``)."""
    even, odd = x[..., 0::2], x[..., 1::2]
    out = np.empty_like(x)
    out[..., 0::2] = even * cos - odd * sin
    out[..., 1::2] = even * sin + odd * cos
    return out


class NumpyEngine:
    """A :class:`SpikeTransformer` stepped in numpy with a key/value cache (eval mode, float32).

    Parameters
    ----------
    model : SpikeTransformer
        Trained model; its weights are copied (later changes to the model are not seen). ``start``
        encodes windows with ``model.prefill`` and copies the resulting cache.
    context : int, optional
        Most bins held (default and maximum: ``model.config.max_context``).
    """

    def __init__(self, model: Any, context: int | None = None) -> None:
        torch = _torch()
        cfg = model.config
        self.model = model.eval()
        self.n_units, self.n_heads = cfg.n_units, cfg.n_heads
        self.head_dim = cfg.d_model // cfg.n_heads
        self.context = int(context or cfg.max_context)
        if not 1 <= self.context <= cfg.max_context:
            raise SpikebridgeConfigError(f"context must be in 1..{cfg.max_context}, got {self.context}")
        self.mean_op = np.full((cfg.d_model, 1), 1.0 / cfg.d_model, np.float32)  # (D, 1)
        with torch.no_grad():
            self.w_embed = model.embed.weight.detach().numpy().T.copy()  # (N, D)
            pos = model.pos[: self.context].detach().float().numpy() if model.pos is not None else 0.0
            self.embed_bias = (
                model.embed.bias.detach().numpy() + np.zeros((self.context, cfg.d_model)) + pos
            ).astype(np.float32)  # (C, D) bias + position
            self.layers = [_Layer(block, cfg.n_heads) for block in model.blocks]
            self.eps_out = float(model.norm.eps)
            self.w_head, self.b_head = _layer_norm_folded(model.norm, model.head)  # (D, N), (N,)
        self.keys: list[np.ndarray] = []
        self.values: list[np.ndarray] = []
        self.held = 0

    def _alloc(self, batch: int) -> None:
        shape = (batch, self.n_heads, self.context, self.head_dim)
        n_attn = sum(layer.attention for layer in self.layers)
        if not self.values or self.values[0].shape != shape:
            keys_shape = (batch, self.n_heads, self.head_dim, self.context)  # keys stored transposed
            self.keys = [np.zeros(keys_shape, np.float32) for _ in range(n_attn)]
            self.values = [np.zeros(shape, np.float32) for _ in range(n_attn)]

    def start(self, window: np.ndarray) -> np.ndarray | None:
        torch = _torch()
        window = np.array(window, dtype=np.float32)  # (B, T, N), a writable copy for torch
        if window.shape[1] > self.context:
            raise SpikebridgeConfigError(f"window of {window.shape[1]} bins exceeds context {self.context}")
        self._alloc(window.shape[0])
        self.held = window.shape[1]
        if self.held == 0:
            return None
        with torch.inference_mode():
            logits, state = self.model.prefill(torch.from_numpy(window))
        for keys, values, k_src, v_src in zip(self.keys, self.values, state.keys, state.values, strict=True):
            keys[:, :, :, : self.held] = k_src[:, :, : self.held].numpy().transpose(0, 1, 3, 2)
            values[:, :, : self.held] = v_src[:, :, : self.held].numpy()
        return logits[:, -1].float().numpy()

    def advance(self, x_t: np.ndarray) -> np.ndarray:
        pos = self.held
        if pos >= self.context:
            raise SpikebridgeConfigError(f"engine holds {pos} bins, its context is full; call start()")
        batch = x_t.shape[0]
        h = x_t.astype(np.float32).dot(self.w_embed)  # (B, D)
        h += self.embed_bias[pos]
        cache = 0
        for layer in self.layers:
            if layer.attention:
                h += self._attend(layer, h, pos, cache, batch)
                cache += 1
            ff = _gelu_scaled(_norm_linear(h, self.mean_op, layer.w_ff1, layer.b_ff1, layer.eps_ff))  # (B, F)
            h += ff.dot(layer.w_ff2)
            h += layer.b_ff2
        self.held = pos + 1
        return _norm_linear(h, self.mean_op, self.w_head, self.b_head, self.eps_out)  # (B, N)

    def _attend(self, layer: _Layer, h: np.ndarray, pos: int, cache: int, batch: int) -> np.ndarray:
        """Attention output ``(B, D)`` of the token at ``pos`` over the cache (which it joins)."""
        d = h.shape[1]
        qkv = _norm_linear(h, self.mean_op, layer.w_qkv, layer.b_qkv, layer.eps_attn)  # (B, 3D)
        q = qkv[:, :d].reshape(batch, self.n_heads, 1, self.head_dim)  # (B, H, 1, Dh), already scaled
        k = qkv[:, d : 2 * d].reshape(batch, self.n_heads, self.head_dim)  # (B, H, Dh)
        if layer.rotary is not None:
            cos, sin = layer.rotary[0][pos], layer.rotary[1][pos]
            q, k = _rotate(q, cos, sin), _rotate(k, cos, sin)
        keys, values = self.keys[cache], self.values[cache]  # (B, H, Dh, C) and (B, H, C, Dh)
        keys[:, :, :, pos] = k
        values[:, :, pos] = qkv[:, 2 * d :].reshape(batch, self.n_heads, self.head_dim)
        scores = q @ keys[:, :, :, : pos + 1]  # (B, H, 1, L)
        scores -= np.maximum.reduce(scores, axis=-1, keepdims=True)
        _exp_inplace(scores)
        heads = scores @ values[:, :, : pos + 1]  # (B, H, 1, Dh)
        heads /= np.add.reduce(scores, axis=-1, keepdims=True)
        out = heads.reshape(batch, d).dot(layer.w_out)  # (B, D)
        out += layer.b_out
        return out


def make_engine(model: Any, kind: str = "auto", context: int | None = None, anchor_tau: float | None = None):
    """The step engine ``kind`` for ``model``.

    ``"auto"``: :class:`NumpyEngine` for a :class:`SpikeTransformer`, the numpy bridge engine
    (:mod:`spikebridge.training.bridge_engine`) for a bridge model it supports, else
    :class:`TorchCacheEngine` when the model has ``init_state``/``step``, else :class:`RecomputeEngine`.
    ``anchor_tau`` (rate anchoring) needs the numpy bridge engine.
    """
    if kind not in ENGINES:
        raise SpikebridgeConfigError(f"engine must be one of {ENGINES}, got {kind!r}")
    from spikebridge.models.spike_transformer import SpikeTransformer
    from spikebridge.training import bridge_engine

    if kind == "auto":
        if isinstance(model, SpikeTransformer) or bridge_engine.supports(model):
            kind = "numpy"
        else:
            kind = "torch" if callable(getattr(model, "step", None)) else "recompute"
    if anchor_tau is not None and not (kind == "numpy" and bridge_engine.supports(model)):
        raise SpikebridgeConfigError(
            f"anchor_tau needs the numpy engine of a bridge model, not the {kind} engine of "
            f"{type(model).__name__}"
        )
    if kind == "numpy":
        if bridge_engine.supports(model):
            return bridge_engine.BridgeNumpyEngine(model, anchor_tau)
        if not isinstance(model, SpikeTransformer):
            raise SpikebridgeConfigError(
                f"the numpy engine runs a SpikeTransformer or a bridge model, not {type(model).__name__}"
            )
        return NumpyEngine(model, context)
    return TorchCacheEngine(model, context) if kind == "torch" else RecomputeEngine(model, context)
