"""Exact expectations for spikebridge.evaluation.metrics and .bootstrap."""

import json
import math

import numpy as np
import pytest
from sklearn.metrics import average_precision_score, roc_auc_score

from spikebridge.errors import SpikebridgeConfigError, SpikebridgeProtocolError
from spikebridge.evaluation.bootstrap import BlockBootstrap, percentile_interval, segment_sums
from spikebridge.evaluation.metrics import (
    bits_per_spike,
    chance_level,
    check_disjoint,
    choose_threshold,
    evaluate_predictions,
    per_unit_average_precision,
    per_unit_roc_auc,
    pooled_average_precision,
    pooled_curves,
    pooled_roc_auc,
    rates_at_threshold,
)
from spikebridge.evaluation.ranking import rank_stats


def _data(T=4000, N=5, seed=0, rate=0.05):
    rng = np.random.default_rng(seed)
    y = rng.random((T, N)) < rate
    p = np.clip(rate + 0.1 * y + rng.normal(0, 0.08, (T, N)), 0, 1).round(2)  # rounding makes ties
    return p, y, np.ones(N, bool)


def test_perfect_inverted_constant_predictors():
    p, y, mask = _data()
    perfect = y.astype(float)
    assert pooled_roc_auc(perfect, y, mask) == 1.0
    assert pooled_average_precision(perfect, y, mask) == 1.0
    np.testing.assert_array_equal(per_unit_roc_auc(perfect, y, mask), 1.0)
    np.testing.assert_array_equal(per_unit_average_precision(perfect, y, mask), 1.0)
    assert pooled_roc_auc(1.0 - perfect, y, mask) == 0.0
    np.testing.assert_array_equal(per_unit_roc_auc(1.0 - perfect, y, mask), 0.0)
    const = np.full(y.shape, 0.3)
    assert pooled_roc_auc(const, y, mask) == 0.5
    pooled_chance, unit_chance = chance_level(y, mask)
    assert pooled_average_precision(const, y, mask) == pytest.approx(pooled_chance, abs=1e-12)
    np.testing.assert_allclose(per_unit_average_precision(const, y, mask), unit_chance)


def test_random_predictor_is_near_half():
    rng = np.random.default_rng(1)
    y = rng.random((40000, 4)) < 0.05
    p = rng.random(y.shape)
    assert abs(pooled_roc_auc(p, y, np.ones(4, bool)) - 0.5) < 0.015
    assert abs(pooled_average_precision(p, y, np.ones(4, bool)) - y.mean()) < 0.005


def test_matches_sklearn_with_ties_and_padding():
    p, y, mask = _data(N=6)
    mask[2] = False
    real = np.flatnonzero(mask)
    assert pooled_roc_auc(p, y, mask) == pytest.approx(roc_auc_score(y[:, real].ravel(), p[:, real].ravel()))
    assert pooled_average_precision(p, y, mask) == pytest.approx(
        average_precision_score(y[:, real].ravel(), p[:, real].ravel())
    )
    auc, ap = per_unit_roc_auc(p, y, mask), per_unit_average_precision(p, y, mask)
    assert np.isnan(auc[2]) and np.isnan(ap[2])
    for n in real:
        assert auc[n] == pytest.approx(roc_auc_score(y[:, n], p[:, n]))
        assert ap[n] == pytest.approx(average_precision_score(y[:, n], p[:, n]))


def test_pooled_differs_from_per_unit_for_rate_predictor():
    # unit 0 spikes in 5 of 10 bins, unit 1 in 1 of 10; the rate predictor says 0.5 and 0.1.
    y = np.zeros((10, 2), bool)
    y[:5, 0] = True
    y[0, 1] = True
    p = np.tile([0.5, 0.1], (10, 1))
    mask = np.ones(2, bool)
    np.testing.assert_array_equal(per_unit_roc_auc(p, y, mask), [0.5, 0.5])
    # pairs: 5 pos@0.5 beat 9 neg@0.1 (45), tie 5 neg@0.5 (12.5); 1 pos@0.1 ties 9 neg@0.1 (4.5) -> 62 / 84
    assert pooled_roc_auc(p, y, mask) == pytest.approx(31 / 42, abs=1e-15)


