"""spikebridge's own spike model: a coupled history GLM inside a population-context network.

The model predicts every unit's spike in bin ``t + 1`` from bins ``<= t``. It reads the raster through
fixed causal features (:mod:`spikebridge.models.features`), so its memory reaches seconds back at a
constant cost per bin:

- for every unit, the time since its last spike (in categories, 1 bin to seconds) and its own spike
  traces at several time constants (``unit_taus``; the long ones estimate its current rate);
- for the population, traces of the fraction of units that spiked (``population_taus``).

Logit of unit ``i`` at bin ``t``, the sum of a shared (unit-agnostic) part and a per-column part::

    shared_i(t) = c(t) . [S[k_i(t)] + W r_i(t) + w] + b
    column_i(t) = sum_j sum_f C[i, j, f] g_j,f(t) + P[k_i(t), i] + V_i . r_i(t) + u_i + c(t) . e_i
                  (+ head_i(MLP(population spikes)) with ``population_mlp``)

where ``k_i(t)`` is the time-since-spike category, ``r_i(t)`` the standardised log rates from the own
traces, ``g_j,f(t)`` unit j's spikes at the exact lags and its short traces (``coupling_taus``), and
``c(t)`` (``rank`` values, the first fixed at 1) the population context: a feed-forward network of the
population traces, with optional attention over the last ``attention_span`` bins of population tokens.
The first channel of ``c`` gives an additive own-history term; the others let the population state
scale it (gain). The per-column part is a coupled history GLM (coupling matrix ``C``, per-unit
time-since-spike table ``P``, rate weights ``V``, intercept ``u``) plus a per-unit gain ``e``. With the
per-column part, unit ``i``'s logit ``z`` is finally shrunk towards the logit ``a_i`` of its training
rate, ``a_i + s_i (z - a_i)`` (``s_i = 1`` until chosen on validation bins after training, see
:mod:`spikebridge.training.bridge_calibration`).

Transfer
--------
The shared part has no per-column parameter: it reads every column the same way, so it runs on any
recording with any number of units. Per-column parameters describe the training recording's units;
on another recording (no neuron correspondence) call the model with ``columns=False``.

Incremental use (generation)
----------------------------
``state = model.init_state(batch_size)``, then ``logits, state = model.step(x_t, state)`` for each
new bin ``x_t`` ``(B, N)``: ``logits`` are for the next bin. Every step costs the same, however long the
stream. ``model.run(x, state)`` does the same for a block of bins at once, and ``model(x)`` runs a
raster from the initial state; stepping through a raster gives the same logits as ``model(x)``.

Hooks for analysis
------------------
With ``attention=True`` the :class:`WindowedSelfAttention` module passes its probabilities
``(B, H, Tq, Tk)`` (explicit path only) through the identity module ``probs`` and its per-head outputs
``(B, H, Tq, Dh)`` through ``head_outputs``; ``model.attention_modules()`` lists it and
``model(x, return_attention=True)`` returns the maps (queries: the bins of ``x``; keys: the same bins).
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn

from spikebridge.errors import SpikebridgeConfigError
from spikebridge.models.bridge_config import BridgeConfig
from spikebridge.models.features import NEVER, decay_matrices, exponential_traces, time_since_spike

CHUNK = 32  # bins per matrix product of the trace scans
RATE_FLOOR, POP_FLOOR = 1e-4, 1e-5  # added to rates before the log (spikes per bin)
State = dict[str, torch.Tensor]


class WindowedSelfAttention(nn.Module):
    """Multi-head attention of each bin's token over the tokens of the last ``span`` bins (itself included)."""

    def __init__(self, d_model: int, n_heads: int, span: int) -> None:
        super().__init__()
        self.n_heads, self.head_dim, self.span = n_heads, d_model // n_heads, span
        self.q = nn.Linear(d_model, d_model)
        self.kv = nn.Linear(d_model, 2 * d_model)
        self.out = nn.Linear(d_model, d_model)
        self.probs = nn.Identity()  # hook point: attention probabilities (B, H, Tq, Tk), explicit path only
        self.head_outputs = nn.Identity()  # hook point: per-head outputs (B, H, Tq, Dh)

    def prefill(self, x: torch.Tensor) -> tuple[torch.Tensor, State]:
        """Logits ``(B, T, N)`` of a raster read from the start of a recording, and the state after it
        (the generation engines' optional fast start)."""
        return self.run(x, self.init_state(x.shape[0], x.device))

    def forward(
        self, queries: torch.Tensor, keys: torch.Tensor, valid: torch.Tensor, return_attention: bool = False
    ) -> tuple[torch.Tensor, torch.Tensor | None]:
        """Attend.

        Parameters
        ----------
        queries : Tensor ``(B, Tq, D)``
            Tokens of the last ``Tq`` bins of ``keys``.
        keys : Tensor ``(B, Tk, D)``
            Tokens of ``Tk >= Tq`` consecutive bins.
        valid : Tensor ``(B, Tk)`` bool
            False for key bins before the start of the recording.
        """
        b, tq, d = queries.shape
        tk = keys.shape[1]
        q = self.q(queries).view(b, tq, self.n_heads, self.head_dim).transpose(1, 2)  # (B, H, Tq, Dh)
        k, v = self.kv(keys).view(b, tk, 2, self.n_heads, self.head_dim).permute(2, 0, 3, 1, 4).unbind(0)
        qpos = torch.arange(tk - tq, tk, device=keys.device)[:, None]  # (Tq, 1) positions among the keys
        lag = qpos - torch.arange(tk, device=keys.device)[None, :]  # (Tq, Tk)
        allowed = (lag >= 0) & (lag < self.span)
        mask = allowed[None, None] & valid[:, None, None, :]  # (B, 1, Tq, Tk)
        probs = None
        if return_attention:
            scores = (q @ k.transpose(-2, -1)) / math.sqrt(self.head_dim)  # (B, H, Tq, Tk)
            probs = self.probs(scores.masked_fill(~mask, float("-inf")).softmax(dim=-1))
            heads = probs @ v
        else:
            heads = F.scaled_dot_product_attention(q, k, v, attn_mask=mask)
        heads = self.head_outputs(heads)  # (B, H, Tq, Dh)
        return self.out(heads.transpose(1, 2).reshape(b, tq, d)), probs


