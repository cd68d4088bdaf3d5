"""One unit's penalised logistic regression on GLM design rows, with its penalties chosen on validation rows.

The model of unit r: ``logit P(spike at t + 1) = h[k_t] + c[k_t] + o_t . v + x_t . w + b`` with ``k_t``
the unit's time-since-last-spike category and ``h`` the own-history baseline's log-odds of it (a fixed
offset), ``c`` a penalised correction of those, ``o_t`` the unit's own traces and ``x_t`` the shared
population features (both normalised). Parameters are packed as ``theta = [w (F), c (n_cat), v (n_own),
b]``. The objective is the summed Bernoulli negative log-likelihood plus ``0.5 * sum(penalty *
theta**2)``: ``1 / C`` on each coupling weight in log-odds per spike (C is its prior variance),
``own_penalty`` on ``c`` and ``v``, nothing on ``b``. With ``c = v = w = 0`` the model is the own-history baseline itself.

scikit-learn's ``LogisticRegression`` has no offsets, no per-block penalties and no way to hold the
unit's own columns of the shared block at zero without a copy of the design, and it runs in float64;
this objective (handed to SciPy's L-BFGS-B) does all of that in float32 products.

Penalties are chosen in stages on validation rows (later training bins, never test bins): the history
model alone (``own_penalty = inf``, ``C = 0``), then ``own_penalty`` from strong to weak with the coupling
block left out, then ``C`` along a path from strong to weak coupling, warm-started, stopping once the
validation loss has risen ``patience`` times after its best. Every stage keeps the earlier best as a
candidate, so the chosen model is never worse on the validation rows than the own-history baseline.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

import numpy as np
from scipy.optimize import minimize
from scipy.special import expit

_CHUNK_ROWS = 2048  # rows per gathered block of SharedRows.products: small buffers, reused


@dataclass(frozen=True)
class SharedRows:
    """Shared columns of some bins, gathered on demand from the whole design (not copied up front).

    A unit's sampled rows of all F shared columns are needed only once (to screen source units), and
    a copy of them is a large fresh allocation per unit; only the kept columns are gathered in full.

    Attributes
    ----------
    by_bin : ndarray, shape (T, F), float32
    by_feature : ndarray, shape (F, T), float32
        The same values feature-major (a view of ``by_bin`` transposed is allowed, but slower).
    index : ndarray, shape (n,), intp
        The bins of the rows, increasing.
    """

    by_bin: np.ndarray
    by_feature: np.ndarray
    index: np.ndarray

    @classmethod
    def of(cls, shared: np.ndarray) -> SharedRows:
        """Rows of an (n, F) matrix, all of them."""
        return cls(shared, shared.T, np.arange(shared.shape[0]))

    def __getitem__(self, rows: slice) -> SharedRows:
        return SharedRows(self.by_bin, self.by_feature, self.index[rows])

    def products(self, resid: np.ndarray) -> np.ndarray:
        """``X.T @ resid`` (F,) float64 for the rows' (n, F) matrix X and ``resid`` (n,)."""
        out = np.zeros(self.by_bin.shape[1])
        for lo in range(0, self.index.size, _CHUNK_ROWS):
            block = self.by_bin[self.index[lo : lo + _CHUNK_ROWS]]  # (chunk, F)
            out += block.T @ resid[lo : lo + _CHUNK_ROWS]
        return out

    def columns(self, cols: np.ndarray) -> np.ndarray:
        """The rows' values of columns ``cols``: (n, len(cols)) float32 (Fortran order)."""
        idx = self.index
        if idx.size and idx[-1] - idx[0] + 1 == idx.size:  # consecutive bins: contiguous runs
            return self.by_feature[cols, idx[0] : idx[-1] + 1].T
        return self.by_feature[np.ix_(cols, idx)].T


def _gathered(shared) -> SharedRows:
    """``shared`` as SharedRows (an (n, F) array: all its rows)."""
    return shared if isinstance(shared, SharedRows) else SharedRows.of(shared)


@dataclass(frozen=True)
class UnitRows:
    """Design rows of one unit.

    Attributes
    ----------
    shared : ndarray, shape (n, F), float32, or SharedRows
        The shared columns (:func:`fit_unit` gathers a column subset of SharedRows before solving).
    categories : ndarray, shape (n,), intp
    own : ndarray, shape (n, n_own), float32
    offset : ndarray, shape (n,), float32
        The own-history baseline's log-odds of each row.
    y : ndarray, shape (n,), bool
        Spike in the next bin.
    weight : ndarray, shape (n,), float, optional
        Row weights of a loss estimate (inverse sampling fractions); None for unit weights.
    """

    shared: np.ndarray
    categories: np.ndarray
    own: np.ndarray
    offset: np.ndarray
    y: np.ndarray
    weight: np.ndarray | None = None

    def rows(self, start: int, stop: int, weight: np.ndarray | None = None) -> UnitRows:
        """Rows ``start:stop`` (views), with new row weights."""
        sl = slice(start, stop)
        return UnitRows(
            self.shared[sl], self.categories[sl], self.own[sl], self.offset[sl], self.y[sl], weight
        )