def test_unscored_units_are_counted_not_dropped():
    p, y, mask = _data(T=3000, N=5, seed=2)
    y[1500:, 1] = False  # unit 1: no test spike
    y[1500:, 3] = True  # unit 3: spikes in every test bin
    mask[4] = False
    res = evaluate_predictions(
        p[1500:],
        y[1500:],
        mask,
        y[:1500].mean(0),
        0.1,
        p[:1500],
        y[:1500],
        calibration="none",
        n_boot=20,
        block_len=100,
    )
    auc = np.array(res.per_unit["roc_auc"])
    assert np.isnan(auc[[1, 3, 4]]).all() and np.isfinite(auc[[0, 2]]).all()
    summary = next(s for s in res.summaries if s.metric == "roc_auc")
    assert (summary.n_units, summary.n_scored, summary.n_no_spike, summary.n_no_nonspike) == (4, 2, 1, 1)


def test_rates_at_threshold_by_hand():
    y = np.array([[1, 0], [1, 0], [0, 1], [0, 0]], bool)
    p = np.array([[0.9, 0.2], [0.4, 0.6], [0.7, 0.1], [0.1, 0.3]])
    # spikes: 0.9 (hit), 0.4 (miss), 0.1 (miss) -> TPR 1/3; non-spikes: 0.2, 0.6, 0.7, 0.3, 0.1 -> TNR 3/5
    tpr, tnr = rates_at_threshold(p, y, np.ones(2, bool), 0.5)
    assert (tpr, tnr) == (pytest.approx(1 / 3), pytest.approx(3 / 5))
    # padding column 1 ignored: spikes 0.9, 0.4 -> 1/2; non-spikes 0.7, 0.1 -> 1/2
    assert rates_at_threshold(p, y, np.array([True, False]), 0.5) == (0.5, 0.5)


def test_choose_threshold_youden():
    y = np.array([[0], [0], [0], [1], [1]], bool)
    p = np.array([[0.1], [0.2], [0.3], [0.6], [0.8]])
    assert choose_threshold(p, y, np.ones(1, bool)) == 0.6
    assert choose_threshold(p, y, np.ones(1, bool), rule="f1") == 0.6


def test_bits_per_spike_rate_model_is_zero_and_by_hand():
    p, y, mask = _data()
    rates = y.mean(axis=0)  # here the train rate is also the test rate
    for null in ("nlb", "train"):
        pooled, per_unit = bits_per_spike(np.tile(rates, (y.shape[0], 1)), y, mask, rates, null=null)
        assert pooled == pytest.approx(0.0, abs=1e-12) and np.allclose(per_unit, 0.0, atol=1e-12)
    y1 = np.array([[1], [0], [0], [0]], bool)
    p1 = np.array([[0.5], [0.5], [0.1], [0.1]])
    expected = (2 * math.log(0.5) + 2 * math.log(0.9) - math.log(0.25) - 3 * math.log(0.75)) / math.log(2)
    pooled, per_unit = bits_per_spike(p1, y1, np.ones(1, bool), np.array([0.25]), null="train")
    assert pooled == pytest.approx(expected) and per_unit[0] == pytest.approx(expected)


def test_leak_guard():
    check_disjoint((0.0, 300.0), (300.0, 450.0))  # touching half-open spans are fine
    check_disjoint((150.0, 450.0), (0.0, 150.0))
    with pytest.raises(SpikebridgeProtocolError):
        check_disjoint((0.0, 300.0), (299.999, 450.0))
    with pytest.raises(SpikebridgeProtocolError):
        check_disjoint((0.0, 450.0), (300.0, 450.0))
    p, y, mask = _data(T=500)
    with pytest.raises(SpikebridgeProtocolError):
        evaluate_predictions(
            p, y, mask, y.mean(0), 0.1, calibration="none", train_span=(0, 300), test_span=(200, 450)
        )


