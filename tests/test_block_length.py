"""The bootstrap block length is chosen from the data: checked on populations with a known correlation time."""

from __future__ import annotations

import numpy as np
import pytest
from scipy.signal import lfilter

from spikebridge.errors import SpikebridgeConfigError
from spikebridge.evaluation.bootstrap import (
    autocorrelation,
    block_length_from_counts,
    choose_block_length,
    first_persistent_lag,
)

N_UNITS, P0, S = 50, 0.02, 1.0  # population size, mean spike probability per bin, log-rate modulation


def ar1_population(tau_bins: float, n_bins: int, seed: int) -> np.ndarray:
    """Population count per bin of N_UNITS Bernoulli units driven by one log-normal AR(1) rate.

    ``x`` is a unit-variance AR(1) with coefficient ``phi = exp(-1 / tau_bins)``, the common spike
    probability is ``P0 * exp(S x - S**2 / 2)`` (mean P0), and units are independent given it, so the
    count is Binomial(N_UNITS, p_t).
    """
    rng = np.random.default_rng(seed)
    phi = np.exp(-1.0 / tau_bins)
    x0 = rng.normal()  # start in the stationary distribution
    x = lfilter([np.sqrt(1 - phi**2)], [1, -phi], rng.normal(size=n_bins), zi=[phi * x0])[0]
    p = np.clip(P0 * np.exp(S * x - S**2 / 2), 0, 1)
    return rng.binomial(N_UNITS, p)


def true_crossing(tau_bins: float, window: int, threshold: float = 0.1) -> float:
    """First lag (bins, on the window grid) where the exact autocorrelation of window sums < threshold."""
    phi = np.exp(-1.0 / tau_bins)

    def gamma(lag):  # autocovariance of the per-bin count
        lag = np.abs(lag)
        cov = N_UNITS**2 * P0**2 * (np.exp(S**2 * phi**lag) - 1)
        noise = N_UNITS * (P0 - P0**2 * np.exp(S**2))
        return np.where(lag == 0, cov + noise, cov)

    d = np.arange(-(window - 1), window)

    def window_cov(m):
        return float(np.sum((window - np.abs(d)) * gamma(m * window + d)))

    var = window_cov(0)
    m = 1
    while window_cov(m) / var >= threshold:
        m += 1
    return m * window


@pytest.mark.parametrize(("tau_s", "seed"), [(0.8, 1), (2.0, 2)])
def test_block_matches_the_known_correlation_time(tau_s, seed):
    bin_size, n_bins = 1e-3, 4_000_000  # 1 ms bins, 4000 s
    counts = ar1_population(tau_s / bin_size, n_bins, seed)
    block = block_length_from_counts(counts, bin_size, max_fraction=0.01, source="simulated")
    expected = true_crossing(tau_s / bin_size, window=100) * bin_size
    assert block.limited_by == "autocorrelation" and block.source == "simulated"
    assert block.seconds == pytest.approx(expected, rel=0.25)
    assert block.bins == round(block.seconds / bin_size) and block.acf_lag_s == block.seconds
    assert expected > 1.0  # the 1 s minimum did not decide


def test_minimum_maximum_and_constant():
    rng = np.random.default_rng(0)
    iid = rng.poisson(3.0, size=100_000)  # no correlation: the 1 s minimum decides
    short = block_length_from_counts(iid, 1e-3)
    assert (short.bins, short.limited_by) == (1000, "minimum") and short.acf_lag_s == pytest.approx(0.1)
    ramp = np.repeat(np.arange(100), 1000).astype(float)  # correlated over the whole series
    long = block_length_from_counts(ramp, 1e-3, max_fraction=0.1)
    assert (long.bins, long.limited_by) == (10_000, "maximum") and np.isnan(long.acf_lag_s)
    assert "still >= 0.1" in long.describe()
    flat = block_length_from_counts(np.zeros(5000), 1e-3)
    assert (flat.bins, flat.limited_by) == (1000, "constant") and flat.to_dict()["acf_lag_s"] is None
    with pytest.raises(SpikebridgeConfigError, match="threshold"):
        block_length_from_counts(iid, 1e-3, threshold=1.5)


def test_autocorrelation_by_hand():
    x = np.array([1.0, -1.0, 1.0, -1.0])  # mean 0: acov(k) = sum x_t x_{t+k} / sum x^2
    np.testing.assert_allclose(autocorrelation(x, 3), [1.0, -0.75, 0.5, -0.25])
    assert np.isnan(autocorrelation(np.ones(4), 2)).all()


def test_choose_block_length_uses_real_units_only():
    rng = np.random.default_rng(1)
    raster = np.zeros((40_000, 3), dtype=bool)
    raster[:, :2] = rng.random((40_000, 2)) < 0.05  # independent bins: the 1 s minimum
    raster[:, 2] = np.arange(40_000) < 20_000  # a slow step in a padding column
    block = choose_block_length(raster, np.array([True, True, False]), 1e-3)
    assert (block.limited_by, block.bins) == ("minimum", 1000)
    assert choose_block_length(raster, np.ones(3, bool), 1e-3).limited_by == "maximum"


def test_a_single_dip_below_the_threshold_does_not_end_the_correlation():
    acf = np.array([1.0, 0.5, 0.3, 0.08, 0.2, 0.15, 0.09, 0.05, 0.04, 0.03])
    assert first_persistent_lag(acf, 0.1, run=1) == 3  # the dip at lag 3
    assert first_persistent_lag(acf, 0.1, run=3) == 6  # stays below from lag 6 on
    assert first_persistent_lag(acf[:8], 0.1, run=5) == 6  # cut short by the last lag examined
    assert first_persistent_lag(np.array([1.0, 0.5, 0.4]), 0.1, run=2) is None


def test_evaluation_chooses_the_block_from_the_test_targets_by_default():
    from spikebridge.evaluation.metrics import evaluate_predictions

    counts = ar1_population(800.0, 120_000, seed=4)  # 120 s of 1 ms bins
    y = np.zeros((counts.size, 2), dtype=bool)
    y[:, 0] = counts > np.median(counts)  # a unit that follows the slow rate
    y[::7, 1] = True
    p = np.full(y.shape, 0.3)
    res = evaluate_predictions(p, y, np.ones(2, bool), y.mean(0), 0.5, n_boot=5)
    expected = choose_block_length(y, np.ones(2, bool), 1e-3, source="test targets")
    assert res.bootstrap["block_len"] == expected.bins > 1000
    assert (
        res.bootstrap["block_choice"] == expected.to_dict() and res.bootstrap["block_s"] == expected.seconds
    )
    fixed = evaluate_predictions(p, y, np.ones(2, bool), y.mean(0), 0.5, n_boot=5, block_len=500)
    assert fixed.bootstrap["block_len"] == 500 and fixed.bootstrap["block_choice"] is None
