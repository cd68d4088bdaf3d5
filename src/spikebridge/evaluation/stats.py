"""Significance tests for spike-prediction results and the stationarity test of the paper.

Units are the replicates: a model differs from chance when its per-unit ROC-AUC differs from 0.5 across
units, and from a baseline when the paired per-unit differences (model - baseline, on the same test
bins) differ from zero across units, or across recordings when several are evaluated. All use the
Wilcoxon signed-rank test (``scipy.stats.wilcoxon``), **two-sided** by default, so that a model below
chance or below a baseline is reported as such rather than as "not better"; NaN pairs (unscored units)
are dropped and the number of pairs actually tested is reported as ``n``. The direction of a difference
is the sign of the matched-pairs rank-biserial correlation (positive ranks minus negative ranks), the
quantity the signed-rank test itself measures. :func:`holm` adjusts a family of p-values for multiple
comparisons (Holm's step-down method, ``statsmodels.stats.multitest.multipletests``). Plain-language
verdicts built on these results live in :mod:`spikebridge.evaluation.verdict`.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

import numpy as np
from scipy.stats import rankdata, wilcoxon
from statsmodels.tsa.stattools import adfuller
from threadpoolctl import threadpool_limits

from spikebridge.errors import SpikebridgeDataError

ALTERNATIVES = ("greater", "less", "two-sided")


def _json(x):
    if isinstance(x, float) and np.isnan(x):
        return None
    return x


@dataclass(frozen=True)
class TestResult:
    """Outcome of one significance test.

    Attributes
    ----------
    test : str
        Name of the test, e.g. "wilcoxon signed-rank (one-sample)".
    comparison : str
        What is compared, e.g. "roc_auc per unit vs 0.5".
    n : int
        Number of paired values tested (after dropping NaN).
    n_dropped : int
        Pairs dropped because a value was NaN.
    statistic, p_value : float
        Sum of the ranks of the positive differences (R+) and the p-value of ``alternative``; NaN when
        the test is undefined (n == 0 or all differences zero, see ``note``).
    effect : float
        Median of the differences (model - reference).
    alternative : str
    note : str
    rank_biserial : float
        Matched-pairs rank-biserial correlation ``(R+ - R-) / (R+ + R-)`` in [-1, 1] over the non-zero
        differences: its sign is the direction the signed-rank test detects (NaN when undefined).
    """

    __test__ = False  # not a pytest test class

    test: str
    comparison: str
    n: int
    n_dropped: int
    statistic: float
    p_value: float
    effect: float
    alternative: str
    note: str = ""
    rank_biserial: float = np.nan

    def to_dict(self) -> dict:
        return {k: _json(v) for k, v in asdict(self).items()}


def _signed_rank(diff: np.ndarray, test: str, comparison: str, alternative: str) -> TestResult:
    """Wilcoxon signed-rank test of ``diff`` (1-D, NaN dropped) against zero."""
    if alternative not in ALTERNATIVES:
        raise SpikebridgeDataError(f"alternative must be one of {ALTERNATIVES}, got {alternative!r}")
    diff = np.asarray(diff, dtype=float).ravel()
    ok = np.isfinite(diff)
    d = diff[ok]
    n, dropped = int(d.size), int((~ok).sum())
    effect = float(np.median(d)) if n else np.nan
    if n == 0 or not np.any(d != 0):
        note = "no values to test" if n == 0 else "all differences are zero"
        return TestResult(test, comparison, n, dropped, np.nan, np.nan, effect, alternative, note)
    res = wilcoxon(d, zero_method="wilcox", alternative=alternative)
    nz = d[d != 0]
    ranks = rankdata(np.abs(nz))  # zero differences are dropped, as zero_method="wilcox" does
    r_plus, r_minus = float(ranks[nz > 0].sum()), float(ranks[nz < 0].sum())
    rbc = (r_plus - r_minus) / (r_plus + r_minus)
    return TestResult(test, comparison, n, dropped, r_plus, float(res.pvalue), effect, alternative, "", rbc)


def holm(p_values) -> np.ndarray:
    """Holm step-down adjustment of a family of p-values (NaN entries stay NaN and are not counted).

    Parameters
    ----------
    p_values : array-like, shape (K,)

    Returns
    -------
    ndarray, shape (K,)
        Adjusted p-values (``statsmodels.stats.multitest.multipletests(method="holm")``).
    """
    from statsmodels.stats.multitest import multipletests

    p = np.asarray([np.nan if v is None else v for v in p_values], dtype=float)
    out = np.full(p.shape, np.nan)
    ok = np.isfinite(p)
    if ok.any():
        out[ok] = multipletests(p[ok], method="holm")[1]
    return out


def versus_chance(
    values: np.ndarray,
    chance: float | np.ndarray = 0.5,
    metric: str = "roc_auc",
    alternative: str = "two-sided",
) -> TestResult:
    """One-sample Wilcoxon signed-rank test of per-unit values against their chance level.

    Parameters
    ----------
    values : ndarray, shape (N,)
        Per-unit metric (NaN for unscored units and padding, which are dropped and counted).
    chance : float or ndarray of shape (N,)
        Chance level: 0.5 for ROC-AUC, the per-unit spike fraction for average precision.
    metric : str
        Name used in ``comparison``.
    alternative : {"greater", "less", "two-sided"}

    Returns
    -------
    TestResult
        ``effect`` is the median of ``values - chance``.
    """
    diff = np.asarray(values, dtype=float) - np.asarray(chance, dtype=float)
    label = "0.5" if np.ndim(chance) == 0 and float(chance) == 0.5 else "chance"
    return _signed_rank(
        diff, "wilcoxon signed-rank (one-sample)", f"{metric} per unit vs {label}", alternative
    )


def versus_baseline(
    model_values: np.ndarray,
    baseline_values: np.ndarray,
    metric: str = "roc_auc",
    over: str = "units",
    alternative: str = "two-sided",
) -> TestResult:
    """Paired Wilcoxon signed-rank test of a model against a baseline.

    Parameters
    ----------
    model_values, baseline_values : ndarray, shape (K,)
        The same metric for the same K units (per-unit values on the same test bins) or recordings.
    metric : str
        Name used in ``comparison``.
    over : {"units", "recordings"}
        What the K pairs are (recorded in ``comparison``).
    alternative : {"greater", "less", "two-sided"}

    Returns
    -------
    TestResult
        ``effect`` is the median paired difference (model - baseline).
    """
    a, b = np.asarray(model_values, dtype=float), np.asarray(baseline_values, dtype=float)
    if a.shape != b.shape:
        raise SpikebridgeDataError(f"paired values must have the same shape, got {a.shape} and {b.shape}")
    comparison = f"{metric} model - baseline, paired over {over}"
    return _signed_rank(a - b, "wilcoxon signed-rank (paired)", comparison, alternative)


@dataclass(frozen=True)
class ADFResult:
    """Augmented Dickey-Fuller test (H0: unit root, i.e. non-stationary); small p means stationary."""

    test: str
    statistic: float
    p_value: float
    n_lags: int
    n_obs: int
    critical_values: dict
    regression: str

    def to_dict(self) -> dict:
        out = asdict(self)
        out["critical_values"] = {k: float(v) for k, v in self.critical_values.items()}
        return out


def adf_test(
    series: np.ndarray, regression: str = "c", autolag: str | None = "AIC", max_lags=None
) -> ADFResult:
    """Augmented Dickey-Fuller stationarity test (``statsmodels.tsa.stattools.adfuller``).

    Parameters
    ----------
    series : ndarray, shape (T,)
        One time series, e.g. the population spike count per bin or per window.
    regression : {"c", "ct", "ctt", "n"}
        Deterministic terms of the test regression (constant, trend, ...).
    autolag : {"AIC", "BIC", "t-stat", None}
        How the number of lags is chosen (None: use ``max_lags``). AIC and BIC are chosen exactly as
        ``adfuller`` chooses them, from one QR factorisation (:func:`adf_lag`) instead of one
        regression per candidate lag; the test then runs ``adfuller`` at the chosen lag, which
        reproduces ``adfuller(autolag=...)``'s statistic, p-value and lag.
    max_lags : int or None
        Largest lag (None: ``adfuller``'s default, ``12 (T / 100)^(1/4)``).

    Returns
    -------
    ADFResult
    """
    x = np.asarray(series, dtype=float).ravel()
    if x.size < 10 or not np.isfinite(x).all():
        raise SpikebridgeDataError(f"ADF test needs at least 10 finite values, got {x.size}")
    if np.ptp(x) == 0:
        raise SpikebridgeDataError("ADF test is undefined for a constant series")
    if autolag is not None and autolag.lower() in ("aic", "bic"):
        max_lags, autolag = adf_lag(x, regression, autolag, max_lags), None
    with threadpool_limits(limits=1, user_api="blas"):  # many tiny regressions: BLAS threads only spin
        stat, p, lags, nobs, crit, *_ = adfuller(
            x, maxlag=max_lags, regression=regression, autolag=autolag, result_object=False
        )
    return ADFResult(
        "augmented Dickey-Fuller", float(stat), float(p), int(lags), int(nobs), dict(crit), regression
    )


def adf_lag(x: np.ndarray, regression: str = "c", criterion: str = "AIC", max_lags: int | None = None) -> int:
    """The lag ``adfuller(x, maxlag=max_lags, regression=regression, autolag=criterion)`` selects.

    ``adfuller`` fits, on the same observations, the test regression with 0 .. ``max_lags`` lagged
    differences (columns: deterministic terms, the lagged level, then lags 1, 2, ...) and keeps the
    one of least AIC (or BIC; ties: fewest lags). The candidates are nested, so the residual sum of
    squares of each is read from one QR factorisation of the largest design: ``ssr_k = ssr_full +
    sum_{i >= k} (Q^T y)_i^2`` over the columns it leaves out. The criteria are those of statsmodels'
    OLS, ``nobs log(ssr / nobs) + penalty * columns`` up to a constant shared by every candidate.

    Parameters
    ----------
    x : ndarray ``(T,)`` float
    regression : {"c", "ct", "ctt", "n"}
    criterion : {"AIC", "BIC"}
    max_lags : int or None
        Largest candidate (None: ``adfuller``'s default).

    Returns
    -------
    int: the number of lagged differences.
    """
    from statsmodels.tsa.tsatools import add_trend, lagmat

    x = np.asarray(x, dtype=float).ravel()
    ntrend = len(regression) if regression != "n" else 0
    if max_lags is None:
        max_lags = min(x.size // 2 - ntrend - 1, int(np.ceil(12.0 * np.power(x.size / 100.0, 1 / 4.0))))
    xdiff = np.diff(x)
    design = lagmat(xdiff[:, None], max_lags, trim="both", original="in")  # (nobs, max_lags + 1)
    nobs = design.shape[0]
    design[:, 0] = x[-nobs - 1 : -1]  # the lagged level replaces the unlagged difference
    if regression != "n":
        design = add_trend(design, regression, prepend=True)  # (nobs, ntrend + 1 + max_lags)
    y = xdiff[-nobs:]
    q, _ = np.linalg.qr(design)
    qty = q.T @ y  # (columns,)
    ssr_full = float(y @ y - qty @ qty)
    tail = np.concatenate([np.cumsum((qty**2)[::-1])[::-1], [0.0]])  # tail[k]: sum over columns >= k
    columns = np.arange(ntrend + 1, ntrend + 2 + max_lags)  # candidates: 0 .. max_lags lags
    ssr = ssr_full + tail[columns]
    penalty = 2.0 if criterion.lower() == "aic" else np.log(nobs)
    ic = nobs * np.log(ssr / nobs) + penalty * columns
    return int(np.argmin(ic))  # argmin keeps the first (fewest lags) of equal values
