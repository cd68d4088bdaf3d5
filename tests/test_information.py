"""Bits per spike against the NLB null and the train-rate null, calibrated variants, exact bootstrap ratios."""

import math

import numpy as np
import pytest

from spikebridge.errors import SpikebridgeConfigError
from spikebridge.evaluation.bootstrap import BlockBootstrap
from spikebridge.evaluation.information import bits_per_spike
from spikebridge.evaluation.metrics import evaluate_predictions

LN2 = math.log(2)
# one unit, 4 test bins, one spike; the model says 0.5, 0.5, 0.1, 0.1; the train rate was 0.1
Y1 = np.array([[1], [0], [0], [0]], bool)
P1 = np.array([[0.5], [0.5], [0.1], [0.1]])
LL_MODEL = 2 * math.log(0.5) + 2 * math.log(0.9)


def test_nlb_null_is_the_test_mean_rate_by_hand():
    nlb, per_unit = bits_per_spike(P1, Y1, np.ones(1, bool), null="nlb")
    expected = (LL_MODEL - (math.log(0.25) + 3 * math.log(0.75))) / LN2  # test mean rate 1/4
    assert nlb == pytest.approx(expected) and per_unit[0] == pytest.approx(expected)
    train, _ = bits_per_spike(P1, Y1, np.ones(1, bool), np.array([0.1]), null="train")
    assert train == pytest.approx((LL_MODEL - (math.log(0.1) + 3 * math.log(0.9))) / LN2)
    assert train > nlb  # the train-rate null also pays for the change of rate between train and test


def test_pooled_sums_gains_over_units_and_skips_padding():
    y = np.array([[1, 0, 1], [0, 1, 1], [0, 0, 0], [0, 1, 0]], bool)
    p = np.array([[0.6, 0.2, 0.9], [0.2, 0.7, 0.9], [0.1, 0.2, 0.9], [0.1, 0.6, 0.9]])
    mask = np.array([True, True, False])  # column 2 is padding

    def gain(col, k):  # model log-likelihood minus the test-mean null, nats
        ll = sum(math.log(q if s else 1 - q) for q, s in zip(p[:, col], y[:, col], strict=True))
        r = k / 4
        return ll - (k * math.log(r) + (4 - k) * math.log(1 - r))

    pooled, per_unit = bits_per_spike(p, y, mask)
    assert pooled == pytest.approx((gain(0, 1) + gain(1, 2)) / (3 * LN2))
    assert per_unit[0] == pytest.approx(gain(0, 1) / LN2) and per_unit[1] == pytest.approx(
        gain(1, 2) / (2 * LN2)
    )
    assert np.isnan(per_unit[2])


def test_constant_rate_models_cannot_beat_the_nlb_null():
    rng = np.random.default_rng(0)
    y = rng.random((5000, 3)) < [0.02, 0.05, 0.1]
    train = np.array([0.03, 0.05, 0.08])
    nlb, _ = bits_per_spike(np.tile(train, (5000, 1)), y, np.ones(3, bool), null="nlb")
    own, _ = bits_per_spike(np.tile(train, (5000, 1)), y, np.ones(3, bool), train, null="train")
    assert nlb < 0 and own == pytest.approx(0.0, abs=1e-12)
    with pytest.raises(SpikebridgeConfigError, match="train_rates"):
        bits_per_spike(P1, Y1, np.ones(1, bool), null="train")
    with pytest.raises(SpikebridgeConfigError, match="null must be one of"):
        bits_per_spike(P1, Y1, np.ones(1, bool), null="poisson")


def _evaluate(p, y, mask, **kw):
    kw = {"threshold": 0.5, "n_boot": 0, "block_len": 2, **kw}
    return evaluate_predictions(p, y, mask, np.full(mask.size, 0.1), **kw)


def test_evaluation_reports_both_nulls_of_the_uncalibrated_probabilities():
    res = _evaluate(P1, Y1, np.ones(1, bool), calibration="none")
    nlb, _ = bits_per_spike(P1, Y1, np.ones(1, bool), null="nlb")
    train, _ = bits_per_spike(P1, Y1, np.ones(1, bool), np.array([0.1]), null="train")
    assert res.metric("bits_per_spike_nlb_pooled").value == pytest.approx(nlb)
    assert res.metric("bits_per_spike_nlb_unit_mean").value == pytest.approx(nlb)
    assert res.metric("bits_per_spike_train_pooled").value == pytest.approx(train)
    assert res.bits_source == "model probabilities, uncalibrated"
    assert res.per_unit["bits_per_spike"][0] == pytest.approx(nlb)


