"""The analyses against planted ground truth: a network whose every connection acts 4 bins after the spike.

One model is trained for the module (rotary positions, tiny profile, 10 short epochs) on 54 s of the
simulation, prepared like a recording (units reordered by training rate, so the ground truth is aligned
through the unit selection as for real data). Attention must peak at the planted lag, influence must
recover the planted connections, and shuffling the recent 95% of the context must lower per-unit ROC-AUC
while a shuffle that spares the planted lag (the most recent 3 bins) and the unshuffled control do not.
"""

import numpy as np
import pytest
import torch

from spikebridge.analysis.attention import analyse_attention
from spikebridge.analysis.glm_coupling import glm_coupling
from spikebridge.analysis.influence import align_connections, connection_auc, influence_matrix
from spikebridge.data.types import RecordingInfo, SpikeTrains
from spikebridge.experiments.explain_ablations import AblationSettings, inference_ablations
from spikebridge.experiments.scoring import score
from spikebridge.models.spike_transformer import SpikeTransformerConfig
from spikebridge.preprocess.prepare import PrepareConfig, prepare
from spikebridge.preprocess.split import WindowConfig
from spikebridge.simulation import simulate_network
from spikebridge.training.fit import TrainConfig, fit_transformer
from spikebridge.training.losses import get_loss
from spikebridge.training.predict import load_model, predict_proba

N_UNITS, LAG, CONTEXT = 16, 4, 64


def sim_recording(spikes: np.ndarray, name: str = "planted") -> SpikeTrains:
    """A raster ``(T, N)`` at 1 ms as spike times at the bin centres."""
    times = tuple((np.flatnonzero(spikes[:, i]) + 0.5) * 1e-3 for i in range(spikes.shape[1]))
    return SpikeTrains(times, spikes.shape[0] * 1e-3, RecordingInfo(name, "in_vivo"))


@pytest.fixture(scope="module")
def planted(tmp_path_factory):
    torch.set_num_threads(1)
    sim = simulate_network(
        N_UNITS, 90_000, lag=LAG, density=0.15, strength=3.0, rate_lo=0.02, rate_hi=0.06, seed=1
    )
    window = WindowConfig(train_s=60.0, test_s=30.0)
    prep = prepare(sim_recording(sim.spikes), PrepareConfig(window=window, n_units=N_UNITS))
    model_config = SpikeTransformerConfig.profile(
        "tiny", n_units=N_UNITS, pos_encoding="rotary", max_context=CONTEXT
    )
    train_config = TrainConfig(loss="bce", lr=3e-3, batch_size=32, window=CONTEXT, windows_per_epoch=512,
                               max_epochs=10, patience=10, val_windows=64, seed=0, accelerator="cpu")  # fmt: skip
    out = tmp_path_factory.mktemp("planted")
    result = fit_transformer(prep.fit.data, prep.val.data, prep.unit_mask, model_config, train_config, out,
                             progress=False)  # fmt: skip
    truth = align_connections(sim.connections(), prep.selection.index)
    return sim, prep, load_model(result.checkpoint_path), truth


@pytest.mark.slow
def test_units_are_reordered_so_alignment_matters(planted):
    sim, prep, _, truth = planted
    index = prep.selection.index
    assert not np.array_equal(index, np.arange(N_UNITS))
    c, d = np.argwhere(truth != 0)[0]
    assert truth[c, d] == sim.connections()[index[c], index[d]]


@pytest.mark.slow
def test_attention_lag_profile_peaks_at_the_planted_lag(planted):
    _, prep, model, _ = planted
    res = analyse_attention(model, prep.test.data, prep.unit_mask, get_loss("bce"), "bce", CONTEXT, 32, 12)
    layer = res.layers[0]
    assert layer.peak_lag == LAG
    assert layer.attention_profile.mean(0)[LAG - 1] > 0.5  # most of the attention sits on that bin


@pytest.mark.slow
def test_influence_and_glm_coupling_recover_the_planted_connections(planted):
    from spikebridge.baselines import CoupledGLMBaseline

    _, prep, model, truth = planted
    infl = influence_matrix(model, prep.test.data, prep.unit_mask, CONTEXT, n_windows=128, max_lag=12)
    assert infl.peak_lag == LAG
    by = {s.kind: s for s in connection_auc(infl.matrix, truth, prep.unit_mask)}
    assert by["any"].auc > 0.8 and by["excitatory"].auc > 0.8 and by["sign"].auc > 0.8
    assert by["any"].n_positive == int((truth != 0).sum())
    glm = CoupledGLMBaseline().fit(prep.fit.data, prep.unit_mask)
    glm_by = {s.kind: s for s in connection_auc(glm_coupling(glm, 12), truth, prep.unit_mask, "glm")}
    assert glm_by["excitatory"].auc > 0.8


@pytest.mark.slow
def test_recent_shuffle_lowers_per_unit_auc_but_the_controls_do_not(planted):
    _, prep, model, _ = planted
    intact = score(lambda r: predict_proba(model, r), prep, n_boot=50)
    settings = AblationSettings(n_queries=3000, fractions=(3 / CONTEXT, 0.95), n_boot=50)
    rows = {r.condition: r for r in inference_ablations(model, prep, intact, settings)}
    spare, full = rows["shuffle recent 5%"], rows["shuffle recent 95%"]  # 5% of 64 bins = lags 1-3
    base = rows["intact (query bins)"].metrics["roc_auc_unit_mean"]["value"]
    assert base > 0.6
    assert full.metrics["roc_auc_unit_mean"]["value"] < base - 0.1
    assert full.unit_test["p_value"] < 0.01 and full.unit_test["effect"] < 0
    assert abs(spare.metrics["roc_auc_unit_mean"]["value"] - base) < 0.02
    assert abs(base - intact.metric("roc_auc_unit_mean").value) < 0.03  # unshuffled queries: same skill
    off = rows["attention off (inference)"]
    assert off.metrics["roc_auc_unit_mean"]["value"] < intact.metric("roc_auc_unit_mean").value - 0.1
