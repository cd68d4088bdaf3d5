"""History features of the coupled GLM: exact values on a hand-built raster, chunking and stepping."""

import numpy as np
import pytest

from spikebridge.baselines.glm_features import FeatureSpec, HistoryState
from spikebridge.baselines.history import lag_categories, lags_since_spike
from spikebridge.errors import SpikebridgeConfigError

SPEC = FeatureSpec(lag1=True, coupling_taus=(2.0,), population_taus=(1.0,), own_taus=(4.0,), edges=(1, 2, 4))


def _raster():
    """Unit 0 spikes in bins 0 and 3, unit 1 in bin 2; six bins."""
    r = np.zeros((6, 2), bool)
    r[[0, 3], 0] = True
    r[2, 1] = True
    return r


def _trace(spikes, tau):
    a = np.exp(-1.0 / tau)
    return np.array([sum(a ** (t - k) * spikes[k] for k in range(t + 1)) for t in range(len(spikes))])


def test_time_since_last_spike_and_its_categories():
    lags = lags_since_spike(_raster())
    np.testing.assert_array_equal(lags[:, 0], [1, 2, 3, 1, 2, 3])
    np.testing.assert_array_equal(lags[2:, 1], [1, 2, 3, 4])
    assert (lags[:2, 1] > 10**9).all()  # no spike yet
    # edges (1, 2, 4): lag 1 -> 0, lag 2 -> 1, lags 3-4 -> 2, longer or never -> 3
    np.testing.assert_array_equal(
        lag_categories(_raster(), (1, 2, 4)), [[0, 3], [1, 3], [2, 0], [0, 1], [1, 2], [2, 2]]
    )
    # carried state: unit 0 last spiked 5 bins before, unit 1 in the bin just before
    np.testing.assert_array_equal(
        lags_since_spike(np.zeros((2, 2), bool), since=np.array([5, 1])), [[6, 2], [7, 3]]
    )


def test_shared_and_own_features_on_a_hand_built_raster():
    r = _raster()
    f = HistoryState(SPEC, 2).advance(r)  # time is the last axis of every feature array
    a2 = np.exp(-0.5)
    expected = [1, a2, a2**2, a2**3 + 1, a2**4 + a2, a2**5 + a2**2]
    np.testing.assert_allclose(f.shared[2], expected, rtol=1e-6)  # unit 0's trace, tau 2
    np.testing.assert_array_equal(f.shared[:2], r.T)  # lag-1 block: the current bin
    np.testing.assert_allclose(f.shared[3], _trace(r[:, 1], 2.0), rtol=1e-6)
    np.testing.assert_allclose(f.shared[4], _trace(r.sum(axis=1), 1.0), rtol=1e-6)  # population count
    assert f.shared.shape == (SPEC.n_shared(2), 6) == (5, 6)
    np.testing.assert_allclose(f.own[0], [_trace(r[:, 0], 4.0), _trace(r[:, 1], 4.0)], rtol=1e-6)
    np.testing.assert_array_equal(f.categories, lag_categories(r, SPEC.edges).T)


def test_chunks_and_single_steps_continue_the_same_state():
    raster = np.random.default_rng(0).random((400, 5)) < 0.1
    spec = FeatureSpec()
    whole = HistoryState(spec, 5).advance(raster)
    state = HistoryState(spec, 5)
    parts = [state.advance(raster[a:b]) for a, b in ((0, 150), (150, 151), (151, 400))]
    np.testing.assert_allclose(np.hstack([p.shared for p in parts]), whole.shared, rtol=1e-6, atol=1e-6)
    np.testing.assert_array_equal(np.hstack([p.categories for p in parts]), whole.categories)
    jumper = HistoryState(spec, 5, rates=np.full(5, 0.1))
    jumper.consume(raster[:250])
    reference = HistoryState(spec, 5, rates=np.full(5, 0.1))
    reference.advance(raster[:250])
    for key in ("unit_traces", "pop_traces", "since", "last"):
        np.testing.assert_allclose(getattr(jumper, key), getattr(reference, key), rtol=1e-12, atol=1e-12)
    stepper = HistoryState(spec, 5)
    stepper.advance(raster[:1])
    for t in range(1, 400):
        stepper.step(raster[t])
        shared, cats, own = stepper.current()
        np.testing.assert_allclose(shared, whole.shared[:, t], rtol=1e-6, atol=1e-6)
        np.testing.assert_array_equal(cats, whole.categories[:, t])
        np.testing.assert_allclose(own, whole.own[:, :, t], rtol=1e-6, atol=1e-6)


def test_feature_spec_refuses_bad_values():
    with pytest.raises(SpikebridgeConfigError, match="own_taus"):
        FeatureSpec(own_taus=(10.0, -1.0))
    with pytest.raises(SpikebridgeConfigError, match="edges"):
        FeatureSpec(edges=(3, 2))
    with pytest.raises(SpikebridgeConfigError, match="lag1"):
        FeatureSpec(lag1=False, coupling_taus=())
