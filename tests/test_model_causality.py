"""The spike transformer is strictly causal: output t depends on bins <= t only."""

import pytest
import torch

from spikebridge.errors import SpikebridgeConfigError
from spikebridge.models.spike_transformer import SpikeTransformer, SpikeTransformerConfig

torch.set_num_threads(1)  # the CI machine has 2 shared cores; more threads only contend

N_UNITS, T = 12, 24

CASES = [
    ("paper", "learned", True, 1),
    ("quick", "learned", True, 1),
    *[
        ("quick", pe, True, depth)
        for pe in ("none", "sinusoidal", "learned", "rotary")
        for depth in (1, 2, 3, 4)
    ],
    *[("quick", pe, False, depth) for pe in ("none", "sinusoidal", "rotary") for depth in (1, 3)],
]


def _model(profile: str, pos: str, attention: bool, depth: int) -> SpikeTransformer:
    torch.manual_seed(0)
    overrides = dict(n_units=N_UNITS, pos_encoding=pos, attention=attention, n_layers=depth)
    if profile == "paper":
        overrides["n_units"] = 128
    config = SpikeTransformerConfig.profile(profile, **overrides)
    return SpikeTransformer(config).eval()


@pytest.mark.parametrize(("profile", "pos", "attention", "depth"), CASES)
def test_future_bins_do_not_change_past_outputs(profile, pos, attention, depth):
    model = _model(profile, pos, attention, depth)
    n = model.config.n_units
    gen = torch.Generator().manual_seed(1)
    x = (torch.rand(2, T, n, generator=gen) < 0.3).float()
    with torch.no_grad():
        base = model(x)
        for t in (0, 5, T - 2):
            changed = x.clone()
            changed[:, t + 1 :] = 1.0 - changed[:, t + 1 :]  # flip every bin after t
            out = model(changed)
            torch.testing.assert_close(out[:, : t + 1], base[:, : t + 1], atol=1e-6, rtol=0)
            current = x.clone()
            current[:, t] = 1.0 - current[:, t]  # flip bin t itself
            assert (model(current)[:, t] - base[:, t]).abs().max() > 1e-4


@pytest.mark.parametrize("pos", ["none", "sinusoidal", "learned", "rotary"])
def test_explicit_attention_path_matches_fused_and_is_causal(pos):
    model = _model("quick", pos, True, 2)
    x = (torch.rand(3, T, N_UNITS, generator=torch.Generator().manual_seed(2)) < 0.3).float()
    with torch.no_grad():
        fused = model(x)
        explicit, attention = model(x, return_attention=True)
    torch.testing.assert_close(explicit, fused, atol=1e-5, rtol=0)
    assert len(attention) == 2
    for probs in attention:
        assert probs.shape == (3, 4, T, T)
        assert torch.all(probs.triu(1) == 0)
        torch.testing.assert_close(probs.sum(-1), torch.ones(3, 4, T))


def test_hooks_expose_head_outputs():
    model = _model("quick", "rotary", True, 1)
    seen = []
    handle = model.attention_modules()[0].head_outputs.register_forward_hook(lambda m, i, o: seen.append(o))
    with torch.no_grad():
        model(torch.zeros(1, T, N_UNITS))
    handle.remove()
    assert seen[0].shape == (1, 4, T, 16)


def test_bool_input_equals_float_input():
    model = _model("quick", "learned", True, 1)
    x = torch.rand(1, T, N_UNITS, generator=torch.Generator().manual_seed(3)) < 0.2
    with torch.no_grad():
        torch.testing.assert_close(model(x), model(x.float()))


def test_paper_profile_values():
    config = SpikeTransformerConfig.profile("paper")
    assert (config.n_units, config.d_model, config.n_heads, config.n_layers, config.d_ff) == (
        128,
        128,
        32,
        1,
        512,
    )
    assert (config.dropout, config.max_context) == (0.1, 5000)
    assert SpikeTransformerConfig.from_dict(config.to_dict()) == config


@pytest.mark.parametrize(
    ("overrides", "field"),
    [
        ({"n_layers": 5}, "n_layers"),
        ({"n_heads": 3}, "d_model"),
        ({"dropout": 1.0}, "dropout"),
        ({"pos_encoding": "alibi"}, "pos_encoding"),
        ({"n_units": 0}, "n_units"),
        ({"attention": "yes"}, "attention"),
    ],
)
def test_bad_config_values_name_the_field(overrides, field):
    with pytest.raises(SpikebridgeConfigError, match=field):
        SpikeTransformerConfig.profile("quick", **overrides)


def test_unknown_profile_and_too_long_input():
    with pytest.raises(SpikebridgeConfigError, match="profile"):
        SpikeTransformerConfig.profile("huge")
    model = _model("quick", "none", True, 1)
    with pytest.raises(SpikebridgeConfigError, match="max_context"):
        model(torch.zeros(1, 257, N_UNITS))
