"""The calcium simulator and the trace baselines."""

from __future__ import annotations

import numpy as np
import pytest

from spikebridge.baselines.traces import (
    CopyLastForecaster,
    LogisticClassifier,
    MeanForecaster,
    PriorClassifier,
    PSTHForecaster,
    RidgeForecaster,
    balanced_threshold,
)
from spikebridge.errors import SpikebridgeConfigError
from spikebridge.preprocess.calcium import Observations, stimulus_observations
from spikebridge.simulation_calcium import simulate_calcium

SMALL = dict(n_neurons=12, n_blocks=3, repeats=3)


def test_simulation_is_seeded_and_knows_who_responds():
    a, b = simulate_calcium(seed=3, **SMALL), simulate_calcium(seed=3, **SMALL)
    assert np.array_equal(a.recording.traces.values, b.recording.traces.values)
    assert not np.array_equal(
        a.recording.traces.values, simulate_calcium(seed=4, **SMALL).recording.traces.values
    )
    table = a.recording.stimuli
    assert table.to_dict()["blocks"] == {"gratings": 3, "scenes": 3, "flashes": 3}
    assert table.n == 20 * 3 * 3 and len(a.labels) == 20
    obs = stimulus_observations(a.recording.traces, table)
    label_index = [a.labels.index(lab) for lab in np.asarray(obs.stimulus_labels)[obs.stimulus]]
    truth = a.responsive[obs.neuron, label_index]
    assert truth.any() and not truth.all()
    # responsive pairs are active far more often than the others
    assert obs.active[truth].mean() > 0.6 > 0.15 > obs.active[~truth].mean()
    with pytest.raises(SpikebridgeConfigError, match="p_response"):
        simulate_calcium(p_response=2.0)


def _obs(baseline, response, neuron, stimulus, n_neurons=2, n_stimuli=2) -> Observations:
    n = len(baseline)
    return Observations(
        baseline=np.asarray(baseline, dtype=np.float32), response=np.asarray(response, dtype=np.float32),
        neuron=np.asarray(neuron), stimulus=np.asarray(stimulus),
        active=np.asarray(response, dtype=float).mean(axis=1) - np.asarray(baseline, dtype=float).mean(axis=1) >= 0.1,
        onset=np.arange(n) * 100 + 10, block=np.zeros(n, dtype=int), kind=np.full(n, "k"),
        neuron_ids=np.arange(n_neurons), stimulus_labels=tuple(f"s{i}" for i in range(n_stimuli)), frame_rate=10.0,
    )  # fmt: skip


def test_constant_and_psth_forecasters_by_hand():
    train = _obs(
        [[0, 1], [0, 3], [0, 0], [0, 0]],
        [[1, 1, 1], [3, 3, 3], [0, 0, 5], [0, 0, 1]],
        [0, 0, 1, 1],
        [0, 0, 1, 1],
    )
    test = _obs([[2, 4], [0, 0], [1, 1]], [[0, 0, 0]] * 3, [0, 1, 1], [0, 1, 0])
    assert MeanForecaster().fit(train, train).predict(test).tolist() == [[3, 3, 3], [0, 0, 0], [1, 1, 1]]
    assert CopyLastForecaster().fit(train, train).predict(test).tolist() == [[4, 4, 4], [0, 0, 0], [1, 1, 1]]
    psth = PSTHForecaster().fit(train, train).predict(test)
    # (0, 0): mean of [1,1,1] and [3,3,3]; (1, 1): mean of [0,0,5] and [0,0,1]; (1, 0) unseen -> neuron 1's mean
    assert np.allclose(psth, [[2, 2, 2], [0, 0, 3], [0, 0, 3]])


def test_ridge_picks_its_penalty_on_validation():
    rng = np.random.default_rng(0)
    x = rng.normal(size=(200, 6))
    y = np.column_stack([x[:, -1], 2 * x[:, -1], x[:, 0]])
    tr = _obs(x[:150], y[:150], np.zeros(150, int), np.zeros(150, int))
    va = _obs(x[150:], y[150:], np.zeros(50, int), np.zeros(50, int))
    model = RidgeForecaster().fit(tr, va)
    assert model.alpha_ == min(model.val_mse_, key=model.val_mse_.get)
    assert model.alpha_ <= 1.0  # a noiseless linear map wants little shrinkage
    assert np.allclose(model.predict(va), y[150:], atol=0.1)


def test_classifier_baselines_and_the_validation_threshold():
    assert balanced_threshold(np.array([0.1, 0.2, 0.8, 0.9]), np.array([0, 0, 1, 1])) == pytest.approx(0.5)
    assert balanced_threshold(np.array([0.3, 0.3]), np.array([1, 1])) == 0.5
    rng = np.random.default_rng(2)
    neuron = rng.integers(0, 2, 400)
    base = rng.normal(size=(400, 4)) * 0.01
    resp = np.where((neuron == 1)[:, None], 0.5, 0.0) + rng.normal(size=(400, 3)) * 0.01
    obs = _obs(base, resp, neuron, np.zeros(400, int))
    tr, va, te = obs.select(np.arange(200)), obs.select(np.arange(200, 300)), obs.select(np.arange(300, 400))
    for cls in (PriorClassifier, LogisticClassifier):
        model = cls().fit(tr, va)
        assert np.array_equal(model.predict(te), te.active)  # neuron 1 always responds, neuron 0 never
