"""The numpy bridge engine: equal to the torch model stepped through the same bins; rate anchoring."""

import numpy as np
import pytest
import torch

from spikebridge.errors import SpikebridgeConfigError
from spikebridge.models.bridge import BridgeModel
from spikebridge.models.bridge_config import BridgeConfig
from spikebridge.training.bridge_engine import BridgeNumpyEngine
from spikebridge.training.engines import TorchCacheEngine, make_engine
from spikebridge.training.generate import generate

N_UNITS = 12


def _model(profile: str, **overrides) -> BridgeModel:
    """A bridge model with random (non-zero) weights, standardised on a seeded raster; 2 padding columns."""
    torch.manual_seed(0)
    model = BridgeModel(BridgeConfig.profile(profile, n_units=N_UNITS, **overrides)).eval()
    with torch.no_grad():
        for p in model.parameters():
            p.add_(torch.randn_like(p) * 0.3)
    mask = torch.ones(N_UNITS, dtype=torch.bool)
    mask[-2:] = False
    model.fit_standardization((torch.rand(400, N_UNITS) < 0.1).float() * mask, mask)
    return model


def _bins(shape, seed):
    raster = np.random.default_rng(seed).random(shape) < 0.1
    raster[..., -2:] = False
    return raster


@pytest.mark.parametrize(
    ("profile", "overrides"),
    [
        ("tiny", {}),
        ("quick", {}),
        ("tiny", {"columns": False}),  # shared time-since-spike table only, no coupling
        ("tiny", {"coupling_taus": (64.0,)}),  # coupling traces not the first unit traces
    ],
)
def test_numpy_engine_equals_torch_steps(profile, overrides):
    model = _model(profile, **overrides)
    window, steps = _bins((3, 300, N_UNITS), 1), _bins((3, 40, N_UNITS), 2)
    fast, ref = BridgeNumpyEngine(model), TorchCacheEngine(model)
    np.testing.assert_allclose(fast.start(window), ref.start(window), rtol=3e-4, atol=5e-4)
    for t in range(steps.shape[1]):
        np.testing.assert_allclose(fast.advance(steps[:, t]), ref.advance(steps[:, t]), rtol=3e-4, atol=5e-4)
    assert fast.held == ref.held == 340
    assert isinstance(make_engine(model), BridgeNumpyEngine)


def test_anchoring_holds_the_slow_traces_and_only_them():
    model = _model("quick")  # unit taus 4 .. 16384, population taus 2 .. 1024
    engine = BridgeNumpyEngine(model, anchor_tau=1000.0)
    engine.start(_bins((2, 300, N_UNITS), 1))
    before = {k: v.copy() for k, v in engine.state.items()}
    for x in _bins((25, 2, N_UNITS), 3):
        engine.advance(x)
    slow_unit = np.asarray(model.config.unit_taus) >= 1000.0  # the 1024 and 16384 traces
    slow_pop = np.asarray(model.config.population_taus) >= 1000.0  # the 1024 trace
    assert slow_unit.tolist() == [False, False, False, True, True] and slow_pop.sum() == 1
    np.testing.assert_array_equal(
        engine.state["unit_traces"][:, slow_unit], before["unit_traces"][:, slow_unit]
    )
    np.testing.assert_array_equal(engine.state["pop_traces"][:, slow_pop], before["pop_traces"][:, slow_pop])
    assert not np.allclose(engine.state["unit_traces"][:, ~slow_unit], before["unit_traces"][:, ~slow_unit])
    np.testing.assert_array_equal(engine.state["unit_norm"][:, slow_unit], before["unit_norm"][:, slow_unit])
    assert not np.allclose(engine.state["unit_norm"][:, ~slow_unit], before["unit_norm"][:, ~slow_unit])
    assert engine.held == 325


def test_anchoring_changes_generation_only_when_asked_and_needs_the_bridge_engine():
    model = _model("tiny")
    prefix = _bins((200, N_UNITS), 4)
    free = generate(model, prefix, 60, trials=2, seed=1, keep_probs=True)
    same = generate(model, prefix, 60, trials=2, seed=1, engine="torch", keep_probs=True)
    anchored = generate(model, prefix, 60, trials=2, seed=1, anchor_tau=50.0, keep_probs=True)
    np.testing.assert_allclose(free.probs, same.probs, rtol=3e-4, atol=5e-4)
    np.testing.assert_array_equal(free.probs[:, 0], anchored.probs[:, 0])  # first bin: from the prefix
    assert not np.allclose(free.probs[:, 1:], anchored.probs[:, 1:])
    with pytest.raises(SpikebridgeConfigError, match="anchor_tau"):
        generate(model, prefix, 5, engine="torch", anchor_tau=50.0)
    with pytest.raises(SpikebridgeConfigError, match="anchor_tau"):
        generate(model, prefix, 5, anchor_tau=-1.0)
