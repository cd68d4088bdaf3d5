"""Free-running generation: cached steps equal the full forward, engines agree, sliding equals predict_proba."""

import numpy as np
import pytest
import torch

from spikebridge.errors import SpikebridgeConfigError, SpikebridgeDataError
from spikebridge.models.spike_transformer import SpikeTransformer, SpikeTransformerConfig
from spikebridge.training.engines import NumpyEngine, make_engine
from spikebridge.training.generate import _uniform_blocks, generate
from spikebridge.training.predict import predict_proba

torch.set_num_threads(1)

N_UNITS, CONTEXT = 6, 32


def _model(pos_encoding="learned", attention=True, n_layers=2):
    torch.manual_seed(0)
    config = SpikeTransformerConfig.profile(
        "quick", n_units=N_UNITS, max_context=CONTEXT, pos_encoding=pos_encoding,
        attention=attention, n_layers=n_layers,
    )  # fmt: skip
    model = SpikeTransformer(config).eval()
    with torch.no_grad():
        model.head.bias.fill_(-1.0)  # about one spike in four bins: both outcomes occur
    return model


def _raster(t, seed=1, p=0.3):
    return np.random.default_rng(seed).random((t, N_UNITS)) < p


@pytest.mark.parametrize(
    "pos_encoding,attention", [("learned", True), ("rotary", True), ("sinusoidal", True), ("learned", False)]
)
def test_incremental_steps_equal_forward(pos_encoding, attention):
    model = _model(pos_encoding, attention)
    x = torch.from_numpy(_raster(CONTEXT, seed=2).astype(np.float32))[None].repeat(2, 1, 1)  # (2, T, N)
    x[1] = 1 - x[1]
    with torch.no_grad():
        full = model(x)
        first, state = model.prefill(x[:, :11])
        rows = [first] + [model.step(x[:, t], state)[0][:, None] for t in range(11, 20)]
        rows.append(model.extend(x[:, 20:], state))
    np.testing.assert_allclose(torch.cat(rows, 1).numpy(), full.numpy(), atol=2e-6)
    assert state.length == CONTEXT
    with pytest.raises(SpikebridgeConfigError, match="max_context"):
        model.step(x[:, 0], state)


