"""End-to-end: train the quick profile on simulated spikes and recover the planted structure.

The simulation is the in vivo-like regime with 24 units, sparse strong couplings over 2 lags and the
planted rule (unit 2 fires 1 bin after units 0 and 1 fire together). 60 s train, 15 s validation,
25 s test at 1 ms bins. Calibration (Platt) and early stopping use the validation part only.
"""

import csv
import math

import numpy as np
import pytest
import torch
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import roc_auc_score

import spikebridge.training.fit as fit_mod
import spikebridge.training.module as module_mod
from spikebridge.errors import SpikebridgeError
from spikebridge.models.spike_transformer import SpikeTransformerConfig
from spikebridge.simulation import simulate
from spikebridge.training.checkpoint import load_checkpoint
from spikebridge.training.data import data_hash
from spikebridge.training.fit import TrainConfig, fit_transformer
from spikebridge.training.losses import bce_loss
from spikebridge.training.predict import load_model, predict_proba

torch.set_num_threads(1)  # 2 shared CPU cores: extra threads only contend

N_UNITS, N_TRAIN, N_VAL, N_TEST = 24, 60_000, 15_000, 25_000


def _loglik(prob: np.ndarray, spikes: np.ndarray) -> float:
    prob = np.clip(prob, 1e-9, 1 - 1e-9)
    return float(np.sum(spikes * np.log(prob) + (~spikes) * np.log1p(-prob)))


def bits_per_spike(prob: np.ndarray, spikes: np.ndarray, train_rate: np.ndarray) -> float:
    """(loglik(model) - loglik(per-unit train rate)) / (n_spikes ln 2), summed over units."""
    rate = np.broadcast_to(np.clip(train_rate, 1e-9, 1), spikes.shape)
    return (_loglik(prob, spikes) - _loglik(rate, spikes)) / (spikes.sum() * math.log(2))


def _logit(p: np.ndarray) -> np.ndarray:
    p = np.clip(p.astype(np.float64), 1e-7, 1 - 1e-7)
    return (np.log(p) - np.log1p(-p)).reshape(-1, 1)  # (T*N, 1)


@pytest.mark.slow
def test_quick_profile_recovers_simulated_structure(tmp_path):
    sim = simulate(N_UNITS, N_TRAIN + N_VAL + N_TEST, "in_vivo", seed=3, density=0.05, strength=5.0, n_lags=2)
    train, val, test = np.split(sim.spikes, [N_TRAIN, N_TRAIN + N_VAL])
    model_config = SpikeTransformerConfig.profile("quick", n_units=N_UNITS, pos_encoding="rotary")
    train_config = TrainConfig(loss="bce", lr=3e-3, batch_size=64, window=64, windows_per_epoch=1024,
                               max_epochs=50, patience=10, val_windows=230, seed=0, accelerator="cpu")  # fmt: skip
    result = fit_transformer(train, val, np.ones(N_UNITS, bool), model_config, train_config, tmp_path,
                             data_hash=data_hash(train, val), progress=False)  # fmt: skip
    assert 1 <= result.epochs_run <= 50 and len(result.history) == result.epochs_run
    with open(tmp_path / "metrics.csv") as fh:
        rows = list(csv.DictReader(fh))
    assert len(rows) == result.epochs_run
    assert float(rows[result.best_epoch]["val_loss"]) == pytest.approx(result.best_val_loss)
    assert load_checkpoint(result.checkpoint_path).extra["epoch"] == result.best_epoch

    model = load_model(result.checkpoint_path)
    p_val = predict_proba(model, val, context=64, chunk=32)  # (T-1, N): bins 1.. of val
    p_test = predict_proba(model, test, context=64, chunk=32)
    y_val, y_test = val[1:], test[1:]
    assert roc_auc_score(y_test[:, 2], p_test[:, 2]) > 0.95  # the rule-driven unit C

    platt = LogisticRegression(C=1e6).fit(_logit(p_val), y_val.ravel())
    calibrated = platt.predict_proba(_logit(p_test))[:, 1].reshape(p_test.shape)
    rate = train.mean(axis=0)
    oracle = sim.prob[N_TRAIN + N_VAL + 1 :]  # true P(spike) of the same test bins
    ours, best = bits_per_spike(calibrated, y_test, rate), bits_per_spike(oracle, y_test, rate)
    assert best > 0.5
    assert ours >= 0.9 * best, f"bits/spike {ours:.3f} vs oracle {best:.3f}"


def test_nan_loss_stops_training_and_keeps_best_checkpoint(tmp_path, monkeypatch):
    sim = simulate(6, 3000, "in_vivo", seed=0)
    calls = {"n": 0}

    def flaky_get_loss(name, **kwargs):
        def loss(logits, targets, mask=None):
            calls["n"] += 1
            value = bce_loss(logits, targets, mask)
            return value * math.nan if calls["n"] > 6 else value  # epoch 0 trains and validates cleanly

        return loss

    monkeypatch.setattr(module_mod, "get_loss", flaky_get_loss)
    config = TrainConfig(
        loss="bce", batch_size=4, window=32, windows_per_epoch=16, max_epochs=5, val_windows=8
    )
    model_config = SpikeTransformerConfig.profile("quick", n_units=6, max_context=32)
    with pytest.raises(SpikebridgeError, match="loss became nan"):
        fit_transformer(sim.spikes[:2000], sim.spikes[2000:], np.ones(6, bool), model_config, config, tmp_path,
                        progress=False)  # fmt: skip
    best = load_checkpoint(tmp_path / "best.ckpt")
    assert best.extra["epoch"] == 0
    assert all(torch.isfinite(t).all() for t in best.state_dict.values())


def test_wbce_automatic_pos_weight_comes_from_training_data():
    train = np.zeros((100, 3), dtype=bool)
    train[:10, 0] = True  # 10 spikes in 200 counted bins (unit 2 masked out)
    train[:, 2] = True
    config = TrainConfig(loss="wbce", loss_kwargs={"pos_weight": None})
    kwargs = fit_mod._resolve_loss_kwargs(config, train, np.array([True, True, False]))
    assert kwargs == {"pos_weight": 19.0}


def test_window_longer_than_context_is_rejected(tmp_path):
    from spikebridge.errors import SpikebridgeConfigError

    with pytest.raises(SpikebridgeConfigError, match="window"):
        fit_transformer(np.zeros((500, 6), bool), np.zeros((100, 6), bool), np.ones(6, bool),
                        SpikeTransformerConfig.profile("quick", n_units=6, max_context=32),
                        TrainConfig(window=64), tmp_path, progress=False)  # fmt: skip
