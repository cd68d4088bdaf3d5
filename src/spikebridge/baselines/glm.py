"""Coupled history GLM: per unit, a regularised logistic regression on the population's recent past.

Features at bin t, for every real unit j: spikes at t and t - 1 (lags 1 and 2) and exponentially
decaying traces of older spikes, ``sum_{k >= 2} exp(-k / tau) s_j[t - k]``, one per time constant in
``taus`` (bins). The target is the unit's spike at t + 1. Features are standardised on training bins.

Non-spike bins are subsampled (at most ``neg_ratio`` per spike and ``max_rows`` rows per unit, spike bins
too beyond ``max_rows / 2``); the intercept is then corrected by the log ratio of the kept fractions of
non-spike and spike bins (prior correction for case-control sampling), so outputs are probabilities for the full data. Units with fewer than
``min_spikes`` training spikes (or non-spikes) get a constant model at their training rate (the floor if
silent).
"""

from __future__ import annotations

import numpy as np
from joblib import Parallel, delayed
from scipy.signal import lfilter
from scipy.special import expit, logit
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import log_loss
from threadpoolctl import threadpool_limits

from spikebridge.baselines.base import Baseline
from spikebridge.errors import SpikebridgeConfigError


def history_features(raster: np.ndarray, taus: tuple[float, ...]) -> np.ndarray:
    """Population history features of every bin.

    Parameters
    ----------
    raster : ndarray, shape (T, R), bool
        Real units only.
    taus : tuple of float
        Time constants (bins) of the traces of spikes at lags >= 3.

    Returns
    -------
    features : ndarray, shape (T, R * (2 + len(taus))), float32
        Column blocks: lag 1 (bin t), lag 2 (bin t - 1), then one trace block per tau; row t uses
        bins <= t only.
    """
    s = raster.astype(np.float32)
    prev = np.vstack([np.zeros((1, s.shape[1]), np.float32), s[:-1]])  # (T, R) spikes at t - 1
    blocks = [s, prev]
    for tau in taus:
        a = np.exp(-1.0 / tau)
        full = lfilter([1.0], [1.0, -a], s, axis=0).astype(np.float32)  # sum_{k>=0} a^k s[t - k]
        older = np.zeros_like(full)
        older[2:] = a * a * full[:-2]  # sum_{k>=2} a^k s[t - k]
        blocks.append(older)
    return np.hstack(blocks)  # (T, R * (2 + len(taus)))


def _choose_C(Xr: np.ndarray, yr: np.ndarray, Cs: tuple[float, ...], max_iter: int) -> float:
    """Pick C from ``Cs`` by log-loss on the last 20 % (in time) of the sampled rows, warm-started."""
    cut = int(0.8 * yr.size)
    if yr[:cut].all() or not yr[:cut].any() or cut == yr.size:
        return min(Cs)  # too few rows to compare: the strongest regularisation
    model = LogisticRegression(max_iter=max_iter, warm_start=True)
    best_loss, best_C = np.inf, Cs[0]
    for C in sorted(Cs):  # strong -> weak regularisation
        model.set_params(C=C).fit(Xr[:cut], yr[:cut])
        loss = log_loss(yr[cut:], model.predict_proba(Xr[cut:])[:, 1], labels=[False, True])
        if loss < best_loss:
            best_loss, best_C = loss, C
    return best_C


def _fit_unit(X, y, rows_pos, rows_neg, Cs, max_iter):
    """Fit one unit's logistic regression on sampled rows; returns (coef (F,), intercept, C) on X's scale.

    C is chosen from ``Cs`` on held-out sampled rows when several are given. The intercept gets the prior
    correction for case-control sampling, ``log(kept fraction of non-spike rows) - log(kept fraction of
    spike rows)``.
    """
    rows = np.sort(np.concatenate([rows_pos, rows_neg]))  # time order, so the held-out rows come last
    Xr, yr = X[rows], y[rows]
    C = Cs[0] if len(Cs) == 1 else _choose_C(Xr, yr, Cs, max_iter)
    model = LogisticRegression(C=C, max_iter=max_iter).fit(Xr, yr)
    n_pos = int(np.count_nonzero(y))
    correction = np.log(rows_neg.size / (y.size - n_pos)) - np.log(rows_pos.size / n_pos)
    return model.coef_[0], float(model.intercept_[0]) + correction, C