@pytest.mark.parametrize("pos_encoding", ["learned", "rotary", "none"])
def test_engines_agree_and_equal_teacher_forced_prediction(pos_encoding):
    model = _model(pos_encoding)
    prefix = _raster(45)
    n_steps = 5 * 16 + 1  # prefix window (32) + generated = 32 + 5 chunks + 1: predict_proba's windows align
    runs = {
        engine: generate(model, prefix, n_steps, trials=2, seed=3, engine=engine, keep_probs=True)
        for engine in ("numpy", "torch", "recompute")
    }
    reference = runs["recompute"]
    assert reference.context == CONTEXT and reference.chunk == CONTEXT // 2
    for run in runs.values():
        np.testing.assert_allclose(run.probs, reference.probs, atol=1e-6)
        np.testing.assert_array_equal(run.spikes, reference.spikes)
    spikes = reference.spikes
    assert 0.05 < spikes.mean() < 0.6 and not np.array_equal(spikes[0], spikes[1])
    for k in range(2):
        full = np.concatenate([prefix[-CONTEXT:], spikes[k]])  # (32 + 81, N)
        teacher = predict_proba(model, full, context=CONTEXT, chunk=CONTEXT // 2)
        np.testing.assert_allclose(reference.probs[k], teacher[CONTEXT - 1 :], atol=1e-6)


def test_chunk_one_sees_exactly_the_last_context_bins():
    model = _model()
    prefix = _raster(10)
    run = generate(model, prefix, 60, chunk=1, keep_probs=True, seed=4)
    full = np.concatenate([prefix, run.spikes[0]])
    np.testing.assert_allclose(run.probs[0], predict_proba(model, full, chunk=1)[9:], atol=1e-6)


def test_same_seed_same_spikes_and_trials_are_independent_of_their_number():
    model = _model()
    prefix = _raster(20)
    a = generate(model, prefix, 80, trials=3, seed=7).spikes
    np.testing.assert_array_equal(a, generate(model, prefix, 80, trials=3, seed=7).spikes)
    np.testing.assert_array_equal(a[:1], generate(model, prefix, 80, trials=1, seed=7).spikes)
    assert not np.array_equal(a, generate(model, prefix, 80, trials=3, seed=8).spikes)
    assert a.shape == (3, 80, N_UNITS) and a.dtype == bool


def test_masked_columns_stay_silent_and_temperature_sharpens():
    model = _model()
    prefix = _raster(20)
    mask = np.array([True, True, True, True, False, False])
    run = generate(model, prefix, 200, unit_mask=mask, seed=1, keep_probs=True)
    assert not run.spikes[0][:, ~mask].any() and run.spikes[0][:, mask].any()
    cold = generate(model, prefix, 200, temperature=0.05, seed=1).spikes
    np.testing.assert_array_equal(cold, generate(model, prefix, 200, temperature=0.05, seed=2).spikes)


def test_first_bin_frequency_matches_its_probability():
    model = _model()
    prefix = np.zeros((1, N_UNITS), bool)
    run = generate(model, prefix, 1, trials=2000, seed=0, keep_probs=True)
    p0 = run.probs[0, 0]
    np.testing.assert_allclose(run.probs[:, 0], np.broadcast_to(p0, (2000, N_UNITS)), atol=1e-6)
    # 2000 Bernoulli draws: the standard error is below 0.011, so 0.05 is a > 4.5 sigma band
    np.testing.assert_allclose(run.spikes[:, 0].mean(0), p0, atol=0.05)


def test_bad_arguments_raise():
    model = _model()
    with pytest.raises(SpikebridgeDataError, match="prefix"):
        generate(model, np.zeros((3, N_UNITS + 1), bool), 2)
    with pytest.raises(SpikebridgeDataError, match="prefix"):
        generate(model, np.zeros((0, N_UNITS), bool), 2)
    for kwargs, name in (
        ({"trials": 0}, "trials"),
        ({"temperature": 0.0}, "temperature"),
        ({"seed": -1}, "seed"),
    ):
        with pytest.raises(SpikebridgeConfigError, match=name):
            generate(model, _raster(4), 2, **kwargs)
    with pytest.raises(SpikebridgeConfigError, match="chunk"):
        generate(model, _raster(4), 2, chunk=CONTEXT + 1)
    with pytest.raises(SpikebridgeConfigError, match="engine"):
        make_engine(model, "gpu")
    with pytest.raises(SpikebridgeConfigError, match="context"):
        NumpyEngine(model, context=CONTEXT + 1)


def test_numpy_engine_with_long_contexts_equals_recompute():
    torch.manual_seed(1)
    config = SpikeTransformerConfig.profile("tiny", n_units=N_UNITS, n_heads=32, d_model=32, max_context=300)
    model = SpikeTransformer(config).eval()
    prefix = _raster(300)  # 2 trials x 32 heads x more than 256 keys from step 107 on: the large-array exp
    runs = [
        generate(model, prefix, 140, 2, seed=2, engine=e, keep_probs=True) for e in ("numpy", "recompute")
    ]
    np.testing.assert_allclose(runs[0].probs, runs[1].probs, atol=1e-6)
    np.testing.assert_array_equal(runs[0].spikes, runs[1].spikes)


def test_threshold_blocks_cut_to_the_bins_asked_for_keep_the_same_values():
    whole = next(_uniform_blocks(3, 2, 5))  # (1024, 2, 5): one full block
    cut = _uniform_blocks(3, 2, 5, n_bins=700)
    first = next(cut)
    assert first.shape == (700, 2, 5) and first.dtype == np.float32
    np.testing.assert_array_equal(first, whole[:700])
    u = np.random.default_rng([3, 1]).random((700, 5))
    np.testing.assert_array_equal(first[:, 1], np.log(u / (1 - u)).astype(np.float32))
    np.testing.assert_array_equal(first[:, 1], (np.log(u) - np.log1p(-u)).astype(np.float32))
