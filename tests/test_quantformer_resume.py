"""A finished QuantFormer study is read back, not recomputed; a changed setting recomputes exactly what
depends on it (fits and scores, or the scores alone); report figures are redrawn only for a new result."""

from __future__ import annotations

import json
from collections import Counter
from dataclasses import replace

import pytest

from spikebridge.experiments import quantformer as qf_exp
from spikebridge.experiments.quantformer import QuantFormerStudyConfig, run_quantformer_study
from spikebridge.experiments.quantformer_data import SourceData
from spikebridge.preprocess.calcium import stimulus_observations
from spikebridge.preprocess.obs_split import split_observations
from spikebridge.simulation_calcium import simulate_calcium
from spikebridge.training import quantformer_fit

FITS = ("pretrain", "fit_forecaster", "fit_lstm", "fit_classifier")


@pytest.fixture(scope="module")
def sim_data():
    """A small simulated session (10 neurons, 3 presentations per condition and block)."""
    sim = simulate_calcium(seed=7, n_neurons=10, repeats=3)
    split = split_observations(stimulus_observations(sim.recording.traces, sim.recording.stimuli))
    return SourceData("calcium-sim:7", "calcium", split, {"source": "simulation"})


def _counting(fn, name: str, calls: Counter):
    def wrapped(*args, **kwargs):
        calls[name] += 1
        return fn(*args, **kwargs)

    return wrapped


def _as_json(study) -> list:
    return json.loads(json.dumps([r.to_dict() for r in study.results], default=str))


@pytest.mark.slow
def test_second_run_computes_nothing_and_changed_settings_recompute(sim_data, tmp_path, monkeypatch):
    calls: Counter = Counter()
    monkeypatch.setattr(qf_exp, "load_source", lambda *a, **k: sim_data)
    for name in FITS:
        monkeypatch.setattr(quantformer_fit, name, _counting(getattr(quantformer_fit, name), name, calls))
    monkeypatch.setattr(qf_exp, "score_forecasts", _counting(qf_exp.score_forecasts, "score", calls))
    cfg = QuantFormerStudyConfig(sources=("calcium-sim:7",), profile="tiny", n_boot=20, classify=True)

    def run(config):
        calls.clear()
        return run_quantformer_study(tmp_path, config=config, log=lambda s: None), dict(calls)

    first, counts = run(cfg)
    assert counts == {**dict.fromkeys(FITS, 1), "score": 1}
    second, counts = run(cfg)
    assert counts == {}
    assert _as_json(second) == _as_json(first)
    _, counts = run(replace(cfg, n_boot=10))  # only the scores depend on the bootstrap size
    assert counts == {"score": 1}
    _, counts = run(replace(cfg, seed=1))
    assert counts == {**dict.fromkeys(FITS, 1), "score": 1}
    _, counts = run(replace(cfg, seed=1, threads=2))  # threads change no number and no key
    assert counts == {}


def test_figures_are_redrawn_only_for_a_new_result(tmp_path, monkeypatch):
    import numpy as np

    from spikebridge.experiments.quantformer import SourceResult
    from spikebridge.report.quantformer import write_figures
    from spikebridge.viz import quantformer as viz

    examples = tmp_path / "examples.npz"
    t = np.linspace(0, 1, 8)
    np.savez(examples, baseline=np.zeros((2, 8)), response=np.stack([t, 1 - t]), neuron=np.array([0, 1]),
             stimulus=np.array(["a", "b"]), frame_rate=30.0, unit="dF/F", forecast__mean=np.zeros((2, 8)))  # fmt: skip
    usage = {"counts": [3, 1, 0, 0], "perplexity": 1.8, "dead_codes": 2}
    result = SourceResult(
        name="toy", modality="calcium", data_hash="h", meta={},
        forecast={"mean": {"raw/mse": {"value": 0.5, "ci_low": 0.4, "ci_high": 0.6},
                           "raw/pearson": {"value": 0.1, "ci_low": 0.0, "ci_high": 0.2}}},
        classify={}, tests=[], verdicts=[], stages={}, examples=str(examples), seconds=1.0,
        codebook={"codebook_size": 4, "train": usage, "test": usage, "code_accuracy": 0.5,
                  "code_accuracy_majority": 0.5},
    )  # fmt: skip
    calls: Counter = Counter()
    for name in ("plot_forecast_examples", "plot_metric_bars", "plot_codebook_usage"):
        monkeypatch.setattr(viz, name, _counting(getattr(viz, name), name, calls))
    first = write_figures(result, tmp_path / "figures")
    assert sum(calls.values()) == 3 and all((tmp_path / "figures" / p).is_file() for p in first.values())
    calls.clear()
    assert write_figures(result, tmp_path / "figures") == first and sum(calls.values()) == 0
    write_figures(replace(result, seconds=2.0), tmp_path / "figures")
    assert sum(calls.values()) == 3
