"""Per-unit shrinkage of the bridge model's logits towards each unit's training rate: chosen on validation
bins, it leaves a unit the model predicts well alone, pulls a unit it predicts badly to its rate, keeps
every unit's ranking (ROC-AUC), applies only with the per-column part, and travels with the checkpoint."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from sklearn.metrics import roc_auc_score

from spikebridge.errors import SpikebridgeConfigError
from spikebridge.models.bridge import BridgeModel
from spikebridge.models.bridge_config import BridgeConfig
from spikebridge.training.bridge_calibration import SHRINK_GRID, calibrate_columns, training_anchor
from spikebridge.training.bridge_data import FeatureBank
from spikebridge.training.checkpoint import load_checkpoint
from spikebridge.training.fit_bridge import BridgeTrainConfig, fit_bridge, init_bridge_bias
from spikebridge.training.predict import load_model, predict_proba


def _network(n_bins: int = 20_000, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Unit 1 and unit 2 fire independently (p = 0.05); unit 0 fires with p = 0.4 in the bin after a
    spike of unit 1 and p = 0.01 otherwise; column 3 is padding."""
    rng = np.random.default_rng(seed)
    raster = np.zeros((n_bins, 4), dtype=bool)
    raster[:, 1:3] = rng.random((n_bins, 2)) < 0.05
    driven = np.concatenate([[False], raster[:-1, 1]])
    raster[:, 0] = rng.random(n_bins) < np.where(driven, 0.4, 0.01)
    return raster, np.array([True, True, True, False])


def _hand_model(raster: np.ndarray, mask: np.ndarray, fit: slice) -> BridgeModel:
    """The tiny model with the true coupling 1 -> 0 and a spurious one of the same size 1 -> 2."""
    torch.manual_seed(0)
    model = BridgeModel(BridgeConfig.profile("tiny", n_units=4))
    model.fit_standardization(torch.from_numpy(raster[fit].astype(np.float32)), torch.from_numpy(mask))
    init_bridge_bias(model, raster[fit], mask)
    with torch.no_grad():
        model.since_table.zero_()
        lift = float(np.log(0.4 / 0.6) - np.log(0.01 / 0.99))
        model.coupling.weight[0, 1] = lift  # lag-1 input of unit 1 (first group of inputs)
        model.coupling.weight[2, 1] = lift
        model.column_bias[0] = float(np.log(0.01 / 0.99)) - float(model.bias)
        model.column_bias[2] = float(np.log(0.05 / 0.95)) - float(model.bias) - 0.05 * lift
    return model


def test_shrinkage_keeps_a_predicted_unit_and_pulls_a_mispredicted_one_to_its_rate():
    raster, mask = _network()
    model = _hand_model(raster, mask, slice(0, 10_000))
    bank = FeatureBank(model, raster, mask)
    before = predict_proba(model, raster[10_000:], progress=False)
    anchor = training_anchor(raster[:10_000], mask)
    cal = calibrate_columns(model, bank, mask, anchor, (10_000, 20_000))

    assert cal.scale[0] == 1.0  # the true coupling is kept as it is
    assert cal.scale[2] <= 0.1  # the spurious one: back to (nearly) the constant rate
    assert cal.scale[3] == 1.0 and cal.anchor[3] == 0.0  # padding column untouched
    assert cal.gain_bits[0] == 0.0 and cal.gain_bits[2] > 0.3
    rate = raster[:10_000, 2].mean()
    assert cal.anchor[2] == pytest.approx(np.log(rate / (1 - rate)), rel=1e-6)
    torch.testing.assert_close(model.calibration_scale, torch.tensor(cal.scale, dtype=torch.float32))

    after = predict_proba(model, raster[10_000:], progress=False)
    z_before = np.log(before) - np.log1p(-before)
    z_after = np.log(after) - np.log1p(-after)
    expected = cal.anchor + cal.scale * (z_before - cal.anchor)
    np.testing.assert_allclose(z_after[:, :3], expected[:, :3], atol=2e-4)
    y = raster[10_001:]
    for unit in range(3):  # a positive scale keeps every unit's ranking of the bins
        assert roc_auc_score(y[:, unit], after[:, unit]) == pytest.approx(
            roc_auc_score(y[:, unit], before[:, unit]), abs=1e-9
        )
    # on another recording (no per-column part) the shrinkage does not apply
    np.testing.assert_array_equal(
        predict_proba(model, raster[10_000:], progress=False, columns=False),
        predict_proba(_hand_model(raster, mask, slice(0, 10_000)), raster[10_000:], progress=False,
                      columns=False),
    )  # fmt: skip


