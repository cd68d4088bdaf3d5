"""The full-batch solve of the bridge model's per-column part: exact conversion between its standardised
coordinates and the model's parameters, per-unit priors, padding columns, and recovery of a simulated
network's coupling close to the simulator's true probabilities."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from sklearn.metrics import roc_auc_score

from spikebridge.evaluation.information import bits_per_spike
from spikebridge.models.bridge import BridgeModel
from spikebridge.models.bridge_config import BridgeConfig
from spikebridge.simulation import simulate
from spikebridge.training.bridge_data import FeatureBank
from spikebridge.training.bridge_module import BridgeModule
from spikebridge.training.bridge_warm import _Columns, _Design, solve_columns
from spikebridge.training.fit_bridge import init_bridge_bias
from spikebridge.training.predict import predict_proba


def _model(n_units: int, raster: np.ndarray, mask: np.ndarray, **overrides) -> BridgeModel:
    torch.manual_seed(0)
    config = BridgeConfig.profile("tiny", n_units=n_units, coupling_lags=3, **overrides)
    model = BridgeModel(config)
    model.fit_standardization(torch.from_numpy(raster.astype(np.float32)), torch.from_numpy(mask))
    init_bridge_bias(model, raster, mask)
    return model


def test_standardised_coordinates_give_the_models_logits_and_write_back_exactly():
    rng = np.random.default_rng(0)
    n, mask = 6, np.array([True, False, True, True, False, True])
    raster = (rng.random((3000, n)) < 0.05) & mask
    model = _model(n, raster, mask)
    with torch.no_grad():  # arbitrary per-column parameters, padding columns included
        for p in model.column_parameters():
            p.copy_(torch.randn_like(p) * 0.3)
        model.column_gain[:, 1:] = 0  # the solve reads the context's first (constant) channel only
    bank = FeatureBank(model, raster, mask)
    real = torch.as_tensor(np.flatnonzero(mask))
    design = _Design(model, bank, np.array([99, 1099]), 1000, real)
    design.standardise()
    cols = _Columns(model, design, real)

    def model_logits(columns: bool = True) -> torch.Tensor:  # the model on the same stored features
        with torch.no_grad():
            out = []
            for start in (99, 1099):
                feats = {k: v[None] for k, v in bank.window(start, 1000).items()}
                shared, column, _ = model.parts(feats, columns=columns)
                out.append((shared if column is None else shared + column)[0])
            return torch.cat(out)

    expected = model_logits()
    with torch.no_grad():
        logits = cols.logits(design, slice(None))
    torch.testing.assert_close(logits, expected[:, real], atol=2e-5, rtol=1e-5)
    # writing the same values back leaves the real columns' logits unchanged and zeroes the padding's
    cols.write(model, cols.unit_values())
    after, shared = model_logits(), model_logits(columns=False)
    torch.testing.assert_close(after[:, real], expected[:, real], atol=2e-5, rtol=1e-5)
    torch.testing.assert_close(after[:, ~torch.from_numpy(mask)], shared[:, ~torch.from_numpy(mask)])
    groups = model.config.coupling_lags + len(model.config.coupling_taus)
    assert groups == 4 and model.coupling.weight[:, torch.from_numpy(np.tile(~mask, groups))].abs().sum() == 0


def test_solve_recovers_a_simulated_network_near_its_true_probabilities():
    n, n_bins = 16, 60_000
    sim = simulate(n_units=n, n_bins=n_bins, regime="in_vivo", seed=3)
    mask = np.ones(n, bool)
    n_fit, n_train = 36_000, 40_000
    model = _model(n, sim.spikes[:n_fit], mask, coupling_taus=())
    bank = FeatureBank(model, sim.spikes[:n_train], mask)
    before = model.coupling.weight.detach().clone()
    result = solve_columns(model, bank, mask, (1, n_fit), (n_fit, n_train), path=(0.1, 0.3, 1.0))
    assert before.abs().sum() == 0 and result.bins == 35 * 1024
    assert set(np.unique(result.prior_sd)) <= {0.1, 0.3, 1.0}
    assert result.val_loss[1] < result.val_loss[0]  # the weaker prior fits the coupling better
    with torch.no_grad():
        probs = predict_proba(model.eval(), sim.spikes)[n_train - 1 :]
    targets = sim.spikes[n_train:]
    model_bits, _ = bits_per_spike(probs, targets, mask)
    oracle_bits, _ = bits_per_spike(sim.prob[n_train:], targets, mask)
    assert model_bits / oracle_bits > 0.85
    # the recovered weights rank the simulated connections (unit and exact lag) above absent ones
    true = np.abs(sim.coupling).transpose(1, 0, 2).reshape(n, -1)  # (target, lag * N + source)
    weight = model.coupling.weight.detach().abs().numpy()
    off = np.ones_like(true, bool)
    off[:, :n][np.diag_indices(n)] = False  # refractoriness: read by the time-since-spike table instead
    off[sim.rule.target] = False  # driven by the planted rule, not by coupling
    auc = roc_auc_score(true[off] > 0, weight[off])
    assert auc > 0.75, auc  # 0.80 measured; weights at random give 0.5


@pytest.mark.parametrize("prior", [0.5, np.array([0.5, 0.5, 2.0, 0.1])])
def test_module_prior_weights_each_column_by_its_own_scale(prior):
    mask = np.array([True, True, True, False])
    raster = np.zeros((200, 4), bool)
    model = _model(4, raster | (np.random.default_rng(1).random((200, 4)) < 0.1), mask)
    with torch.no_grad():
        for p in model.column_parameters():
            p.fill_(1.0)
    module = BridgeModule(model, "bce", {}, 1e-3, 1e-2, 0.0, mask, prior, 0.5, 100, 10)
    scale = np.broadcast_to(prior, (4,))
    count = {name: p for name, p in model.named_parameters()}
    per_column = (
        count["coupling.weight"].shape[1] + count["column_since"].shape[0] + count["column_own"].shape[1]
        + 1 + count["column_gain"].shape[1]
    )  # fmt: skip
    expected = sum(0.5 / (s**2 * 100) * per_column for s in scale)
    assert float(module._prior()) == pytest.approx(expected, rel=1e-6)


def test_fit_with_the_solve_starts_from_the_solved_columns_and_keeps_their_priors(tmp_path, monkeypatch):
    import spikebridge.training.fit_bridge as fit_bridge_module
    from spikebridge.training.fit_bridge import BridgeTrainConfig, fit_bridge
    from spikebridge.training.predict import load_model

    sim = simulate(n_units=6, n_bins=12_000, regime="in_vivo", seed=5)
    mask = np.array([True] * 5 + [False])
    raster = sim.spikes & mask
    seen = {}
    original = fit_bridge_module.BridgeModule

    def spy(model, *args):
        seen["prior"] = np.asarray(args[6], dtype=float).copy()
        seen["coupling"] = model.coupling.weight.detach().clone()
        return original(model, *args)

    monkeypatch.setattr(fit_bridge_module, "BridgeModule", spy)
    config = BridgeConfig.profile("tiny", n_units=6, coupling_lags=3)
    train = BridgeTrainConfig(loss="bce", window=64, batch_size=4, windows_per_epoch=8, max_epochs=1, patience=1,
                              column_solve=(0.1, 1.0), solve_iterations=10)  # fmt: skip
    fit = fit_bridge(raster[:9000], raster[9000:], mask, config, train, tmp_path, progress=False)
    assert seen["coupling"][mask].abs().sum() > 0  # gradient training started from the solve
    assert seen["coupling"][~mask].abs().sum() == 0
    assert set(seen["prior"][mask]) <= {0.1, 1.0} and seen["prior"][~mask].tolist() == [0.1]
    assert load_model(fit.checkpoint_path).config.coupling_lags == 3
