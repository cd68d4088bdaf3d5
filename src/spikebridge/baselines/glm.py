"""Coupled history GLM: per unit, a penalised logistic regression on its own and the population's past.

Each unit's log-odds of spiking in the next bin is the own-history baseline's log-odds for the time
since its last spike (a fixed offset) plus penalised terms (see :mod:`spikebridge.baselines.glm_features`
and :mod:`spikebridge.baselines.glm_solver`): corrections of those category log-odds and the unit's own
traces (16 ms to 1 s); every other unit's current spike and 4 / 16 ms traces (coupling); traces of the
population count (10 ms to 1 s, network state). The unit's own columns of the coupling block are held
at zero, so ``coupling()`` has a zero diagonal.

Fitting: the last ``val_fraction`` of the training bins choose, per unit, the own-block penalty and the
coupling prior ``C`` (never test bins); each addition must beat the simpler model on those bins, so a
unit keeps the own-history model unless its validation bins say otherwise. The chosen model is refitted
on all training bins. Non-spike bins are subsampled (case-control: ``neg_ratio`` per spike, at most
``max_rows`` rows per unit) and the intercept corrected by the log ratio of the kept fractions, so
outputs are probabilities for the full data. Units are fitted in parallel threads with one BLAS thread
each. Units with fewer than ``min_spikes`` training spikes (or non-spikes) get a constant model at
their training rate.

The traces start at their stationary means for the training rates, so predicting a raster from its own
past does not begin with seconds of forgotten activity; simulation steps the same state one bin at a time.
"""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field, fields, replace

import numpy as np
from scipy.special import expit, logit
from threadpoolctl import threadpool_limits

from spikebridge.baselines.base import Baseline
from spikebridge.baselines.glm_features import Features, FeatureSpec, HistoryState
from spikebridge.baselines.glm_solver import Layout, PathSettings, SharedRows, UnitRows, fit_unit
from spikebridge.baselines.history import category_table
from spikebridge.errors import SpikebridgeConfigError, SpikebridgeDataError

COUPLING_KINDS = ("sum", "integral")


