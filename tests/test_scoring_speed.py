"""The point-estimate scoring path (matrix cells, ``n_boot=0``) against straightforward references.

Seeded synthetic predictions with many ties (probabilities rounded to a coarse grid) and without, in
float32 and float64: every point estimate must equal scikit-learn's AUC and AP, a direct Bernoulli
log-likelihood and a brute-force threshold search, to round-off.
"""

from __future__ import annotations

import numpy as np
import pytest
from sklearn.metrics import average_precision_score, roc_auc_score

from spikebridge.evaluation.metrics import choose_threshold, evaluate_predictions
from spikebridge.evaluation.ranking import positive_groups, rank_stats
from spikebridge.evaluation.result_types import EvaluationResult


def _cell(dtype, ties: bool, seed: int = 7, T: int = 3000, N: int = 6):
    rng = np.random.default_rng(seed)
    rates = np.linspace(0.01, 0.2, N)
    p_true = rates * (1 + 0.9 * np.sin(np.arange(2 * T) / 40.0))[:, None]  # (2T, N)
    spikes = rng.random((2 * T, N)) < p_true
    probs = np.clip(p_true * rng.lognormal(0, 0.4, p_true.shape), 1e-4, 0.99)
    if ties:
        probs = np.round(probs, 2) + 1e-3  # a few dozen distinct values: many tied cells
    probs = probs.astype(dtype)
    mask = np.ones(N, bool)
    mask[-1] = False  # a padding column, ignored everywhere
    return probs[T:], spikes[T:], probs[:T], spikes[:T], mask, rates


def _reference(probs, spikes, mask, eps=1e-6):
    """Per-unit and pooled AUC/AP (scikit-learn) and NLB bits per spike (direct sums), real units only."""
    p, y = probs[:, mask].astype(np.float64), spikes[:, mask]
    auc = [roc_auc_score(y[:, r], p[:, r]) for r in range(p.shape[1])]
    ap = [average_precision_score(y[:, r], p[:, r]) for r in range(p.shape[1])]
    q = np.clip(p, eps, 1 - eps)
    ll = (y * np.log(q) + (~y) * np.log(1 - q)).sum(axis=0)
    k = y.sum(axis=0)
    rate = np.clip(k / y.shape[0], eps, 1 - eps)
    null = k * np.log(rate) + (y.shape[0] - k) * np.log(1 - rate)
    bits = (ll - null).sum() / (k.sum() * np.log(2))
    pooled = (roc_auc_score(y.ravel(), p.ravel()), average_precision_score(y.ravel(), p.ravel()))
    return np.array(auc), np.array(ap), pooled, bits


def _youden(val_probs, val_spikes, mask):
    """Brute force: the highest threshold among those with the largest TPR - FPR."""
    p, y = val_probs[:, mask].astype(np.float64).ravel(), val_spikes[:, mask].ravel()
    t = np.unique(p)[::-1]  # every candidate, highest first
    pos, neg = np.sort(p[y]), np.sort(p[~y])
    j = (pos.size - np.searchsorted(pos, t)) / pos.size - (neg.size - np.searchsorted(neg, t)) / neg.size
    return t[int(np.argmax(j))]


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("ties", [True, False])
def test_matrix_path_equals_reference(dtype, ties):
    probs, spikes, val_probs, val_spikes, mask, rates = _cell(dtype, ties)
    res = evaluate_predictions(
        probs, spikes, mask, rates, None, val_probs, val_spikes, n_boot=0, curves=False
    )
    auc, ap, (auc_pooled, ap_pooled), bits = _reference(probs, spikes, mask)
    value = {m.name: m.value for m in res.metrics}
    assert value["roc_auc_pooled"] == pytest.approx(auc_pooled, rel=1e-12)
    assert value["ap_pooled"] == pytest.approx(ap_pooled, rel=1e-12)
    assert value["roc_auc_unit_mean"] == pytest.approx(auc.mean(), rel=1e-12)
    assert value["ap_unit_median"] == pytest.approx(np.median(ap), rel=1e-12)
    assert value["bits_per_spike_nlb_pooled"] == pytest.approx(bits, rel=1e-9)
    np.testing.assert_allclose(np.array(res.per_unit["roc_auc"])[mask], auc, rtol=1e-12)
    assert np.isnan(res.per_unit["roc_auc"][-1])
    assert res.threshold == _youden(val_probs, val_spikes, mask)
    assert res.roc_curve is None and res.pr_curve is None


def test_point_path_equals_influence_path():
    """Every scalar of n_boot=0 equals the influence path's point estimate (which n_boot > 0 takes)."""
    probs, spikes, val_probs, val_spikes, mask, rates = _cell(np.float32, ties=True, seed=3)
    fast = evaluate_predictions(
        probs, spikes, mask, rates, None, val_probs, val_spikes, n_boot=0, curves=False
    )
    slow = evaluate_predictions(
        probs, spikes, mask, rates, None, val_probs, val_spikes, n_boot=2, block_len=50
    )
    for a, b in zip(fast.metrics, slow.metrics, strict=True):
        assert a.name == b.name
        assert a.value == pytest.approx(b.value, rel=1e-12, nan_ok=True)
    assert fast.threshold == slow.threshold


def test_positive_groups_match_the_argsort_counts():
    rng = np.random.default_rng(0)
    scores = np.round(rng.random(500), 1)  # 11 distinct values
    labels = rng.random(500) < 0.3
    groups, full = positive_groups(scores, labels), rank_stats(scores, labels)
    assert groups.auc == pytest.approx(full.auc, rel=1e-14) and groups.ap == pytest.approx(full.ap, rel=1e-14)
    at = {v: i for i, v in enumerate(full.thresholds)}  # descending distinct values of all cells
    idx = [at[v] for v in groups.values]
    np.testing.assert_array_equal(groups.tp, full.tp[idx])
    np.testing.assert_array_equal(groups.fp, full.fp[idx])
    assert positive_groups(scores, np.zeros(500, bool)) is None


def test_threshold_on_ties_is_the_brute_force_one():
    probs, spikes, val_probs, val_spikes, mask, _ = _cell(np.float64, ties=True, seed=11)
    assert choose_threshold(val_probs, val_spikes, mask) == _youden(val_probs, val_spikes, mask)


def test_result_reads_back_from_its_dict_exactly():
    probs, spikes, val_probs, val_spikes, mask, rates = _cell(np.float64, ties=False, seed=5)
    res = evaluate_predictions(
        probs, spikes, mask, rates, None, val_probs, val_spikes, n_boot=5, block_len=50
    )
    back = EvaluationResult.from_dict(res.to_dict())
    assert back.to_dict() == res.to_dict()
    assert back.roc_curve.thresholds[0] == np.inf
    assert np.isnan(back.per_unit["ap"][-1])