class CoupledGLMBaseline(Baseline):
    """Per-unit L2 logistic regression on all units' recent spikes (coupled history GLM).

    Parameters
    ----------
    taus : tuple of float
        Trace time constants in bins (ms at 1 ms binning) for lags >= 3.
    Cs : tuple of float
        Candidate inverse L2 strengths of scikit-learn's ``LogisticRegression`` (standardised features);
        with several, each unit's C is chosen by log-loss on the last 20 % of its sampled training rows
        (``C_`` after fitting). A single value is used as is.
    neg_ratio : float
        Non-spike training bins kept per spike bin (subsampling, intercept-corrected).
    max_rows : int
        Cap on training rows per unit.
    min_spikes : int
        Units with fewer training spikes get a constant rate model.
    max_iter : int
        L-BFGS iterations.
    n_jobs : int
        Units fitted in parallel (threads).
    chunk_rows : int
        Rows per matrix product when predicting (bounds memory).
    floor, seed : see ``Baseline``.
    """

    name = "glm"

    def __init__(
        self,
        taus=(4.0, 16.0),
        Cs=(1e-4, 1e-3, 1e-2, 1e-1),
        neg_ratio=5.0,
        max_rows=40_000,
        min_spikes=10,
        max_iter=200,
        n_jobs=2,
        chunk_rows=20_000,
        floor=1e-6,
        seed=0,
    ):
        super().__init__(floor=floor, seed=seed)
        Cs = tuple(float(c) for c in np.atleast_1d(Cs))
        if not Cs or min(Cs) <= 0 or neg_ratio <= 0 or max_rows < 2 or min_spikes < 1 or not taus:
            raise SpikebridgeConfigError(
                f"invalid GLM setting: Cs={Cs}, neg_ratio={neg_ratio}, max_rows={max_rows}, "
                f"min_spikes={min_spikes}, taus={taus}"
            )
        self.taus, self.Cs, self.neg_ratio = tuple(float(t) for t in taus), Cs, float(neg_ratio)
        self.max_rows, self.min_spikes, self.max_iter = int(max_rows), int(min_spikes), int(max_iter)
        self.n_jobs, self.chunk_rows = int(n_jobs), int(chunk_rows)

    @property
    def config(self) -> dict:
        keys = ("neg_ratio", "max_rows", "min_spikes", "max_iter", "n_jobs")
        return {
            **super().config,
            "taus": list(self.taus),
            "Cs": list(self.Cs),
            **{k: getattr(self, k) for k in keys},
        }

    def _sample_rows(self, y: np.ndarray, unit: int) -> tuple[np.ndarray, np.ndarray]:
        """Spike rows and a seeded subsample of non-spike rows of one unit's target column."""
        pos, neg = np.flatnonzero(y), np.flatnonzero(~y)
        rng = np.random.default_rng([self.seed, unit])
        if pos.size > self.max_rows // 2:
            pos = np.sort(rng.choice(pos, self.max_rows // 2, replace=False))
        n_keep = int(min(neg.size, self.neg_ratio * pos.size, self.max_rows - pos.size))
        return pos, np.sort(rng.choice(neg, n_keep, replace=False))

    def _fit(self, train: np.ndarray) -> None:
        real = np.flatnonzero(self.unit_mask_)
        X = history_features(train[:-1, real], self.taus)  # (T - 1, F) inputs of each target row
        self.mean_, self.std_ = X.mean(axis=0), X.std(axis=0)
        self.std_[self.std_ == 0] = 1.0
        X -= self.mean_
        X /= self.std_
        targets = train[1:, real]  # (T - 1, R)
        coef = np.zeros((X.shape[1], real.size))
        rates = targets.mean(axis=0)
        bias = logit(np.clip(rates, self.floor, 1.0 - self.floor))
        n_spk = targets.sum(axis=0)
        fit_units = [
            r for r in range(real.size) if min(n_spk[r], targets.shape[0] - n_spk[r]) >= self.min_spikes
        ]
        jobs = []
        for r in fit_units:
            pos, neg = self._sample_rows(targets[:, r], r)
            jobs.append(delayed(_fit_unit)(X, targets[:, r], pos, neg, self.Cs, self.max_iter))
        with threadpool_limits(limits=1, user_api="blas"):  # parallel over units, not inside BLAS
            results = Parallel(n_jobs=self.n_jobs, backend="threading")(jobs)
        self.C_ = np.full(real.size, np.nan)  # (R,) chosen C per real unit (NaN: constant model)
        for r, (w, b, C) in zip(fit_units, results, strict=True):
            coef[:, r], bias[r], self.C_[r] = w, b, C
        self.coef_ = coef / self.std_[:, None]  # (F, R) on raw features
        self.intercept_ = bias - self.mean_ @ self.coef_  # (R,)

    def _predict(self, raster: np.ndarray) -> np.ndarray:
        real = np.flatnonzero(self.unit_mask_)
        out = np.zeros((raster.shape[0] - 1, raster.shape[1]))
        X = history_features(raster[:-1, real], self.taus)  # (T - 1, F)
        for start in range(0, X.shape[0], self.chunk_rows):
            rows = slice(start, start + self.chunk_rows)
            out[rows, real] = expit(X[rows] @ self.coef_ + self.intercept_)
        return out
