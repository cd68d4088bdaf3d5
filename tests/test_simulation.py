"""Simulator: seeded determinism, shapes, and the planted A & B -> C rule."""

import subprocess
import sys

import numpy as np
import pytest

from spikebridge.errors import SpikebridgeConfigError
from spikebridge.simulation import PlantedRule, simulate


@pytest.fixture(scope="module", params=["in_vivo", "in_vitro"])
def sim(request):
    return simulate(24, 60_000, request.param, seed=7)


def test_seeded_determinism():
    a, b = simulate(8, 3000, "in_vitro", seed=5), simulate(8, 3000, "in_vitro", seed=5)
    np.testing.assert_array_equal(a.spikes, b.spikes)
    np.testing.assert_array_equal(a.prob, b.prob)
    np.testing.assert_array_equal(a.coupling, b.coupling)
    assert not np.array_equal(a.spikes, simulate(8, 3000, "in_vitro", seed=6).spikes)


def test_shapes_and_types(sim):
    assert sim.spikes.shape == (60_000, 24) and sim.spikes.dtype == bool
    assert sim.prob.shape == (60_000, 24) and np.all((sim.prob >= 0) & (sim.prob <= 1))
    assert sim.coupling.shape == (3, 24, 24)
    assert sim.burst.shape == (60_000,)
    assert sim.rule == PlantedRule()
    assert sim.to_dict()["n_units"] == 24


def test_planted_rule_holds_in_samples(sim):
    a, b, c = sim.spikes[:, 0], sim.spikes[:, 1], sim.spikes[:, 2]
    together = a[:-1] & b[:-1]  # A and B spike in bin t
    assert together.sum() > 300  # learnable from 60 s at 1 ms bins
    p_after = c[1:][together].mean()  # C in bin t + 1
    p_otherwise = c[1:][~together].mean()
    assert p_after > 0.8
    assert p_otherwise < 1e-3
    np.testing.assert_array_equal(sim.prob[1:, 2][together], 0.9)
    np.testing.assert_array_equal(sim.prob[1:, 2][~together], 2e-4)


def test_prob_is_the_sampling_probability(sim):
    # Spike frequency within probability deciles matches the probability (calibration of the oracle).
    p, s = sim.prob[:, 3:].ravel(), sim.spikes[:, 3:].ravel()
    edges = np.quantile(p, [0.0, 0.5, 0.9, 0.99, 1.0])
    for lo, hi in zip(edges[:-1], edges[1:], strict=True):
        inside = (p >= lo) & (p < hi)
        assert abs(s[inside].mean() - p[inside].mean()) < 0.1 * p[inside].mean() + 2e-3


def test_regimes_differ():
    vivo, vitro = simulate(16, 40_000, "in_vivo", seed=1), simulate(16, 40_000, "in_vitro", seed=1)
    assert not vivo.burst.any() and 0.02 < vitro.burst.mean() < 0.3
    population = vitro.spikes[:, 3:].sum(1)
    in_burst = population[vitro.burst].mean()
    assert in_burst > 5 * population[~vitro.burst].mean()  # network bursts raise all rates
    assert vivo.spikes[:, 3:].mean() < 0.03  # sparse


def test_bad_arguments():
    with pytest.raises(SpikebridgeConfigError, match="regime"):
        simulate(8, 100, "in_silico")
    with pytest.raises(SpikebridgeConfigError, match="n_units"):
        simulate(2, 100)


def test_simulation_and_models_package_do_not_import_torch():
    code = "import sys, spikebridge.simulation, spikebridge.models; print('torch' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"