@dataclass(frozen=True)
class Layout:
    """Slices of ``theta`` (shared weights, category weights, own-trace weights, intercept) and the raw
    units of the shared columns.

    Attributes
    ----------
    shared_scale : ndarray, shape (n_shared,)
        What the shared columns were divided by: the coupling penalty ``1 / (C * shared_scale**2)``
        makes ``C`` the prior variance of a weight in log-odds per raw unit (per spike).
    shared_var : ndarray, shape (n_shared,), optional
        Variance of each (divided) shared column over the training bins (default 1).
    """

    def __post_init__(self) -> None:
        if self.shared_var is None:
            object.__setattr__(self, "shared_var", np.ones_like(self.shared_scale))

    shared_scale: np.ndarray
    n_cat: int
    n_own: int
    shared_var: np.ndarray | None = None

    @property
    def n_shared(self) -> int:
        return self.shared_scale.size

    @property
    def size(self) -> int:
        return self.n_shared + self.n_cat + self.n_own + 1

    def subset(self, cols: np.ndarray) -> Layout:
        return Layout(self.shared_scale[cols], self.n_cat, self.n_own, self.shared_var[cols])

    def split(self, theta: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray, float]:
        a, b = self.n_shared, self.n_shared + self.n_cat
        return theta[:a], theta[a:b], theta[b : b + self.n_own], float(theta[-1])

    def penalty(self, C: float, own_penalty: float) -> np.ndarray:
        """Per-parameter L2 strengths (an inactive block's weights stay 0 and its penalty is unused)."""
        pen = np.zeros(self.size)
        pen[: self.n_shared] = 0.0 if C == 0 else 1.0 / (C * self.shared_scale**2)
        pen[self.n_shared : -1] = 0.0 if np.isinf(own_penalty) else own_penalty
        return pen


def logits(theta: np.ndarray, rows: UnitRows, layout: Layout, coupled: bool = True, own: bool = True):
    """Log-odds (n,) float32 of every row; ``coupled`` / ``own`` False leave out those blocks."""
    w, c, v, b = layout.split(theta)
    z = rows.offset + np.float32(b)
    if own:
        z = z + rows.own @ v.astype(np.float32) + c.astype(np.float32)[rows.categories]
    if coupled:
        z = z + rows.shared @ w.astype(np.float32)
    return z


def cell_losses(p: np.ndarray, y: np.ndarray) -> np.ndarray:
    """Bernoulli negative log-likelihood (nats) of each row, from probabilities ``p`` (at most 69 nats)."""
    return -np.log(np.maximum(np.where(y, p, 1.0 - p), 1e-30))


class _Objective:
    """Penalised loss and gradient of ``theta`` on fixed rows.

    ``coupled`` / ``own`` False keep the shared / own block out (zero gradient, weights stay 0);
    ``frozen`` shared columns always keep a zero gradient.
    """

    def __init__(self, rows: UnitRows, layout: Layout, frozen: np.ndarray):
        self.rows, self.layout, self.frozen = rows, layout, frozen
        self.coupled, self.own = True, True
        self.evaluations = 0

    def __call__(self, theta: np.ndarray, penalty: np.ndarray) -> tuple[float, np.ndarray]:
        self.evaluations += 1
        rows, lay = self.rows, self.layout
        p = expit(logits(theta, rows, lay, self.coupled, self.own))  # (n,) float32
        resid = p - rows.y
        grad = np.zeros_like(theta)
        a, b = lay.n_shared, lay.n_shared + lay.n_cat
        if self.coupled:
            grad[:a] = rows.shared.T @ resid
            grad[self.frozen] = 0.0
        if self.own:
            grad[a:b] = np.bincount(rows.categories, weights=resid, minlength=lay.n_cat)
            grad[b:-1] = rows.own.T @ resid
        grad[-1] = resid.sum(dtype=np.float64)
        grad += penalty * theta
        loss = float(cell_losses(p, rows.y).sum(dtype=np.float64))
        return loss + 0.5 * float(penalty @ (theta * theta)), grad

    def solve(self, theta: np.ndarray, C: float, own_penalty: float, tol: float, max_iter: int) -> np.ndarray:
        """Minimise from ``theta`` with the blocks that ``C`` and ``own_penalty`` leave active."""
        self.coupled, self.own = C > 0, not np.isinf(own_penalty)
        n = self.rows.y.size
        options = {"maxiter": max_iter, "gtol": tol * n, "ftol": tol * 1e-3}
        penalty = self.layout.penalty(C, own_penalty)
        return minimize(self, theta, args=(penalty,), jac=True, method="L-BFGS-B", options=options).x


