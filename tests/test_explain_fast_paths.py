"""The explanation's fast paths give what their definitions give, computed the slow, obvious way.

* Spike effects: each (unit, lag) toggle of a stateful model is stepped from the state just before the
  toggled bin and compared with the window's own logits; the definition runs the whole window twice
  (spike, no spike).
* Shared effects: influence and importance read one pass of spike effects; given the pass they return
  exactly what they compute alone, and refuse a pass over other windows.
* Shuffle ablation of a stateful model: only the shuffled span is read again from the warm state; the
  definition reads the whole context window with the same permutations.
"""

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from spikebridge.analysis.ablations import query_bins, query_predictions, shuffle_recent
from spikebridge.analysis.attention import window_starts
from spikebridge.analysis.importance import input_importance
from spikebridge.analysis.influence import influence_matrix
from spikebridge.analysis.perturbation import spike_effects, window_effects
from spikebridge.analysis.protocol import WindowRunner
from spikebridge.errors import SpikebridgeConfigError
from spikebridge.models.bridge import BridgeModel
from spikebridge.models.bridge_config import BridgeConfig

N_UNITS = 6
MASK = np.array([True, True, True, True, True, False])


def _model(**overrides) -> BridgeModel:
    torch.manual_seed(0)
    model = BridgeModel(BridgeConfig.profile("tiny", n_units=N_UNITS, **overrides)).eval()
    with torch.no_grad():
        for p in model.parameters():
            torch.nn.init.normal_(p, std=0.3)
    return model


def _raster(n_bins=300, seed=0) -> np.ndarray:
    return np.random.default_rng(seed).random((n_bins, N_UNITS)) < 0.2


def _effects_by_definition(runner, x, starts, units, max_lag, target, mask):
    """logit(spike) - logit(no spike) and |nll difference|, each toggle read as a whole window twice."""
    b, t, n = x.shape
    effect, nll = torch.zeros(b, max_lag, len(units), n), torch.zeros(b, max_lag, len(units))
    state = runner.states(starts)
    for k in range(max_lag):
        for c, unit in enumerate(units):
            pair = []
            for value in (1.0, 0.0):
                xs = x.clone()
                xs[:, t - 1 - k, unit] = value
                pair.append(runner.last_logits(xs, state))
            effect[:, k, c] = pair[0] - pair[1]
            losses = [
                (F.binary_cross_entropy_with_logits(z, target, reduction="none") * mask).sum(-1) for z in pair
            ]
            nll[:, k, c] = (losses[0] - losses[1]).abs()
    return effect, nll


@pytest.mark.parametrize("overrides", [dict(coupling_lags=3), dict(attention=True, attention_span=8)])
def test_stepped_spike_effects_equal_the_two_window_definition(overrides):
    model, raster = _model(**overrides), _raster()
    starts = np.array([3, 120, 250])
    mask = torch.from_numpy(MASK)
    units = torch.tensor([0, 2, 4])
    with torch.no_grad():
        fast_runner, slow_runner = WindowRunner(model, raster, MASK), WindowRunner(model, raster, MASK)
        seg = fast_runner.windows(starts, 9)  # (B, 9, N): 8 input bins and the target
        effect, nll = spike_effects(fast_runner, seg[:, :-1], starts, units, 5, seg[:, -1], mask)
        ref_effect, ref_nll = _effects_by_definition(
            slow_runner, seg[:, :-1], starts, units, 5, seg[:, -1], mask.float()
        )
    assert effect.shape == (3, 5, 3, N_UNITS) and nll.shape == (3, 5, 3)
    assert ref_effect.abs().max() > 0.05  # the toggles do move the logits
    torch.testing.assert_close(effect, ref_effect, atol=2e-5, rtol=1e-4)
    torch.testing.assert_close(nll, ref_nll, atol=2e-5, rtol=1e-4)


def test_influence_and_importance_read_one_shared_pass_and_refuse_other_windows():
    model, raster = _model(coupling_lags=2), _raster(seed=3)
    loss = lambda logits, targets, mask: logits.sum()  # noqa: E731 (unused by the spike method)
    alone_infl = influence_matrix(model, raster, MASK, n_windows=6, max_lag=4)
    alone_imp = input_importance(model, raster, MASK, loss, n_windows=6, max_lag=4)
    starts = window_starts(raster.shape[0], 4, 6)
    effects = window_effects(WindowRunner(model, raster, MASK), starts, 4, torch.tensor([0, 1, 2, 3, 4]), 4)
    shared_infl = influence_matrix(model, raster, MASK, n_windows=6, max_lag=4, effects=effects)
    shared_imp = input_importance(model, raster, MASK, loss, n_windows=6, max_lag=4, effects=effects)
    np.testing.assert_array_equal(shared_infl.lagged, alone_infl.lagged)
    np.testing.assert_array_equal(shared_imp.profile, alone_imp.profile)
    assert shared_infl.n_windows == len(starts) == 6 and shared_imp.peak_lag == alone_imp.peak_lag
    with pytest.raises(SpikebridgeConfigError, match="spike effects cover 6 windows of 4 bins"):
        influence_matrix(model, raster, MASK, n_windows=5, max_lag=4, effects=effects)
    with pytest.raises(SpikebridgeConfigError, match="up to lag 3"):
        input_importance(model, raster, MASK, loss, context=4, n_windows=6, max_lag=3, effects=effects)


def _queries_by_definition(model, raster, queries, context, fraction, seed):
    """Whole ``context``-bin windows from the warm state, the recent ``fraction`` shuffled (batches of 64)."""
    runner, rng, out = WindowRunner(model, raster, MASK), np.random.default_rng(seed), []
    for i in range(0, queries.size, 64):
        idx = queries[i : i + 64, None] + np.arange(-context + 1, 1)[None, :]  # (B, T)
        windows = shuffle_recent(runner.raster[idx], fraction, MASK, rng).astype(np.float32)
        out.append(torch.sigmoid(runner.logits(torch.from_numpy(windows), idx[:, 0])[:, -1]).numpy())
    return np.concatenate(out)


@pytest.mark.parametrize("fraction", [0.0, 0.5, 0.95])
def test_stateful_shuffle_reads_only_the_shuffled_span_and_predicts_as_the_whole_window(fraction):
    model, raster = _model(coupling_lags=2), _raster(seed=5)
    queries = query_bins(raster.shape[0], 40, 30)
    with torch.no_grad():
        fast = query_predictions(model, raster, queries, MASK, 40, fraction, seed=7)
        slow = _queries_by_definition(model, raster, queries, 40, fraction, seed=7)
    assert fast.shape == (30, N_UNITS)
    np.testing.assert_allclose(fast, slow, atol=2e-6)
    if fraction:  # the shuffle changed the predictions (so the comparison above is not vacuous)
        intact = query_predictions(model, raster, queries, MASK, 40, 0.0, seed=7)
        assert np.abs(fast - intact).max() > 1e-3
