"""Causal spike transformer (Shimono et al., section 2.2): one binary population vector per token.

Each token is one time bin (1 ms in the paper) holding the binary spike vector of ``n_units`` units.
The model reads a raster ``(B, T, N)`` and returns logits ``(B, T, N)``; the output at position ``t``
predicts bin ``t + 1`` and depends on bins ``<= t`` only. Attention uses
:func:`torch.nn.functional.scaled_dot_product_attention` with ``is_causal=True``, so a 5000-token
context never materialises a ``heads x T x T`` tensor. ``forward(x, return_attention=True)`` computes
the attention probabilities explicitly instead (short windows only, for analysis).

Architecture
------------
``Linear(N, D)`` token embedding (+ learned or sinusoidal positions) -> ``n_layers`` pre-norm blocks
(``x + Attn(LN(x))``, ``x + FF(LN(x))`` with a GELU feed-forward) -> ``LayerNorm`` -> ``Linear(D, N)``.
Pre-norm (rather than the post-norm of Vaswani et al.) is our choice for stable training; the paper
does not say.

Incremental decoding
--------------------
``init_state(batch_size)``, ``prefill(x)`` and ``step(x_t, state)`` run the same network one bin at a
time with a key/value cache (:class:`DecodeState`), so each new bin costs one token's work plus
attention over the cached bins instead of a forward pass over the whole window. Positions are absolute,
so a state holds at most ``max_context`` bins; sliding beyond that (re-encoding the most recent bins) is
the caller's policy (see :mod:`spikebridge.training.generate`). ``step`` on a state filled by the same
bins gives the same logits as ``forward`` (a test checks it).

Hooks for analysis
------------------
Each :class:`CausalSelfAttention` passes its tensors through identity modules that forward hooks can
watch (or replace the output of): ``attn.probs`` receives the attention probabilities ``(B, H, T, T)``
(explicit path only) and ``attn.head_outputs`` receives the per-head outputs ``(B, H, T, head_dim)``
before the output projection (both paths). ``model.attention_modules()`` lists them per layer.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field, fields
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from spikebridge.errors import SpikebridgeConfigError

POS_ENCODINGS = ("none", "sinusoidal", "learned", "rotary")


@dataclass(frozen=True)
class SpikeTransformerConfig:
    """Architecture of :class:`SpikeTransformer` (no optimiser or loss settings).

    Attributes
    ----------
    n_units : int
        Units per token (columns of the raster), 128 in the paper.
    d_model : int
        Width of the residual stream; divisible by ``n_heads``.
    n_heads : int
        Attention heads.
    n_layers : int
        Transformer blocks, 1 to 4 (the paper uses 1).
    d_ff : int
        Hidden width of the feed-forward sub-layer.
    dropout : float
        Dropout on the token embedding and on the output of every sub-layer, in [0, 1).
    attn_dropout : float
        Dropout on the attention probabilities, in [0, 1). Default 0: on CPU, a nonzero value makes
        ``scaled_dot_product_attention`` fall back to its unfused kernel, which materialises
        ``(B, H, T, T)`` and was measured about 10x slower at T = 256.
    max_context : int
        Longest input (tokens = bins) the model accepts.
    pos_encoding : {"none", "sinusoidal", "learned", "rotary"}
        Position information: none, fixed sinusoids or learned vectors added to the token embedding,
        or rotary embedding of queries and keys.
    attention : bool
        False disables attention (ablation): each block is then a per-token MLP, so the output at ``t``
        depends on bin ``t`` only.
    """

    n_units: int = 128
    d_model: int = 128
    n_heads: int = 32
    n_layers: int = 1
    d_ff: int = 512
    dropout: float = 0.1
    attn_dropout: float = 0.0
    max_context: int = 5000
    pos_encoding: str = "learned"
    attention: bool = True

    def __post_init__(self) -> None:
        for name in ("n_units", "d_model", "n_heads", "d_ff", "max_context"):
            value = getattr(self, name)
            if not isinstance(value, int) or isinstance(value, bool) or value < 1:
                raise SpikebridgeConfigError(f"{name} must be a positive integer, got {value!r}")
        if not isinstance(self.n_layers, int) or not 1 <= self.n_layers <= 4:
            raise SpikebridgeConfigError(f"n_layers must be an integer in 1..4, got {self.n_layers!r}")
        if self.d_model % self.n_heads:
            raise SpikebridgeConfigError(
                f"d_model must be divisible by n_heads, got d_model={self.d_model}, n_heads={self.n_heads}"
            )
        for name in ("dropout", "attn_dropout"):
            value = getattr(self, name)
            if not isinstance(value, int | float) or isinstance(value, bool) or not 0.0 <= value < 1.0:
                raise SpikebridgeConfigError(f"{name} must be in [0, 1), got {value!r}")
        if self.pos_encoding not in POS_ENCODINGS:
            raise SpikebridgeConfigError(
                f"pos_encoding must be one of {POS_ENCODINGS}, got {self.pos_encoding!r}"
            )
        if self.pos_encoding == "rotary" and (self.d_model // self.n_heads) % 2:
            raise SpikebridgeConfigError(
                f"pos_encoding 'rotary' needs an even head dimension, got d_model/n_heads="
                f"{self.d_model // self.n_heads}"
            )
        if not isinstance(self.attention, bool):
            raise SpikebridgeConfigError(f"attention must be a bool, got {self.attention!r}")

    @classmethod
    def profile(cls, name: str, **overrides: Any) -> SpikeTransformerConfig:
        """Named configuration, optionally with fields overridden.

        Parameters
        ----------
        name : {"paper", "quick", "tiny"}
            ``"paper"``: 1 layer, 32 heads, one 128-unit binary vector of one bin per token, dropout 0.1,
            context up to 5000 tokens (the 10% dropout is applied to the embedding and sub-layer outputs,
            not to the attention probabilities: see ``attn_dropout``). The paper does not state the width; we choose ``d_model=128``
            (head dimension 4) and ``d_ff=512`` (4 x d_model, as in Vaswani et al.).
            ``"quick"``: small and fast on a 2-core CPU: d_model 64, 4 heads, d_ff 128, 1 layer, context 256.
            ``"tiny"``: seconds per fit, for smoke tests and demos: d_model 32, 2 heads, d_ff 64, context 64.
        **overrides
            Field values replacing those of the profile (e.g. ``n_units=32``).
        """
        profiles = {
            "paper": dict(d_model=128, n_heads=32, n_layers=1, d_ff=512, dropout=0.1, max_context=5000),
            "quick": dict(d_model=64, n_heads=4, n_layers=1, d_ff=128, dropout=0.1, max_context=256),
            "tiny": dict(d_model=32, n_heads=2, n_layers=1, d_ff=64, dropout=0.1, max_context=64),
        }
        if name not in profiles:
            raise SpikebridgeConfigError(f"profile must be one of {sorted(profiles)}, got {name!r}")
        return cls(**{**profiles[name], **overrides})

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON-serialisable dictionary of the fields."""
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> SpikeTransformerConfig:
        """Inverse of :meth:`to_dict`; unknown keys raise :class:`SpikebridgeConfigError`."""
        known = {f.name for f in fields(cls)}
        unknown = sorted(set(data) - known)
        if unknown:
            raise SpikebridgeConfigError(f"unknown SpikeTransformerConfig field(s): {', '.join(unknown)}")
        return cls(**data)