@dataclass(frozen=True)
class PathSettings:
    """How :func:`fit_unit` chooses and fits (see ``GLMConfig`` for the meaning of each field)."""

    Cs: tuple[float, ...]
    own_penalties: tuple[float, ...]
    patience: int = 1
    gate: float = 0.5
    max_sources: int | None = None
    spikes_per_source: int = 20
    min_spikes: int = 10
    tol: float = 1e-3
    max_iter: int = 200


@dataclass(frozen=True)
class UnitFit:
    """Result of :func:`fit_unit`: parameters on the full-data scale, choices, work done.

    ``own_penalty`` is inf when the history offset alone was best; ``C`` is 0 without coupling.
    """

    theta: np.ndarray
    C: float
    own_penalty: float
    evaluations: int


def _gated_choice(losses: list[np.ndarray], gate: float) -> int:
    """Index of the candidate with the lowest validation loss, unless it beats candidate 0 (the
    simpler model) by no more than ``gate`` standard errors of the paired per-row differences: then 0."""
    best = int(np.argmin([float(loss.sum()) for loss in losses]))
    gain = losses[0] - losses[best]  # (n_val,) per-row loss saved by the best candidate
    return best if gain.sum() > gate * np.sqrt(gain.size) * gain.std() else 0


class _ValidationLoss:
    """Per-row validation losses (weighted to estimate the full validation bins' loss)."""

    def __init__(self, val: UnitRows, layout: Layout, shift: float):
        self.val, self.layout, self.shift = val, layout, np.float32(shift)

    def __call__(self, theta: np.ndarray, coupled: bool) -> np.ndarray:
        p = expit(logits(theta, self.val, self.layout, coupled) - self.shift)
        loss = cell_losses(p, self.val.y)
        return loss if self.val.weight is None else loss * self.val.weight


def _own_stage(obj: _Objective, val_loss: _ValidationLoss, shift: float, s: PathSettings) -> tuple:
    """Own-history offset alone, then the own block from strong to weak penalty: (own_penalty, theta)."""
    theta = np.zeros(obj.layout.size)
    theta[-1] = shift  # the history offset alone, on the sample's scale
    cands = [(np.inf, theta)]
    for own in sorted(s.own_penalties, reverse=True):  # warm-started
        theta = obj.solve(theta, 0.0, own, s.tol, s.max_iter)
        cands.append((own, theta))
    return cands[_gated_choice([val_loss(th, coupled=False) for _, th in cands], s.gate)]


def _coupling_stage(obj: _Objective, val_loss: _ValidationLoss, own_pen: float, theta, s: PathSettings):
    """The C path from strong to weak coupling, warm-started, stopped by ``patience``: (C, theta)."""
    cands, losses, best = [(0.0, theta)], [val_loss(theta, coupled=False)], 0
    for C in sorted(s.Cs):
        theta = obj.solve(theta, C, own_pen, s.tol, s.max_iter)
        cands.append((C, theta))
        losses.append(val_loss(theta, coupled=True))
        best = best if losses[-1].sum() >= losses[best].sum() else len(losses) - 1
        if len(losses) - 1 - best >= s.patience:
            break
    return cands[_gated_choice(losses, s.gate)]


def screen_sources(rows: UnitRows, theta: np.ndarray, layout: Layout, groups: np.ndarray, k: int | None):
    """Shared columns kept for the coupling path: all population columns and the columns of the ``k``
    source units with the largest score statistics at ``theta`` (the model without coupling).

    A column's score is ``g**2 / i`` with ``g`` the log-likelihood gradient of its weight at zero and
    ``i`` that weight's Fisher information, approximated as ``sum(p (1 - p)) * var`` with ``var`` the
    column's variance over the training bins (``layout.shared_var``); a unit's score sums its
    columns'. ``groups`` (F,) gives each shared column's source unit (-1: population column; units to
    leave out, such as the target itself, are -2).
    """
    candidates = np.unique(groups[groups >= 0])
    if k is None or k >= candidates.size:
        return np.flatnonzero(groups != -2)
    z = logits(theta, rows, layout, coupled=False)
    p = expit(z)
    grad = _gathered(rows.shared).products((p - rows.y).astype(np.float32))  # (F,)
    info = float(np.sum(p * (1.0 - p), dtype=np.float64)) * layout.shared_var  # (F,)
    score = np.bincount(groups[groups >= 0], weights=(grad**2 / np.maximum(info, 1e-12))[groups >= 0])
    keep = candidates[np.argsort(score[candidates])[::-1][:k]]
    return np.flatnonzero((groups == -1) | np.isin(groups, keep))


