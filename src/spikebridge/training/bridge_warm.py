"""Second-order start of the bridge model's per-column part (the coupled history GLM inside it).

With the shared part held at its initial state the per-column part is a penalised logistic regression
per unit (coupling to every unit's recent spikes, the unit's time-since-spike table, its rate weights
and intercept), convex and decoupled across units. Stochastic gradient steps approach its optimum
slowly (each unit's parameters see only that unit's bins), so :func:`solve_columns` solves it first,
full-batch with L-BFGS over a prior path, and gradient training then starts from that point.

The prior path goes from strong to weak Gaussian priors (standard deviations in logits), each solve
warm-started from the previous one, first without the weights on other units' traces (exact lags,
time-since-spike table, rate weights, intercept), then with them. A unit keeps the last prior before
its loss on the validation bins stopped falling, and the trace weights only if they lower that loss:
as in the coupled GLM baseline, a unit with little to learn from (few spikes, nonstationary rate)
stays close to its intercept and time-since-spike table. The chosen standard deviation per unit is
returned, so gradient training keeps the same prior.

The coupling inputs are centred and scaled for the solve (L-BFGS converges in a few dozen evaluations
instead of hundreds) and the solution converted back to the model's parameters exactly.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import torch

from spikebridge.models.bridge import BridgeModel
from spikebridge.training.bridge_data import FeatureBank

PRIOR_PATH = (0.1, 0.3, 1.0)
TRACE_PATH = (0.3,)
SOLVE_BINS = 200_000  # fit bins read at most
SOLVE_ITERATIONS = 30  # L-BFGS function evaluations per prior of a path
CHUNK = 16384  # bins per product (bounds the memory of the logits and their gradients)


@dataclass(frozen=True)
class ColumnSolve:
    """Outcome of :func:`solve_columns`.

    Attributes
    ----------
    prior_sd : ndarray ``(N,)``
        Chosen prior standard deviation of each column (padding columns: the first of the path).
    trace_sd : ndarray ``(N,)``
        Chosen prior standard deviation of each column's weights on other units' traces; 0 where the
        validation bins kept them out (and for padding columns).
    val_loss : ndarray ``(len(path),)``
        Mean validation loss (real units) after each solve of the path, before the per-unit choice.
    iterations : int
        L-BFGS function evaluations over the whole path.
    bins : int
        Training bins the solves read.
    """

    prior_sd: np.ndarray
    trace_sd: np.ndarray
    val_loss: np.ndarray
    iterations: int
    bins: int


def real_inputs(model: BridgeModel, real: torch.Tensor) -> torch.Tensor:
    """Indices, among the coupling inputs ``(G*N)``, of the real units' inputs (every group: the exact
    lags, then the traces)."""
    n, groups = model.config.n_units, model.config.coupling_lags + len(model.config.coupling_taus)
    return (torch.arange(groups)[:, None] * n + real[None, :]).reshape(-1)


class _Design:
    """Per-column inputs of a range of target bins, computed once for the real units only: coupling
    inputs ``history (T, G*R)``, time-since-spike categories ``since (T, R)``, own log-rate features
    ``rates (R, T, Ku)``, the (fixed) shared logits ``shared (T, R)`` and the targets ``y (T, R)``."""

    def __init__(self, model: BridgeModel, bank: FeatureBank, starts: np.ndarray, length: int,
                 real: torch.Tensor) -> None:  # fmt: skip
        inputs = real_inputs(model, real)
        parts: dict[str, list[torch.Tensor]] = {k: [] for k in ("history", "since", "rates", "shared", "y")}
        with torch.no_grad():
            for start in starts:
                w = bank.window(int(start), length)
                feats = {k: v[None] for k, v in w.items()}
                shared, _, _ = model.parts(feats, columns=False)
                parts["history"].append(model._coupling_inputs(feats, length)[0][:, inputs])
                parts["since"].append(w["since"][:, real])
                parts["rates"].append(model._own_rates(feats)[0][:, real].transpose(0, 1))
                parts["shared"].append(shared[0][:, real])
                parts["y"].append(w["targets"][:, real])
        for name, values in parts.items():
            setattr(self, name, torch.cat(values, 1 if name == "rates" else 0))
        self.rates = self.rates.contiguous()
        self.mean = self.scale = None

    def standardise(self, mean: torch.Tensor | None = None, scale: torch.Tensor | None = None) -> None:
        """Centre and scale the coupling inputs in place (by their own moments unless given)."""
        if mean is None:
            mean = self.history.mean(0)
            scale = (self.history.pow(2).mean(0) - mean**2).clamp_min(0).sqrt().clamp_min(1e-3)
        self.history.sub_(mean).div_(scale)
        self.mean, self.scale = mean, scale

    @property
    def n_bins(self) -> int:
        return self.y.shape[0]


def window_starts(first: int, last: int, length: int, max_bins: int) -> np.ndarray:
    """Starts of windows of ``length`` input bins whose targets lie in ``[first, last)``: all of them,
    or ``max_bins // length`` spread evenly over the range."""
    starts = np.arange(first - 1, last - 1 - length + 1, length)
    keep = max(1, max_bins // length)
    if len(starts) > keep:
        starts = starts[np.linspace(0, len(starts) - 1, keep).round().astype(int)]
    return starts


class _Columns:
    """The real columns' parameters, with the coupling weights in standardised coordinates of their
    inputs (centred and scaled, which conditions the solve), and their conversion to the model's."""

    def __init__(self, model: BridgeModel, d: _Design, real: torch.Tensor) -> None:
        self.mean, self.scale, self.real = d.mean, d.scale, real
        self.inputs = real_inputs(model, real)
        with torch.no_grad():
            w = model.coupling.weight[real][:, self.inputs]
            u = model.column_bias[real] + model.column_gain[real, 0] + w @ self.mean
            values = [w * self.scale, model.column_since[:, real], model.column_own[real][:, :, None], u]
        self.tensors = [v.detach().clone().contiguous().requires_grad_(True) for v in values]
        self.n_lag_inputs = model.config.coupling_lags * len(real)
        self.use_traces = True

    def _inputs(self) -> slice:
        """Coupling inputs in use: all, or the exact lags only while other units' traces are out."""
        return slice(None) if self.use_traces else slice(0, self.n_lag_inputs)

    def logits(self, d: _Design, rows: slice) -> torch.Tensor:
        w, since, own, u = self.tensors
        used = self._inputs()
        logits = (
            d.shared[rows] + d.history[rows, used] @ w[:, used].T + torch.gather(since, 0, d.since[rows]) + u
        )
        return logits + torch.bmm(d.rates[:, rows], own)[..., 0].T

    def bce(self, d: _Design, rows: slice) -> torch.Tensor:
        """Binary cross-entropy of every bin and real column of ``rows``, ``(T, R)``."""
        return torch.nn.functional.binary_cross_entropy_with_logits(
            self.logits(d, rows), d.y[rows], reduction="none"
        )

    def penalty(self, precision: torch.Tensor, trace_precision: torch.Tensor) -> torch.Tensor:
        """``sum_i precision_i * |theta_i|^2 / 2`` (``trace_precision_i`` for the weights on other units'
        traces) with the coupling weights on the model's scale; the intercept is not penalised (the
        model's is, weakly: it stays near the unit's rate)."""
        w, since, own, _ = self.tensors
        used = self._inputs()
        raw = (w[:, used] / self.scale[used]) ** 2
        sq = raw[:, : self.n_lag_inputs].sum(1) + (since**2).sum(0) + (own**2).sum((1, 2))
        return 0.5 * (precision * sq + trace_precision * raw[:, self.n_lag_inputs :].sum(1)).sum()

    def unit_values(self) -> list[torch.Tensor]:
        return [t.detach().clone() for t in self.tensors]

    def write(self, model: BridgeModel, values: list[torch.Tensor]) -> None:
        w, since, own, u = values
        real, raw = self.real, w / self.scale
        with torch.no_grad():
            weight = torch.zeros_like(model.coupling.weight)
            weight[real[:, None], self.inputs[None, :]] = raw
            model.coupling.weight.copy_(weight)
            model.column_since.zero_()
            model.column_since[:, real] = since
            model.column_own.zero_()
            model.column_own[real] = own[..., 0]
            model.column_bias.zero_()
            model.column_bias[real] = u - raw @ self.mean
            model.column_gain.zero_()


def _chunks(d: _Design) -> list[slice]:
    return [slice(lo, lo + CHUNK) for lo in range(0, d.n_bins, CHUNK)]


def _per_unit_loss(cols: _Columns, d: _Design) -> torch.Tensor:
    """Summed binary cross-entropy per column over the design's bins ``(R,)``."""
    with torch.no_grad():
        return sum(cols.bce(d, rows).sum(0) for rows in _chunks(d))


_UNIT_AXES = (0, 1, 0, 0)  # axis of the column index in each of _Columns.tensors


def solve_columns(
    model: BridgeModel,
    bank: FeatureBank,
    unit_mask: np.ndarray,
    fit_range: tuple[int, int],
    val_range: tuple[int, int],
    path: tuple[float, ...] = PRIOR_PATH,
    trace_path: tuple[float, ...] = TRACE_PATH,
    max_bins: int = SOLVE_BINS,
    max_iter: int = SOLVE_ITERATIONS,
    length: int = 1024,
) -> ColumnSolve:
    """Fit the per-column parameters of ``model`` full-batch, its shared part held fixed.

    Parameters
    ----------
    model : BridgeModel
        With columns, standardisation and shared intercept already set. Its per-column parameters are
        overwritten (the first column of ``column_gain`` acts as a second intercept and is fitted;
        the others are left at zero).
    bank : FeatureBank
    unit_mask : ndarray ``(N,)`` bool
    fit_range, val_range : (int, int)
        Target bins ``[first, last)`` of the fit and of the validation part.
    path : tuple of float
        Prior standard deviations (logits), strongest first, of the solve without the other units'
        traces.
    trace_path : tuple of float
        Prior standard deviations of the weights on other units' traces, added afterwards (each unit
        at its chosen ``path`` prior); a unit keeps them only if its validation loss falls.
    max_bins : int
        At most this many fit bins are read (windows spread evenly over the fit part).
    max_iter : int
        L-BFGS function evaluations per prior of the path.
    length : int
        Bins per window of the design.

    Returns
    -------
    ColumnSolve
    """
    real = torch.as_tensor(np.flatnonzero(np.asarray(unit_mask, dtype=bool)))
    n = len(real)
    val_length = min(length, val_range[1] - val_range[0] - 1)
    fit = _Design(model, bank, window_starts(*fit_range, length, max_bins), length, real)
    val = _Design(model, bank, window_starts(*val_range, val_length, max_bins), val_length, real)
    fit.standardise()
    val.standardise(fit.mean, fit.scale)
    cols = _Columns(model, fit, real)
    n_elements = fit.n_bins * n
    state = {"best_loss": torch.full((n,), math.inf), "best": cols.unit_values(), "evaluations": 0}

    def solve(precision: torch.Tensor, trace_precision: torch.Tensor) -> torch.Tensor:
        """One L-BFGS solve from the current point; per-unit validation losses after it."""
        optimizer = torch.optim.LBFGS(cols.tensors, lr=1.0, max_iter=max_iter, history_size=20,
                                      line_search_fn="strong_wolfe", tolerance_grad=1e-10, tolerance_change=1e-14)  # fmt: skip

        def closure() -> torch.Tensor:
            state["evaluations"] += 1
            optimizer.zero_grad()
            total = cols.penalty(precision, trace_precision)
            total.backward()
            value = float(total.detach())
            for rows in _chunks(fit):
                part = cols.bce(fit, rows).sum() / n_elements
                part.backward()
                value += float(part.detach())
            return torch.tensor(value)

        optimizer.step(closure)
        return _per_unit_loss(cols, val)

    val_means: list[float] = []

    def run_path(sds: tuple[float, ...], precisions) -> torch.Tensor:
        """Solve along ``sds`` (``precisions(sd)`` gives the solve's two precision vectors); each unit keeps
        the last point before its validation loss stopped falling. Returns the chosen sd per unit (0
        where no point of the path lowered the loss)."""
        chosen, open_ = torch.zeros(n, dtype=torch.float64), torch.ones(n, dtype=torch.bool)
        for sd in sds:
            losses = solve(*precisions(sd))
            val_means.append(float(losses.sum() / (val.n_bins * n)))
            better = (losses < state["best_loss"]) & open_
            index = better.nonzero()[:, 0]
            for kept, t, axis in zip(state["best"], cols.tensors, _UNIT_AXES, strict=True):
                kept.index_copy_(axis, index, t.detach().index_select(axis, index))
            state["best_loss"] = torch.where(better, losses, state["best_loss"])
            chosen = torch.where(better, torch.tensor(float(sd), dtype=torch.float64), chosen)
            open_ &= better
            if not bool(open_.any()):
                break
        return chosen

    precision_of = lambda sd: torch.full((n,), 1.0 / (sd**2 * n_elements))  # noqa: E731
    cols.use_traces = False  # first the exact lags, time-since-spike table, rates and intercept
    chosen = run_path(path, lambda sd: (precision_of(sd), torch.zeros(n)))
    trace_sd = torch.zeros(n, dtype=torch.float64)
    if trace_path and cols.n_lag_inputs < cols.tensors[0].shape[1]:
        with torch.no_grad():  # every unit from its own choice, then other units' traces added
            for t, kept in zip(cols.tensors, state["best"], strict=True):
                t.copy_(kept)
        cols.use_traces = True
        own = (1.0 / (chosen**2 * n_elements)).float()
        trace_sd = run_path(trace_path, lambda sd: (own, precision_of(sd)))
    cols.write(model, state["best"])
    prior_sd, traces = np.full(model.config.n_units, float(path[0])), np.zeros(model.config.n_units)
    prior_sd[real.numpy()], traces[real.numpy()] = chosen.numpy(), trace_sd.numpy()
    return ColumnSolve(prior_sd, traces, np.array(val_means), state["evaluations"], fit.n_bins)
