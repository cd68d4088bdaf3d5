"""Analyses of what a model learned, on hand-built maps, hand-built models and tiny seeded models."""

import dataclasses

import numpy as np
import pytest
import torch
from torch import nn

from spikebridge.analysis.ablations import matched_depth_config, query_bins, query_predictions, shuffle_recent
from spikebridge.analysis.attention import (
    analyse_attention,
    axis_correlation_z,
    lag_profile,
    masked_pearson,
    window_starts,
)
from spikebridge.analysis.influence import align_connections, connection_auc, influence_matrix
from spikebridge.analysis.protocol import attention_switched_off, count_parameters
from spikebridge.analysis.significance import WITHIN, fisher_z, z_t_test
from spikebridge.errors import SpikebridgeConfigError, SpikebridgeDataError
from spikebridge.models.spike_transformer import SpikeTransformer, SpikeTransformerConfig
from spikebridge.training.losses import get_loss
from spikebridge.training.predict import predict_proba


def _tiny_model(n_units=6, seed=0, **overrides) -> SpikeTransformer:
    torch.manual_seed(seed)
    config = SpikeTransformerConfig.profile("tiny", n_units=n_units, max_context=32, dropout=0.0, **overrides)
    return SpikeTransformer(config).eval()


def _raster(n_bins=400, n_units=6, rate=0.2, seed=0) -> np.ndarray:
    return np.random.default_rng(seed).random((n_bins, n_units)) < rate


def test_lag_profile_averages_each_diagonal_over_the_second_half_of_the_queries():
    t = 8
    maps = torch.zeros(t, t)
    for i in range(t):
        for j in range(i + 1):
            maps[i, j] = 10 * (i - j) + i  # diagonal k holds 10 k + i at query i
    prof = lag_profile(maps, max_lag=4, query_start=4)  # queries 4..7 on every diagonal
    expected = torch.tensor([10 * k + 5.5 for k in range(4)])
    assert torch.allclose(prof, expected)
    with pytest.raises(SpikebridgeConfigError, match="max_lag"):
        lag_profile(maps, max_lag=6, query_start=4)


def test_axis_correlations_follow_the_key_rates_and_skip_constant_rows():
    t = 16
    rate = torch.arange(t, dtype=torch.float64) % 5  # varies along every row and column
    causal = torch.tril(torch.ones(t, t, dtype=torch.bool))
    key_following = torch.where(causal, rate[None, :].expand(t, t), 0.0)  # row i = key rates
    z = axis_correlation_z(key_following[None], rate[None], "key", query_start=8)
    assert z[0] == pytest.approx(fisher_z(1.0))
    flat = torch.where(causal, torch.ones(t, t, dtype=torch.float64), 0.0)  # constant rows: undefined
    assert np.isnan(axis_correlation_z(flat[None], rate[None], "key", query_start=8)[0])
    query_following = torch.where(causal, rate[:, None].expand(t, t), 0.0)  # column j = query rates
    assert axis_correlation_z(query_following[None], rate[None], "query", 8)[0] == pytest.approx(
        fisher_z(1.0)
    )


def test_masked_pearson_is_scale_free():
    a = torch.tensor([[1.0, 2.0, 4.0, 3.0, 5.0, 7.0, 6.0, 8.0, 0.0]]) * 1e-9  # tiny values, as importance is
    b = torch.tensor([[2.0, 4.0, 8.0, 6.0, 10.0, 14.0, 12.0, 16.0, 99.0]])
    mask = torch.tensor([[True] * 8 + [False]])
    assert masked_pearson(a, b, mask, dim=-1).item() == pytest.approx(1.0)
    few = torch.tensor([[True] * 5 + [False] * 4])  # fewer than MIN_ENTRIES
    assert np.isnan(masked_pearson(a, b, few, dim=-1).item())


