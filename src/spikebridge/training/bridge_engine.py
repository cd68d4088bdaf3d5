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
from spikebridge.training.engines import _gelu_scaled, _layer_norm_folded, _norm_linear

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
    into the feed-forward maps (:func:`spikebridge.training.engines._layer_norm_folded`); the
    standardisation of the population log rates into the input map; the three products of the
    population context ``c`` (the time-since-spike table, the own-rate weights, the per-column gain
    plus the own-rate bias) are one matrix ``c @ ctx_out``, itself folded into the context's map
    (``w_ctx_out``: the context is never formed), with the own rates' scales folded into its
    own-rate columns and their means into its gain columns and the bias. The time-since-spike category
    of ``s`` bins is ``since_lut[min(s, len(since_lut) - 1)]``.
    """

    def __init__(self, model) -> None:
        c = model.config
        self.columns = bool(c.columns)
        self.unit_decay, self.pop_decay = _np(model.unit_decay), _np(model.pop_decay)  # (Ku,), (Kp,)
        edges = _np(model.since_edges).astype(np.float64)
        bins = np.arange(int(np.ceil(edges.max())) + 1, dtype=np.float64)  # 0 .. last edge
        self.since_lut = np.searchsorted(edges, bins + 1.0, side="left")  # (E+1,) categories
        own_mean, own_scale = _np(model.own_mean).astype(np.float64), _np(model.own_scale).astype(np.float64)
        pop_mean, pop_scale = _np(model.pop_mean).astype(np.float64), _np(model.pop_scale).astype(np.float64)
        w_pop_in = _np(model.pop_in.weight).T.astype(np.float64) / pop_scale[:, None]  # (Kp+1, D)
        self.w_pop_in = w_pop_in.astype(np.float32)
        self.b_pop_in = (_np(model.pop_in.bias) - (pop_mean @ w_pop_in)).astype(np.float32)  # (D,)
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
        own_w = _np(model.own.weight).astype(np.float64)  # (R, Ku)
        shift = own_mean / own_scale  # (Ku,): standardised rate = log rate / scale - shift
        gain = gain - (own_w @ shift)[:, None]
        ctx_out = np.concatenate([_np(model.since_table).T, own_w / own_scale, gain], 1)  # (R, S+Ku+N)
        self.w_ctx_out = (self.w_ctx.astype(np.float64) @ ctx_out).astype(np.float32)  # (D, S+Ku+N)
        b_ctx_out = self.b_ctx.astype(np.float64) @ ctx_out  # (S+Ku+N,)
        self.splits = (n_since, n_since + n_own)  # ctx_out columns: since table | own weights | gain
        bias = np.full(n, float(model.bias.detach()))
        self.column_own = np.zeros((n_own, n), np.float32)  # (Ku, N), divided by the scales
        self.coupling = None
        if self.columns:
            column_own = _np(model.column_own).T.astype(np.float64)  # (Ku, N)
            self.column_own = (column_own / own_scale[:, None]).astype(np.float32)
            bias = bias + _np(model.column_bias) - shift @ column_own
            self.coupling = _np(model.coupling.weight).T  # (G*N, N), rows: lag 0, then the traces
            self.column_since = _np(model.column_since)  # (S, N)
        b_ctx_out[n_since + n_own :] += bias  # the logits' bias joins the gain's
        self.b_ctx_out = b_ctx_out.astype(np.float32)
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
        unit_decay = np.where(held_u, 1.0, self.w.unit_decay).astype(np.float32)  # 1 when anchored
        pop_decay = np.where(held_p, 1.0, self.w.pop_decay).astype(np.float32)
        self.recurrence = (
            unit_decay[:, None],  # (Ku, 1)
            (~held_u).astype(np.float32)[:, None],  # (Ku, 1) weight of a new spike: 0 when anchored
            pop_decay[:, None],  # (Kp, 1)
            (~held_p).astype(np.float32)[:, None],
        )
        self.norm_decay = np.concatenate([unit_decay, pop_decay])  # (Ku+Kp,) both normalisations
        self.norm_in = np.concatenate([~held_u, ~held_p]).astype(np.float32)
        self.mask_frac = self.unit_mask / max(float(self.unit_mask.sum()), 1.0)  # (N,) mean over real units
        self.free = not (held_u.any() or held_p.any())
        g = len(model.config.coupling_taus) + 1
        self.fused = self.w.columns and np.array_equal(self.w.coupling_index, np.arange(g - 1))
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
        self._set_state({k: state[k].numpy() for k in ("unit_traces", "pop_traces", "since", "seen")})
        return None if logits is None else logits.float().numpy()

    def _set_state(self, state: dict[str, np.ndarray]) -> None:
        """Preallocated step buffers from the torch model's state after a window."""
        traces = state["unit_traces"]  # (B, Ku, N)
        batch, n_own, n = traces.shape
        self.bins = np.zeros((batch, 1 + n_own, n), np.float32)  # (B, 1+Ku, N): current bin, then traces
        self.bins[:, 1:] = traces
        seen = state["seen"][:, None].astype(np.float64)  # (B, 1) bins read
        a = np.concatenate([self.w.unit_decay, self.w.pop_decay]).astype(np.float64)[None]  # (1, Ku+Kp)
        self.norms = ((1 - a**seen) / (1 - a)).astype(np.float32)  # (B, Ku+Kp) weights summed so far
        self.state = {
            "unit_traces": self.bins[:, 1:],
            "pop_traces": state["pop_traces"].copy(),
            "unit_norm": self.norms[:, :n_own],  # views: both are updated as one array
            "pop_norm": self.norms[:, n_own:],
        }
        cap = len(self.w.since_lut) - 1  # every count from the last edge on is the last category
        self.state["since"] = np.minimum(state["since"], cap).astype(np.intp)  # (B, N) bins, capped
        self.cap = cap
        n_since = self.w.splits[0]
        self.flat_base = (np.arange(batch)[:, None] * n_since * n + np.arange(n)).astype(np.intp)  # (B, N)
        self.since_flat = self.w.since_lut * n  # (E+1,) offset of a category's row in a (S, N) table
        self.rates = np.empty((batch, len(self.w.pop_decay) + 1), np.float32)  # (B, Kp+1)
        self.log_rates = np.empty_like(traces, dtype=np.float32)  # (B, Ku, N)

    def advance(self, x_t: np.ndarray) -> np.ndarray:
        """Append one bin ``(B, N)``; logits ``(B, N)`` of the bin after it.

        Anchored traces and their normalisations are multiplied by 1 and receive no spike, so they keep
        their values after ``start`` exactly.
        """
        s = self.state
        x = self.bins[:, 0]  # (B, N)
        np.copyto(x, x_t)
        unit_decay, unit_in, pop_decay, pop_in = self.recurrence
        traces, pop = s["unit_traces"], s["pop_traces"]  # (B, Ku, N), (B, Kp, 1)
        traces *= unit_decay
        fraction = x.dot(self.mask_frac)  # (B,)
        pop *= pop_decay
        if self.free:
            traces += x[:, None, :]
            pop += fraction[:, None, None]
        else:
            traces += unit_in * x[:, None, :]
            pop += pop_in * fraction[:, None, None]
        self.norms *= self.norm_decay
        self.norms += self.norm_in
        since = s["since"]
        since += 1
        np.minimum(since, self.cap, out=since)
        since *= x == 0
        self.held += 1
        return self._logits(x, fraction)

    def _logits(self, x: np.ndarray, fraction: np.ndarray) -> np.ndarray:
        """Logits ``(B, N)`` of the next bin from the current bin ``x`` ``(B, N)`` and the state."""
        w, s, rates = self.w, self.state, self.rates
        rates[:, 0] = fraction
        np.divide(s["pop_traces"][..., 0], s["pop_norm"], out=rates[:, 1:])  # (B, Kp+1) rates
        rates += 1e-5
        np.log(rates, out=rates)
        h = rates.dot(w.w_pop_in)  # (B, D)
        h += w.b_pop_in
        h += _gelu_scaled(_norm_linear(h, w.mean_op, w.w_ff1, w.b_ff1, w.eps_ff)).dot(w.w_ff2)  # (B, D)
        h += w.b_ff2
        out = _norm_linear(h, w.mean_op, w.w_ctx_out, w.b_ctx_out, w.eps_out)  # (B, S+Ku+N), see _Weights
        a, b = w.splits
        logits = out[:, b:]  # (B, N) gain, accumulated in place
        log_rates = self.log_rates  # (B, Ku, N) log own rates (standardised through the weights)
        np.divide(s["unit_traces"], s["unit_norm"][..., None], out=log_rates)
        log_rates += 1e-4
        np.log(log_rates, out=log_rates)
        log_rates *= out[:, a:b, None] + w.column_own
        logits += np.add.reduce(log_rates, axis=1)
        if w.columns:
            table = out[:, :a, None] + w.column_since  # (B, S, N) per category and unit
            logits += table.ravel().take(self.since_flat[s["since"]] + self.flat_base)
            if self.fused:
                g = len(w.coupling_index) + 1
                logits += self.bins[:, :g].reshape(x.shape[0], -1).dot(w.coupling)  # (B, G*N): bin, traces
            else:
                traces = s["unit_traces"][:, w.coupling_index].reshape(x.shape[0], -1)  # (B, (G-1)*N)
                logits += np.concatenate([x, traces], 1).dot(w.coupling)
        else:
            logits += out[:, :a].ravel().take(w.since_lut[s["since"]] + self.flat_base // x.shape[1])
        return logits