# validation: scores 0.1, 0.2, 0.3, 0.4 with spikes at 0.2 and 0.4 -> isotonic map 0, 1/2, 1/2, 1
VAL_S = np.array([[0.1], [0.2], [0.3], [0.4]])
VAL_Y = np.array([[0], [1], [0], [1]], bool)
TEST_S = np.array([[0.2], [0.3], [0.4], [0.2], [0.1]])
TEST_Y = np.array([[1], [0], [1], [0], [0]], bool)


def test_scores_that_are_not_probabilities_are_calibrated_on_validation_by_hand():
    res = _evaluate(TEST_S, TEST_Y, np.ones(1, bool), val_probs=VAL_S, val_targets=VAL_Y, probabilistic=False)
    eps = 1e-6
    ll = math.log(0.5) + math.log(0.5) + math.log(1 - eps) + math.log(0.5) + math.log(1 - eps)
    null = 2 * math.log(0.4) + 3 * math.log(0.6)
    assert res.metric("bits_per_spike_nlb_pooled").value == pytest.approx((ll - null) / (2 * LN2))
    assert res.bits_source.startswith("scores calibrated on the validation part (isotonic, one map")


def test_calibrated_variants_one_map_and_unit_maps_by_hand():
    # unit 1's scores mean the opposite of unit 0's; 100 copies give each unit enough validation spikes
    # for its own map. Unit 0's map is 0, 1/2, 1/2, 1 as above; unit 1's increasing map is 1/2 flat, and
    # one map for both units sees one spike in two bins at every score: 1/2 everywhere.
    val_s, val_y = np.tile(np.hstack([VAL_S, VAL_S]), (100, 1)), np.tile(np.hstack([VAL_Y, ~VAL_Y]), (100, 1))
    test_s, test_y = np.hstack([TEST_S, TEST_S]), np.hstack([TEST_Y, ~TEST_Y])
    res = evaluate_predictions(
        test_s, test_y, np.ones(2, bool), np.full(2, 0.5), 0.5, val_s, val_y, n_boot=0, block_len=2,
        calibrated=("one_map", "unit_maps"), probabilistic=False,
    )  # fmt: skip
    eps = 1e-6
    null = (2 * math.log(0.4) + 3 * math.log(0.6)) + (3 * math.log(0.6) + 2 * math.log(0.4))
    one = (10 * math.log(0.5) - null) / (5 * LN2)
    unit = (3 * math.log(0.5) + 2 * math.log(1 - eps) + 5 * math.log(0.5) - null) / (5 * LN2)
    assert res.metric("bits_per_spike_nlb_cal_one_map").value == pytest.approx(one)
    assert res.metric("bits_per_spike_nlb_cal_unit_maps").value == pytest.approx(unit)
    assert res.metric("bits_per_spike_nlb_pooled").value == pytest.approx(one)  # the headline uses one map


def test_bootstrap_replicates_of_bits_are_exact_ratios():
    """With one resample the interval is its replicate: bits/spike recomputed on the resampled bins, the
    null rates held at their values on the whole test part."""
    rng = np.random.default_rng(3)
    T = 3000
    rate = 0.05 * (1 + np.sin(np.arange(T) / 150.0))[:, None] * np.ones((1, 3))
    y = rng.random((T, 3)) < rate
    p = np.clip(rate + rng.normal(0, 0.01, rate.shape), 1e-3, 1)
    train = np.array([0.04, 0.05, 0.06])
    for seed in (0, 1):
        res = evaluate_predictions(p, y, np.ones(3, bool), train, 0.1, n_boot=1, block_len=300, seed=seed)
        idx = BlockBootstrap(T, block_len=300, n_boot=1, seed=seed).indices(0)
        for null, rates in (("nlb", y.mean(axis=0)), ("train", train)):
            exact, _ = bits_per_spike(p[idx], y[idx], np.ones(3, bool), rates, null="train")
            assert res.metric(f"bits_per_spike_{null}_pooled").ci_low == pytest.approx(exact, rel=1e-9)


def test_interval_of_a_constant_rate_model_contains_its_estimate():
    """Re-estimating the NLB null per resample would push every replicate below the estimate."""
    rng = np.random.default_rng(5)
    y = rng.random((20000, 20)) < np.linspace(0.01, 0.05, 20)
    p = np.tile(np.linspace(0.012, 0.048, 20), (20000, 1))  # close to, not at, the test rates
    res = evaluate_predictions(p, y, np.ones(20, bool), p[0], 0.1, n_boot=100, block_len=1000, seed=1)
    m = res.metric("bits_per_spike_nlb_pooled")
    assert m.value < 0 and m.ci_low <= m.value <= m.ci_high
