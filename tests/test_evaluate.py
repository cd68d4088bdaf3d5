"""`spikebridge evaluate`: every model side by side, reproducible, and refusing to score training bins."""

from __future__ import annotations

import json
from dataclasses import replace

import numpy as np
import pytest

from conftest import write_asdf_v5
from spikebridge.cli.main import main
from spikebridge.errors import SpikebridgeProtocolError
from spikebridge.experiments.prepared import get_prepared
from spikebridge.experiments.scoring import score
from spikebridge.experiments.store import ResultsStore
from spikebridge.preprocess import PrepareConfig
from spikebridge.preprocess.split import SplitPlan
from spikebridge.simulation import simulate

MODELS = "bridge-bce,paper-dice,paper-focal,rate,history,glm"


@pytest.fixture(scope="module")
def recording(tmp_path_factory):
    sim = simulate(n_units=10, n_bins=30000, regime="in_vivo", seed=3)
    units = [np.flatnonzero(sim.spikes[:, u]) + 1 for u in range(10)]
    return str(write_asdf_v5(tmp_path_factory.mktemp("ev") / "sim.mat", units, n_bins=30000))


def run(recording, out, *extra):
    args = ["evaluate", recording, "--models", MODELS, "--profile", "tiny", "--n-units", "10"]
    return main([*args, "--n-boot", "20", "--out", str(out), *extra])


@pytest.fixture(scope="module")
def first_run(recording, tmp_path_factory):
    """One evaluation of every model; its printed table and its output folder."""
    import contextlib
    import io

    out_dir = tmp_path_factory.mktemp("first")
    buf = io.StringIO()
    with pytest.MonkeyPatch.context() as mp, contextlib.redirect_stdout(buf):
        mp.setenv(
            "SPIKEBRIDGE_CACHE", str(out_dir / "cache")
        )  # the per-test cache fixture is not active here
        assert run(recording, out_dir) == 0
    return buf.getvalue(), out_dir


def test_table_has_every_model_and_metric_with_intervals(first_run):
    out, out_dir = first_run
    for model in MODELS.split(","):
        assert f"│ {model}" in out
    for header in (
        "pooled ROC-AUC",
        "per-unit ROC-AUC",
        "pooled AP",
        "per-unit AP",
        "bits/spike",
        "TPR",
        "TNR",
    ):
        assert header in out
    assert "two-sided Wilcoxon signed-rank" in out and "chance AP = spike probability" in out
    assert "NLB null" in out and "block bootstrap over time" in out
    rows = ResultsStore(out_dir / "results.sqlite").rows("evaluate")
    by = {(r["model"], r["metric"]): r for r in rows}
    assert by[("rate", "roc_auc_unit_mean")]["value"] == pytest.approx(0.5)
    assert by[("glm", "roc_auc_unit_mean")]["ci_low"] <= by[("glm", "roc_auc_unit_mean")]["value"]
    assert by[("glm", "roc_auc_unit_mean")]["value"] <= by[("glm", "roc_auc_unit_mean")]["ci_high"]
    assert all(r["data_hash"] and r["package_version"] == "0.1.0" for r in rows)
    assert by[("rate", "bits_per_spike_nlb_pooled")]["value"] <= 0  # a constant rate never beats the NLB null
    assert ("glm", "bits_per_spike_nlb_cal_unit_maps") in by and ("glm", "bits_per_spike_train_pooled") in by
    report = json.loads((out_dir / "evaluate_sim__sim.json").read_text())
    assert report["results"]["paper-dice"]["bits_source"].startswith("scores calibrated on the validation")
    assert report["results"]["bridge-bce"]["bits_source"] == "model probabilities, uncalibrated"
    assert report["results"]["glm"]["bootstrap"]["block_choice"]["source"] == "test targets"
    assert (out_dir / "figures" / "roc_pr_sim__sim.png").stat().st_size > 10_000


def test_same_seed_gives_identical_numbers(recording, first_run, tmp_path):
    assert run(recording, tmp_path / "b", "--recompute") == 0
    a = ResultsStore(first_run[1] / "results.sqlite").rows("evaluate")
    b = ResultsStore(tmp_path / "b" / "results.sqlite").rows("evaluate")
    key = ("model", "metric", "value", "ci_low", "ci_high")  # models finish in any order: rows are sorted
    assert len(a) == len(b) > 0
    assert sorted(tuple(r[k] for k in key) for r in a) == sorted(tuple(r[k] for k in key) for r in b)


def test_scoring_training_bins_is_refused(recording):
    prep, _ = get_prepared(recording, PrepareConfig(n_units=10))
    leaky_plan = SplitPlan(fit=prep.plan.fit, val=prep.plan.val, test=prep.plan.fit, shortened=False)
    leaky = replace(prep, test=prep.fit, plan=leaky_plan)
    rates = prep.train_rates

    def predict(raster):
        return np.tile(rates, (raster.shape[0] - 1, 1))

    with pytest.raises(SpikebridgeProtocolError, match="overlap"):
        score(predict, leaky, n_boot=5)


def test_help_lists_every_profile(capsys):
    assert main(["evaluate", "--help"]) == 0
    text = capsys.readouterr().out
    assert "tiny" in text and "quick" in text and "paper" in text and "--units" in text


def test_evaluations_share_one_executor_and_equal_separate_runs(recording, tmp_path, monkeypatch):
    import spikebridge.experiments.evaluate as ev

    sim = simulate(n_units=10, n_bins=30000, regime="in_vivo", seed=4)
    units = [np.flatnonzero(sim.spikes[:, u]) + 1 for u in range(10)]
    other = str(write_asdf_v5(tmp_path / "other.mat", units, n_bins=30000))
    prep = PrepareConfig(n_units=10)
    cfgs = [ev.EvaluateConfig(source=r, models=("rate", "history", "bridge-bce"), profile="tiny", n_boot=0,
                              prepare=prep) for r in (recording, other)]  # fmt: skip
    submitted = []
    import spikebridge.experiments.executors as executors

    def wrapped(tasks, *args):
        submitted.append([t.key for t in tasks])
        return executors.run_tasks(tasks, *args)

    monkeypatch.setattr(ev, "run_tasks", wrapped)
    joint = ev.run_evaluations(cfgs, tmp_path / "joint", log=lambda _: None)
    assert submitted == [[  # one executor call; the neural fits first, each evaluation's order kept
        "sim/sim/bridge-bce", "other/other/bridge-bce",
        "sim/sim/rate", "sim/sim/history", "other/other/rate", "other/other/history",
    ]]  # fmt: skip
    for cfg, report in zip(cfgs, joint, strict=True):
        alone = ev.run_evaluation(cfg, tmp_path / f"alone-{report.source}", log=lambda _: None)
        assert (report.source, list(report.results)) == (alone.source, ["rate", "history", "bridge-bce"])
        for m in cfg.models:
            assert report.results[m].to_dict()["metrics"] == alone.results[m].to_dict()["metrics"]
    rerun = ev.run_evaluations(cfgs, tmp_path / "joint", log=lambda _: None)  # read back: nothing submitted
    assert len(submitted) == 4 and submitted[-1] == [] and [r.seconds for r in rerun] == [0.0, 0.0]
    assert all(r.seconds > 0 for r in joint)
