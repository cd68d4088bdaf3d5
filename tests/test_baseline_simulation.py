"""Free-running simulation of the baselines: the probabilities used are predict_proba's, seeds repeat."""

import pickle

import numpy as np
import pytest
from scipy.special import expit, logit

from spikebridge.baselines import CoupledGLMBaseline, OwnHistoryBaseline, RateBaseline
from spikebridge.errors import SpikebridgeConfigError, SpikebridgeDataError

FAST_GLM = dict(max_rows=10_000, n_jobs=1)


@pytest.fixture(scope="module")
def fitted():
    """Every baseline fitted on a coupled, refractory raster with a padding column and a silent unit."""
    rng = np.random.default_rng(0)
    T = 12_000
    r = np.zeros((T, 6), bool)
    r[:, 0] = rng.random(T) < 0.05
    r[1:, 1] = r[:-1, 0] & (rng.random(T - 1) < 0.6)
    for t in range(1, T):  # unit 2: refractory for 3 bins, otherwise 10 %
        r[t, 2] = rng.random() < 0.1 and not r[max(0, t - 3) : t, 2].any()
    r[:, 3] = rng.random(T) < 0.02
    mask = np.array([True, True, True, True, True, False])  # unit 4 silent, unit 5 padding
    models = [RateBaseline(), OwnHistoryBaseline(), CoupledGLMBaseline(**FAST_GLM)]
    return {m.name: m.fit(r[:8000], mask) for m in models}, r[8000:]


@pytest.mark.parametrize("name", ["rate", "history", "glm"])
def test_simulation_probabilities_equal_predict_proba_on_the_generated_raster(fitted, name):
    models, test = fitted
    model, prefix = models[name], test[:300]
    spikes, probs = model.simulate_proba(prefix, 400, seed=1)
    assert spikes.shape == probs.shape == (400, 6) and spikes.dtype == bool
    assert spikes[:, :4].any() and not spikes[:, 5].any()  # padding never spikes
    expected = model.predict_proba(np.vstack([prefix, spikes]))[prefix.shape[0] - 1 :]
    np.testing.assert_allclose(probs, expected, rtol=1e-5, atol=1e-9)


@pytest.mark.parametrize("name", ["rate", "history", "glm"])
def test_same_seed_same_spikes_and_temperature_divides_log_odds(fitted, name):
    models, test = fitted
    model, prefix = models[name], test[:50]
    a = model.simulate(prefix, 300, seed=7)
    np.testing.assert_array_equal(a, model.simulate(prefix, 300, seed=7))
    assert not np.array_equal(a, model.simulate(prefix, 300, seed=8))
    spikes, probs = model.simulate_proba(prefix, 300, seed=3, temperature=2.0)
    base = model.predict_proba(np.vstack([prefix, spikes]))[prefix.shape[0] - 1 :]
    np.testing.assert_allclose(probs, expit(logit(base) / 2.0), rtol=1e-5, atol=1e-9)


def test_rate_simulation_is_a_bernoulli_process_at_the_training_rates(fitted):
    models, test = fitted
    model = models["rate"]
    spikes, probs = model.simulate_proba(test[:10], 20_000, seed=0)
    np.testing.assert_array_equal(
        probs, np.tile(np.where(model.silent_, model.floor, model.rates_), (20_000, 1))
    )
    rates = model.rates_[:4]
    assert np.all(np.abs(spikes[:, :4].mean(axis=0) - rates) < 4 * np.sqrt(rates / 20_000))


def test_simulation_reproduces_refractoriness(fitted):
    models, test = fitted
    spikes = models["history"].simulate(test[:100], 20_000, seed=0)
    unit = spikes[:, 2]
    assert unit.mean() > 0.03
    assert not (unit[1:] & unit[:-1]).any()  # no spike in the bin after a spike: table says never


def test_fitted_glm_simulates_after_pickling(fitted):
    models, test = fitted
    clone = pickle.loads(pickle.dumps(models["glm"]))
    np.testing.assert_array_equal(
        clone.simulate(test[:100], 200, seed=2), models["glm"].simulate(test[:100], 200, seed=2)
    )


def test_simulation_errors(fitted):
    models, test = fitted
    with pytest.raises(SpikebridgeConfigError, match="before fit"):
        RateBaseline().simulate(test[:10], 5)
    with pytest.raises(SpikebridgeConfigError, match="temperature"):
        models["rate"].simulate(test[:10], 5, temperature=0.0)
    with pytest.raises(SpikebridgeDataError, match="prefix"):
        models["rate"].simulate(test[:10, :3], 5)
    assert models["glm"].simulate(test[:1], 0).shape == (0, 6)
