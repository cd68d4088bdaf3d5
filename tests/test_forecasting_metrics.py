"""Forecasting and classification metrics against hand-computed values."""

from __future__ import annotations

import numpy as np
import pytest

from spikebridge.evaluation.forecasting import (
    classification_metrics,
    codebook_usage,
    derivative_normalise,
    mae,
    mse,
    pearson,
    per_neuron_means,
    smape,
    ssim,
    summarise,
    summarise_classification,
    trace_metrics,
)

Y = np.array([[1.0, 2.0, 3.0, 4.0]])
P = np.array([[2.0, 2.0, 1.0, 4.0]])


def test_mse_mae_smape_by_hand():
    assert mse(P, Y)[0] == pytest.approx((1 + 0 + 4 + 0) / 4)
    assert mae(P, Y)[0] == pytest.approx((1 + 0 + 2 + 0) / 4)
    # 2|p - y| / (|p| + |y|): 2/3, 0, 4/4, 0
    assert smape(P, Y)[0] == pytest.approx((2 / 3 + 0 + 1 + 0) / 4)
    assert smape(np.zeros((1, 3)), np.zeros((1, 3)))[0] == 0.0  # 0/0 terms count as perfect
    assert smape(np.array([[1.0, -1.0]]), np.array([[-1.0, 1.0]]))[0] == pytest.approx(2.0)  # the maximum


def test_pearson_is_signed_and_handles_constant_traces():
    y = np.array([[1.0, 2.0, 3.0, 4.0], [1.0, 2.0, 3.0, 4.0], [2.0, 2.0, 2.0, 2.0], [1.0, 3.0, 2.0, 4.0]])
    p = np.array([[2.0, 4.0, 6.0, 8.0], [4.0, 3.0, 2.0, 1.0], [1.0, 2.0, 3.0, 4.0], [5.0, 5.0, 5.0, 5.0]])
    r = pearson(p, y)
    assert r[0] == pytest.approx(1.0)
    assert r[1] == pytest.approx(-1.0)  # anti-correlated: -1, never |r|
    assert np.isnan(r[2])  # the recorded trace is flat: undefined
    assert r[3] == 0.0  # a flat forecast explains nothing
    # a hand-computed intermediate value: y = (1, 3, 2, 4), p = (1, 2, 4, 3)
    # centred: y (-1.5, .5, -.5, 1.5), p (-1.5, -.5, 1.5, .5); sum of products = 2.25 - .25 - .75 + .75 = 2
    assert pearson(np.array([[1.0, 2.0, 4.0, 3.0]]), y[3:])[0] == pytest.approx(2.0 / 5.0)


def test_ssim_by_hand_on_one_window():
    y = np.array([[0.0, 1.0, 2.0]])
    p = np.array([[0.0, 1.0, 1.0]])
    # one window of 3: mu_y = 1, mu_p = 2/3, var_y = 1, var_p = 1/3, cov = 1/2 (sample, ddof 1), R = 2
    c1, c2 = (0.01 * 2) ** 2, (0.03 * 2) ** 2
    expected = ((2 * 1 * (2 / 3) + c1) * (2 * 0.5 + c2)) / ((1 + 4 / 9 + c1) * (1 + 1 / 3 + c2))
    assert ssim(p, y, window=3)[0] == pytest.approx(expected)
    assert ssim(y, y)[0] == pytest.approx(1.0)
    assert np.isnan(ssim(y, np.ones((1, 3)))[0])


def test_derivative_normalisation_and_constant_forecasts():
    x = np.array([[1.0, 3.0, 2.0], [5.0, 5.0, 5.0]])
    out = derivative_normalise(x)
    assert np.allclose(out[0], [1 / 3, 1.0, 2 / 3])  # sum |diff| = 2 + 1 = 3
    assert np.all(np.isnan(out[1]))
    flat = np.full((1, 4), 2.5)
    norm = trace_metrics(flat, Y, normalised=True)
    raw = trace_metrics(flat, Y)
    assert all(np.isnan(v[0]) for v in norm.values())  # a constant forecast cannot be normalised
    assert raw["mse"][0] == pytest.approx(np.mean((2.5 - Y) ** 2))
    norm_same = trace_metrics(Y * 3.0, Y, normalised=True)
    assert norm_same["mse"][0] == pytest.approx(0.0)  # scale disappears after normalisation


def test_classification_metrics_by_hand():
    y = np.array([1, 1, 1, 0, 0, 0, 0, 0], dtype=bool)
    p = np.array([1, 1, 0, 1, 0, 0, 0, 0], dtype=bool)
    m = classification_metrics(p, y)
    # TP 2, FN 1, FP 1, TN 4: TPR 2/3, TNR 4/5, precision 2/3, recall 2/3
    assert m["balanced_accuracy"] == pytest.approx((2 / 3 + 4 / 5) / 2)
    assert m["precision"] == pytest.approx(2 / 3)
    assert m["recall"] == pytest.approx(2 / 3)
    assert m["f1"] == pytest.approx(2 / 3)
    s = summarise_classification(p, y, neuron=np.array([0, 1, 2, 3, 0, 1, 2, 3]), n_boot=200, seed=1)
    assert s["balanced_accuracy"].value == pytest.approx(m["balanced_accuracy"])
    assert s["f1"].ci_low <= s["f1"].value <= s["f1"].ci_high


def test_summaries_over_neurons():
    values = np.array([1.0, 3.0, np.nan, 10.0, 20.0])
    neuron = np.array([0, 0, 1, 2, 2])
    assert np.allclose(per_neuron_means(values, neuron, 4), [2.0, np.nan, 15.0, np.nan], equal_nan=True)
    s = summarise(values, neuron, n_boot=500, seed=0)
    assert s.value == pytest.approx(34.0 / 4) and s.n == 4 and s.n_undefined == 1
    assert s.ci_low <= s.value <= s.ci_high
    assert s == summarise(values, neuron, n_boot=500, seed=0)  # seeded: identical intervals
    # resampling whole neurons: every replicate mean lies between neuron 0's and neuron 2's means
    assert 2.0 <= s.ci_low and s.ci_high <= 15.0


def test_codebook_usage():
    use = codebook_usage(np.array([[0, 0, 1, 1]]), codebook_size=4)
    assert use.counts == (2, 2, 0, 0) and use.dead_codes == 2
    assert use.perplexity == pytest.approx(2.0)
    assert codebook_usage(np.arange(8) % 4, 4).perplexity == pytest.approx(4.0)
