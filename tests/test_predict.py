"""Teacher-forced prediction (chunked == full pass) and argument checks."""

import numpy as np
import pytest
import torch

from spikebridge.errors import SpikebridgeConfigError, SpikebridgeDataError
from spikebridge.models.spike_transformer import SpikeTransformer, SpikeTransformerConfig
from spikebridge.training.predict import predict_proba

torch.set_num_threads(1)

N_UNITS = 5


@pytest.fixture(scope="module", params=["learned", "rotary"])
def model(request):
    torch.manual_seed(0)
    config = SpikeTransformerConfig.profile(
        "quick", n_units=N_UNITS, max_context=64, pos_encoding=request.param
    )
    return SpikeTransformer(config).eval()


def _raster(t: int, seed: int = 0) -> np.ndarray:
    return np.random.default_rng(seed).random((t, N_UNITS)) < 0.2


def _full_pass(model, raster):
    with torch.no_grad():
        x = torch.from_numpy(raster[:-1].astype(np.float32))[None]  # (1, T-1, N)
        return torch.sigmoid(model(x))[0].numpy()


@pytest.mark.parametrize("t", [2, 30, 65])
@pytest.mark.parametrize("chunk", [None, 1, 7, 64])
def test_chunked_equals_full_pass_when_it_fits(model, t, chunk):
    raster = _raster(t)
    probs = predict_proba(model, raster, context=64, chunk=chunk, batch_size=3)
    assert probs.shape == (t - 1, N_UNITS) and probs.dtype == np.float32
    np.testing.assert_allclose(probs, _full_pass(model, raster), atol=1e-6)


@pytest.mark.parametrize("chunk", [1, 10, 32])
def test_long_raster_each_prediction_uses_its_own_past(model, chunk):
    raster = _raster(300, seed=1)
    context = 32
    probs = predict_proba(model, raster, context=context, chunk=chunk, batch_size=4)
    assert probs.shape == (299, N_UNITS)
    np.testing.assert_allclose(probs[:context], _full_pass(model, raster[: context + 1]), atol=1e-6)
    for t in (40, 123, 298):
        # prediction t comes from one window of n input bins ending at bin t, context - chunk < n <= context
        lengths = range(context - chunk + 1, context + 1)
        matches = [
            n
            for n in lengths
            if np.allclose(probs[t], _full_pass(model, raster[t + 1 - n : t + 2])[-1], atol=1e-6)
        ]
        assert matches, f"prediction {t} matches no window of {lengths}"
    # chunk 1: exactly the last `context` bins
    if chunk == 1:
        np.testing.assert_allclose(
            probs[200], _full_pass(model, raster[200 - context + 1 : 202])[-1], atol=1e-6
        )


def test_future_does_not_leak(model):
    raster = _raster(200, seed=2)
    changed = raster.copy()
    changed[120:] = ~changed[120:]
    a = predict_proba(model, raster, context=48, chunk=16)
    b = predict_proba(model, changed, context=48, chunk=16)
    np.testing.assert_array_equal(a[:119], b[:119])  # predictions for bins <= 119 see bins <= 118
    assert not np.allclose(a[119:], b[119:])


def test_context_too_long_and_bad_chunk_raise(model):
    with pytest.raises(SpikebridgeConfigError, match="context"):
        predict_proba(model, _raster(10), context=65)
    with pytest.raises(SpikebridgeConfigError, match="chunk"):
        predict_proba(model, _raster(10), context=16, chunk=17)


def test_unit_count_mismatch_raises(model):
    with pytest.raises(SpikebridgeDataError, match="n_units=5"):
        predict_proba(model, np.zeros((10, 4), dtype=bool))
