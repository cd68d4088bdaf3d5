"""Contract and behaviour of the non-neural baselines."""

import pickle

import numpy as np
import pytest

from spikebridge.baselines import CoupledGLMBaseline, OwnHistoryBaseline, RateBaseline
from spikebridge.errors import SpikebridgeConfigError, SpikebridgeDataError
from spikebridge.evaluation.metrics import per_unit_roc_auc

FAST_GLM = dict(max_rows=20_000, n_jobs=1)


def _planted(T=30000, seed=0):
    """Unit 0 fires at 3 %; unit 1 fires one bin after unit 0 with probability 0.8 (and never otherwise);
    unit 2 fires at 2 %; unit 3 is silent; unit 4 is padding."""
    rng = np.random.default_rng(seed)
    r = np.zeros((T, 5), bool)
    r[:, 0] = rng.random(T) < 0.03
    r[1:, 1] = r[:-1, 0] & (rng.random(T - 1) < 0.8)
    r[:, 2] = rng.random(T) < 0.02
    return r, np.array([True, True, True, True, False])


@pytest.fixture(scope="module")
def planted():
    raster, mask = _planted()
    return raster[:20000], raster[20000:], mask


def _all(seed=0):
    return [RateBaseline(seed=seed), OwnHistoryBaseline(seed=seed), CoupledGLMBaseline(seed=seed, **FAST_GLM)]


@pytest.mark.parametrize("model", _all(), ids=lambda m: m.name)
def test_output_row_t_depends_only_on_rows_up_to_t(model, planted):
    train, test, mask = planted
    model.fit(train, mask)
    base = model.predict_proba(test)
    assert base.shape == (test.shape[0] - 1, test.shape[1])
    for t0 in (0, 37, 5000):
        changed = test.copy()
        changed[t0 + 1 :] = np.random.default_rng(t0).random(changed[t0 + 1 :].shape) < 0.3
        np.testing.assert_array_equal(model.predict_proba(changed)[: t0 + 1], base[: t0 + 1])
    changed = test.copy()
    changed[10, :3] = ~changed[10, :3]  # the past does matter for history models
    if model.name != "rate":
        assert not np.array_equal(model.predict_proba(changed)[10], base[10])


@pytest.mark.parametrize("model", _all(), ids=lambda m: m.name)
def test_padding_and_silent_units_get_the_floor(model, planted):
    train, test, mask = planted
    test = test.copy()
    test[:, 4] = True  # spikes in a padding column are ignored
    probs = model.fit(train, mask).predict_proba(test)
    np.testing.assert_array_equal(probs[:, 3:], model.floor)
    assert np.all((probs >= model.floor) & (probs <= 1 - model.floor))
    assert model.config["name"] == model.name


def test_rate_baseline_equals_training_rates(planted):
    train, test, mask = planted
    probs = RateBaseline().fit(train, mask).predict_proba(test)
    expected = np.where(mask, train.mean(axis=0), 1e-6)
    expected[3] = 1e-6
    np.testing.assert_array_equal(probs, np.tile(expected, (test.shape[0] - 1, 1)))


def test_glm_recovers_planted_coupling_and_history_cannot(planted):
    train, test, mask = planted
    targets = test[1:]
    glm_auc = per_unit_roc_auc(
        CoupledGLMBaseline(**FAST_GLM).fit(train, mask).predict_proba(test), targets, mask
    )
    hist_auc = per_unit_roc_auc(OwnHistoryBaseline().fit(train, mask).predict_proba(test), targets, mask)
    assert glm_auc[1] > 0.9
    assert hist_auc[1] < 0.6
    assert abs(glm_auc[2] - 0.5) < 0.1  # independent unit: nothing to learn


def test_history_baseline_learns_own_rhythm():
    raster = np.zeros((20000, 2), bool)
    raster[::10, 0] = True  # unit 0 fires every 10 bins exactly
    raster[:, 1] = np.random.default_rng(0).random(20000) < 0.05
    model = OwnHistoryBaseline(edges=(1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 20))
    probs = model.fit(raster[:15000]).predict_proba(raster[15000:])
    assert per_unit_roc_auc(probs, raster[15001:], np.ones(2, bool))[0] == 1.0


def test_glm_intercept_correction_gives_probabilities():
    raster = np.random.default_rng(1).random((30000, 4)) < 0.02
    model = CoupledGLMBaseline(neg_ratio=3.0, **FAST_GLM).fit(raster[:20000])
    probs = model.predict_proba(raster[20000:])
    np.testing.assert_allclose(probs.mean(axis=0), raster[:20000].mean(axis=0), rtol=0.15)


def test_glm_is_deterministic_given_seed(planted):
    train, test, mask = planted
    a = CoupledGLMBaseline(seed=3, neg_ratio=2.0, **FAST_GLM).fit(train, mask).predict_proba(test)
    b = CoupledGLMBaseline(seed=3, neg_ratio=2.0, **FAST_GLM).fit(train, mask).predict_proba(test)
    np.testing.assert_array_equal(a, b)


def test_contract_errors():
    with pytest.raises(SpikebridgeConfigError):
        RateBaseline().predict_proba(np.zeros((5, 2), bool))
    with pytest.raises(SpikebridgeDataError):
        RateBaseline().fit(np.full((5, 2), 2))
    with pytest.raises(SpikebridgeDataError):
        RateBaseline().fit(np.zeros((5, 2), bool)).predict_proba(np.zeros((5, 3), bool))
    with pytest.raises(SpikebridgeConfigError):
        OwnHistoryBaseline(edges=(3, 2))
    with pytest.raises(SpikebridgeConfigError):
        CoupledGLMBaseline(Cs=(0.1, 0.0))


@pytest.mark.parametrize("model", _all(), ids=lambda m: m.name)
def test_fitted_baselines_pickle(model, planted):
    train, test, mask = planted
    model.fit(train, mask)
    clone = pickle.loads(pickle.dumps(model))
    np.testing.assert_array_equal(clone.predict_proba(test), model.predict_proba(test))


def test_glm_intercept_correction_when_spikes_are_subsampled_too():
    raster = np.random.default_rng(2).random((30000, 3)) < 0.1
    model = CoupledGLMBaseline(max_rows=1000, neg_ratio=1.0, n_jobs=1).fit(raster[:20000])
    probs = model.predict_proba(raster[20000:])
    np.testing.assert_allclose(probs.mean(axis=0), raster[:20000].mean(axis=0), rtol=0.15)