@dataclass(frozen=True)
class GLMConfig:
    """Settings of :class:`CoupledGLMBaseline`.

    Attributes
    ----------
    features : FeatureSpec
    Cs : tuple of float
        Candidate prior variances of the coupling weights, in log-odds per spike (per population spike
        for the population traces): the L2 penalty is ``w**2 / (2 C)`` on raw-scale weights.
    own_penalties : tuple of float
        Candidate L2 strengths of the own block (corrections of the history log-odds of each category,
        normalised own traces); the history offset alone is always a candidate too.
    history_prior : float
        Pseudo-bins of the own-history table that gives the offset (``OwnHistoryBaseline.prior``).
    val_fraction : float
        Last fraction of the training bins used to choose the penalties.
    patience : int
        Path points tried after the best C before stopping.
    gate : float
        A block (own corrections, then coupling) is kept only if its best candidate lowers the
        validation loss by more than ``gate`` standard errors of the paired per-row differences.
    max_sources : int or None
        Source units whose coupling columns enter a unit's C path: the ones with the largest score
        statistics at its model without coupling (None: all).
    spikes_per_source : int
        A unit keeps at most one source unit per this many spikes in its fit rows (fewer spikes,
        fewer coupling weights).
    refit : bool
        Refit on all training bins with the chosen penalties (warm-started).
    neg_ratio : float
        Non-spike rows kept per spike row (case-control subsampling, intercept-corrected).
    min_negatives : int
        Non-spike rows kept at least (all of them if fewer), so that a unit with few spikes still
        sees the rare states of the network (bursts) in which it stays silent.
    max_rows : int
        Cap on rows per unit (spike rows too beyond half of it).
    min_spikes : int
        Units with fewer spikes (or non-spikes) in the fit bins get a constant rate model; units with
        fewer spikes in the validation bins keep the own-history model (nothing to choose with).
    tol : float
        L-BFGS-B tolerance on the gradient per row.
    max_iter : int
        L-BFGS-B iterations per solve.
    """

    features: FeatureSpec = field(default_factory=FeatureSpec)
    Cs: tuple[float, ...] = (0.003, 0.01, 0.03, 0.1, 0.3, 1.0)
    own_penalties: tuple[float, ...] = (100.0, 10.0, 1.0, 0.1)
    history_prior: float = 10.0
    val_fraction: float = 0.2
    patience: int = 1
    gate: float = 0.5
    max_sources: int | None = 32
    spikes_per_source: int = 20
    refit: bool = True
    neg_ratio: float = 3.0
    min_negatives: int = 20_000
    max_rows: int = 40_000
    min_spikes: int = 10
    tol: float = 1e-3
    max_iter: int = 200

    def __post_init__(self) -> None:
        Cs = tuple(sorted(float(c) for c in np.atleast_1d(self.Cs)))
        own = tuple(float(c) for c in np.atleast_1d(self.own_penalties))
        object.__setattr__(self, "Cs", Cs)
        object.__setattr__(self, "own_penalties", own)
        checks = {
            "Cs": bool(Cs) and min(Cs) > 0,
            "own_penalties": bool(own) and min(own) >= 0,
            "history_prior": self.history_prior >= 0,
            "val_fraction": 0 < self.val_fraction < 1,
            "patience": self.patience >= 1,
            "gate": self.gate >= 0,
            "max_sources": self.max_sources is None or self.max_sources >= 1,
            "spikes_per_source": self.spikes_per_source >= 1,
            "neg_ratio": self.neg_ratio > 0,
            "min_negatives": self.min_negatives >= 0,
            "max_rows": self.max_rows >= 4,
            "min_spikes": self.min_spikes >= 1,
            "tol": self.tol > 0,
            "max_iter": self.max_iter >= 1,
        }
        for name, ok in checks.items():
            if not ok:
                raise SpikebridgeConfigError(f"invalid GLM setting {name}={getattr(self, name)!r}")

    def to_dict(self) -> dict:
        out = {f.name: getattr(self, f.name) for f in fields(self) if f.name != "features"}
        return {**out, "Cs": list(self.Cs), "own_penalties": list(self.own_penalties),
                "features": self.features.to_dict()}  # fmt: skip

    @classmethod
    def from_dict(cls, values: dict) -> GLMConfig:
        """Inverse of :meth:`to_dict` (unknown keys are a SpikebridgeConfigError naming them)."""
        values = dict(values)
        features = values.pop("features", {})
        return make_glm_config(None, **values, **features)


def make_glm_config(config: GLMConfig | None = None, **overrides) -> GLMConfig:
    """``config`` (default ``GLMConfig()``) with ``overrides`` of GLMConfig or FeatureSpec fields."""
    config = config or GLMConfig()
    top = {f.name for f in fields(GLMConfig)}
    feat = {f.name for f in fields(FeatureSpec)}
    unknown = set(overrides) - top - feat
    if unknown:
        raise SpikebridgeConfigError(f"unknown GLM setting(s): {', '.join(sorted(unknown))}")
    feature_kw = {k: v for k, v in overrides.items() if k in feat}
    features = replace(config.features, **feature_kw) if feature_kw else config.features
    return replace(config, features=features, **{k: v for k, v in overrides.items() if k in top})


