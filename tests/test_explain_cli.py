"""`spikebridge explain` end to end on small simulated recordings (tiny profile, reduced budgets)."""

from __future__ import annotations

import json
import sqlite3

import numpy as np
import pytest

from conftest import write_asdf_v5
from spikebridge.cli._console import console
from spikebridge.cli.main import main
from spikebridge.simulation import simulate_network
from spikebridge.training.predict import load_model

N_UNITS = 12


def _asdf(folder, seed):
    sim = simulate_network(N_UNITS, 40_000, lag=3, density=0.2, rate_lo=0.02, rate_hi=0.06, seed=seed)
    units = [np.flatnonzero(sim.spikes[:, u]) + 1 for u in range(N_UNITS)]
    return str(write_asdf_v5(folder / f"net{seed}.mat", units, n_bins=40_000, bin_ms=1)), sim


@pytest.fixture(scope="module")
def fitted(tmp_path_factory):
    folder = tmp_path_factory.mktemp("explain")
    rec, sim = _asdf(folder, 0)
    other, _ = _asdf(folder, 1)
    np.save(folder / "conn.npy", sim.connections())
    model = folder / "model"
    args = [
        "fit",
        rec,
        "--model",
        "paper-dice",
        "--profile",
        "tiny",
        "--n-units",
        str(N_UNITS),
        "--epochs",
        "2",
        "--out",
        str(model),
    ]
    assert main(args) == 0
    return folder, rec, other, model / "best.ckpt"


SMALL = ["--queries", "200", "--n-boot", "20", "--windows", "8", "--influence-windows", "16", "--max-lag", "6",
         "--ablation-epochs", "1"]  # fmt: skip


def _metrics(out) -> dict:
    con = sqlite3.connect(out / "results.sqlite")
    rows = con.execute("SELECT target, metric, value, ci_low FROM results WHERE run = 'explain'").fetchall()
    con.close()
    return {(t, m): (v, lo) for t, m, v, lo in rows}


@pytest.fixture(scope="module")
def explained(fitted, tmp_path_factory):
    folder, rec, _, ckpt = fitted
    out = tmp_path_factory.mktemp("explained")
    args = ["explain", str(ckpt), rec, "--connections", str(folder / "conn.npy"), "--out", str(out), *SMALL]
    with console.capture() as printed:
        assert main(args) == 0
    return out, printed.get()


@pytest.mark.slow
def test_explain_writes_tables_figures_and_store(explained):
    out, text = explained
    for phrase in ("Lag profiles", "Influence against conn.npy", "GLM coupling", "shuffle recent 95%",
                   "depth 4 (refit)", "attention off (refit)", "Augmented Dickey-Fuller"):  # fmt: skip
        assert phrase in text
    figures = {p.name.split("_paper-dice")[0] for p in (out / "figures").iterdir()}
    assert {"attention_L0", "correlations", "lag_profiles", "influence", "ablations"} <= figures
    page = (out / "figures" / "attention_L0_paper-dice-tiny__net0__net0.html").read_text()
    assert page.lstrip().lower().startswith("<!doctype html>") and "plotly" in page
    page = (out / "explain.html").read_text()
    assert "what the model learned" in page and "Interactive mean maps" in page and "data:image/png" in page
    assert "attention_peak_lag" in (out / "explain_paper-dice-tiny__net0__net0.csv").read_text()
    metrics = _metrics(out)
    for name in ("attention_peak_lag", "corr_attention_key_input", "influence_auc_excitatory",
                 "glm_coupling_auc_sign", "adf_stat_10ms", "ablation_shuffle_recent_95_unit_auc_p"):  # fmt: skip
        assert ("net0", name) in metrics
    assert metrics[("net0", "ablation_intact_roc_auc_unit_mean")][1] is not None  # with an interval
    doc = json.loads((out / "explain_paper-dice-tiny__net0__net0.json").read_text())
    params = {r["condition"]: r["n_params"] for r in doc["ablations"] if r["family"] == "retrained"}
    for depth in ("depth 2 (refit)", "depth 4 (refit)"):
        assert abs(params[depth] - params["intact (refit)"]) / params["intact (refit)"] < 0.02


@pytest.mark.slow
def test_cross_recording_explanation_reuses_the_source_refits(fitted, explained):
    _, rec, other, ckpt = fitted
    out, _ = explained
    variants = sorted((out / "models" / "net0" / "ablations").iterdir())
    stamps = [(v / "model.json").stat().st_mtime_ns for v in variants]
    args = ["explain", str(ckpt), other, "--train-recording", rec, "--out", str(out), *SMALL]
    assert main(args) == 0
    assert [(v / "model.json").stat().st_mtime_ns for v in variants] == stamps  # trained on net0 once
    doc = json.loads((out / "explain_paper-dice-tiny__net0__net1.json").read_text())
    assert doc["source"] == "net0" and doc["target"] == "net1"
    assert doc["influence"]["scores"] == []  # no connections known for net1
    assert any("no known connections" in n for n in doc["notes"])
    assert {r["condition"] for r in doc["ablations"]} >= {"intact", "depth 2 (refit)", "shuffle recent 50%"}
    assert ("net1", "ablation_depth_2_refit_roc_auc_pooled") in _metrics(out)


