"""QuantFormer's protocol: choices on validation only, the test split never read by a fit, eval-mode
quantizer at inference, verdicts from paired tests, and no dependency outside a package registry."""

from __future__ import annotations

import tomllib
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
import torch

from spikebridge.experiments import quantformer as qf_exp
from spikebridge.experiments.quantformer import QuantFormerStudyConfig, run_source
from spikebridge.experiments.quantformer_data import SourceData
from spikebridge.experiments.quantformer_eval import verdict
from spikebridge.experiments.store import ResultsStore
from spikebridge.preprocess.calcium import stimulus_observations
from spikebridge.preprocess.obs_split import split_observations
from spikebridge.simulation_calcium import simulate_calcium
from spikebridge.training.checkpoint import load_checkpoint
from spikebridge.training.quantformer_fit import load_stage, predict_forecast

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def sim_data():
    """A small simulated session (10 neurons, 3 presentations per condition and block) as the study sees it."""
    sim = simulate_calcium(seed=7, n_neurons=10, repeats=3)
    split = split_observations(stimulus_observations(sim.recording.traces, sim.recording.stimuli))
    return SourceData("calcium-sim:7", "calcium", split, {"source": "simulation"})


def _scrambled_test(data):
    """The same source with every test response and label replaced (what a leak would pick up)."""
    te = data.split.test
    rng = np.random.default_rng(99)
    noisy = replace(te, response=rng.normal(size=te.response.shape).astype(np.float32), active=~te.active)
    return replace(data, split=replace(data.split, test=noisy))


@pytest.mark.slow
def test_no_fit_or_choice_reads_the_test_split(sim_data, tmp_path, monkeypatch):
    cfg = QuantFormerStudyConfig(sources=("calcium-sim:7",), profile="tiny", n_boot=20, classify=True)
    results = {}
    for tag, data in (("real", sim_data), ("scrambled", _scrambled_test(sim_data))):
        monkeypatch.setattr(qf_exp, "load_source", lambda *a, _d=data, **k: _d)
        out = tmp_path / tag
        results[tag] = run_source(
            "calcium-sim:7", cfg, out, ResultsStore(out / "results.sqlite"), log=lambda s: None
        )
    real, scrambled = results["real"], results["scrambled"]
    for stage in ("pretrain", "forecast", "lstm", "classify"):
        a, b = real.stages[stage], scrambled.stages[stage]
        assert a["history"] == b["history"] and a["best_epoch"] == b["best_epoch"]
        wa, wb = load_checkpoint(a["checkpoint"]).state_dict, load_checkpoint(b["checkpoint"]).state_dict
        assert all(torch.equal(wa[k], wb[k]) for k in wa)
        # the kept epoch is the one with the best validation score (loss; the classifier: balanced accuracy)
        assert a["best_epoch"] == min(a["history"], key=lambda r: r["val_select"])["epoch"]
    assert real.stages["classify"]["extra"]["threshold"] == scrambled.stages["classify"]["extra"]["threshold"]
    history = real.stages["classify"]["history"]
    assert all(r["val_select"] == -r["val_balanced_accuracy"] for r in history)
    assert real.forecast["quantformer"]["raw/mse"] != scrambled.forecast["quantformer"]["raw/mse"]


@pytest.mark.slow
def test_inference_leaves_the_quantizer_untouched(sim_data, tmp_path, monkeypatch):
    monkeypatch.setattr(qf_exp, "load_source", lambda *a, **k: sim_data)
    cfg = QuantFormerStudyConfig(sources=("calcium-sim:7",), profile="tiny", n_boot=20, classify=False)
    store = ResultsStore(tmp_path / "results.sqlite")
    result = run_source("calcium-sim:7", cfg, tmp_path, store, log=lambda s: None)
    forecaster, _ = load_stage(result.stages["forecast"]["checkpoint"])
    forecaster.train()  # even if a caller leaves the model in training mode
    before = {k: v.clone() for k, v in forecaster.backbone.state_dict().items()}
    first = predict_forecast(forecaster, sim_data.split.test)
    second = predict_forecast(forecaster, sim_data.split.test)
    assert not forecaster.backbone.quantizer.training
    assert all(torch.equal(before[k], v) for k, v in forecaster.backbone.state_dict().items())
    assert np.array_equal(first, second)
    # resuming: a second run reads the stored result instead of fitting again
    lines = []
    again = run_source("calcium-sim:7", cfg, tmp_path, store, log=lines.append)
    assert any("finished earlier" in line for line in lines) and again.forecast == result.forecast
    rows = store.rows("quantformer", model="quantformer", metric="forecast/raw/mse")
    assert (
        len(rows) == 1 and rows[0]["data_hash"] == sim_data.data_hash() and rows[0]["git_commit"] is not None
    )


def test_verdicts_follow_the_paired_test():
    assert verdict({"n": 20, "p_value": 0.01, "effect": -0.2}, lower_is_better=True) == "beats"
    assert verdict({"n": 20, "p_value": 0.01, "effect": -0.2}, lower_is_better=False) == "loses to"
    assert verdict({"n": 20, "p_value": 0.2, "effect": 0.3}, lower_is_better=False) == "is level with"
    assert verdict({"n": 0, "p_value": None, "effect": None}, lower_is_better=True) == "untestable"


def test_no_dependency_comes_from_outside_a_package_registry():
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    specs = list(project["dependencies"]) + [
        s for group in project["optional-dependencies"].values() for s in group
    ]
    assert any(s.startswith("vector-quantize-pytorch") for s in specs)
    for spec in specs:
        assert "git+" not in spec and "://" not in spec and " @ " not in spec, spec


def test_spike_units_are_chosen_before_the_first_test_window():
    from spikebridge.data.types import RecordingInfo, SpikeTrains
    from spikebridge.experiments.quantformer_data import SourceConfig, _spikes

    # 300 s: unit 0 fires at 0.2 Hz throughout; unit 1 at 20 Hz from 196 s on. The first test window
    # starts at 195.2 s (50 ms bins, 96 + 64 bins, stride 16): unit 1 is silent before it.
    trains = SpikeTrains(
        (np.arange(0.0, 300.0, 5.0), np.arange(196.0, 300.0, 0.05)), 300.0, RecordingInfo(name="x")
    )
    with pytest.warns(UserWarning, match="shorter"):
        obs, meta = _spikes(trains, SourceConfig(spike_units=1))
    assert meta["units_chosen_on_bins"] == 3904
    assert obs.neuron_ids.tolist() == [0]
    split = split_observations(obs)
    assert split.test.start.min() >= 3904
