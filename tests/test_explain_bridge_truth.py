"""The bridge model's analyses against planted ground truth (the network of test_explain_ground_truth).

Every connection acts 4 bins after the spike. One bridge model (tiny profile with exact coupling lags
1-4, so the planted lag is one it can resolve) is trained for the module on the same 54 s of the
simulation, prepared like a recording. Influence (the logit change of one added spike) must peak at the
planted lag and recover the planted connections, and so must the importance of the input bins; shuffling the recent 95% of each prediction's context must lower per-unit ROC-AUC while the
unshuffled control keeps the skill of teacher-forced prediction; the attention analyses must be reported
as not applicable, not crash.
"""

import copy

import numpy as np
import pytest
import torch

from spikebridge.analysis.applicability import applicability
from spikebridge.analysis.importance import input_importance
from spikebridge.analysis.influence import align_connections, connection_auc, influence_matrix
from spikebridge.experiments.explain_ablations import AblationSettings, inference_ablations, part_ablations
from spikebridge.experiments.scoring import score
from spikebridge.models.bridge_config import BridgeConfig
from spikebridge.preprocess.prepare import PrepareConfig, prepare
from spikebridge.preprocess.split import WindowConfig
from spikebridge.simulation import simulate_network
from spikebridge.training.fit_bridge import BridgeTrainConfig, fit_bridge
from spikebridge.training.losses import get_loss
from spikebridge.training.predict import load_model, predict_proba
from test_explain_ground_truth import LAG, N_UNITS, sim_recording


@pytest.fixture(scope="module")
def planted_bridge(tmp_path_factory):
    torch.set_num_threads(1)
    sim = simulate_network(
        N_UNITS, 90_000, lag=LAG, density=0.15, strength=3.0, rate_lo=0.02, rate_hi=0.06, seed=1
    )
    prep = prepare(sim_recording(sim.spikes), PrepareConfig(window=WindowConfig(train_s=60.0, test_s=30.0),
                                                            n_units=N_UNITS))  # fmt: skip
    model_config = BridgeConfig.profile("tiny", n_units=N_UNITS, coupling_lags=LAG)
    train_config = BridgeTrainConfig(loss="bce", lr=1e-2, batch_size=8, window=256, windows_per_epoch=128,
                                     max_epochs=4, patience=4, seed=0, accelerator="cpu")  # fmt: skip
    out = tmp_path_factory.mktemp("planted_bridge")
    result = fit_bridge(prep.fit.data, prep.val.data, prep.unit_mask, model_config, train_config, out,
                        progress=False)  # fmt: skip
    truth = align_connections(sim.connections(), prep.selection.index)
    return prep, load_model(result.checkpoint_path), truth


@pytest.mark.slow
def test_bridge_influence_peaks_at_the_planted_lag_and_recovers_the_connections(planted_bridge):
    prep, model, truth = planted_bridge
    infl = influence_matrix(model, prep.test.data, prep.unit_mask, n_windows=64, max_lag=8)
    assert infl.context == 8 and infl.method == "spike"  # the warm state holds the earlier bins
    assert infl.peak_lag == LAG
    by = {s.kind: s for s in connection_auc(infl.matrix, truth, prep.unit_mask)}
    assert by["any"].auc > 0.8 and by["excitatory"].auc > 0.8 and by["sign"].auc > 0.8


@pytest.mark.slow
def test_bridge_input_importance_peaks_at_the_planted_lag(planted_bridge):
    prep, model, _ = planted_bridge
    imp = input_importance(model, prep.test.data, prep.unit_mask, get_loss("bce"), "bce", None, 32, 8)
    assert imp.method == "spike" and imp.n_windows == 32 and imp.profile.shape == (8,)
    assert imp.peak_lag == LAG


@pytest.mark.slow
def test_bridge_recent_shuffle_lowers_per_unit_auc_but_the_control_does_not(planted_bridge):
    prep, model, _ = planted_bridge
    intact = score(lambda r: predict_proba(model, r), prep, n_boot=50)
    settings = AblationSettings(n_queries=2000, context=64, fractions=(0.95,), n_boot=50)
    rows = {r.condition: r for r in inference_ablations(model, prep, intact, settings)}
    assert set(rows) == {"intact (query bins)", "shuffle recent 95%"}  # no attention to switch off
    base = rows["intact (query bins)"].metrics["roc_auc_unit_mean"]["value"]
    full = rows["shuffle recent 95%"]
    assert base > 0.6
    assert abs(base - intact.metric("roc_auc_unit_mean").value) < 0.03  # unshuffled queries: same skill
    assert full.metrics["roc_auc_unit_mean"]["value"] < base - 0.05
    assert full.unit_test["p_value"] < 0.01 and full.unit_test["effect"] < -0.05


@pytest.mark.slow
def test_bridge_says_which_analyses_do_not_apply(planted_bridge):
    _, model, _ = planted_bridge
    own = {a.analysis: a for a in applicability(model, own_recording=True, refits_requested=True)}
    assert [k for k, a in own.items() if not a.applies] == [
        "attention maps and lag profile", "gradient and attention-weighted importance", "attention off (inference)",
        "re-fitted variants (attention off, depths)"]  # fmt: skip
    assert "no attention layer" in own["attention maps and lag profile"].reason
    assert "exact lags 1..4" in own["influence vs connections"].reason
    other = {a.analysis: a for a in applicability(model, own_recording=False, refits_requested=False)}
    assert not other["influence vs connections"].applies
    assert "population fraction" in other["influence vs connections"].reason
    assert own["per-column part and shrinkage off (inference)"].applies
    assert not other["per-column part and shrinkage off (inference)"].applies


@pytest.mark.slow
def test_bridge_part_ablations_show_what_the_per_column_part_and_the_shrinkage_buy(planted_bridge):
    prep, fitted, _ = planted_bridge
    model = copy.deepcopy(fitted)
    real = np.flatnonzero(prep.unit_mask)
    with torch.no_grad():  # shrink half of the units, so that the shrinkage row appears
        model.calibration_scale[real[::2]] = 0.5
    predict = lambda r: predict_proba(model, r)  # noqa: E731
    intact = score(predict, prep, n_boot=50)
    settings = AblationSettings(n_boot=50)
    rows = {r.condition: r for r in part_ablations(model, prep, intact, predict, settings)}
    assert set(rows) == {"per-column part off (inference)", "per-unit shrinkage off (inference)"}
    # the planted connections live in the per-column coupling: the shared part alone loses them
    off = rows["per-column part off (inference)"]
    assert off.unit_test["p_value"] < 0.01 and off.unit_test["effect"] < -0.05
    # unshrinking is monotone per unit: the same ranking, so the same per-unit ROC-AUC
    unshrunk = rows["per-unit shrinkage off (inference)"].metrics
    assert unshrunk["roc_auc_unit_mean"]["value"] == pytest.approx(
        intact.metric("roc_auc_unit_mean").value, abs=1e-9
    )
    # and exactly the predictions of the model with no shrinkage at all
    plain = copy.deepcopy(fitted)
    with torch.no_grad():
        plain.calibration_scale.fill_(1.0)
    expected = (
        score(lambda r: predict_proba(plain, r), prep, n_boot=0).metric("bits_per_spike_nlb_pooled").value
    )
    assert unshrunk["bits_per_spike_nlb_pooled"]["value"] == pytest.approx(expected, abs=1e-6)
