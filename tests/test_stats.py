"""Significance tests and the ADF stationarity test."""

import numpy as np
import pytest
from scipy.stats import wilcoxon

from spikebridge.errors import SpikebridgeDataError
from spikebridge.evaluation.stats import adf_test, holm, versus_baseline, versus_chance


def test_versus_chance_detects_auc_above_half_and_counts_dropped():
    auc = np.concatenate([0.5 + np.linspace(0.01, 0.2, 30), [np.nan, np.nan]])
    res = versus_chance(auc)
    assert res.n == 30 and res.n_dropped == 2
    assert res.p_value < 1e-6 and res.effect == pytest.approx(np.median(auc[:30]) - 0.5)
    assert res.statistic == 465.0  # every difference positive: sum of ranks 1..30
    assert res.rank_biserial == 1.0
    assert "wilcoxon" in res.test and res.to_dict()["alternative"] == "two-sided"


def test_tests_are_two_sided_so_below_chance_is_significant():
    """A model whose per-unit AUC is below 0.5 on every unit is detected, with a negative direction."""
    auc = 0.5 - np.linspace(0.01, 0.2, 30)
    res = versus_chance(auc)
    assert res.p_value == pytest.approx(wilcoxon(auc - 0.5).pvalue) and res.p_value < 1e-6
    assert res.statistic == 0.0 and res.rank_biserial == -1.0
    worse = versus_baseline(auc, np.full(30, 0.5))
    assert worse.p_value < 1e-6 and worse.rank_biserial == -1.0 and worse.alternative == "two-sided"


def test_rank_biserial_by_hand():
    # differences +1, -2, +3 (a zero is dropped): ranks 1, 2, 3 -> R+ = 4, R- = 2
    res = versus_baseline(np.array([1.0, -2.0, 3.0, 0.0]), np.zeros(4))
    assert (res.statistic, res.rank_biserial, res.n) == (4.0, pytest.approx(2 / 6), 4)


def test_holm_adjustment_by_hand():
    # sorted p: 0.01 * 3 = 0.03, 0.02 * 2 = 0.04, 0.04 * 1 -> 0.04 (monotone); NaN stays NaN
    adj = holm([0.04, 0.01, np.nan, 0.02])
    np.testing.assert_allclose(adj, [0.04, 0.03, np.nan, 0.04])


def test_versus_chance_undefined_cases_are_reported():
    res = versus_chance(np.full(10, 0.5))
    assert np.isnan(res.p_value) and res.note == "all differences are zero"
    assert res.to_dict()["p_value"] is None
    assert versus_chance(np.full(3, np.nan)).n == 0


def test_versus_baseline_matches_scipy():
    rng = np.random.default_rng(0)
    base = rng.uniform(0.5, 0.7, 40)
    model = base + rng.normal(0.03, 0.02, 40)
    res = versus_baseline(model, base, metric="ap", over="recordings")
    ref = wilcoxon(model - base, alternative="greater")  # the greater side gives R+ as its statistic
    assert res.statistic == pytest.approx(ref.statistic)
    assert res.p_value == pytest.approx(wilcoxon(model - base).pvalue)
    assert res.effect == pytest.approx(np.median(model - base))
    assert res.comparison == "ap model - baseline, paired over recordings"
    with pytest.raises(SpikebridgeDataError):
        versus_baseline(model, base[:-1])


def test_adf_white_noise_vs_random_walk():
    rng = np.random.default_rng(0)
    noise = rng.normal(size=2000)
    walk = np.cumsum(rng.normal(size=2000))
    stationary, unit_root = adf_test(noise), adf_test(walk)
    assert stationary.p_value < 0.01 and unit_root.p_value > 0.1
    assert stationary.test == "augmented Dickey-Fuller" and stationary.n_obs + stationary.n_lags == 1999
    assert set(stationary.to_dict()["critical_values"]) == {"1%", "5%", "10%"}
    with pytest.raises(SpikebridgeDataError):
        adf_test(np.ones(50))


@pytest.mark.parametrize("regression", ["c", "ct", "n"])
def test_adf_lag_from_one_qr_is_the_lag_adfuller_selects_and_the_test_is_adfullers(regression):
    from statsmodels.tsa.stattools import adfuller
    from threadpoolctl import threadpool_limits

    from spikebridge.evaluation.stats import adf_lag

    rng = np.random.default_rng(3)
    e = rng.normal(size=1000)
    ar = np.zeros(1000)  # AR(3): the criteria pick a few lags, not 0 or the maximum
    for t in range(3, 1000):
        ar[t] = 0.5 * ar[t - 1] - 0.3 * ar[t - 2] + 0.2 * ar[t - 3] + e[t]
    with threadpool_limits(limits=1, user_api="blas"):
        for series in (ar, np.cumsum(e), rng.poisson(3.0, 600).astype(float)):
            for criterion in ("AIC", "BIC"):
                stat, p, lags, nobs, *_ = adfuller(series, regression=regression, autolag=criterion,
                                                   result_object=False)  # fmt: skip
                assert adf_lag(series, regression, criterion) == lags
                res = adf_test(series, regression=regression, autolag=criterion)
                assert (res.n_lags, res.n_obs) == (lags, nobs)
                assert res.statistic == pytest.approx(stat, rel=1e-9) and res.p_value == pytest.approx(
                    p, rel=1e-7
                )
        capped = adfuller(ar, 2, regression, "AIC", result_object=False)[2]
    assert adf_lag(ar, regression, "AIC", max_lags=2) == capped
    assert 0 < adf_lag(ar, regression, "AIC") < 21  # a real choice inside 0 .. 12 (1000 / 100)^(1/4) = 21