def sinusoidal_table(length: int, dim: int) -> torch.Tensor:
    """Fixed sinusoidal position table ``(length, dim)`` (Vaswani et al. 2017); odd ``dim`` is allowed."""
    pos = torch.arange(length, dtype=torch.float32)[:, None]  # (T, 1)
    freq = torch.exp(-math.log(10000.0) * torch.arange(0, dim, 2, dtype=torch.float32) / dim)  # (ceil(D/2),)
    table = torch.zeros(length, dim)
    table[:, 0::2] = torch.sin(pos * freq)
    table[:, 1::2] = torch.cos(pos * freq[: dim // 2])
    return table


class RotaryEmbedding(nn.Module):
    """Rotary position embedding (Su et al. 2021) applied to queries and keys ``(B, H, T, Dh)``.

    Pairs of channels ``(2i, 2i+1)`` are rotated by angle ``t * 10000^(-2i/Dh)`` at position ``t``, so the
    query-key dot product depends on relative position only.
    """

    def __init__(self, head_dim: int, max_context: int) -> None:
        super().__init__()
        inv_freq = 10000.0 ** (-torch.arange(0, head_dim, 2, dtype=torch.float32) / head_dim)  # (Dh/2,)
        angles = torch.arange(max_context, dtype=torch.float32)[:, None] * inv_freq  # (T, Dh/2)
        self.register_buffer("cos", angles.cos(), persistent=False)
        self.register_buffer("sin", angles.sin(), persistent=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Rotate ``x`` of shape ``(B, H, T, Dh)``; returns the same shape and dtype."""
        t = x.shape[-2]
        cos = self.cos[:t].to(x.dtype)
        sin = self.sin[:t].to(x.dtype)
        x_even, x_odd = x[..., 0::2], x[..., 1::2]  # (B, H, T, Dh/2) each
        rot_even = x_even * cos - x_odd * sin
        rot_odd = x_even * sin + x_odd * cos
        return torch.stack((rot_even, rot_odd), dim=-1).flatten(-2)  # (B, H, T, Dh)

    def rotate_at(self, x: torch.Tensor, offset: int) -> torch.Tensor:
        """Rotate ``x`` ``(B, H, T, Dh)`` whose first token sits at absolute position ``offset``."""
        t = x.shape[-2]
        cos = self.cos[offset : offset + t].to(x.dtype)
        sin = self.sin[offset : offset + t].to(x.dtype)
        x_even, x_odd = x[..., 0::2], x[..., 1::2]  # (B, H, T, Dh/2) each
        rot_even = x_even * cos - x_odd * sin
        rot_odd = x_even * sin + x_odd * cos
        return torch.stack((rot_even, rot_odd), dim=-1).flatten(-2)  # (B, H, T, Dh)


class CausalSelfAttention(nn.Module):
    """Multi-head causal self-attention with an optional explicit path returning the probabilities."""

    def __init__(self, config: SpikeTransformerConfig) -> None:
        super().__init__()
        self.n_heads = config.n_heads
        self.head_dim = config.d_model // config.n_heads
        self.dropout = config.attn_dropout
        self.qkv = nn.Linear(config.d_model, 3 * config.d_model)
        self.out = nn.Linear(config.d_model, config.d_model)
        self.rotary = (
            RotaryEmbedding(self.head_dim, config.max_context) if config.pos_encoding == "rotary" else None
        )
        self.probs = nn.Identity()  # hook point: attention probabilities (B, H, T, T), explicit path only
        self.head_outputs = nn.Identity()  # hook point: per-head outputs (B, H, T, Dh)

    def forward(
        self, x: torch.Tensor, return_attention: bool = False
    ) -> tuple[torch.Tensor, torch.Tensor | None]:
        """Attend causally.

        Parameters
        ----------
        x : Tensor ``(B, T, D)``
        return_attention : bool
            Compute the attention explicitly and return its probabilities ``(B, H, T, T)``.

        Returns
        -------
        out : Tensor ``(B, T, D)``
        probs : Tensor ``(B, H, T, T)`` or None
        """
        b, t, d = x.shape
        qkv = self.qkv(x).view(b, t, 3, self.n_heads, self.head_dim)  # (B, T, 3, H, Dh)
        q, k, v = qkv.permute(2, 0, 3, 1, 4).unbind(0)  # 3 x (B, H, T, Dh)
        if self.rotary is not None:
            q, k = self.rotary(q), self.rotary(k)
        dropout_p = self.dropout if self.training else 0.0
        probs = None
        if return_attention:
            scores = (q @ k.transpose(-2, -1)) / math.sqrt(self.head_dim)  # (B, H, T, T)
            future = torch.ones(t, t, dtype=torch.bool, device=x.device).triu(1)
            probs = self.probs(scores.masked_fill(future, float("-inf")).softmax(dim=-1))
            heads = F.dropout(probs, dropout_p, self.training) @ v  # (B, H, T, Dh)
        else:
            heads = F.scaled_dot_product_attention(q, k, v, dropout_p=dropout_p, is_causal=True)
        heads = self.head_outputs(heads)
        merged = heads.transpose(1, 2).reshape(b, t, d)  # (B, T, D)
        return self.out(merged), probs

    def forward_cached(
        self, x: torch.Tensor, keys: torch.Tensor, values: torch.Tensor, start: int
    ) -> torch.Tensor:
        """Attend from new tokens to the cached ones and to each other (eval mode, no dropout).

        Parameters
        ----------
        x : Tensor ``(B, T, D)``
            New tokens at absolute positions ``start .. start + T - 1``.
        keys, values : Tensor ``(B, H, max_context, Dh)``
            Cache buffers holding positions ``< start``; the new keys and values are written into them.
        start : int

        Returns
        -------
        Tensor ``(B, T, D)``
        """
        b, t, d = x.shape
        qkv = self.qkv(x).view(b, t, 3, self.n_heads, self.head_dim)  # (B, T, 3, H, Dh)
        q, k, v = qkv.permute(2, 0, 3, 1, 4).unbind(0)  # 3 x (B, H, T, Dh)
        if self.rotary is not None:
            q, k = self.rotary.rotate_at(q, start), self.rotary.rotate_at(k, start)
        stop = start + t
        keys[:, :, start:stop] = k
        values[:, :, start:stop] = v
        k_all, v_all = keys[:, :, :stop], values[:, :, :stop]  # (B, H, stop, Dh)
        if t == 1:  # one query sees every cached key
            heads = F.scaled_dot_product_attention(q, k_all, v_all)
        elif start == 0:
            heads = F.scaled_dot_product_attention(q, k_all, v_all, is_causal=True)
        else:  # query i (position start + i) sees keys 0 .. start + i
            allowed = torch.ones(t, stop, dtype=torch.bool, device=x.device).tril(start)
            heads = F.scaled_dot_product_attention(q, k_all, v_all, attn_mask=allowed)
        heads = self.head_outputs(heads)
        return self.out(heads.transpose(1, 2).reshape(b, t, d))  # (B, T, D)


class Block(nn.Module):
    """Pre-norm transformer block; without attention it is a residual per-token MLP."""

    def __init__(self, config: SpikeTransformerConfig) -> None:
        super().__init__()
        self.attn = CausalSelfAttention(config) if config.attention else None
        self.norm_attn = nn.LayerNorm(config.d_model) if config.attention else None
        self.norm_ff = nn.LayerNorm(config.d_model)
        self.ff = nn.Sequential(
            nn.Linear(config.d_model, config.d_ff),
            nn.GELU(),
            nn.Linear(config.d_ff, config.d_model),
        )
        self.drop = nn.Dropout(config.dropout)

    def forward(
        self, x: torch.Tensor, return_attention: bool = False
    ) -> tuple[torch.Tensor, torch.Tensor | None]:
        """``x`` ``(B, T, D)`` -> ``(B, T, D)`` and the attention probabilities (or None)."""
        probs = None
        if self.attn is not None:
            attended, probs = self.attn(self.norm_attn(x), return_attention)
            x = x + self.drop(attended)
        x = x + self.drop(self.ff(self.norm_ff(x)))
        return x, probs

    def forward_cached(
        self, x: torch.Tensor, keys: torch.Tensor | None, values: torch.Tensor | None, start: int
    ) -> torch.Tensor:
        """:meth:`forward` for new tokens ``(B, T, D)`` given the layer's cache (None without attention)."""
        if self.attn is not None:
            x = x + self.drop(self.attn.forward_cached(self.norm_attn(x), keys, values, start))
        return x + self.drop(self.ff(self.norm_ff(x)))


@dataclass
class DecodeState:
    """Key/value cache of an incremental decode (mutable: :meth:`SpikeTransformer.step` fills it in place).

    Attributes
    ----------
    keys, values : list of Tensor ``(B, H, max_context, Dh)``
        One buffer per layer (empty lists when attention is disabled); positions ``< length`` are filled.
    length : int
        Bins held, which is also the absolute position of the next bin.
    """

    keys: list[torch.Tensor] = field(default_factory=list)
    values: list[torch.Tensor] = field(default_factory=list)
    length: int = 0

    @property
    def batch_size(self) -> int:
        return self.keys[0].shape[0] if self.keys else -1


class SpikeTransformer(nn.Module):
    """One-step-ahead spike predictor: raster ``(B, T, N)`` -> logits ``(B, T, N)`` for bins ``t + 1``.

    Parameters
    ----------
    config : SpikeTransformerConfig
    """

    def __init__(self, config: SpikeTransformerConfig) -> None:
        super().__init__()
        self.config = config
        self.embed = nn.Linear(config.n_units, config.d_model)
        if config.pos_encoding == "learned":
            self.pos = nn.Parameter(torch.randn(config.max_context, config.d_model) * 0.02)
        elif config.pos_encoding == "sinusoidal":
            self.register_buffer(
                "pos", sinusoidal_table(config.max_context, config.d_model), persistent=False
            )
        else:
            self.pos = None
        self.drop = nn.Dropout(config.dropout)
        self.blocks = nn.ModuleList(Block(config) for _ in range(config.n_layers))
        self.norm = nn.LayerNorm(config.d_model)
        self.head = nn.Linear(config.d_model, config.n_units)

    def attention_modules(self) -> list[CausalSelfAttention]:
        """The attention module of every layer (empty when attention is disabled)."""
        return [block.attn for block in self.blocks if block.attn is not None]

    def forward(
        self, x: torch.Tensor, return_attention: bool = False
    ) -> torch.Tensor | tuple[torch.Tensor, list[torch.Tensor]]:
        """Predict the next bin at every position.

        Parameters
        ----------
        x : Tensor ``(B, T, N)``, bool or float
            Binary raster, ``T <= max_context``.
        return_attention : bool
            Also return the attention probabilities of every layer, each ``(B, H, T, T)``, computed
            explicitly (memory grows as T^2: use on short windows only).

        Returns
        -------
        logits : Tensor ``(B, T, N)``
            ``logits[:, t]`` is the log-odds of a spike in bin ``t + 1`` given bins ``<= t``.
        attention : list of Tensor ``(B, H, T, T)``
            Only when ``return_attention`` is True (empty list when attention is disabled).
        """
        if x.dim() != 3 or x.shape[-1] != self.config.n_units:
            raise SpikebridgeConfigError(f"input must be (B, T, {self.config.n_units}), got {tuple(x.shape)}")
        t = x.shape[1]
        if t > self.config.max_context:
            raise SpikebridgeConfigError(f"input length {t} exceeds max_context {self.config.max_context}")
        h = self.embed(x.to(self.embed.weight.dtype))  # (B, T, D)
        if self.pos is not None:
            h = h + self.pos[:t].to(h.dtype)
        h = self.drop(h)
        attention = []
        for block in self.blocks:
            h, probs = block(h, return_attention)
            if probs is not None:
                attention.append(probs)
        logits = self.head(self.norm(h))  # (B, T, N)
        return (logits, attention) if return_attention else logits

    def init_state(self, batch_size: int) -> DecodeState:
        """An empty decode state for ``batch_size`` sequences (buffers of ``max_context`` bins)."""
        cfg = self.config
        if not isinstance(batch_size, int) or batch_size < 1:
            raise SpikebridgeConfigError(f"batch_size must be a positive integer, got {batch_size!r}")
        shape = (batch_size, cfg.n_heads, cfg.max_context, cfg.d_model // cfg.n_heads)
        weight = self.embed.weight
        keys = [weight.new_zeros(shape) for _ in self.attention_modules()]
        values = [weight.new_zeros(shape) for _ in self.attention_modules()]
        return DecodeState(keys=keys, values=values, length=0)

    def extend(self, x: torch.Tensor, state: DecodeState) -> torch.Tensor:
        """Append bins ``x`` ``(B, T, N)`` to ``state`` (in place); return their logits ``(B, T, N)``.

        ``logits[:, i]`` predicts the bin after ``x[:, i]`` from every bin held by the state and
        ``x[:, :i + 1]``, exactly as :meth:`forward` over the concatenated window (eval mode).
        """
        cfg = self.config
        if x.dim() != 3 or x.shape[-1] != cfg.n_units:
            raise SpikebridgeConfigError(f"input must be (B, T, {cfg.n_units}), got {tuple(x.shape)}")
        if state.keys and x.shape[0] != state.batch_size:
            raise SpikebridgeConfigError(f"input batch {x.shape[0]} != decode state batch {state.batch_size}")
        start, t = state.length, x.shape[1]
        if start + t > cfg.max_context:
            raise SpikebridgeConfigError(
                f"decode state would hold {start + t} bins, more than max_context {cfg.max_context}"
            )
        h = self.embed(x.to(self.embed.weight.dtype))  # (B, T, D)
        if self.pos is not None:
            h = h + self.pos[start : start + t].to(h.dtype)
        h = self.drop(h)
        layer = 0
        for block in self.blocks:
            if block.attn is None:
                h = block.forward_cached(h, None, None, start)
            else:
                h = block.forward_cached(h, state.keys[layer], state.values[layer], start)
                layer += 1
        state.length = start + t
        return self.head(self.norm(h))  # (B, T, N)

    def prefill(self, x: torch.Tensor) -> tuple[torch.Tensor, DecodeState]:
        """Encode a window ``x`` ``(B, T, N)`` from position 0: its logits ``(B, T, N)`` and the filled state."""
        state = self.init_state(x.shape[0])
        return self.extend(x, state), state

    def step(self, x_t: torch.Tensor, state: DecodeState) -> tuple[torch.Tensor, DecodeState]:
        """Append one bin ``x_t`` ``(B, N)``; return the logits ``(B, N)`` of the next bin and the state.

        The state is updated in place (and returned for convenience).
        """
        return self.extend(x_t[:, None, :], state)[:, 0], state