def fit_unit(
    rows: UnitRows,
    n_fit: int,
    val_weight: np.ndarray,
    shift: float,
    layout: Layout,
    groups: np.ndarray,
    settings: PathSettings,
    refit: bool = True,
    val: UnitRows | None = None,
) -> UnitFit:
    """Choose ``own_penalty`` then ``C`` on the validation rows and return the fitted parameters.

    Each stage keeps its best candidate only if it beats the stage's starting model (own history alone,
    then own history without coupling) by more than ``settings.gate`` standard errors of the paired
    per-row loss differences, so a block is added only when the validation rows show that it helps.
    With fewer than ``settings.min_spikes`` spikes in the validation rows nothing can be chosen, and
    the unit keeps the own-history model. Before the coupling path, the source units are screened: at most ``settings.max_sources`` of
    them, and at most one per ``settings.spikes_per_source`` spikes in the fit rows, so that units
    with few spikes cannot fit large coupling weights to a handful of coincidences.

    Parameters
    ----------
    rows : UnitRows
        Sampled rows in time order: ``rows[:n_fit]`` fit, the rest (validation bins) choose.
    n_fit : int
    val_weight : ndarray, shape (n_rows - n_fit,)
        Weights that make the validation rows' loss estimate the full validation bins' loss.
    shift : float
        Log-odds of spiking added by the case-control sampling of the rows
        (``log(kept spike fraction) - log(kept non-spike fraction)``), the same for all of them.
    layout : Layout
    groups : ndarray, shape (F,), int
        Source unit of each shared column (-1: population column, -2: left out, as the target's own).
    settings : PathSettings
    refit : bool
        Refit on all rows with the chosen penalties (warm-started).
    val : UnitRows, optional
        Every validation bin (no subsampling; ``val_weight`` is then unused). A case-control sample
        keeps few of the rare non-spike bins where a weakly penalised model is confidently wrong
        (network bursts seen by a unit that spikes in few of them), so a loss estimated from it can
        prefer a model that is catastrophic on the bins it left out; the full bins cannot.

    Returns
    -------
    UnitFit
        ``theta`` on the full-data scale (the intercept without the sampling shift).
    """
    n = rows.y.size
    val = rows.rows(n_fit, n, val_weight) if val is None else replace(val, weight=None)
    if np.count_nonzero(val.y) < settings.min_spikes:  # nothing to choose with
        theta = np.zeros(layout.size)
        return UnitFit(theta, 0.0, np.inf, 0)  # the own-history baseline
    obj = _Objective(rows.rows(0, n_fit), layout, np.flatnonzero(groups == -2))
    val_loss = _ValidationLoss(val, layout, shift)
    own_pen, theta = _own_stage(obj, val_loss, shift, settings)
    n_spk = int(np.count_nonzero(obj.rows.y))
    k = n_spk // settings.spikes_per_source  # at most one source per spikes_per_source fit spikes
    k = k if settings.max_sources is None else min(k, settings.max_sources)
    cols = screen_sources(obj.rows, theta, layout, groups, k)
    sub = layout.subset(cols)
    rows = replace(rows, shared=_gathered(rows.shared).columns(cols))  # (n, F_kept)
    sub_obj = _Objective(rows.rows(0, n_fit), sub, np.zeros(0, np.intp))
    start = np.concatenate([np.zeros(cols.size), theta[layout.n_shared :]])
    val = replace(val, shared=_gathered(val.shared).columns(cols))  # (n_val, F_kept), any memory order
    C, theta = _coupling_stage(sub_obj, _ValidationLoss(val, sub, shift), own_pen, start, settings)
    evaluations = obj.evaluations + sub_obj.evaluations
    if refit and (C > 0 or not np.isinf(own_pen)):
        final = _Objective(rows, sub, np.zeros(0, np.intp))
        theta = final.solve(theta, C, own_pen, settings.tol, settings.max_iter)
        evaluations += final.evaluations
    full = np.zeros(layout.size)
    full[cols], full[layout.n_shared :] = theta[: cols.size], theta[cols.size :]
    full[-1] -= shift
    return UnitFit(full, C, own_pen, evaluations)