def test_importance_is_the_loss_gradient_at_the_head_outputs_and_w_weights_keys():
    model = _tiny_model(n_units=6)
    raster = _raster(200, 6, 0.3)
    mask = np.ones(6, bool)
    res = analyse_attention(model, raster, mask, get_loss("bce"), "bce", context=16, n_windows=1)
    layer = res.layers[0]
    start = int(res.window_starts[0])
    seg = torch.from_numpy(raster[start : start + 17].astype(np.float32))[None]
    x, y = seg[:, :-1], seg[:, 1:]
    captured = {}

    def keep(module, args, out):
        out.retain_grad()
        captured["h"] = out

    handle = model.blocks[0].attn.head_outputs.register_forward_hook(keep)
    logits, probs = model(x.requires_grad_(True), return_attention=True)
    get_loss("bce")(logits, y, torch.ones(6, dtype=torch.bool)).backward()
    handle.remove()
    importance = captured["h"].grad.abs().sum(-1)[0]  # (H, T)
    a = probs[0][0]  # (H, T, T)
    np.testing.assert_allclose(layer.example_attention, a.detach().numpy(), rtol=1e-5, atol=1e-7)
    w = (a * importance[:, None, :]).abs().mean(0)  # W[i, j] = |A[i, j] I[j]|, head mean
    np.testing.assert_allclose(layer.mean_weighted, w.detach().numpy(), rtol=1e-4, atol=1e-9)
    assert set(layer.window_z) == {f"{m}|{a}|{r}" for m in ("attention", "weighted_importance")
                                   for a in ("query", "key") for r in ("input", "predicted")}  # fmt: skip


def test_window_starts_spread_and_refuse_short_rasters():
    assert window_starts(100, 9, 3).tolist() == [0, 45, 90]
    assert window_starts(25, 9, 10).tolist() == [0, 15]  # only two non-overlapping windows fit
    with pytest.raises(SpikebridgeDataError, match="shorter"):
        window_starts(5, 9, 1)


def test_shuffle_recent_permutes_only_the_recent_bins_of_real_units():
    rng = np.random.default_rng(0)
    windows = rng.random((3, 10, 5)) < 0.5
    mask = np.array([True, True, True, True, False])
    out = shuffle_recent(windows, 0.5, mask, np.random.default_rng(1))
    np.testing.assert_array_equal(out[:, :5], windows[:, :5])  # older half untouched
    np.testing.assert_array_equal(out[:, :, 4], windows[:, :, 4])  # padding untouched
    np.testing.assert_array_equal(out.sum(-1), windows.sum(-1))  # spikes per bin kept
    np.testing.assert_array_equal(np.sort(out[:, 5:, :4], -1), np.sort(windows[:, 5:, :4], -1))
    assert not np.array_equal(out, windows)
    np.testing.assert_array_equal(shuffle_recent(windows, 0.0, mask, np.random.default_rng(1)), windows)
    with pytest.raises(SpikebridgeConfigError):
        shuffle_recent(windows, 1.5, mask, np.random.default_rng(1))


def test_unshuffled_query_predictions_equal_one_step_windowed_prediction():
    model = _tiny_model(n_units=6)
    raster = _raster(120, 6, 0.2)
    queries = query_bins(120, 32, 40)
    assert queries[0] == 31 and queries[-1] == 118
    probs = query_predictions(model, raster, queries, np.ones(6, bool), context=32, fraction=0.0)
    full = predict_proba(model, raster, context=32, chunk=1)  # row t = P(bin t+1 | t-31..t)
    np.testing.assert_allclose(probs, full[queries], rtol=1e-5, atol=1e-6)


def test_attention_switched_off_makes_each_output_depend_on_its_own_bin_only():
    model = _tiny_model(n_units=6)
    x = torch.from_numpy(_raster(20, 6, 0.3).astype(np.float32))[None]
    changed = x.clone()
    changed[0, :10] = 1 - changed[0, :10]
    with attention_switched_off(model):
        a, b = model(x), model(changed)
    assert torch.allclose(a[0, 10:], b[0, 10:])
    assert not torch.allclose(model(x)[0, 10:], model(changed)[0, 10:])  # hooks are removed again
    with pytest.raises(SpikebridgeConfigError, match="no attention"):
        with attention_switched_off(_tiny_model(attention=False)):
            pass


