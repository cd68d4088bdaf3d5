"""spikebridge's own model: causal features, incremental stepping, unit symmetry, the registry."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from spikebridge.errors import SpikebridgeConfigError, SpikebridgeDataError
from spikebridge.models.bridge import BridgeModel
from spikebridge.models.bridge_config import BridgeConfig
from spikebridge.models.features import NEVER, decay_matrices, exponential_traces, time_since_spike
from spikebridge.models.registry import architecture, by_config, by_model_class


def _raster(b=2, t=150, n=6, p=0.1, seed=0) -> torch.Tensor:
    g = torch.Generator().manual_seed(seed)
    return (torch.rand(b, t, n, generator=g) < p).float()  # (B, T, N)


def _trained_like(config: BridgeConfig, seed: int = 0) -> BridgeModel:
    """A model with every parameter random (zero-initialised paths would hide errors)."""
    torch.manual_seed(seed)
    model = BridgeModel(config)
    with torch.no_grad():
        for p in model.parameters():
            p.copy_(torch.randn_like(p) * 0.3)
    model.fit_standardization(
        _raster(1, 400, config.n_units, seed=9)[0], torch.ones(config.n_units, dtype=bool)
    )
    return model.eval()


def test_traces_match_the_recurrence_in_pieces():
    x = _raster(t=77)
    decay, kernel = decay_matrices((2.0, 30.0), chunk=8)
    expected, state = [], torch.zeros(2, 2, 6)
    for t in range(77):
        state = decay[None, :, None] * state + x[:, t, None, :]
        expected.append(state)
    expected = torch.stack(expected, 1)  # (B, T, K, N)
    first, carry = exponential_traces(x[:, :40], decay, kernel, torch.zeros(2, 2, 6))
    second, _ = exponential_traces(x[:, 40:], decay, kernel, carry)
    torch.testing.assert_close(torch.cat([first, second], 1), expected, rtol=1e-5, atol=1e-5)


def test_time_since_spike_by_hand():
    x = torch.tensor([[0, 1, 0, 0, 1, 0]], dtype=torch.float32)[..., None]  # (1, 6, 1)
    since, last = time_since_spike(x, torch.full((1, 1), NEVER))
    assert since[0, :, 0].tolist()[1:] == [0, 1, 2, 0, 1]
    assert since[0, 0, 0] >= NEVER - 1
    more, _ = time_since_spike(torch.zeros(1, 3, 1), last)
    assert more[0, :, 0].tolist() == [2, 3, 4]


@pytest.mark.parametrize("attention", [False, True])
def test_stepping_gives_the_teacher_forced_logits(attention):
    cfg = BridgeConfig.profile("tiny", n_units=6, attention=attention, attention_span=16, coupling_lags=2,
                               population_mlp=True)  # fmt: skip
    model = _trained_like(cfg)
    x = _raster(t=60)
    with torch.no_grad():
        forced = model(x)  # (B, T, N)
        state, steps = model.init_state(2), []
        for t in range(60):
            logits, state = model.step(x[:, t], state)
            steps.append(logits)
        half, state2 = model.run(x[:, :25], model.init_state(2))
        rest, _ = model.run(x[:, 25:], state2)
    torch.testing.assert_close(torch.stack(steps, 1), forced, rtol=1e-4, atol=1e-4)
    torch.testing.assert_close(torch.cat([half, rest], 1), forced, rtol=1e-4, atol=1e-4)


def test_logits_at_t_do_not_depend_on_later_bins():
    model = _trained_like(BridgeConfig.profile("tiny", n_units=6, attention=True, attention_span=8))
    x = _raster(t=40)
    y = x.clone()
    y[:, 30:] = 1 - y[:, 30:]
    with torch.no_grad():
        a, b = model(x), model(y)
    torch.testing.assert_close(a[:, :30], b[:, :30])
    assert not torch.allclose(a[:, 30:], b[:, 30:])


def test_shared_part_reads_every_column_the_same_way():
    """Without per-column parameters, permuting the units permutes the logits: it runs on any recording."""
    model = _trained_like(BridgeConfig.profile("tiny", n_units=6, attention=True, attention_span=8))
    x = _raster(t=50)
    perm = torch.tensor([3, 0, 5, 1, 4, 2])
    with torch.no_grad():
        base = model(x, columns=False)
        permuted = model(x[..., perm], columns=False)
        with_columns = model(x)
    torch.testing.assert_close(permuted, base[..., perm], rtol=1e-5, atol=1e-5)
    assert not torch.allclose(with_columns, base)


def test_attention_hooks_and_maps():
    model = _trained_like(BridgeConfig.profile("tiny", n_units=6, attention=True, attention_span=8))
    seen = {}
    (module,) = model.attention_modules()
    module.probs.register_forward_hook(lambda m, i, o: seen.update(probs=o.shape) or None)
    module.head_outputs.register_forward_hook(lambda m, i, o: seen.update(heads=o.shape) or None)
    with torch.no_grad():
        logits, maps = model(_raster(t=20), return_attention=True)
    assert logits.shape == (2, 20, 6)
    assert (
        maps[0].shape == (2, 2, 20, 20) and seen["heads"] == (2, 2, 20, 8) and seen["probs"][:3] == (2, 2, 20)
    )
    rows = maps[0].sum(-1)
    torch.testing.assert_close(rows, torch.ones_like(rows))
    assert float(maps[0][..., 10, 11:].abs().sum()) == 0.0  # causal
    assert float(maps[0][..., 15, :8].abs().sum()) == 0.0  # span of 8 bins
    assert BridgeModel(BridgeConfig.profile("tiny", n_units=6)).attention_modules() == []


def test_config_errors_name_the_field():
    with pytest.raises(SpikebridgeConfigError, match="coupling_taus"):
        BridgeConfig(coupling_taus=(5.0,))
    with pytest.raises(SpikebridgeConfigError, match="rank"):
        BridgeConfig(rank=0)
    with pytest.raises(SpikebridgeConfigError, match="population_mlp"):
        BridgeConfig(columns=False, population_mlp=True)
    cfg = BridgeConfig.profile("full", n_units=7)
    assert BridgeConfig.from_dict(cfg.to_dict()) == cfg and cfg.attention


def test_registry_resolves_classes_configs_and_profiles():
    arch = architecture("bridge")
    assert arch.model_class() is BridgeModel
    assert by_model_class("BridgeModel") is arch
    assert by_config(BridgeConfig()) is arch
    assert architecture("paper").make_config("tiny", n_units=5).n_units == 5
    assert arch.make_config("paper", n_units=5) == BridgeConfig.profile("full", n_units=5)
    with pytest.raises(SpikebridgeConfigError, match="unknown architecture 'lstm'"):
        architecture("lstm")
    with pytest.raises(SpikebridgeDataError, match="not a registered architecture"):
        by_model_class("Mystery")


def test_model_specs_have_stable_canonical_names():
    from spikebridge.experiments.zoo import ModelSpec, parse_models

    spec = ModelSpec.parse("bridge-bce", profile="tiny", seed=3)
    assert (spec.architecture, spec.loss, spec.profile, spec.seed, spec.name) == (
        "bridge",
        "bce",
        "tiny",
        3,
        "bridge-bce",
    )
    assert ModelSpec.from_dict(spec.to_dict()) == spec
    assert ModelSpec.parse("transformer-dice").name == "paper-dice"
    assert [s.name for s in parse_models("glm, paper-focal,glm")] == ["glm", "paper-focal"]
    with pytest.raises(SpikebridgeConfigError, match="loss must be one of"):
        ModelSpec.parse("bridge-hinge")
    with pytest.raises(SpikebridgeConfigError, match="takes no loss"):
        ModelSpec("history", "bce")
    with pytest.raises(SpikebridgeConfigError, match="unknown model 'lstm-bce'"):
        ModelSpec.parse("lstm-bce")


def test_generation_steps_the_bridge_model_with_the_teacher_forced_probabilities():
    from spikebridge.training.generate import generate

    model = _trained_like(BridgeConfig.profile("tiny", n_units=6))
    prefix = _raster(1, 50, 6, seed=4)[0].numpy().astype(bool)  # (T0, N)
    run = generate(model, prefix, n_steps=40, trials=2, seed=3, keep_probs=True)
    again = generate(model, prefix, n_steps=40, trials=2, seed=3)
    assert run.context is None and run.spikes.shape == (2, 40, 6)
    np.testing.assert_array_equal(run.spikes, again.spikes)
    for k in range(2):
        x = torch.from_numpy(np.concatenate([prefix, run.spikes[k]]).astype(np.float32))[None]
        with torch.no_grad():
            forced = torch.sigmoid(model(x))[0, 49:-1].numpy()  # row t: the bin after input t
        np.testing.assert_allclose(run.probs[k], forced, rtol=1e-4, atol=1e-5)