class BridgeModel(nn.Module):
    """One-step-ahead spike predictor with a shared (transferable) and a per-column part.

    Parameters
    ----------
    config : BridgeConfig
    """

    def __init__(self, config: BridgeConfig) -> None:
        super().__init__()
        self.config = c = config
        n_since = len(c.since_edges) + 1
        n_unit, n_pop = len(c.unit_taus), len(c.population_taus) + 1
        for prefix, taus in (("unit", c.unit_taus), ("pop", c.population_taus)):
            decay, kernel = decay_matrices(taus, CHUNK)
            self.register_buffer(f"{prefix}_decay", decay)
            self.register_buffer(f"{prefix}_kernel", kernel, persistent=False)
        self.register_buffer(
            "since_edges", torch.tensor(c.since_edges, dtype=torch.float32), persistent=False
        )
        coupling_index = torch.tensor([c.unit_taus.index(t) for t in c.coupling_taus], dtype=torch.long)
        self.register_buffer("coupling_index", coupling_index, persistent=False)
        self.register_buffer("unit_mask", torch.ones(c.n_units, dtype=torch.bool))
        for name, size in (("own", n_unit), ("pop", n_pop)):  # feature standardisation (training data)
            self.register_buffer(f"{name}_mean", torch.zeros(size))
            self.register_buffer(f"{name}_scale", torch.ones(size))
        self._build_shared(n_since, n_unit, n_pop)
        if c.columns:
            self._build_columns(n_since, n_unit)

    def _build_shared(self, n_since: int, n_unit: int, n_pop: int) -> None:
        c = self.config
        self.since_table = nn.Parameter(torch.randn(n_since, c.rank) * 0.01)  # S: (categories, rank)
        self.own = nn.Linear(n_unit, c.rank)  # W, w
        nn.init.zeros_(self.own.weight)
        nn.init.zeros_(self.own.bias)
        self.pop_in = nn.Linear(n_pop, c.d_model)
        self.attn = WindowedSelfAttention(c.d_model, c.n_heads, c.attention_span) if c.attention else None
        self.norm_attn = nn.LayerNorm(c.d_model) if c.attention else None
        self.ff = nn.Sequential(nn.LayerNorm(c.d_model), nn.Linear(c.d_model, c.d_ff), nn.GELU(),
                                nn.Linear(c.d_ff, c.d_model))  # fmt: skip
        self.norm = nn.LayerNorm(c.d_model)
        self.context = nn.Linear(c.d_model, c.rank)
        nn.init.zeros_(self.context.weight)
        nn.init.zeros_(self.context.bias)
        self.register_buffer("first", F.one_hot(torch.tensor(0), c.rank).float(), persistent=False)
        self.bias = nn.Parameter(torch.zeros(()))

    def _build_columns(self, n_since: int, n_unit: int) -> None:
        c = self.config
        n_in = (c.coupling_lags + len(c.coupling_taus)) * c.n_units
        self.coupling = nn.Linear(n_in, c.n_units, bias=False)  # C
        nn.init.zeros_(self.coupling.weight)
        self.column_since = nn.Parameter(torch.zeros(n_since, c.n_units))  # P
        self.column_own = nn.Parameter(torch.zeros(c.n_units, n_unit))  # V
        self.column_bias = nn.Parameter(torch.zeros(c.n_units))  # u
        self.column_gain = nn.Parameter(torch.zeros(c.n_units, c.rank))  # e
        # logits of the per-column model: a + s (z - a) (see spikebridge.training.bridge_calibration)
        self.register_buffer("calibration_scale", torch.ones(c.n_units))
        self.register_buffer("calibration_anchor", torch.zeros(c.n_units))
        if c.population_mlp:
            self.mlp_in = nn.Linear(n_in, c.d_model)
            self.mlp_ff = nn.Sequential(nn.LayerNorm(c.d_model), nn.Linear(c.d_model, c.d_ff), nn.GELU(),
                                        nn.Linear(c.d_ff, c.d_model))  # fmt: skip
            self.mlp_norm = nn.LayerNorm(c.d_model)
            self.mlp_head = nn.Linear(c.d_model, c.n_units)
            nn.init.zeros_(self.mlp_head.weight)
            nn.init.zeros_(self.mlp_head.bias)

    @torch.no_grad()
    def fit_standardization(
        self, raster: torch.Tensor, unit_mask: torch.Tensor, max_bins: int = 60_000
    ) -> None:
        """Set the unit mask and the feature standardisation from a training raster ``(T, N)``.

        The means and scales of the log rates (own and population) over the first ``max_bins`` bins
        of the real units become buffers: a fixed part of the model, applied unchanged to any recording.
        """
        mask = torch.as_tensor(unit_mask, dtype=torch.bool, device=self.unit_mask.device)
        self.unit_mask.copy_(mask)
        for name in ("own", "pop"):
            getattr(self, f"{name}_mean").zero_()
            getattr(self, f"{name}_scale").fill_(1.0)
        x = torch.as_tensor(raster[:max_bins], dtype=torch.float32, device=self.unit_mask.device)[None]
        feats, _ = self.features(x, self.init_state(1), mask)
        own = self._own_rates(feats)[0][:, mask]  # (T, R, Ku)
        pop = feats["population"][0, self.config.prefix :]  # (T, Kp+1)
        for name, values in (("own", own.reshape(-1, own.shape[-1])), ("pop", pop)):
            getattr(self, f"{name}_mean").copy_(values.mean(0))
            getattr(self, f"{name}_scale").copy_(values.std(0).clamp_min(1e-3))

    # ------------------------------------------------------------------ parameters and hooks

    def column_parameters(self) -> list[nn.Parameter]:
        """Per-column parameters (they describe the training recording's units)."""
        return [p for p, _ in self.column_parameters_by_column()]

    def column_parameters_by_column(self) -> list[tuple[nn.Parameter, int | None]]:
        """Per-column parameters with the axis that indexes the column (None: shared by all columns)."""
        axes = {"coupling.weight": 0, "column_since": 1, "column_own": 0, "column_bias": 0,
                "column_gain": 0, "mlp_head.weight": 0, "mlp_head.bias": 0}  # fmt: skip
        return [
            (p, axes.get(n))
            for n, p in self.named_parameters()
            if n.startswith(("coupling", "column_", "mlp_"))
        ]

    def attention_modules(self) -> list[WindowedSelfAttention]:
        """The attention module (empty when attention is disabled)."""
        return [self.attn] if self.attn is not None else []

    # ------------------------------------------------------------------ features

    def init_state(self, batch_size: int, device: torch.device | str | None = None) -> State:
        """State at the start of a recording: no spike seen yet."""
        c, n = self.config, self.config.n_units
        device = device or self.unit_decay.device
        zeros = lambda *shape: torch.zeros(*shape, device=device)  # noqa: E731
        return {
            "unit_traces": zeros(batch_size, len(c.unit_taus), n),
            "pop_traces": zeros(batch_size, len(c.population_taus), 1),
            "since": torch.full((batch_size, n), NEVER, device=device),
            "seen": zeros(batch_size),
            "spikes": zeros(batch_size, c.prefix, n),  # the last `prefix` bins
            "population": zeros(batch_size, c.prefix, len(c.population_taus) + 1),
        }

    def features(self, x: torch.Tensor, state: State, unit_mask: torch.Tensor) -> tuple[dict, State]:
        """Causal features of a block of bins following ``state``.

        Differentiable in ``x`` (the traces and exact lags; the time-since-spike categories are a
        step function of ``x``), so input gradients reach the raster (influence, importance); no graph
        is built when ``x`` does not require a gradient.

        Parameters
        ----------
        x : Tensor ``(B, T, N)`` float
        state : State
        unit_mask : Tensor ``(N,)`` bool
            Columns counted in the population fraction.

        Returns
        -------
        feats : dict
            ``spikes (B, P+T, N)`` and ``population (B, P+T, Kp+1)`` (with the ``P = config.prefix``
            bins before the block), ``unit_traces (B, T, Ku, N)``, ``since (B, T, N)`` (categories),
            ``seen (B, T)`` (bins seen up to each bin) and ``valid (B, P+T)`` (bin after the start).
        state : State after the block.
        """
        b, t, _ = x.shape
        m = unit_mask.to(x.dtype)
        unit_traces, unit_last = exponential_traces(
            x, self.unit_decay, self.unit_kernel, state["unit_traces"]
        )
        fraction = (x * m).sum(-1, keepdim=True) / m.sum().clamp_min(1.0)  # (B, T, 1)
        pop_traces, pop_last = exponential_traces(
            fraction, self.pop_decay, self.pop_kernel, state["pop_traces"]
        )
        since, since_last = time_since_spike(x, state["since"])
        seen = state["seen"][:, None] + torch.arange(1, t + 1, device=x.device)[None]  # (B, T)
        norm = (1 - self.pop_decay ** seen[..., None]) / (1 - self.pop_decay)  # (B, T, Kp) weights so far
        rates = torch.cat([fraction, pop_traces[..., 0] / norm], -1)  # (B, T, Kp+1)
        population = (torch.log(rates + POP_FLOOR) - self.pop_mean) / self.pop_scale
        p = self.config.prefix
        spikes = torch.cat([state["spikes"], x], 1)  # (B, P+T, N)
        population = torch.cat([state["population"], population], 1)  # (B, P+T, Kp+1)
        pos = state["seen"][:, None] + torch.arange(-p, t, device=x.device)[None]  # (B, P+T) bins before
        feats = {"spikes": spikes, "population": population, "unit_traces": unit_traces, "seen": seen,
                 "since": torch.bucketize(since + 1, self.since_edges), "valid": pos >= 0}  # fmt: skip
        new = {"unit_traces": unit_last, "pop_traces": pop_last, "since": since_last, "seen": seen[:, -1],
               "spikes": spikes[:, spikes.shape[1] - p :], "population": population[:, population.shape[1] - p :]}  # fmt: skip
        return feats, new

    # ------------------------------------------------------------------ logits

    def parts(
        self, feats: dict, columns: bool = True, return_attention: bool = False
    ) -> tuple[torch.Tensor, torch.Tensor | None, torch.Tensor | None]:
        """Shared logits ``(B, T, N)``, per-column logits ``(B, T, N)`` (None without columns) and the
        attention probabilities ``(B, H, T, P+T)`` (None unless requested)."""
        p = self.config.prefix
        t = feats["since"].shape[1]
        tokens = self.pop_in(feats["population"])  # (B, P+T, D)
        h, probs = tokens[:, p:], None
        if self.attn is not None:
            normed = self.norm_attn(tokens)
            attended, probs = self.attn(normed[:, p:], normed, feats["valid"], return_attention)
            h = h + attended
        h = h + self.ff(h)
        context = self.context(self.norm(h)) + self.first  # (B, T, R)
        rates = self._own_rates(feats)  # (B, T, N, Ku)
        shared = torch.gather(context @ self.since_table.T, 2, feats["since"])  # (B, T, N)
        shared = shared + torch.einsum("btnk,btk->btn", rates, context @ self.own.weight)
        shared = shared + (context @ self.own.bias)[..., None] + self.bias
        if not (columns and self.config.columns):
            return shared, None, probs
        history = self._coupling_inputs(feats, t)  # (B, T, G*N)
        column = (
            self.coupling(history) + self.column_since.T[torch.arange(self.config.n_units), feats["since"]]
        )
        column = column + torch.einsum("btnk,nk->btn", rates, self.column_own) + self.column_bias
        column = column + context @ self.column_gain.T
        if self.config.population_mlp:
            z = self.mlp_in(history) + h
            column = column + self.mlp_head(self.mlp_norm(z + self.mlp_ff(z)))
        return shared, column, probs

    def calibrate(self, logits: torch.Tensor) -> torch.Tensor:
        """Each column's logits shrunk towards its training rate by its calibration scale (the identity
        until :func:`~spikebridge.training.bridge_calibration.calibrate_columns` sets it)."""
        a = self.calibration_anchor
        return a + self.calibration_scale * (logits - a)

    def _load_from_state_dict(self, state_dict, prefix, *args, **kwargs) -> None:
        for name in ("calibration_scale", "calibration_anchor"):  # checkpoints saved before calibration
            if hasattr(self, name) and prefix + name not in state_dict:
                state_dict[prefix + name] = getattr(self, name).detach().clone()
        super()._load_from_state_dict(state_dict, prefix, *args, **kwargs)

    def _own_rates(self, feats: dict) -> torch.Tensor:
        """Standardised log spike rates of every unit from its own traces, ``(B, T, N, Ku)``."""
        norm = (1 - self.unit_decay ** feats["seen"][..., None]) / (1 - self.unit_decay)  # (B, T, Ku)
        rates = feats["unit_traces"] / norm[..., None]  # (B, T, Ku, N)
        return ((torch.log(rates + RATE_FLOOR) - self.own_mean[:, None]) / self.own_scale[:, None]).transpose(
            2, 3
        )

    def _coupling_inputs(self, feats: dict, t: int) -> torch.Tensor:
        """Every unit's spikes at the exact lags and its short traces, ``(B, T, G*N)``."""
        spikes, p = feats["spikes"], self.config.prefix
        lags = [
            spikes[:, p - lag : p - lag + t] for lag in range(self.config.coupling_lags)
        ]  # each (B, T, N)
        traces = feats["unit_traces"].index_select(2, self.coupling_index).unbind(2)
        b, _, n = spikes.shape
        return torch.stack([*lags, *traces], 2).reshape(b, t, -1)

    # ------------------------------------------------------------------ running

    def run(
        self,
        x: torch.Tensor,
        state: State,
        unit_mask: torch.Tensor | None = None,
        columns: bool = True,
        return_attention: bool = False,
    ) -> tuple[torch.Tensor, State] | tuple[torch.Tensor, State, torch.Tensor | None]:
        """Logits ``(B, T, N)`` for the bins after each bin of ``x`` ``(B, T, N)``, continuing ``state``.

        ``logits[:, t]`` is the log-odds of a spike in the bin after ``x[:, t]``, given ``x[:, :t+1]``
        and the bins summarised by ``state``. Returns the new state (and the attention probabilities
        when ``return_attention``).
        """
        if x.dim() != 3 or x.shape[-1] != self.config.n_units:
            raise SpikebridgeConfigError(f"input must be (B, T, {self.config.n_units}), got {tuple(x.shape)}")
        mask = self.unit_mask if unit_mask is None else torch.as_tensor(unit_mask, device=x.device)
        feats, state = self.features(x.to(self.unit_decay.dtype), state, mask)
        shared, column, probs = self.parts(feats, columns, return_attention)
        logits = shared if column is None else self.calibrate(shared + column)
        return (logits, state, probs) if return_attention else (logits, state)

    def step(
        self, x_t: torch.Tensor, state: State, unit_mask: torch.Tensor | None = None, columns: bool = True
    ) -> tuple[torch.Tensor, State]:
        """One bin: ``x_t`` ``(B, N)`` -> logits ``(B, N)`` for the next bin, and the new state."""
        logits, state = self.run(x_t[:, None], state, unit_mask, columns)
        return logits[:, 0], state

    def forward(
        self,
        x: torch.Tensor,
        unit_mask: torch.Tensor | None = None,
        columns: bool = True,
        return_attention: bool = False,
    ) -> torch.Tensor | tuple[torch.Tensor, list[torch.Tensor]]:
        """Teacher-forced logits ``(B, T, N)`` of a raster ``(B, T, N)`` read from the start of a recording.

        ``logits[:, t]`` predicts bin ``t + 1`` from bins ``<= t``. With ``return_attention`` also the
        list of attention maps ``(B, H, T, T)`` (empty without attention).
        """
        out = self.run(x, self.init_state(x.shape[0], x.device), unit_mask, columns, return_attention)
        if not return_attention:
            return out[0]
        probs = out[2]
        p = self.config.prefix
        return out[0], ([] if probs is None else [probs[..., p:]])