def test_checkpoints_without_the_shrinkage_load_as_unshrunk():
    raster, mask = _network(4000)
    model = _hand_model(raster, mask, slice(0, 4000))
    state = {k: v for k, v in model.state_dict().items() if not k.startswith("calibration_")}
    fresh = BridgeModel(model.config)
    fresh.load_state_dict(state)
    assert torch.equal(fresh.calibration_scale, torch.ones(4))
    assert torch.equal(fresh.calibration_anchor, torch.zeros(4))


def test_fit_chooses_the_shrinkage_on_validation_and_stores_it_in_the_checkpoint(tmp_path):
    raster, mask = _network()
    config = BridgeConfig.profile("tiny", n_units=4)
    train_cfg = BridgeTrainConfig(window=64, batch_size=8, windows_per_epoch=64, max_epochs=1, patience=1,
                                  lr=1e-2, seed=0)  # fmt: skip
    fit = fit_bridge(raster[:16_000], raster[16_000:], mask, config, train_cfg, tmp_path, progress=False)
    model = load_model(fit.checkpoint_path)
    scale = model.calibration_scale.numpy()
    assert set(scale[:3].tolist()) <= set(np.float32(SHRINK_GRID).tolist())
    assert scale[3] == 1.0
    anchor = training_anchor(raster[:16_000], mask)
    np.testing.assert_allclose(model.calibration_anchor.numpy(), anchor, rtol=1e-6)
    info = load_checkpoint(fit.checkpoint_path).extra["calibration"]
    assert info["shrunk_units"] == int((scale[:3] < 1).sum())
    # without a grid the model is left unshrunk
    plain = fit_bridge(raster[:16_000], raster[16_000:], mask, config,
                       BridgeTrainConfig(**{**train_cfg.to_dict(), "calibrate": ()}), tmp_path / "plain",
                       progress=False)  # fmt: skip
    assert torch.equal(load_model(plain.checkpoint_path).calibration_scale, torch.ones(4))


def test_shrinkage_grid_is_validated():
    with pytest.raises(SpikebridgeConfigError, match="calibrate"):
        BridgeTrainConfig(calibrate=(0.0, 1.0))
    raster, mask = _network(4000)
    model = BridgeModel(BridgeConfig.profile("tiny", n_units=4, columns=False))
    model.fit_standardization(torch.from_numpy(raster.astype(np.float32)), torch.from_numpy(mask))
    with pytest.raises(SpikebridgeConfigError, match="per column"):
        calibrate_columns(model, FeatureBank(model, raster, mask), mask, np.zeros(4), (2000, 4000))


def test_no_shrinkage_is_always_a_candidate():
    raster, mask = _network()
    model = _hand_model(raster, mask, slice(0, 10_000))
    anchor = training_anchor(raster[:10_000], mask)
    cal = calibrate_columns(
        model, FeatureBank(model, raster, mask), mask, anchor, (10_000, 20_000), grid=(0.05,)
    )
    assert cal.scale[0] == 1.0 and cal.scale[2] == 0.05 and cal.scale[3] == 1.0
    assert set(cal.scale.tolist()) <= {0.05, 1.0}
