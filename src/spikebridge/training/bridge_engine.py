"""A step engine for :class:`~spikebridge.models.bridge.BridgeModel` in numpy, with optional rate anchoring.

One bin of the bridge model is a few dozen operations on arrays of a few hundred numbers: torch's
per-operation dispatch costs more than the arithmetic, so :class:`BridgeNumpyEngine` copies the
trained weights into numpy and runs the recurrence of :mod:`spikebridge.models.features` itself
(the same state: traces, time since spike, bins seen). Windows given to ``start`` are read by the
torch model in chunks (``model.run`` with the state carried), so a long real prefix costs one pass.
A test checks that its probabilities equal the torch model's stepped through the same bins.

Rate anchoring
--------------
``anchor_tau``: the traces whose time constant is at least ``anchor_tau`` bins (a unit's own slow
rate estimates and the population's slow rate) are held, during generation, at their values after
the real prefix. These traces are the model's estimate of each unit's current excitability, a slow
state that one-step-ahead training always reads from real data (teacher forcing) and never from the
model's own samples. Run freely, the model feeds its own sampling noise back into that estimate:
its rates then follow a random walk with no restoring force, and units drift up (self-excitation
through the coupling and the population context) or fall silent. Holding the slow state at the value
the real activity gave it conditions generation on the recording's own excitability (measured on
bins before the test part only) and leaves every fast path (refractoriness, bursts, coupling,
population synchrony) free-running.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from spikebridge.errors import SpikebridgeConfigError

PREFILL_CHUNK = 4096  # bins of a prefix read by the torch model at once (bounds its memory)


def supports(model: Any) -> bool:
    """True for a :class:`BridgeModel` this engine runs (no attention, one coupling lag, no MLP path)."""
    from spikebridge.models.bridge import BridgeModel

    if not isinstance(model, BridgeModel):
        return False
    c = model.config
    return not c.attention and c.coupling_lags == 1 and not c.population_mlp


def _np(t) -> np.ndarray:
    return t.detach().cpu().float().numpy().copy()


class _Weights:
    """The bridge model's weights in numpy (float32), rearranged so that a step needs few operations.

    LayerNorm gains and biases are folded into the following linear maps and the GELU's ``1/sqrt(2)``
    into the feed-forward maps (:func:`spikebridge.training.engines._layer_norm_folded`); the three
    products of the population context ``c`` (the time-since-spike table, the own-rate weights, the
    per-column gain plus the own-rate bias) are one matrix ``c @ ctx_out``.
    """

    def __init__(self, model) -> None:
        from spikebridge.training.engines import _layer_norm_folded

        c = model.config
        self.columns = bool(c.columns)
        self.unit_decay, self.pop_decay = _np(model.unit_decay), _np(model.pop_decay)  # (Ku,), (Kp,)
        self.since_edges = _np(model.since_edges)
        self.own_mean, self.own_scale = _np(model.own_mean)[:, None], _np(model.own_scale)[:, None]  # (Ku, 1)
        self.pop_mean, self.pop_scale = _np(model.pop_mean), _np(model.pop_scale)  # (Kp+1,)
        self.w_pop_in, self.b_pop_in = _np(model.pop_in.weight).T, _np(model.pop_in.bias)  # (Kp+1, D)
        self.eps_ff, self.eps_out = float(model.ff[0].eps), float(model.norm.eps)
        root_half = np.float32(1.0 / np.sqrt(2.0))
        self.w_ff1, self.b_ff1 = _layer_norm_folded(model.ff[0], model.ff[1])  # (D, F), (F,)
        self.w_ff1 *= root_half
        self.b_ff1 *= root_half
        self.w_ff2, self.b_ff2 = _np(model.ff[3].weight).T * root_half, _np(model.ff[3].bias)  # (F, D)
        self.w_ctx, self.b_ctx = _layer_norm_folded(model.norm, model.context)  # (D, R), (R,)
        self.b_ctx = self.b_ctx + _np(model.first)
        self.mean_op = np.full((self.w_pop_in.shape[1], 1), 1.0 / self.w_pop_in.shape[1], np.float32)
        n, n_since, n_own = c.n_units, len(c.since_edges) + 1, len(c.unit_taus)
        gain = _np(model.column_gain).T if self.columns else np.zeros((c.rank, n), np.float32)  # (R, N)
        gain = gain + _np(model.own.bias)[:, None]
        self.ctx_out = np.concatenate([_np(model.since_table).T, _np(model.own.weight), gain], 1)
        self.splits = (n_since, n_since + n_own)  # ctx_out columns: since table | own weights | gain
        self.bias = float(model.bias.detach())
        if self.columns:
            weight = _np(model.coupling.weight).T  # (G*N, N), rows: lag 0, then the traces
            self.coupling_now, self.coupling_traces = weight[:n], weight[n:]
            self.column_since = _np(model.column_since)  # (S, N)
            self.column_own = _np(model.column_own).T  # (Ku, N)
            self.bias = self.bias + _np(model.column_bias)  # (N,)
        self.coupling_index = model.coupling_index.cpu().numpy().copy()


class BridgeNumpyEngine:
    """Step engine (``start`` / ``advance``, see :mod:`spikebridge.training.engines`) for a bridge model.

    Parameters
    ----------
    model : BridgeModel
        Trained model without attention, with one coupling lag and no population MLP
        (:func:`supports`); its weights are copied.
    anchor_tau : float, optional
        Hold traces with time constants ``>= anchor_tau`` bins at their values after the window
        given to ``start`` (see the module docstring). None: every trace runs freely.
    """

    context = None  # stateful: no window limit

    def __init__(self, model: Any, anchor_tau: float | None = None) -> None:
        if not supports(model):
            raise SpikebridgeConfigError(
                "the numpy bridge engine runs a BridgeModel without attention, with coupling_lags=1 and "
                "no population_mlp"
            )
        if anchor_tau is not None and not anchor_tau > 0:
            raise SpikebridgeConfigError(f"anchor_tau must be positive, got {anchor_tau!r}")
        self.model = model.eval()
        self.w = _Weights(model)
        self.n_units = int(model.config.n_units)
        self.unit_mask = model.unit_mask.cpu().numpy().astype(np.float32)
        taus = np.asarray(model.config.unit_taus), np.asarray(model.config.population_taus)
        big = np.inf if anchor_tau is None else anchor_tau
        self.anchored_unit, self.anchored_pop = taus[0] >= big, taus[1] >= big  # (Ku,), (Kp,) bool
        held_u, held_p = self.anchored_unit, self.anchored_pop
        self.recurrence = (
            np.where(held_u, 1.0, self.w.unit_decay).astype(np.float32),  # decay: 1 when anchored
            (~held_u).astype(np.float32),  # weight of a new spike: 0 when anchored
            np.where(held_p, 1.0, self.w.pop_decay).astype(np.float32),
            (~held_p).astype(np.float32),
        )
        self.units = np.arange(self.n_units)
        self.state: dict[str, np.ndarray] = {}
        self.held = 0

    def start(self, window: np.ndarray) -> np.ndarray | None:
        """Read a window ``(B, T, N)`` from the start of a recording; logits ``(B, N)`` of the next bin."""
        import torch

        x = torch.from_numpy(np.array(window, dtype=np.float32))  # (B, T, N)
        self.held = x.shape[1]
        logits = None
        with torch.inference_mode():
            state = self.model.init_state(x.shape[0])
            for a in range(0, self.held, PREFILL_CHUNK):
                out, state = self.model.run(x[:, a : a + PREFILL_CHUNK], state)
                logits = out[:, -1]
        self.state = {k: state[k].numpy().copy() for k in ("unit_traces", "pop_traces", "since")}
        seen = state["seen"].numpy()[:, None].astype(np.float64)  # (B, 1) bins read
        for name, decay in (("unit_norm", self.w.unit_decay), ("pop_norm", self.w.pop_decay)):
            a = decay.astype(np.float64)[None]
            self.state[name] = ((1 - a**seen) / (1 - a)).astype(np.float32)  # (B, K) weights summed so far
        self.rows = np.arange(x.shape[0])[:, None]  # (B, 1)
        return None if logits is None else logits.float().numpy()

    def advance(self, x_t: np.ndarray) -> np.ndarray:
        """Append one bin ``(B, N)``; logits ``(B, N)`` of the bin after it.

        Anchored traces and their normalisations are multiplied by 1 and receive no spike, so they keep
        their values after ``start`` exactly.
        """
        s = self.state
        x = np.asarray(x_t, dtype=np.float32)  # (B, N)
        unit_decay, unit_in, pop_decay, pop_in = self.recurrence
        s["unit_traces"] *= unit_decay[:, None]
        s["unit_traces"] += unit_in[:, None] * x[:, None, :]  # (B, Ku, N)
        s["unit_norm"] = s["unit_norm"] * unit_decay + unit_in  # (B, Ku)
        fraction = (x @ self.unit_mask)[:, None] / max(float(self.unit_mask.sum()), 1.0)  # (B, 1)
        s["pop_traces"] = s["pop_traces"] * pop_decay[:, None] + pop_in[:, None] * fraction[:, None, :]
        s["pop_norm"] = s["pop_norm"] * pop_decay + pop_in  # (B, Kp)
        s["since"] = np.where(x > 0, np.float32(0.0), np.minimum(s["since"] + 1.0, np.float32(1e7)))
        self.held += 1
        return self._logits(x, fraction)

    def _logits(self, x: np.ndarray, fraction: np.ndarray) -> np.ndarray:
        """Logits ``(B, N)`` of the next bin from the current bin ``x`` ``(B, N)`` and the state."""
        from spikebridge.training.engines import _gelu_scaled, _norm_linear

        w, s = self.w, self.state
        rates = np.concatenate([fraction, s["pop_traces"][..., 0] / s["pop_norm"]], -1)  # (B, Kp+1)
        h = ((np.log(rates + 1e-5) - w.pop_mean) / w.pop_scale) @ w.w_pop_in + w.b_pop_in  # (B, D)
        h = h + _gelu_scaled(_norm_linear(h, w.mean_op, w.w_ff1, w.b_ff1, w.eps_ff)) @ w.w_ff2 + w.b_ff2
        context = _norm_linear(h, w.mean_op, w.w_ctx, w.b_ctx, w.eps_out)  # (B, R)
        out = context @ w.ctx_out  # (B, S + Ku + N): since table | own-rate weights | gain
        per_since, own_w, gain = (
            out[:, : w.splits[0]],
            out[:, w.splits[0] : w.splits[1]],
            out[:, w.splits[1] :],
        )
        own = np.log(s["unit_traces"] / s["unit_norm"][..., None] + 1e-4)  # (B, Ku, N) log rates
        own = (own - w.own_mean) / w.own_scale
        since = np.searchsorted(w.since_edges, s["since"] + 1.0, side="left")  # (B, N) categories
        own_w = own_w[:, :, None] + w.column_own if w.columns else own_w[:, :, None]  # (B, Ku, N)
        logits = per_since[self.rows, since] + gain + w.bias + (own * own_w).sum(1)
        if w.columns:
            traces = s["unit_traces"][:, w.coupling_index].reshape(x.shape[0], -1)  # (B, (G-1)*N)
            logits += x @ w.coupling_now + traces @ w.coupling_traces + w.column_since[since, self.units]
        return logits.astype(np.float32)