def test_depth_variants_keep_the_parameter_budget_within_two_percent():
    config = SpikeTransformerConfig.profile("quick", n_units=128)

    def count(cfg):
        return count_parameters(SpikeTransformer(cfg))

    target = count(config)
    for depth in (2, 3, 4):
        variant = matched_depth_config(config, depth, count)
        assert variant.n_layers == depth and variant.d_model % variant.n_heads == 0
        assert abs(count(variant) - target) / target < 0.02
    rotary = dataclasses.replace(config, pos_encoding="rotary")
    assert (matched_depth_config(rotary, 3, count).d_model // config.n_heads) % 2 == 0


class _LaggedLinear(nn.Module):
    """logits[t, j] = sum_{lag, i} weights[lag - 1, i, j] x[t + 1 - lag, i]: a model with known influence."""

    def __init__(self, weights: torch.Tensor) -> None:
        super().__init__()
        self.weights = nn.Parameter(weights)
        n_units = weights.shape[1]
        self.config = type("Config", (), {"n_units": n_units, "max_context": 40})()

    def forward(self, x):
        out = torch.zeros_like(x)
        for k in range(self.weights.shape[0]):
            shifted = torch.nn.functional.pad(x, (0, 0, k, 0))[:, : x.shape[1]]  # x[t - k]
            out = out + shifted @ self.weights[k]
        return out


def test_influence_recovers_the_lagged_jacobian_of_a_linear_model():
    weights = torch.zeros(5, 4, 4)
    weights[2, 0, 2] = 1.5  # unit 0 drives unit 2 at lag 3
    weights[0, 2, 1] = -0.7  # unit 2 inhibits unit 1 at lag 1
    weights[1, 3, 0] = 5.0  # from the padding unit: ignored
    model = _LaggedLinear(weights)
    mask = np.array([True, True, True, False])
    res = influence_matrix(model, _raster(300, 4), mask, context=20, n_windows=7, max_lag=6)
    assert res.peak_lag == 3
    assert res.lagged[2, 0, 2] == pytest.approx(1.5) and res.lagged[0, 2, 1] == pytest.approx(-0.7)
    assert res.matrix[0, 2] == pytest.approx(1.5) and res.matrix[2, 1] == pytest.approx(-0.7)
    assert np.isnan(res.matrix[3]).all() and np.isnan(res.matrix[:, 3]).all()  # padding
    assert np.nansum(np.abs(res.matrix)) == pytest.approx(2.2)


def test_connection_auc_kinds_counts_and_exclusions():
    labels = np.array([[0, 1, 0, -1], [0, 0, 1, 0], [-1, 0, 0, 0], [0, 0, 1, 0]])
    scores = np.where(labels > 0, 2.0, np.where(labels < 0, -2.0, 0.1))
    np.fill_diagonal(scores, 99.0)  # ignored
    by = {s.kind: s for s in connection_auc(scores, labels, np.ones(4, bool))}
    assert by["excitatory"].auc == 1.0 and by["inhibitory"].auc == 1.0 and by["sign"].auc == 1.0
    assert (by["excitatory"].n_positive, by["excitatory"].n_negative) == (3, 7)
    assert (by["any"].n_positive, by["inhibitory"].n_positive) == (5, 2)
    by = {s.kind: s for s in connection_auc(-scores, labels, np.array([True, True, True, False]))}
    assert by["excitatory"].auc == 0.0 and by["excitatory"].n_positive == 2  # unit 3 left out
    dense = np.where(np.eye(3, dtype=bool), 0, 1)
    assert np.isnan({s.kind: s for s in connection_auc(np.ones((3, 3)), dense, np.ones(3, bool))}["any"].auc)


def test_align_connections_follows_the_column_order_and_padding():
    labels = np.arange(16).reshape(4, 4) - 8  # source order, entries -8..7
    index = np.array([2, 0, 3, -1])
    out = align_connections(labels, index)
    assert out[0, 1] == np.sign(labels[2, 0]) and out[2, 0] == np.sign(labels[3, 2])
    assert out[1, 2] == np.sign(labels[0, 3]) and (out[3] == 0).all() and (out[:, 3] == 0).all()
    assert align_connections(labels, index, transpose=True)[0, 1] == np.sign(labels[0, 2])
    with pytest.raises(SpikebridgeDataError, match="source unit 7"):
        align_connections(labels, np.array([7, 0]))


def test_z_t_test_is_two_sided_and_reports_undefined_cases():
    from scipy.stats import ttest_1samp

    z = np.array([0.2, 0.1, 0.4, np.nan, 0.3])
    res = z_t_test(z, "attention|key|input")
    ref = ttest_1samp([0.2, 0.1, 0.4, 0.3], 0.0)
    assert res.n == 4 and res.test == WITHIN
    assert res.t == pytest.approx(ref.statistic) and res.p_value == pytest.approx(ref.pvalue)
    assert res.mean_r == pytest.approx(np.tanh(0.25))
    assert np.isnan(z_t_test(np.array([0.3]), "x").p_value)
    assert z_t_test(np.array([np.nan]), "x").to_dict()["mean_r"] is None


def test_a_model_without_attention_gets_shuffles_but_no_attention_ablation():
    from spikebridge.data.types import RecordingInfo, SpikeTrains
    from spikebridge.experiments.explain_ablations import AblationSettings, inference_ablations
    from spikebridge.experiments.scoring import score
    from spikebridge.preprocess.prepare import PrepareConfig, prepare
    from spikebridge.preprocess.split import WindowConfig

    raster = _raster(30000, 6, 0.1, seed=3)  # 30 s: the shortest window the split accepts
    times = tuple((np.flatnonzero(raster[:, i]) + 0.5) * 1e-3 for i in range(6))
    trains = SpikeTrains(times, 30.0, RecordingInfo("r", "in_vitro"))
    prep = prepare(trains, PrepareConfig(window=WindowConfig(train_s=20.0, test_s=10.0), n_units=6))
    model = _tiny_model(attention=False)
    with pytest.raises(SpikebridgeConfigError, match="no attention"):
        analyse_attention(model, prep.test.data, prep.unit_mask, get_loss("bce"))
    intact = score(lambda r: predict_proba(model, r), prep, n_boot=10)
    rows = inference_ablations(
        model, prep, intact, AblationSettings(n_queries=100, fractions=(0.5,), n_boot=10)
    )
    assert [r.condition for r in rows] == ["intact (query bins)", "shuffle recent 50%"]
    # without attention the output at t reads bin t only, and shuffling units of bin t changes it
    assert rows[1].unit_test["n"] > 0 and rows[1].reference == "intact (query bins)"
    with pytest.raises(SpikebridgeConfigError, match="fractions"):
        AblationSettings(fractions=(0.0,))


def test_spike_effects_of_a_linear_model_are_its_weights_and_match_the_gradient_influence():
    weights = torch.zeros(5, 4, 4)
    weights[2, 0, 2], weights[0, 2, 1] = 1.5, -0.7
    model = _LaggedLinear(weights)
    mask = np.array([True, True, True, False])
    raster = _raster(300, 4)
    spike = influence_matrix(model, raster, mask, context=20, n_windows=7, max_lag=6, method="spike")
    grad = influence_matrix(model, raster, mask, context=20, n_windows=7, max_lag=6, method="gradient")
    assert spike.method == "spike" and spike.peak_lag == 3
    np.testing.assert_allclose(spike.lagged, grad.lagged, atol=1e-6)  # linear: the two measures agree
    with pytest.raises(SpikebridgeConfigError, match="influence method"):
        influence_matrix(model, raster, mask, context=20, n_windows=7, max_lag=6, method="shap")


def test_input_importance_of_a_linear_model_is_the_loss_gradient_at_each_lag():
    from spikebridge.analysis.importance import input_importance

    weights = torch.zeros(5, 3, 3)
    weights[1, 0, 1] = 2.0  # unit 0 drives unit 1 at lag 2
    model = _LaggedLinear(weights)
    mask = np.ones(3, bool)
    raster = _raster(200, 3, seed=4)

    def loss(
        logits, targets, unit_mask
    ):  # sum of logits: dL/dx[t + 1 - lag, i] = sum_j weights[lag - 1, i, j]
        return logits.sum()

    imp = input_importance(model, raster, mask, loss, "sum", context=10, n_windows=5, max_lag=6)
    assert imp.method == "gradient" and imp.peak_lag == 2 and imp.n_windows == 5
    np.testing.assert_allclose(imp.profile, [0.0, 2.0, 0.0, 0.0, 0.0, 0.0])
    assert imp.rate_correlation.n <= 5


def test_window_runner_continues_a_stateful_model_exactly_as_teacher_forced_prediction():
    from spikebridge.analysis.protocol import WindowRunner
    from spikebridge.models.bridge import BridgeModel
    from spikebridge.models.bridge_config import BridgeConfig

    torch.manual_seed(0)
    for config in (BridgeConfig.profile("tiny", n_units=5, coupling_lags=3),
                   BridgeConfig.profile("tiny", n_units=5, attention=True, attention_span=8)):  # fmt: skip
        model = BridgeModel(config).eval()
        for p in model.parameters():
            torch.nn.init.normal_(p, std=0.3)
        raster = _raster(300, 5)
        with torch.no_grad():
            full = model(torch.from_numpy(raster.astype(np.float32))[None])[0]  # (T, N)
            runner = WindowRunner(model, raster)
            starts = np.array([0, 37, 200])
            out = runner.logits(runner.windows(starts, 40), starts)
        for i, s in enumerate(starts):
            torch.testing.assert_close(out[i], full[s : s + 40], atol=1e-5, rtol=1e-5)
        with pytest.raises(SpikebridgeConfigError, match="ascending"):
            runner.states([10])