def _sample(y: np.ndarray, lo: int, hi: int, neg_ratio: float, max_rows: int, rng, min_neg: int = 0) -> tuple:
    """Rows of ``[lo, hi)``: spike rows and a seeded subsample of non-spike rows (``neg_ratio`` per
    spike row, at least ``min_neg``, at most ``max_rows`` rows in all).

    Returns (rows sorted, kept fraction of spike rows, kept fraction of non-spike rows).
    """
    idx = np.arange(lo, hi)
    pos, neg = idx[y[lo:hi]], idx[~y[lo:hi]]
    n_pos, n_neg = pos.size, neg.size
    if pos.size > max_rows // 2:
        pos = rng.choice(pos, max_rows // 2, replace=False)
    n_keep = int(min(neg.size, max(neg_ratio * max(pos.size, 1), min_neg), max_rows - pos.size))
    neg = rng.choice(neg, n_keep, replace=False)
    rows = np.sort(np.concatenate([pos, neg]))
    return rows, pos.size / max(n_pos, 1), n_keep / max(n_neg, 1)


class CoupledGLMBaseline(Baseline):
    """Per-unit penalised logistic regression on own history and population coupling (coupled GLM).

    Parameters
    ----------
    config : GLMConfig, optional
    n_jobs : int
        Units fitted in parallel (threads, one BLAS thread each).
    chunk_rows : int
        Bins per feature chunk when predicting (bounds memory).
    floor, seed : see ``Baseline``.
    **overrides
        GLMConfig or FeatureSpec fields, e.g. ``Cs=(1e-3,)`` or ``own_taus=(10.0,)``.
    """

    name = "glm"
    state_format = 3  # pickles of other formats (earlier implementations) are refused

    def __getstate__(self) -> dict:
        return {**self.__dict__, "state_format": self.state_format}

    def __setstate__(self, state: dict) -> None:
        if state.get("state_format") != self.state_format:
            raise SpikebridgeDataError(
                "pickled CoupledGLMBaseline comes from an earlier spikebridge; refit it "
                "(for example evaluate --recompute)"
            )
        self.__dict__.update(state)

    def __init__(
        self, config: GLMConfig | None = None, n_jobs: int = 2, chunk_rows: int = 20_000,
        floor: float = 1e-6, seed: int = 0, **overrides,
    ):  # fmt: skip
        super().__init__(floor=floor, seed=seed)
        if n_jobs < 1 or chunk_rows < 1:
            raise SpikebridgeConfigError(f"n_jobs and chunk_rows must be >= 1, got {n_jobs}, {chunk_rows}")
        self.glm = make_glm_config(config, **overrides)
        self.n_jobs, self.chunk_rows = int(n_jobs), int(chunk_rows)

    @property
    def config(self) -> dict:
        return {**super().config, "n_jobs": self.n_jobs, **self.glm.to_dict()}

    # ---------------------------------------------------------------------------------------------
    # fitting
    # ---------------------------------------------------------------------------------------------

    def _fit(self, train: np.ndarray) -> None:
        real = np.flatnonzero(self.unit_mask_)
        spikes = train[:, real]  # (T, R)
        self.input_rates_ = spikes.mean(axis=0)  # (R,) starting point of the traces (stationary means)
        feats = self._state().advance(spikes[:-1], self.n_jobs)  # inputs of rows 1..T-1, time last
        self.shared_range_ = (feats.shared.min(axis=1), feats.shared.max(axis=1))  # (F,) each, raw
        self.own_range_ = (feats.own.min(axis=2), feats.own.max(axis=2))  # (n_own, R) each, raw
        targets = np.ascontiguousarray(spikes[1:].T)  # (R, T - 1) next-bin spikes
        spec, R = self.glm.features, real.size
        blocks = np.concatenate(
            [np.repeat(np.arange(spec.n_blocks), R), spec.n_blocks + np.arange(len(spec.population_taus))]
        )
        shared_mean, shared_scale, shared_var = _normalise(feats.shared, blocks)  # in place, (F,) each
        own_groups = np.repeat(np.arange(len(spec.own_taus)), R).reshape(-1, R)  # (n_own, R): one per tau
        own_mean, own_std, _ = _normalise(feats.own, own_groups)  # in place, (n_own, R) each
        layout = Layout(shared_scale, spec.n_categories, feats.own.shape[0], shared_var)
        groups = np.concatenate(
            [np.tile(np.arange(R), spec.n_blocks), np.full(len(spec.population_taus), -1)]
        )
        table = category_table(feats.categories.T, targets.T, spec.n_categories, self.glm.history_prior)
        offsets = logit(np.clip(table, self.floor, 1.0 - self.floor))  # (n_cat, R) history log-odds

        by_feature = feats.shared  # (F, T - 1): validation bins gather contiguous column runs from it
        by_bin = _transpose(by_feature)  # (T - 1, F): sampled fit rows are contiguous in it
        feats = Features(by_bin, feats.categories, feats.own)

        def fit_one(r: int):
            return self._fit_unit(feats, offsets[:, r], targets, r, layout, groups, by_feature)

        with threadpool_limits(limits=1, user_api="blas"):  # parallel over units, not inside BLAS
            if self.n_jobs == 1:
                fits = [fit_one(r) for r in range(R)]
            else:
                with ThreadPoolExecutor(self.n_jobs) as pool:
                    fits = list(pool.map(fit_one, range(R)))
        self._store(fits, layout, targets, (shared_mean, shared_scale), (own_mean, own_std), offsets)

    def _fit_unit(
        self, feats: Features, offsets, targets, r: int, layout: Layout, groups: np.ndarray, by_feature
    ):  # fmt: skip
        """Fit unit r (a UnitFit on the full-data scale), or None for a constant model.

        ``feats.shared`` is bin-major here, (T, F), and ``by_feature`` the same matrix feature-major,
        (F, T): a unit's rows are gathered from them on demand (all columns of the fit rows in small
        blocks to screen sources, then only the kept columns), never as one large copy per unit.
        One case-control sample of all training rows; its rows before the cut fit, every bin after the
        cut (the validation bins, not subsampled) chooses the penalties, and all sampled rows refit.
        """
        cfg, y = self.glm, targets[r]
        n = y.size
        cut = int(round((1.0 - cfg.val_fraction) * n))
        n_fit_spk = int(np.count_nonzero(y[:cut]))
        if min(n_fit_spk, cut - n_fit_spk) < cfg.min_spikes or cut == n:
            return None
        rng = np.random.default_rng([self.seed, r])
        rows, kept_pos, kept_neg = _sample(
            y, 0, n, cfg.neg_ratio, cfg.max_rows, rng, cfg.min_negatives
        )  # sorted
        every = self._unit_rows(feats, by_feature, offsets, r, rows, y)
        k = int(np.searchsorted(rows, cut))  # rows[:k] fit, rows[k:] validate
        weight = np.where(y[rows[k:]], 1.0 / kept_pos, 1.0 / kept_neg)
        groups = np.where(groups == r, -2, groups)  # (F,) the unit's own coupling columns stay out
        shift = np.log(kept_pos) - np.log(kept_neg)
        val = self._unit_rows(feats, by_feature, offsets, r, np.arange(cut, n), y)
        return fit_unit(every, k, weight, shift, layout, groups, self._settings(), cfg.refit, val)

    @staticmethod
    def _unit_rows(feats: Features, by_feature, offsets, r: int, rows: np.ndarray, y) -> UnitRows:
        """Unit r's design rows at bins ``rows`` (increasing); shared columns gathered on demand."""
        cats = feats.categories[r, rows].astype(np.intp)
        own = np.ascontiguousarray(feats.own[:, r, rows].T)  # (n_rows, n_own)
        shared = SharedRows(feats.shared, by_feature, rows)
        return UnitRows(shared, cats, own, offsets[cats].astype(np.float32), y[rows])

    def _settings(self) -> PathSettings:
        c = self.glm
        return PathSettings(
            c.Cs, c.own_penalties, c.patience, c.gate, c.max_sources, c.spikes_per_source, c.min_spikes,
            c.tol, c.max_iter,
        )  # fmt: skip

    def _store(self, fits: list, layout: Layout, targets, shared_stats, own_stats, offsets) -> None:
        """Raw-scale weights of every real unit (constant-rate models for units not fitted)."""
        R = targets.shape[0]
        coef = np.zeros((layout.n_shared, R))  # (F, R) standardised scale first
        cat = np.zeros((layout.n_cat, R))
        own = np.zeros((layout.n_own, R))
        bias = logit(np.clip(targets.mean(axis=1), self.floor, 1.0 - self.floor))
        self.C_ = np.full(R, np.nan)  # chosen C per real unit (0: no coupling, NaN: constant model)
        self.own_penalty_ = np.full(R, np.nan)
        self.evaluations_ = np.zeros(R, np.int64)  # objective evaluations (work done) per unit
        for r, fit in enumerate(fits):
            if fit is not None:
                coef[:, r], cat[:, r], own[:, r], bias[r] = layout.split(fit.theta)
                cat[:, r] += offsets[:, r]
                self.C_[r], self.own_penalty_[r], self.evaluations_[r] = (
                    fit.C,
                    fit.own_penalty,
                    fit.evaluations,
                )
        (s_mean, s_std), (o_mean, o_std) = shared_stats, own_stats
        self.coef_shared_ = coef / s_std[:, None]  # (F, R) per raw feature unit
        self.coef_cat_ = cat  # (n_cat, R) log-odds of each category: history offset + correction
        self.coef_own_ = own / o_std  # (n_own, R)
        self.intercept_ = bias - s_mean @ self.coef_shared_ - (o_mean * self.coef_own_).sum(axis=0)

    # ---------------------------------------------------------------------------------------------
    # prediction and simulation
    # ---------------------------------------------------------------------------------------------

    def _guard(self, shared: np.ndarray, own: np.ndarray) -> None:
        """Clip features, in place, to the range they took on the training bins (time on the last axis).

        A linear model is only checked where its inputs were seen: a network burst larger than any in
        the training part would otherwise push population and coupling traces, and with them the
        log-odds, far beyond anything the penalties were chosen on (probabilities of 1 for every unit).
        """
        lo, hi = self.shared_range_
        np.clip(shared, lo.reshape(lo.shape + (1,) * (shared.ndim - 1)),
                hi.reshape(hi.shape + (1,) * (shared.ndim - 1)), out=shared)  # fmt: skip
        lo, hi = self.own_range_
        np.clip(own, lo.reshape(lo.shape + (1,) * (own.ndim - 2)),
                hi.reshape(hi.shape + (1,) * (own.ndim - 2)), out=own)  # fmt: skip

    def _logits(self, feats: Features) -> np.ndarray:
        """(T, R) log-odds of the next bin from the features of T bins (clipped to the training range)."""
        self._guard(feats.shared, feats.own)
        z = feats.shared.T @ self.coef_shared_.astype(np.float32)  # (T, R)
        cat = np.take_along_axis(self.coef_cat_, feats.categories.T.astype(np.intp), 0)  # (T, R)
        z = z.astype(np.float64) + cat
        z += np.einsum("krt,kr->tr", feats.own, self.coef_own_.astype(np.float32))
        return z + self.intercept_

    def _predict(self, raster: np.ndarray) -> np.ndarray:
        real = np.flatnonzero(self.unit_mask_)
        inputs = raster[:-1, real]  # (T - 1, R) bins whose next bin is predicted
        out = np.zeros((inputs.shape[0], raster.shape[1]))
        state = self._state()
        for start in range(0, inputs.shape[0], self.chunk_rows):
            rows = slice(start, start + self.chunk_rows)
            out[rows, real] = expit(self._logits(state.advance(inputs[rows], self.n_jobs)))
        return out

    def _state(self) -> HistoryState:
        """Feature state before the first bin of a raster (traces at the training stationary means)."""
        return HistoryState(self.glm.features, self.input_rates_.size, self.input_rates_)

    def _sim_start(self, prefix: np.ndarray) -> HistoryState:
        state = self._state()
        state.consume(prefix[:, self.unit_mask_])
        return state

    def _sim_proba(self, state: HistoryState) -> np.ndarray:
        shared, cat, own = state.current()  # (F,), (R,), (n_own, R)
        shared, own = shared.copy(), own.copy()
        self._guard(shared, own)
        z = shared @ self.coef_shared_ + self.coef_cat_[cat, np.arange(cat.size)]
        z += (own * self.coef_own_).sum(axis=0) + self.intercept_
        out = np.zeros(self.unit_mask_.size)
        out[self.unit_mask_] = expit(z)
        return out

    def _sim_push(self, state: HistoryState, spikes: np.ndarray) -> None:
        state.step(spikes[self.unit_mask_])

    # ---------------------------------------------------------------------------------------------
    # coupling weights
    # ---------------------------------------------------------------------------------------------

    def coupling_kernel(self, n_lags: int) -> np.ndarray:
        """Coupling filters: entry [k, i, j] is the change of unit j's log-odds for bin t + k + 1 per spike
        of unit i in bin t (raw scale, other inputs fixed), k = 0 .. n_lags - 1.

        Returns
        -------
        kernel : ndarray, shape (n_lags, N, N), float
            NaN in padding rows and columns; zero diagonal (own history is the own block's).
        """
        spec, R = self.glm.features, int(self.unit_mask_.sum())
        blocks = self.coef_shared_[: spec.n_blocks * R].reshape(spec.n_blocks, R, R)  # (B, i, j)
        k = np.arange(int(n_lags))
        decay = np.stack([np.exp(-k / tau) for tau in spec.coupling_taus]) if spec.coupling_taus else None
        kern = np.zeros((k.size, R, R))
        if spec.lag1 and k.size:
            kern[0] += blocks[0]
        if decay is not None:
            kern += np.einsum("bk,bij->kij", decay, blocks[int(spec.lag1) :])
        return self._to_columns(kern)

    def coupling(self, kind: str = "sum") -> np.ndarray:
        """Unit-to-unit coupling: entry [i, j] summarises the effect of unit i's spikes on unit j's
        next-bin log-odds, on the raw scale (log-odds per spike).

        ``"sum"`` adds the raw weights of all of unit i's coupling features in unit j's model: the jump of
        j's log-odds in the bin right after i spikes (the kernel at lag 1). ``"integral"`` sums the kernel
        over all lags (``lag-1 weight + sum_tau w_tau / (1 - exp(-1/tau))``), the total log-odds added by
        one spike. The raw scale is used because standardised weights are multiplied by each trace's
        standard deviation, which grows with unit i's firing rate and would rank pairs by activity rather
        than influence. Diagonal 0 (own history has its own block); padding rows and columns NaN.

        Returns
        -------
        coupling : ndarray, shape (N, N), float
        """
        if kind not in COUPLING_KINDS:
            raise SpikebridgeConfigError(f"coupling kind must be one of {COUPLING_KINDS}, got {kind!r}")
        if self.unit_mask_ is None:
            raise SpikebridgeConfigError("CoupledGLMBaseline.coupling called before fit")
        if kind == "sum":
            return self.coupling_kernel(1)[0]
        spec, R = self.glm.features, int(self.unit_mask_.sum())
        blocks = self.coef_shared_[: spec.n_blocks * R].reshape(spec.n_blocks, R, R)
        gains = [1.0] * int(spec.lag1) + [1.0 / (1.0 - np.exp(-1.0 / t)) for t in spec.coupling_taus]
        return self._to_columns(np.einsum("b,bij->ij", np.array(gains), blocks)[None])[0]

    def _to_columns(self, values: np.ndarray) -> np.ndarray:
        """(L, R, R) real-unit values -> (L, N, N) with NaN padding and a zero diagonal."""
        real = np.flatnonzero(self.unit_mask_)
        out = np.full((values.shape[0], self.unit_mask_.size, self.unit_mask_.size), np.nan)
        values = values.copy()
        values[:, np.arange(real.size), np.arange(real.size)] = 0.0
        out[:, real[:, None], real[None, :]] = values
        return out


def _transpose(x: np.ndarray, block: int = 2048) -> np.ndarray:
    """C-contiguous transpose of a 2-D array, ``block`` columns at a time (a whole-array transposing
    copy of a (387, 270 000) float32 matrix is about 10 times slower: every write misses the cache)."""
    out = np.empty(x.shape[::-1], x.dtype)
    for lo in range(0, x.shape[1], block):
        out[lo : lo + block] = x[:, lo : lo + block].T
    return out


def _moments(x: np.ndarray, stride: int = 1) -> tuple[np.ndarray, np.ndarray]:
    """Mean and standard deviation (float64) of float32 ``x`` along its last axis, every ``stride``-th."""
    sub = x[..., ::stride]
    mean = sub.mean(axis=-1, dtype=np.float64)
    var = np.square(sub - mean[..., None]).mean(axis=-1)
    return mean, np.sqrt(var)


def _group_scale(std: np.ndarray, groups: np.ndarray) -> np.ndarray:
    """One scale per group of features: the root mean square of the group's nonzero stds (1 if none).

    Unit features share their block's scale, so the penalty acts on log-odds per spike alike for rare
    and frequent units; a per-feature std would leave a rare unit's weights nearly unpenalised.
    """
    scale = np.ones_like(std)
    for g in np.unique(groups):
        member = (groups == g) & (std > 0)
        if member.any():
            scale[groups == g] = np.sqrt(np.mean(std[member] ** 2))
    return scale


def _normalise(x: np.ndarray, groups: np.ndarray) -> tuple:
    """Centre float32 ``x`` in place along its last (time) axis and divide it by its group scales.

    Returns (mean, scale, variance after scaling) in float64, shaped as ``x`` without the last axis;
    ``groups`` has that shape too. Moments come from at most about 20 000 evenly spaced bins.
    """
    mean, std = _moments(x, stride=max(1, x.shape[-1] // 20_000))
    scale = _group_scale(std, groups)
    x -= mean[..., None].astype(x.dtype)
    x /= scale[..., None].astype(x.dtype)
    return mean, scale, (std / scale) ** 2