def test_influence_values_match_weighted_sklearn():
    p, y, _ = _data(T=3000, N=1, seed=3)
    s, lab = p.ravel(), y.ravel()
    stats = rank_stats(s, lab)
    assert abs(stats.infl_auc.sum()) < 1e-12 and abs(stats.infl_ap.sum()) < 1e-12
    v = np.random.default_rng(4).normal(size=s.size)
    for delta in (1e-3, 1e-4):
        w = 1.0 + delta * v
        lin_auc, lin_ap = stats.auc + delta * v @ stats.infl_auc, stats.ap + delta * v @ stats.infl_ap
        assert abs(roc_auc_score(lab, s, sample_weight=w) - lin_auc) < 50 * delta**2
        assert abs(average_precision_score(lab, s, sample_weight=w) - lin_ap) < 50 * delta**2


def test_bootstrap_interval_contains_estimate_and_is_seeded():
    p, y, mask = _data(T=6000, N=4, seed=5)
    kw = dict(calibration="isotonic", n_boot=100, block_len=200, val_probs=p[:2000], val_targets=y[:2000])
    a = evaluate_predictions(p[2000:], y[2000:], mask, y[:2000].mean(0), None, seed=7, **kw)
    b = evaluate_predictions(p[2000:], y[2000:], mask, y[:2000].mean(0), None, seed=7, **kw)
    c = evaluate_predictions(p[2000:], y[2000:], mask, y[:2000].mean(0), None, seed=8, **kw)
    assert a.to_rows() == b.to_rows() and a.to_rows() != c.to_rows()
    for m in a.metrics:
        assert m.ci_low <= m.value <= m.ci_high, m
    assert a.metric("roc_auc_pooled").value == pytest.approx(pooled_roc_auc(p[2000:], y[2000:], mask))
    assert a.threshold_source == "validation:youden" and a.calibration == "isotonic"
    json.dumps(a.to_dict(), allow_nan=False)
    assert {"metric", "value", "ci_low", "ci_high"} == set(a.to_rows()[0])


def test_evaluate_needs_validation_for_threshold_and_calibration():
    p, y, mask = _data(T=500)
    with pytest.raises(SpikebridgeConfigError):
        evaluate_predictions(p, y, mask, y.mean(0), None, calibration="none")
    with pytest.raises(SpikebridgeConfigError, match="pass val_probs"):
        evaluate_predictions(p, y, mask, y.mean(0), 0.1, probabilistic=False)
    with pytest.raises(SpikebridgeConfigError, match="pass val_probs"):
        evaluate_predictions(p, y, mask, y.mean(0), 0.1, calibrated=("unit_maps",))
    with pytest.raises(SpikebridgeConfigError, match="not 'none'"):
        evaluate_predictions(p, y, mask, y.mean(0), 0.1, p, y, calibration="none", probabilistic=False)
    with pytest.raises(SpikebridgeConfigError, match="calibrated variants"):
        evaluate_predictions(p, y, mask, y.mean(0), 0.1, p, y, calibrated=("per_unit",))


def test_curves_are_downsampled_and_match_sklearn_ends():
    rng = np.random.default_rng(6)
    y = rng.random((20000, 3)) < 0.1
    p = rng.random(y.shape) + 0.3 * y
    roc, pr = pooled_curves(p, y, np.ones(3, bool), max_points=500)
    assert len(roc.x) <= 502 and len(pr.x) <= 502
    assert (roc.x[0], roc.y[0], roc.x[-1], roc.y[-1]) == (0.0, 0.0, 1.0, 1.0)
    assert pr.x[-1] == 1.0 and pr.y[-1] == pytest.approx(y.mean())
    assert np.trapezoid(roc.y, roc.x) == pytest.approx(roc_auc_score(y.ravel(), p.ravel()), abs=2e-3)


