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
    """The bridge model's parameters and buffers as float32 numpy arrays (LayerNorms kept explicit)."""

    def __init__(self, model) -> None:
        c = model.config
        self.columns = bool(c.columns)
        self.unit_decay, self.pop_decay = _np(model.unit_decay), _np(model.pop_decay)  # (Ku,), (Kp,)
        self.since_edges = _np(model.since_edges)
        self.own_mean, self.own_scale = _np(model.own_mean), _np(model.own_scale)  # (Ku,)
        self.pop_mean, self.pop_scale = _np(model.pop_mean), _np(model.pop_scale)  # (Kp+1,)
        self.w_pop_in, self.b_pop_in = _np(model.pop_in.weight).T, _np(model.pop_in.bias)  # (Kp+1, D)
        norm, lin1, lin2 = model.ff[0], model.ff[1], model.ff[3]
        self.ff_norm = (_np(norm.weight), _np(norm.bias), float(norm.eps))
        self.w_ff1, self.b_ff1 = _np(lin1.weight).T, _np(lin1.bias)  # (D, F)
        self.w_ff2, self.b_ff2 = _np(lin2.weight).T, _np(lin2.bias)  # (F, D)
        self.out_norm = (_np(model.norm.weight), _np(model.norm.bias), float(model.norm.eps))
        self.w_ctx, self.b_ctx = _np(model.context.weight).T, _np(model.context.bias)  # (D, R)
        self.b_ctx = self.b_ctx + _np(model.first)
        self.since_table = _np(model.since_table).T  # (R, S)
        self.w_own, self.b_own = _np(model.own.weight), _np(model.own.bias)  # (R, Ku), (R,)
        self.bias = float(model.bias.detach())
        if self.columns:
            self.coupling = _np(model.coupling.weight).T  # (G*N, N), rows: lag 0 then the traces
            self.column_since = _np(model.column_since)  # (S, N)
            self.column_own = _np(model.column_own).T  # (Ku, N)
            self.column_bias = _np(model.column_bias)  # (N,)
            self.column_gain = _np(model.column_gain).T  # (R, N)
        self.coupling_index = model.coupling_index.cpu().numpy().copy()


def _layer_norm(h: np.ndarray, params: tuple[np.ndarray, np.ndarray, float]) -> np.ndarray:
    gain, shift, eps = params
    centred = h - h.mean(-1, keepdims=True)
    return centred / np.sqrt((centred * centred).mean(-1, keepdims=True) + eps) * gain + shift


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
        self.state: dict[str, np.ndarray] = {}
        self.anchor: dict[str, np.ndarray] = {}
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
        self.state = {k: state[k].numpy().copy() for k in ("unit_traces", "pop_traces", "since", "seen")}
        self.anchor = {
            "unit": self.state["unit_traces"][:, self.anchored_unit].copy(),  # (B, Ka, N)
            "pop": self.state["pop_traces"][:, self.anchored_pop].copy(),  # (B, Kpa, 1)
        }
        return None if logits is None else logits.float().numpy()

    def advance(self, x_t: np.ndarray) -> np.ndarray:
        """Append one bin ``(B, N)``; logits ``(B, N)`` of the bin after it."""
        w, s = self.w, self.state
        x = np.asarray(x_t, dtype=np.float32)  # (B, N)
        s["unit_traces"] = w.unit_decay[None, :, None] * s["unit_traces"] + x[:, None, :]  # (B, Ku, N)
        fraction = (x @ self.unit_mask)[:, None] / max(float(self.unit_mask.sum()), 1.0)  # (B, 1)
        s["pop_traces"] = w.pop_decay[None, :, None] * s["pop_traces"] + fraction[:, None, :]  # (B, Kp, 1)
        if self.anchored_unit.any():
            s["unit_traces"][:, self.anchored_unit] = self.anchor["unit"]
        if self.anchored_pop.any():
            s["pop_traces"][:, self.anchored_pop] = self.anchor["pop"]
        s["since"] = np.where(x > 0, 0.0, np.minimum(s["since"] + 1.0, 1e7)).astype(np.float32)
        s["seen"] = s["seen"] + 1.0
        self.held += 1
        return self._logits(x, fraction)

    def _logits(self, x: np.ndarray, fraction: np.ndarray) -> np.ndarray:
        """Logits ``(B, N)`` of the next bin from the current bin ``x`` ``(B, N)`` and the state."""
        w, s = self.w, self.state
        seen = s["seen"][:, None]  # (B, 1)
        pop_norm = (1 - w.pop_decay[None] ** seen) / (1 - w.pop_decay[None])  # (B, Kp)
        rates = np.concatenate([fraction, s["pop_traces"][..., 0] / pop_norm], -1)  # (B, Kp+1)
        population = (np.log(rates + 1e-5) - w.pop_mean) / w.pop_scale
        h = population @ w.w_pop_in + w.b_pop_in  # (B, D)
        z = _layer_norm(h, w.ff_norm) @ w.w_ff1 + w.b_ff1  # (B, F)
        from scipy.special import erf

        h = h + (0.5 * z * (1.0 + erf(z / np.sqrt(2.0)))) @ w.w_ff2 + w.b_ff2
        context = _layer_norm(h, w.out_norm) @ w.w_ctx + w.b_ctx  # (B, R)
        unit_norm = (1 - w.unit_decay[None] ** seen) / (1 - w.unit_decay[None])  # (B, Ku)
        own = (np.log(s["unit_traces"] / unit_norm[..., None] + 1e-4) - w.own_mean[:, None]) / w.own_scale[
            :, None
        ]  # (B, Ku, N)
        since = np.searchsorted(w.since_edges, s["since"] + 1.0, side="left")  # (B, N) categories
        per_since = context @ w.since_table  # (B, S)
        logits = np.take_along_axis(per_since, since, 1)  # (B, N)
        logits += np.einsum("bkn,bk->bn", own, context @ w.w_own) + (context @ w.b_own)[:, None] + w.bias
        if w.columns:
            b = since.shape[0]
            traces = s["unit_traces"][:, w.coupling_index]  # (B, G-1, N)
            history = np.concatenate([x[:, None], traces], 1).reshape(b, -1)  # (B, G*N), lag 0 first
            logits += history @ w.coupling + w.column_since[since, np.arange(self.n_units)]
            logits += np.einsum("bkn,kn->bn", own, w.column_own) + w.column_bias + context @ w.column_gain
        return logits.astype(np.float32)