def test_explain_refuses_half_the_arguments_and_bad_options(fitted, capsys):
    _, _, _, ckpt = fitted
    assert main(["explain", str(ckpt)]) == 2
    assert "give both CHECKPOINT and RECORDING" in capsys.readouterr().err
    assert main(["explain", str(ckpt), "x", "--ablations", "some"]) == 2
    assert "--ablations must be one of" in capsys.readouterr().err


@pytest.mark.slow
def test_shipped_mode_explains_each_recording_and_tests_across_them(fitted, tmp_path):
    from spikebridge.experiments.explain import ExplainConfig
    from spikebridge.experiments.explain_ablations import AblationSettings
    from spikebridge.experiments.explain_study import explain_shipped
    from spikebridge.report.blocks import Report
    from spikebridge.report.engine import render_report
    from spikebridge.report.explain import shipped_section, write_shipped

    _, rec, other, _ = fitted
    cfg = ExplainConfig(attention_windows=8, influence_windows=16, max_lag=6, glm_baseline=False,
                        ablations=AblationSettings(n_queries=100, retrain=False, n_boot=10))  # fmt: skip
    shipped = explain_shipped(cfg, tmp_path, recordings=(rec, other), profile="tiny", executor="inline",
                              stationarity_of=(rec, other))  # fmt: skip
    assert [(r.label, r.source, r.target) for r in shipped.reports] == [
        ("paper-dice-tiny", "net0", "net0"), ("bridge-bce-tiny", "net0", "net0"),
        ("paper-dice-tiny", "net1", "net1"), ("bridge-bce-tiny", "net1", "net1")]  # fmt: skip
    bridge = shipped.reports[1]
    runs = {a.analysis: a.applies for a in bridge.applicability}
    assert runs == {"attention maps and lag profile": False, "gradient and attention-weighted importance": False,
                    "input-gradient importance": True, "influence vs connections": True,
                    "attention off (inference)": False, "shuffled inputs": True,
                    "re-fitted variants (attention off, depths)": False,
                    "per-column part and shrinkage off (inference)": True}  # fmt: skip
    assert bridge.attention is None and bridge.importance.n_windows == 8 and bridge.influence.context == 6
    shrunk = bool((load_model(tmp_path / "models" / "net0" / "bridge-bce-tiny-s0" / "best.ckpt")
                   .calibration_scale < 1).any())  # fmt: skip
    assert {r.condition for r in bridge.ablations} == {
        "intact", "intact (query bins)", "shuffle recent 50%", "shuffle recent 95%", "per-column part off (inference)",
        *(["per-unit shrinkage off (inference)"] if shrunk else [])}  # fmt: skip
    assert {t.n for t in shipped.across} <= {2} and len(shipped.across) == 8
    assert len(shipped.stationarity) == 4  # 2 recordings x 10 and 100 ms (40 s give too few 1 s bins)
    assert all(c.n_in_vivo == c.n_in_vitro == 0 for c in shipped.comparisons)  # preparation unknown
    assert (tmp_path / "models" / "net1" / "paper-dice-tiny-s0" / "best.ckpt").is_file()
    shared, per_report = write_shipped(shipped, tmp_path)
    section = shipped_section(shipped, shared, per_report)
    assert [s.title for s in section.subsections] == [
        f"{r.label}: {r.source} -> {r.target}" for r in shipped.reports
    ]
    stamps = {p: p.stat().st_mtime_ns for p in tmp_path.rglob("*") if p.is_file() and p.suffix != ".sqlite"}
    again = explain_shipped(cfg, tmp_path, recordings=(rec, other), profile="tiny", executor="inline",
                            stationarity_of=(rec, other))  # fmt: skip
    assert write_shipped(again, tmp_path) == (shared, per_report)
    assert {p: p.stat().st_mtime_ns for p in stamps} == stamps  # nothing refitted, recomputed or redrawn
    assert [r.to_dict() for r in again.reports] == [r.to_dict() for r in shipped.reports]
    page = render_report(Report("explain", (section,)))
    assert "Correlations across recordings" in page and "Mann-Whitney" not in page  # no in vitro group
    assert (tmp_path / "figures" / "stationarity.png").is_file()