def test_block_bootstrap_weights():
    boot = BlockBootstrap(n_bins=2050, block_len=100, n_boot=50, seed=3)
    w = boot.segment_weights()
    assert w.shape == (50, boot.n_segments) and boot.segment_len == 10
    sizes = np.bincount(boot.segment_ids())
    np.testing.assert_allclose(w @ sizes, 2050)
    np.testing.assert_array_equal(w, BlockBootstrap(2050, 100, 50, seed=3).segment_weights())
    assert not np.array_equal(w, BlockBootstrap(2050, 100, 50, seed=4).segment_weights())
    assert boot.indices(0).size == int(boot.segment_counts()[0] @ sizes)
    np.testing.assert_array_equal(segment_sums(np.ones(25), 10), [10, 10, 5])
    low, high = percentile_interval(np.arange(101.0), 0.9)
    assert (low, high) == (pytest.approx(5.0), pytest.approx(95.0))


def test_zero_resamples_gives_point_estimates_only():
    p, y, mask = _data(T=2000)
    res = evaluate_predictions(p, y, mask, y.mean(0), 0.1, calibration="none", n_boot=0)
    row = res.to_rows()[0]
    assert row["metric"] == "roc_auc_pooled" and row["ci_low"] is None and row["ci_high"] is None
    assert row["value"] == pytest.approx(pooled_roc_auc(p, y, mask))


def test_linearised_bootstrap_tracks_exact_resampling():
    """AUC/AP replicates from influence values agree with recomputing sklearn on the resampled bins."""
    rng = np.random.default_rng(9)
    T = 6000
    drive = np.convolve(rng.normal(size=T), np.ones(50) / 7, mode="same")  # slow shared fluctuation
    prob = 1 / (1 + np.exp(-(-3.0 + drive[:, None] + rng.normal(0, 0.5, (T, 2)))))
    y = rng.random((T, 2)) < prob
    s, lab = prob.ravel(), y.ravel()
    boot = BlockBootstrap(T, block_len=300, n_boot=60, seed=1)
    stats = rank_stats(s, lab)
    weights = boot.segment_weights()
    lin_auc = stats.auc + weights @ segment_sums(stats.infl_auc.reshape(T, 2).sum(1), boot.segment_len)
    lin_ap = stats.ap + weights @ segment_sums(stats.infl_ap.reshape(T, 2).sum(1), boot.segment_len)
    exact_auc, exact_ap = [], []
    for b in range(boot.n_boot):
        idx = boot.indices(b)
        exact_auc.append(roc_auc_score(y[idx].ravel(), prob[idx].ravel()))
        exact_ap.append(average_precision_score(y[idx].ravel(), prob[idx].ravel()))
    assert np.corrcoef(lin_auc, exact_auc)[0, 1] > 0.95
    assert np.corrcoef(lin_ap, exact_ap)[0, 1] > 0.95
    assert np.std(lin_auc) == pytest.approx(np.std(exact_auc), rel=0.25)


def test_validation_auc_metrics_match_scikit_learn_with_ties_padding_and_silent_units():
    from spikebridge.training.module import auc_metrics

    rng = np.random.default_rng(3)
    probs = np.round(rng.random((400, 6)), 1).astype(np.float32)  # many ties
    targets = (rng.random((400, 6)) < 0.2 + 0.3 * probs).astype(np.float32)
    targets[:, 1] = 0  # a real unit without a spike: skipped
    mask = np.array([True, True, True, True, True, False])  # last column is padding
    out = auc_metrics(probs, targets, mask)
    y, p = targets[:, mask].astype(bool), probs[:, mask]
    expected_units = [roc_auc_score(y[:, i], p[:, i]) for i in (0, 2, 3, 4)]
    assert out["val_auc"] == pytest.approx(roc_auc_score(y.ravel(), p.ravel()), abs=1e-12)
    assert out["val_auc_unit_mean"] == pytest.approx(np.mean(expected_units), abs=1e-12)
    assert (out["n_units_scored"], out["n_units_skipped"]) == (4, 1)
